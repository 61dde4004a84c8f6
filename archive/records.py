"""Descriptive records of an item: our JSON record and simple Dublin Core.

Titles and authors are given in the printed script and in Latin, so the
e-library can show and search both.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from digitize.scanners.metadata import ItemMetadata
from digitize.transliteration import transliterate_text

__all__ = ["item_record", "dublin_core_xml", "ISO639_2"]

# Dublin Core asks for ISO 639-2 codes; staff write the short ones.
ISO639_2 = {"az": "aze", "ru": "rus", "en": "eng", "kk": "kaz", "uz": "uzb", "tr": "tur", "ka": "kat", "hy": "hye"}

_OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
_DC = "http://purl.org/dc/elements/1.1/"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def item_record(item_id: str, metadata: ItemMetadata, page_count: int, extra: dict[str, Any] | None = None) -> dict:
    """The item's record as plain data (JSON-ready)."""
    record = {
        "identifier": item_id,
        "title": metadata.title,
        "title_latin": transliterate_text(metadata.title, year=metadata.year),
        "authors": list(metadata.authors),
        "authors_latin": [transliterate_text(a, year=metadata.year) for a in metadata.authors],
        "year": metadata.year,
        "language": metadata.language,
        "script": metadata.script,
        "kind": metadata.kind.value,
        "inventory_number": metadata.inventory_number,
        "collection": metadata.collection,
        "page_count": page_count,
    }
    record.update(extra or {})
    return record


def dublin_core_xml(record: dict) -> bytes:
    """A simple Dublin Core record (the oai_dc schema used by OAI-PMH)."""
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

    language = record.get("language") or ""
    script = record.get("script")
    original_tag = f"{language}-{script}" if language and script else language or None
    add("title", record["title"], original_tag)
    if record.get("title_latin") and record["title_latin"] != record["title"]:
        add("title", record["title_latin"], f"{language}-Latn" if language else None)
    for author, latin in zip(record.get("authors", []), record.get("authors_latin", [])):
        add("creator", author, original_tag)
        if latin != author:
            add("creator", latin, f"{language}-Latn" if language else None)
    add("date", record.get("year"))
    add("type", "Text" if record.get("kind") == "text" else "Image")
    add("format", "application/pdf")
    add("language", ISO639_2.get(language, language))
    add("identifier", record["identifier"])
    if record.get("inventory_number"):
        add("identifier", f"inventory:{record['inventory_number']}")
    if record.get("url"):
        add("identifier", record["url"])
    add("relation", record.get("collection"))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
