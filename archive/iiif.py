"""IIIF Presentation 3 manifests and collections of items, built with iiif-prezi3's models.

Pure: typed records in, a JSON-ready document out; the web layer supplies
the base URL and the addresses of the item's files. Identifiers follow the
e-library's IIIF URLs:

* manifest ``{base}/iiif/{id}/manifest.json``
* canvas ``{base}/iiif/{id}/canvas/{seq}`` (``seq`` 1-based, as the page images)
* image service ``{base}/iiif/{id}/pages/{seq}`` (static level-0 tiles, ``assembly/tiles.py``)
* content search ``{base}/iiif/{id}/search`` (SearchService2)

A canvas is the page's pixel size as OCR saw it (the page's ``width`` and
``height`` in ``report.json``), so the ALTO word boxes are canvas
coordinates as they stand; the tiled image is the reading image (often
scaled down to 200 dpi), which viewers fit to the canvas. Titles, authors
and the other descriptive values carry language maps: the printed script
(``az-Cyrl``) and Latin (``az-Latn``, from the record, or transliterated
here for the fields the record keeps in one script only).

The document is validated by loading it into iiif-prezi3's ``Manifest``
(pydantic): a field of the wrong shape raises ``OutputError`` here rather
than reaching a viewer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from digitize.archive.records import ItemRecord
from digitize.errors import OutputError
from digitize.scanners.rights import rights_problem
from digitize.transliteration import transliterate_text

__all__ = [
    "ALTO_PROFILE",
    "MANIFEST_MEDIA_TYPE",
    "METS_PROFILE",
    "CanvasSource",
    "ImageService",
    "LinkedFile",
    "ManifestSource",
    "build_collection",
    "build_manifest",
    "canvas_url",
    "collection_url",
    "manifest_url",
    "service_url",
    "to_json",
]

MANIFEST_MEDIA_TYPE = 'application/ld+json;profile="http://iiif.io/api/presentation/3/context.json"'
ALTO_PROFILE = "http://www.loc.gov/standards/alto/ns-v4#"
METS_PROFILE = "http://www.loc.gov/METS/"
MARCXML_PROFILE = "http://www.loc.gov/MARC21/slim"

# Labels of the metadata fields in the interface's three languages.
_LABELS: dict[str, dict[str, str]] = {
    "title": {"en": "Title", "az": "Başlıq", "ru": "Заглавие"},
    "parallel": {"en": "Parallel title", "az": "Paralel başlıq", "ru": "Параллельное заглавие"},
    "author": {"en": "Author", "az": "Müəllif", "ru": "Автор"},
    "date": {"en": "Date", "az": "Tarix", "ru": "Дата"},
    "publisher": {"en": "Publisher", "az": "Nəşriyyat", "ru": "Издательство"},
    "place": {"en": "Place", "az": "Nəşr yeri", "ru": "Место издания"},
    "edition": {"en": "Edition", "az": "Nəşr", "ru": "Издание"},
    "series": {"en": "Series", "az": "Seriya", "ru": "Серия"},
    "volume": {"en": "Volume", "az": "Cild", "ru": "Том"},
    "subject": {"en": "Subject", "az": "Mövzu", "ru": "Тема"},
    "note": {"en": "Note", "az": "Qeyd", "ru": "Примечание"},
    "language": {"en": "Language", "az": "Dil", "ru": "Язык"},
    "collection": {"en": "Collection", "az": "Kolleksiya", "ru": "Коллекция"},
    "inventory": {"en": "Inventory number", "az": "İnventar nömrəsi", "ru": "Инвентарный номер"},
    "isbn": {"en": "ISBN", "az": "ISBN", "ru": "ISBN"},
    "identifier": {"en": "Identifier", "az": "İdentifikator", "ru": "Идентификатор"},
    "rights": {"en": "Rights", "az": "Hüquqlar", "ru": "Права"},
    "page": {"en": "Page", "az": "Səhifə", "ru": "Страница"},
}


@dataclass(frozen=True)
class ImageService:
    """A page's static level-0 image service: the full size, the tiles and the whole-page sizes stored."""

    width: int
    height: int
    tile_size: int
    scale_factors: tuple[int, ...]
    sizes: tuple[tuple[int, int], ...]  # whole-page images stored as full/{w},{h}/0/default.jpg, smallest first


@dataclass(frozen=True)
class LinkedFile:
    """A file the manifest points to (``rendering``, ``seeAlso``, ``thumbnail``): absolute URL and format."""

    url: str
    format: str
    label: str | None = None  # English; shown by viewers as the link's text
    profile: str | None = None
    language: str | None = None  # BCP 47 tag of a text file


@dataclass(frozen=True)
class CanvasSource:
    """One page: its size in the canvas's pixels, its printed label, its image and its files."""

    seq: int
    width: int
    height: int
    label: str | None = None  # printed page label; None: the sequence number is shown
    service: ImageService | None = None  # None: no tiles yet; ``fallback`` is painted
    fallback: LinkedFile | None = None  # a plain image of the page (the PNG the item page shows)
    fallback_width: int | None = None
    see_also: tuple[LinkedFile, ...] = ()  # the page's ALTO
    rendering: tuple[LinkedFile, ...] = ()  # the page's texts


@dataclass(frozen=True)
class ManifestSource:
    """What a manifest is made from: the item's record, its pages and the addresses of its files."""

    record: ItemRecord
    canvases: tuple[CanvasSource, ...]
    homepage: str | None = None  # the item page
    thumbnail: LinkedFile | None = None
    rendering: tuple[LinkedFile, ...] = ()  # PDF, EPUB
    see_also: tuple[LinkedFile, ...] = ()  # METS, MARCXML
    provider: str | None = None  # the library's name
    search: bool = True  # offer the content search service (text items with ALTO)


def _item(base: str, identifier: str) -> str:
    return f"{base}/iiif/{quote(identifier, safe='')}"


def manifest_url(base: str, identifier: str) -> str:
    return f"{_item(base, identifier)}/manifest.json"


def canvas_url(base: str, identifier: str, seq: int) -> str:
    return f"{_item(base, identifier)}/canvas/{seq}"


def service_url(base: str, identifier: str, seq: int) -> str:
    return f"{_item(base, identifier)}/pages/{seq}"


def _label(key: str) -> dict[str, list[str]]:
    return {language: [text] for language, text in _LABELS[key].items()}


def _tags(record: ItemRecord) -> tuple[str, str | None]:
    """The language tag of the printed script, and of its Latin form (None when none is made)."""
    language = record.language or ""
    if not language:
        return "none", None
    printed = f"{language}-{record.script}" if record.script else language
    latin = f"{language}-Latn" if record.script and record.script != "Latn" else None
    return printed, latin


def _both(record: ItemRecord, value: str, latin: str | None = None) -> dict[str, list[str]]:
    """A value in the printed script and in Latin: ``latin`` if the record has it, else transliterated (az-Cyrl)."""
    printed_tag, latin_tag = _tags(record)
    values = {printed_tag: [value]}
    if latin_tag is not None:
        if latin is None and record.language == "az" and record.script == "Cyrl":
            latin = transliterate_text(value, year=record.year)
        if latin and latin != value:
            values[latin_tag] = [latin]
    return values


def _many(record: ItemRecord, values: Sequence[str], latins: Sequence[str] = ()) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for index, value in enumerate(values):
        latin = latins[index] if index < len(latins) else None
        for tag, texts in _both(record, value, latin).items():
            merged.setdefault(tag, []).extend(texts)
    return merged


def _metadata(record: ItemRecord) -> list[dict[str, Any]]:
    entries: list[tuple[str, dict[str, list[str]]]] = [("title", _both(record, record.title, record.title_latin))]
    if record.parallel_titles:
        entries.append(("parallel", {"none": list(record.parallel_titles)}))
    if record.authors:
        entries.append(("author", _many(record, record.authors, record.authors_latin)))
    if record.year is not None:
        entries.append(("date", {"none": [str(record.year)]}))
    for key in ("publisher", "place", "edition", "series", "volume"):
        value = getattr(record, key)
        if value:
            entries.append((key, _both(record, value)))
    if record.subjects:
        entries.append(("subject", _many(record, record.subjects)))
    if record.notes:
        entries.append(("note", _many(record, record.notes)))
    if record.language:
        entries.append(("language", {"none": [_tags(record)[0]]}))
    if record.collection:
        entries.append(("collection", _both(record, record.collection)))
    if record.inventory_number:
        entries.append(("inventory", {"none": [record.inventory_number]}))
    if record.isbn:
        entries.append(("isbn", {"none": [record.isbn]}))
    entries.append(("identifier", {"none": [record.identifier]}))
    return [{"label": _label(key), "value": value} for key, value in entries]


def _rights(record: ItemRecord) -> dict[str, Any]:
    """``rights`` (a rightsstatements.org or Creative Commons URI only, as IIIF asks) and ``requiredStatement``."""
    out: dict[str, Any] = {}
    statement: dict[str, list[str]] = {}
    if record.rights:
        text = record.rights.strip()
        uri = text.lower().startswith(("http://", "https://")) and rights_problem(text) is None
        if uri and any(site in text for site in ("rightsstatements.org/vocab/", "creativecommons.org/")):
            out["rights"] = text
        statement["none"] = [text]
    note = record.access_note()
    if note:
        statement["en"] = [note]
    if statement:
        out["requiredStatement"] = {"label": _label("rights"), "value": statement}
    return out


def _linked(file: LinkedFile, kind: str) -> dict[str, Any]:
    data: dict[str, Any] = {"id": file.url, "type": kind, "format": file.format}
    if file.label:
        data["label"] = {"en": [file.label]}
    if file.profile:
        data["profile"] = file.profile
    if file.language:
        data["language"] = [file.language]
    return data


def _canvas(base: str, identifier: str, page: CanvasSource) -> dict[str, Any]:
    canvas_id = canvas_url(base, identifier, page.seq)
    canvas: dict[str, Any] = {
        "id": canvas_id,
        "type": "Canvas",
        "label": {"none": [page.label or str(page.seq)]},
        "width": page.width,
        "height": page.height,
    }
    if page.service is not None:
        service_id = service_url(base, identifier, page.seq)
        small_w, small_h = page.service.sizes[0]
        large_w, large_h = page.service.sizes[-1]
        body: dict[str, Any] = {
            "id": f"{service_id}/full/{large_w},{large_h}/0/default.jpg",
            "type": "Image",
            "format": "image/jpeg",
            "width": large_w,
            "height": large_h,
            "service": [{"id": service_id, "type": "ImageService3", "profile": "level0"}],
        }
        canvas["thumbnail"] = [{
            "id": f"{service_id}/full/{small_w},{small_h}/0/default.jpg",
            "type": "Image",
            "format": "image/jpeg",
            "width": small_w,
            "height": small_h,
            "service": [{"id": service_id, "type": "ImageService3", "profile": "level0"}],
        }]
    elif page.fallback is not None:
        body = {"id": page.fallback.url, "type": "Image", "format": page.fallback.format}
        if page.fallback_width:
            body["width"] = page.fallback_width
            body["height"] = max(1, round(page.fallback_width * page.height / page.width))
    else:
        raise OutputError(f"{identifier}: page {page.seq} has neither tiles nor an image to show")
    annotation = {
        "id": f"{canvas_id}/page/image",
        "type": "Annotation",
        "motivation": "painting",
        "body": body,
        "target": canvas_id,
    }
    canvas["items"] = [{"id": f"{canvas_id}/page", "type": "AnnotationPage", "items": [annotation]}]
    if page.see_also:
        canvas["seeAlso"] = [_linked(f, "Dataset") for f in page.see_also]
    if page.rendering:
        canvas["rendering"] = [_linked(f, "Text") for f in page.rendering]
    return canvas


def build_manifest(source: ManifestSource, base: str) -> dict[str, Any]:
    """The item's manifest as a JSON-ready dict, checked by iiif-prezi3's models.

    Raises OutputError when the document does not load as a Presentation 3 manifest.
    """
    from iiif_prezi3 import Manifest

    record = source.record
    identifier = record.identifier
    data: dict[str, Any] = {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": manifest_url(base, identifier),
        "type": "Manifest",
        "label": _both(record, record.title, record.title_latin),
        "metadata": _metadata(record),
    }
    if record.authors:
        data["summary"] = _many(record, record.authors, record.authors_latin)
    data.update(_rights(record))
    if record.year is not None and 1 <= record.year <= 9999:
        data["navDate"] = f"{record.year:04d}-01-01T00:00:00Z"
    if source.provider:
        data["provider"] = [{
            "id": f"{base}/",
            "type": "Agent",
            "label": {"none": [source.provider]},
            "homepage": [{"id": f"{base}/", "type": "Text", "label": {"none": [source.provider]},
                          "format": "text/html"}],
        }]
    if source.homepage:
        data["homepage"] = [{"id": source.homepage, "type": "Text", "label": data["label"], "format": "text/html"}]
    if source.thumbnail is not None:
        data["thumbnail"] = [_linked(source.thumbnail, "Image")]
    if source.rendering:
        data["rendering"] = [_linked(f, "Text") for f in source.rendering]
    if source.see_also:
        data["seeAlso"] = [_linked(f, "Dataset") for f in source.see_also]
    if source.search:
        data["service"] = [{"id": f"{_item(base, identifier)}/search", "type": "SearchService2"}]
    data["viewingDirection"] = "left-to-right"
    data["behavior"] = ["paged"] if record.kind == "text" else ["individuals"]
    data["items"] = [_canvas(base, identifier, page) for page in sorted(source.canvases, key=lambda p: p.seq)]
    if data["items"]:
        data["start"] = {"id": data["items"][0]["id"], "type": "Canvas"}
    try:
        Manifest(**data)
    except (ValidationError, ValueError, TypeError) as exc:
        raise OutputError(f"{identifier}: the IIIF manifest does not validate: {exc}") from exc
    return data


def collection_url(base: str, part: int | None = None) -> str:
    """The collection of all public items, or one of its parts (``/iiif/collection/<n>.json``)."""
    return f"{base}/iiif/collection.json" if part is None else f"{base}/iiif/collection/{part}.json"


def _part_label(first: int, last: int) -> dict[str, list[str]]:
    """A part's label in the interface's three languages: the positions of its items in title order."""
    return {"az": [f"Nəşrlər {first}–{last}"], "ru": [f"Издания {first}–{last}"], "en": [f"Items {first}–{last}"]}


def build_collection(
    base: str, label: str, items: Sequence[ItemRecord], *, part: tuple[int, int, int] | None = None,
    parts: Sequence[tuple[int, int, int]] = (),
) -> dict[str, Any]:
    """A collection of manifests, or of its parts, checked by iiif-prezi3's ``Collection``.

    Whole (``part`` None, no ``parts``): every item's manifest. Large: the
    top collection lists ``parts`` (number, first, last item position) as
    sub-collections, and each part (``part``: its number, first, last) the
    manifests of its items, ``partOf`` the top one: no document grows with
    the catalog beyond one entry per part.
    """
    from iiif_prezi3 import Collection

    data: dict[str, Any] = {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": collection_url(base, part[0] if part else None),
        "type": "Collection",
        "label": {"none": [label]} if part is None else {
            key: [f"{label}: {value}" for value in values] for key, values in _part_label(*part[1:]).items()},
        "items": [
            {"id": manifest_url(base, record.identifier), "type": "Manifest",
             "label": _both(record, record.title, record.title_latin)}
            for record in items
        ] + [
            {"id": collection_url(base, number), "type": "Collection", "label": _part_label(first, last)}
            for number, first, last in parts
        ],
    }
    if part is not None:
        data["partOf"] = [{"id": collection_url(base), "type": "Collection"}]
    try:
        Collection(**data)
    except (ValidationError, ValueError, TypeError) as exc:
        raise OutputError(f"the IIIF collection does not validate: {exc}") from exc
    return data


def to_json(document: dict[str, Any]) -> bytes:
    """The bytes served: compact UTF-8 JSON."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
