"""Descriptive records of an item: our JSON record and simple Dublin Core.

Titles and authors are given in the printed script and in Latin, so the
e-library can show and search both.

The item record is a frozen dataclass (``ItemRecord``): the catalog, MODS,
MARC, METS, Dublin Core and OAI-PMH read its attributes, so a renamed field
is a type error, not a silent ``None``. ``record.json`` is written from
``ItemRecord.to_dict`` with its keys in a fixed order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from lxml import etree

from digitize.scanners.metadata import ItemMetadata
from digitize.transliteration import transliterate_text

__all__ = ["ItemRecord", "item_record", "dublin_core_xml", "ISO639_2"]

# Dublin Core asks for ISO 639-2 codes; staff write the short ones.
ISO639_2 = {"az": "aze", "ru": "rus", "en": "eng", "kk": "kaz", "uz": "uzb", "tr": "tur", "ka": "kat", "hy": "hye"}

_OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
_DC = "http://purl.org/dc/elements/1.1/"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _optional_date(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


@dataclass(frozen=True)
class ItemRecord:
    """What an item is: the descriptive record every metadata format is made from."""

    identifier: str
    title: str
    title_latin: str | None = None
    authors: tuple[str, ...] = ()
    authors_latin: tuple[str, ...] = ()
    year: int | None = None
    language: str | None = None
    script: str | None = None
    kind: str = "text"  # text | score | art
    inventory_number: str | None = None
    collection: str | None = None
    page_count: int | None = None  # None: not given (a registration counts its pages)
    mean_ocr_confidence: float | None = None
    content_hash: str | None = None
    isbn: str | None = None
    # Rights and access (``scanners/rights.py``) and the rest of a library record.
    rights: str | None = None
    access: str = "public"  # public | reading-room | staff
    embargo_until: date | None = None
    publisher: str | None = None
    place: str | None = None
    edition: str | None = None
    series: str | None = None
    volume: str | None = None
    subjects: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    parallel_titles: tuple[str, ...] = ()

    @property
    def restricted(self) -> bool:
        """Files are not for everyone: access other than public, or an embargo (past or not, it was set)."""
        return self.access != "public" or self.embargo_until is not None

    def access_note(self) -> str | None:
        """Who may read the files, in words (MODS, MARC 506, DC); None for public items without an embargo."""
        parts = []
        if self.access == "reading-room":
            parts.append("Access restricted to the library's reading room.")
        elif self.access == "staff":
            parts.append("Access restricted to library staff.")
        if self.embargo_until is not None:
            parts.append(f"Under embargo until {self.embargo_until.isoformat()}: metadata only until then.")
        return " ".join(parts) or None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, keys in ``record.json``'s order (``isbn`` and the rights and library
        record fields only when set, so older records stay byte-identical)."""
        data: dict[str, Any] = {
            "identifier": self.identifier,
            "title": self.title,
            "title_latin": self.title_latin,
            "authors": list(self.authors),
            "authors_latin": list(self.authors_latin),
            "year": self.year,
            "language": self.language,
            "script": self.script,
            "kind": self.kind,
            "inventory_number": self.inventory_number,
            "collection": self.collection,
            "page_count": self.page_count,
            "mean_ocr_confidence": self.mean_ocr_confidence,
            "content_hash": self.content_hash,
        }
        if self.isbn is not None:
            data["isbn"] = self.isbn
        optional: dict[str, Any] = {
            "rights": self.rights,
            "access": None if self.access == "public" else self.access,
            "embargo_until": self.embargo_until.isoformat() if self.embargo_until else None,
            "publisher": self.publisher,
            "place": self.place,
            "edition": self.edition,
            "series": self.series,
            "volume": self.volume,
            "subjects": list(self.subjects) or None,
            "notes": list(self.notes) or None,
            "parallel_titles": list(self.parallel_titles) or None,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        return data

    def to_json(self) -> str:
        """The text of ``record.json``."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ItemRecord:
        """A record from JSON (``record.json``, the web API's registration body); unknown keys are ignored."""
        year = data.get("year")
        page_count = data.get("page_count")
        confidence = data.get("mean_ocr_confidence")
        return cls(
            identifier=str(data["identifier"]),
            title=str(data["title"]),
            title_latin=_optional_str(data.get("title_latin")),
            authors=tuple(str(a) for a in data.get("authors") or ()),
            authors_latin=tuple(str(a) for a in data.get("authors_latin") or ()),
            year=None if year is None else int(year),
            language=_optional_str(data.get("language")),
            script=_optional_str(data.get("script")),
            kind=str(data.get("kind") or "text"),
            inventory_number=_optional_str(data.get("inventory_number")),
            collection=_optional_str(data.get("collection")),
            page_count=None if page_count is None else int(page_count),
            mean_ocr_confidence=None if confidence is None else float(confidence),
            content_hash=_optional_str(data.get("content_hash")),
            isbn=_optional_str(data.get("isbn")),
            rights=_optional_str(data.get("rights")),
            access=str(data.get("access") or "public"),
            embargo_until=_optional_date(data.get("embargo_until")),
            publisher=_optional_str(data.get("publisher")),
            place=_optional_str(data.get("place")),
            edition=_optional_str(data.get("edition")),
            series=_optional_str(data.get("series")),
            volume=_optional_str(data.get("volume")),
            subjects=tuple(str(s) for s in data.get("subjects") or ()),
            notes=tuple(str(n) for n in data.get("notes") or ()),
            parallel_titles=tuple(str(t) for t in data.get("parallel_titles") or ()),
        )


def item_record(
    item_id: str,
    metadata: ItemMetadata,
    page_count: int,
    *,
    mean_ocr_confidence: float | None = None,
    content_hash: str | None = None,
) -> ItemRecord:
    """The item's record, with the Latin forms of its title and authors."""
    return ItemRecord(
        identifier=item_id,
        title=metadata.title,
        title_latin=transliterate_text(metadata.title, year=metadata.year),
        authors=tuple(metadata.authors),
        authors_latin=tuple(transliterate_text(a, year=metadata.year) for a in metadata.authors),
        year=metadata.year,
        language=metadata.language,
        script=metadata.script,
        kind=metadata.kind.value,
        inventory_number=metadata.inventory_number,
        collection=metadata.collection,
        page_count=page_count,
        mean_ocr_confidence=mean_ocr_confidence,
        content_hash=content_hash,
        rights=metadata.rights,
        access=metadata.access,
        embargo_until=metadata.embargo_until,
        publisher=metadata.publisher,
        place=metadata.place,
        edition=metadata.edition,
        series=metadata.series,
        volume=metadata.volume,
        subjects=tuple(metadata.subjects),
        notes=tuple(metadata.notes),
        parallel_titles=tuple(metadata.parallel_titles),
    )


def dublin_core_xml(record: ItemRecord, url: str | None = None) -> bytes:
    """A simple Dublin Core record (the oai_dc schema used by OAI-PMH); ``url``: the item's page."""
    root = etree.Element(
        f"{{{_OAI_DC}}}dc",
        nsmap={"oai_dc": _OAI_DC, "dc": _DC, "xsi": _XSI},
    )
    root.set(f"{{{_XSI}}}schemaLocation", f"{_OAI_DC} http://www.openarchives.org/OAI/2.0/oai_dc.xsd")

    def add(name: str, value: object, lang: str | None = None) -> None:
        if value is None or value == "":
            return
        element = etree.SubElement(root, f"{{{_DC}}}{name}")
        element.text = str(value)
        if lang:
            element.set(_XML_LANG, lang)

    language = record.language or ""
    script = record.script
    original_tag = f"{language}-{script}" if language and script else language or None
    add("title", record.title, original_tag)
    if record.title_latin and record.title_latin != record.title:
        add("title", record.title_latin, f"{language}-Latn" if language else None)
    for author, latin in zip(record.authors, record.authors_latin, strict=False):
        add("creator", author, original_tag)
        if latin != author:
            add("creator", latin, f"{language}-Latn" if language else None)
    for parallel in record.parallel_titles:
        add("title", parallel)
    add("publisher", record.publisher)
    for subject in record.subjects:
        add("subject", subject)
    for note in record.notes:
        add("description", note)
    add("date", record.year)
    add("type", "Text" if record.kind == "text" else "Image")
    add("format", "application/pdf")
    add("language", ISO639_2.get(language, language))
    add("identifier", record.identifier)
    if record.inventory_number:
        add("identifier", f"inventory:{record.inventory_number}")
    if url:
        add("identifier", url)
    add("relation", record.collection)
    add("relation", " ; ".join(filter(None, (record.series, record.volume))) or None)
    add("rights", record.rights)
    add("rights", record.access_note())
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
