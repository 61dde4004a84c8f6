"""IIIF for viewers and aggregators: manifests, a collection, and level-0 image services from the store.

* ``/iiif/collection.json``: every item an anonymous reader may read (over
  1,000 published items: in parts, ``/iiif/collection/<n>.json``);
* ``/iiif/{id}/manifest.json``: the item's Presentation 3 manifest (``archive.iiif``);
* ``/iiif/{id}/pages/{seq}/info.json`` and ``…/{region}/{size}/0/default.jpg``:
  the page's static tiles (``assembly.tiles``), streamed from the object store;
* ``/items/{id}/mirador``: the item in Mirador 4 (from npm at setup, served
  from ``static/vendor``), for readers who know it; it reads the manifest
  as any viewer elsewhere does.

Access is the item page's: the same ``readable_item`` check (404 unknown or
unpublished, 410 withdrawn, 403 restricted or under embargo, with the
reason). A tile is served only when the item's tiles index lists it, so a
made-up region, size or path (``..``) is a 404, never a store lookup.
Every answer carries ``Access-Control-Allow-Origin: *`` (a viewer on
another site reads them) and, when it has one, an ``ETag`` (the SHA-256
the index or the content gives), answered with 304 to ``If-None-Match``.

An item published before tiles existed (or whose tiles could not be made)
still has a manifest: each canvas then paints the page PNG the item page
shows, without an image service. ``digitize tiles`` makes the tiles later.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Annotated, Any, BinaryIO
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from digitize.archive.iiif import (
    ALTO_PROFILE,
    MANIFEST_MEDIA_TYPE,
    METS_PROFILE,
    CanvasSource,
    LinkedFile,
    ManifestSource,
    build_collection,
    build_manifest,
    manifest_url,
    service_url,
    to_json,
)
from digitize.assembly.tiles import PageTiles, TilesIndex, read_info
from digitize.checksums import READ_CHUNK
from digitize.delivery.tiles import TilesRecord, TilesState, load_index, page_sizes, recorded_tiles, tile_key
from digitize.elibrary.access import ViewerDep, readable_item
from digitize.elibrary.deps import BaseUrlDep, CatalogDep, SettingsDep, StoreDep, TemplatesDep, render_page
from digitize.elibrary.render import PAGE_WIDTH
from digitize.errors import DigitizeError
from digitize.storage.catalog import Catalog, CatalogFile, CatalogItem, SearchQuery, SearchSort
from digitize.storage.catalog_records import Viewer
from digitize.storage.objects import ObjectStore

__all__ = ["CORS", "IMAGE_MEDIA_TYPE", "manifest_link", "router"]

log = logging.getLogger(__name__)

router = APIRouter()

CORS = {"Access-Control-Allow-Origin": "*"}
IMAGE_MEDIA_TYPE = 'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
_NOMINAL_PAGE = (1000, 1414)  # a page whose size nothing records (A-series proportions)
_MAX_SEQ = 1_000_000
_PART_SIZE = 1000  # items per part of the IIIF collection (and per catalog query)

Seq = Annotated[int, Path(ge=1, le=_MAX_SEQ, description="page number, 1-based")]


class _Lru:
    """A few recent values (parsed tiles indexes, built manifests), keyed by what makes them."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._values: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Any:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        return None

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        with self._lock:
            self._values[key] = value
            while len(self._values) > self._keep:
                self._values.popitem(last=False)


_indexes = _Lru(64)
_manifests = _Lru(64)


def _refuse(status: int, detail: str) -> HTTPException:
    return HTTPException(status, detail, headers=CORS)


def _readable(catalog: Catalog, identifier: str, viewer: Viewer) -> CatalogItem:
    """The item page's access rule, with the CORS header on the refusal (a viewer elsewhere must see the status)."""
    try:
        return readable_item(catalog, identifier, viewer)
    except HTTPException as exc:
        raise HTTPException(exc.status_code, exc.detail, headers={**(exc.headers or {}), **CORS}) from exc


def _cache_control(item: CatalogItem, seconds: int) -> str:
    # A restricted item's answers are not for shared caches (a proxy would hand them to anyone).
    shared = "private" if item.access != "public" or item.embargo_until is not None else "public"
    return f"{shared}, max-age={seconds}"


def _answer(request: Request, body: bytes, media_type: str, etag: str, cache: str) -> Response:
    headers = {**CORS, "ETag": f'"{etag}"', "Cache-Control": cache}
    if _matches(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def _matches(request: Request, etag: str) -> bool:
    wanted = request.headers.get("if-none-match", "")
    return any(tag.strip().removeprefix("W/").strip('"') in (etag, "*") for tag in wanted.split(",") if tag.strip())


def _tiles(
    store: ObjectStore, catalog: Catalog, item: CatalogItem, files: list[CatalogFile]
) -> tuple[TilesIndex | None, str | None]:
    """The item's tiles index and its SHA-256, when it has one made from the PDF it has now.

    (None, None): no usable tiles; the manifest paints the rendered pages.
    """
    record = recorded_tiles(catalog, item.identifier)
    if record is None:
        return None, None
    pdf = next((f for f in files if f.key == item.pdf_key), None) if item.pdf_key else None
    # delivery.tiles owns the rule "tiles made from the PDF the item has now" (digitize tiles asks it too).
    state = TilesState(item.identifier, item.status == "withdrawn", pdf.sha256 if pdf else None, record)
    if not state.current:
        log.info("%s: %s; showing rendered pages (run digitize tiles)", item.identifier, state.reason)
        return None, None
    index = _load(store, record)
    return index, record.sha256 if index is not None else None


def _load(store: ObjectStore, record: TilesRecord) -> TilesIndex | None:
    key = (store.describe(), record.key, record.sha256)
    cached = _indexes.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    try:
        index = load_index(store, record)
    except DigitizeError as exc:
        log.warning("the tiles index %s cannot be used: %s", record.key, exc)
        return None
    _indexes.put(key, index)
    return index


def _file_url(base: str, identifier: str, f: CatalogFile) -> str:
    name = f.key.removeprefix(f"items/{identifier}/")
    return f"{base}/items/{quote(identifier, safe='')}/files/{quote(name)}"


def _canvases(
    base: str, item: CatalogItem, files: list[CatalogFile], index: TilesIndex | None, store: ObjectStore
) -> list[CanvasSource]:
    identifier = item.identifier
    by_key = {f.key: f for f in files}
    prefix = f"items/{identifier}/"

    def linked(key: str, fmt: str, **extra: Any) -> tuple[LinkedFile, ...]:
        f = by_key.get(prefix + key)
        return (LinkedFile(_file_url(base, identifier, f), fmt, **extra),) if f is not None else ()

    printed, latin = (f"{item.language}-{item.script}" if item.script else item.language), None
    if item.language and item.script and item.script != "Latn":
        latin = f"{item.language}-Latn"
    pages: list[tuple[int, int, int, str | None, PageTiles | None]] = []
    if index is not None:
        pages = [(p.seq, p.canvas_width, p.canvas_height, p.label, p) for p in index.pages]
    else:
        sizes = page_sizes(store, files)
        count = item.page_count or len(sizes)
        pages = [(seq, *sizes.get(seq, _NOMINAL_PAGE), None, None) for seq in range(1, count + 1)]
    canvases = []
    for seq, width, height, label, tiles in pages:
        texts = linked(f"text/original/{seq:04d}.txt", "text/plain", label="Page text (printed script)",
                       language=printed) + linked(f"text/latin/{seq:04d}.txt", "text/plain",
                                                  label="Page text (Latin script)", language=latin or printed)
        canvases.append(CanvasSource(
            seq=seq, width=width, height=height, label=label,
            service=tiles.service if tiles is not None else None,
            fallback=None if tiles is not None else LinkedFile(
                f"{base}/items/{quote(identifier, safe='')}/pages/{seq}.png", "image/png"),
            fallback_width=None if tiles is not None else PAGE_WIDTH,
            see_also=linked(f"alto/{seq:04d}.xml", "application/xml", label="ALTO", profile=ALTO_PROFILE),
            rendering=texts,
        ))
    return canvases


def _source(
    base: str, item: CatalogItem, files: list[CatalogFile], index: TilesIndex | None, store: ObjectStore,
    provider: str,
) -> ManifestSource:
    identifier = item.identifier
    roles: dict[str, CatalogFile] = {}
    for f in files:
        roles.setdefault(f.role, f)

    def linked(role: str, fmt: str, label: str, profile: str | None = None) -> tuple[LinkedFile, ...]:
        f = roles.get(role)
        return (LinkedFile(_file_url(base, identifier, f), fmt, label, profile),) if f is not None else ()

    thumbnail = linked("thumbnail", "image/jpeg", "Thumbnail")
    return ManifestSource(
        record=item.record(),
        canvases=tuple(_canvases(base, item, files, index, store)),
        homepage=f"{base}/items/{quote(identifier, safe='')}",
        thumbnail=thumbnail[0] if thumbnail else None,
        rendering=linked("pdf", "application/pdf", "PDF") + linked("epub", "application/epub+zip", "EPUB"),
        see_also=linked("mets", "application/xml", "METS", METS_PROFILE)
        + linked("marcxml", "application/marcxml+xml", "MARCXML", "http://www.loc.gov/MARC21/slim"),
        provider=provider,
        search=item.kind == "text" and "alto" in roles,
    )


def _collection_part(catalog: Catalog, part: int) -> tuple[int, list[CatalogItem]]:
    """All published items in title order, ``_PART_SIZE`` at a time: part ``part`` (1-based) and the total."""
    result = catalog.search(SearchQuery(limit=_PART_SIZE, offset=(part - 1) * _PART_SIZE, sort=SearchSort.TITLE))
    return result.total, list(result.items)


def _collection_answer(request: Request, build: Callable[[], dict[str, Any]]) -> Response:
    try:
        body = to_json(build())
    except DigitizeError as exc:
        log.warning("the IIIF collection cannot be made: %s", exc)
        raise _refuse(503, "the IIIF collection cannot be made right now") from exc
    return _answer(request, body, MANIFEST_MEDIA_TYPE, hashlib.sha256(body).hexdigest(), "public, max-age=300")


@router.get("/iiif/collection.json", response_class=Response)
@router.head("/iiif/collection.json", response_class=Response)
def collection(request: Request, catalog: CatalogDep, settings: SettingsDep, root: BaseUrlDep) -> Response:
    """Every published item an anonymous reader may read, as a IIIF Presentation 3 Collection.

    Up to ``_PART_SIZE`` published items: their manifests. More: the
    collection lists parts of ``_PART_SIZE`` (``/iiif/collection/<n>.json``,
    items in title order), so no answer grows with the catalog (at 100,000
    items: 100 entries here, at most 1,000 in each part).
    """
    total, items = _collection_part(catalog, 1)
    name = settings.web.repository_name
    if total <= _PART_SIZE:
        anyone = Viewer()
        records = [item.record() for item in items if item.readable_by(anyone)]
        return _collection_answer(request, lambda: build_collection(root, name, records))
    parts = [(n, (n - 1) * _PART_SIZE + 1, min(n * _PART_SIZE, total)) for n in range(1, -(-total // _PART_SIZE) + 1)]
    return _collection_answer(request, lambda: build_collection(root, name, [], parts=parts))


@router.get("/iiif/collection/{part:int}.json", response_class=Response)
@router.head("/iiif/collection/{part:int}.json", response_class=Response)
def collection_part(
    request: Request, part: Annotated[int, Path(ge=1, le=_MAX_SEQ)], catalog: CatalogDep, settings: SettingsDep,
    root: BaseUrlDep,
) -> Response:
    """One part of a large collection: the manifests of its readable items (positions in title order)."""
    total, items = _collection_part(catalog, part)
    first = (part - 1) * _PART_SIZE + 1
    if total <= _PART_SIZE or first > total:
        raise _refuse(404, f"the IIIF collection has no part {part} (see /iiif/collection.json)")
    anyone = Viewer()
    records = [item.record() for item in items if item.readable_by(anyone)]
    span = (part, first, min(part * _PART_SIZE, total))
    return _collection_answer(
        request, lambda: build_collection(root, settings.web.repository_name, records, part=span))


@router.get("/iiif/{identifier}/manifest.json", response_class=Response)
@router.head("/iiif/{identifier}/manifest.json", response_class=Response)
def manifest(
    request: Request, identifier: str, catalog: CatalogDep, store: StoreDep, settings: SettingsDep,
    root: BaseUrlDep, viewer: ViewerDep,
) -> Response:
    """The item's IIIF Presentation 3 manifest."""
    item = _readable(catalog, identifier, viewer)
    files = catalog.files(identifier)
    index, index_sha256 = _tiles(store, catalog, item, files)
    key = (store.describe(), catalog.where, root, identifier, item.updated_at, item.content_hash, index_sha256,
           settings.web.repository_name)
    body = _manifests.get(key)
    if body is None:
        try:
            body = to_json(build_manifest(_source(root, item, files, index, store, settings.web.repository_name),
                                          root))
        except DigitizeError as exc:
            log.warning("the IIIF manifest of %s cannot be made: %s", identifier, exc)
            raise _refuse(503, "the IIIF manifest cannot be made right now") from exc
        _manifests.put(key, body)
    return _answer(request, body, MANIFEST_MEDIA_TYPE, hashlib.sha256(body).hexdigest(), _cache_control(item, 300))


def _page(
    catalog: Catalog, store: ObjectStore, identifier: str, seq: int, viewer: Viewer
) -> tuple[CatalogItem, PageTiles]:
    item = _readable(catalog, identifier, viewer)
    index, _ = _tiles(store, catalog, item, catalog.files(identifier))
    if index is None:
        raise _refuse(404, f"item {identifier!r} has no IIIF image service (its pages are at /items/…/pages/N.png)")
    page = index.page(seq)
    if page is None:
        raise _refuse(404, f"item {identifier!r} has no page {seq}")
    return item, page


@router.get("/iiif/{identifier}/pages/{seq}", response_class=Response)
@router.head("/iiif/{identifier}/pages/{seq}", response_class=Response)
def image_service(request: Request, identifier: str, seq: Seq, root: BaseUrlDep) -> Response:
    """The service's own URL: a client that follows it is sent to its info.json (Image API 3, section 2.2)."""
    target = f"{service_url(root, identifier, seq)}/info.json"
    return Response(status_code=303, headers={**CORS, "Location": target})


@router.get("/iiif/{identifier}/pages/{seq}/info.json", response_class=Response)
@router.head("/iiif/{identifier}/pages/{seq}/info.json", response_class=Response)
def info(
    request: Request, identifier: str, seq: Seq, catalog: CatalogDep, store: StoreDep, root: BaseUrlDep,
    viewer: ViewerDep,
) -> Response:
    """The page's Image API 3 level-0 ``info.json``, its ``id`` set to this site's service URL."""
    item, page = _page(catalog, store, identifier, seq, viewer)
    stored = page.file("info.json")
    if stored is None:
        raise _refuse(404, f"item {identifier!r} has no info.json for page {seq}")
    service_id = service_url(root, identifier, seq)
    etag = hashlib.sha256(f"{stored.sha256} {service_id}".encode()).hexdigest()
    if _matches(request, etag):
        return _answer(request, b"", IMAGE_MEDIA_TYPE, etag, _cache_control(item, 3600))
    try:
        with store.open_read(tile_key(identifier, seq, "info.json")) as stream:
            data = stream.read(1024 * 1024)
        body = read_info(data, service_id)
    except (DigitizeError, ValueError) as exc:
        log.warning("info.json of %s page %d cannot be read: %s", identifier, seq, exc)
        raise _refuse(503, "the page's image information cannot be read right now") from exc
    accept = request.headers.get("accept", "")
    media = IMAGE_MEDIA_TYPE if "ld+json" in accept else "application/json"
    return _answer(request, body, media, etag, _cache_control(item, 3600))


_TILE = "/iiif/{identifier}/pages/{seq}/{region}/{size}/{rotation}/{name}"


@router.get(_TILE, response_class=Response)
@router.head(_TILE, response_class=Response)
def tile(
    request: Request, identifier: str, seq: Seq, region: str, size: str, rotation: str, name: str,
    catalog: CatalogDep, store: StoreDep, viewer: ViewerDep,
) -> Response:
    """One stored image of the page's level-0 service; only what the tiles index lists (else 404)."""
    item, page = _page(catalog, store, identifier, seq, viewer)
    path = f"{region}/{size}/{rotation}/{name}"
    stored = page.file(path) if path != "info.json" else None
    if stored is None:
        raise _refuse(404, f"page {seq} of {identifier!r} has no image {path!r} (a level-0 service: see its info.json)")
    headers = {**CORS, "ETag": f'"{stored.sha256}"', "Cache-Control": _cache_control(item, 86400)}
    if _matches(request, stored.sha256):
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":  # the index knows the size: the store is not asked
        return Response(media_type="image/jpeg", headers={**headers, "Content-Length": str(stored.size)})
    try:
        stream = store.open_read(tile_key(identifier, seq, path))
    except DigitizeError as exc:
        log.warning("tile %s of %s page %d cannot be read: %s", path, identifier, seq, exc)
        raise _refuse(503, "the tile cannot be read from storage right now") from exc
    headers["Content-Length"] = str(stored.size)
    return StreamingResponse(_chunks(stream), media_type="image/jpeg", headers=headers)


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := stream.read(READ_CHUNK):
            yield chunk
    finally:
        stream.close()


@router.get("/items/{identifier}/mirador", response_class=HTMLResponse)
@router.head("/items/{identifier}/mirador", response_class=HTMLResponse)
def mirador_page(
    request: Request, identifier: str, catalog: CatalogDep, templates: TemplatesDep, root: BaseUrlDep,
    viewer: ViewerDep, page_number: Annotated[int, Query(alias="page", ge=1, le=_MAX_SEQ)] = 1,
) -> HTMLResponse:
    """The item in Mirador (static/vendor/mirador.min.js), reading the manifest as a viewer elsewhere would.

    A page for people, so its refusals are HTML pages (the ``/iiif/`` routes answer JSON).
    """
    item = readable_item(catalog, identifier, viewer)
    return render_page(templates, request, "mirador.html", {
        "item": item, "manifest": manifest_url(root, identifier), "page_number": page_number,
    })


def manifest_link(root: str, identifier: str) -> str:
    """The manifest's absolute URL (for ``/api/items/{id}``)."""
    return manifest_url(root, identifier)
