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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, keys in ``record.json``'s order (``isbn`` only when known)."""
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
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
