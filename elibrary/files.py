"""Files of an item: page images rendered from its PDF, the stored thumbnail, and downloads streamed from the store.

Only files the catalog lists are served, and only for items the viewer may
read (``elibrary.access``: published, embargo passed, access level met).

Downloads answer as a static file server would, because browsers' PDF
viewers rely on it: ``HEAD``; ``Range`` (one range → 206 with only those
bytes read from the store; several → the whole file, 200, which RFC 9110
allows; none satisfiable → 416); ``ETag`` (the SHA-256 the catalog keeps)
and ``Last-Modified`` with conditional GETs (304). The PDF opens in the
browser (``inline``); everything else is a download.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import BinaryIO
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from digitize.checksums import READ_CHUNK
from digitize.elibrary.access import ViewerDep, readable_item
from digitize.elibrary.deps import CatalogDep, RendererDep, StoreDep
from digitize.elibrary.i18n import Translatable
from digitize.elibrary.render import PAGE_WIDTH, THUMBNAIL_WIDTH, PageRenderer
from digitize.errors import DigitizeError
from digitize.storage.catalog import Catalog, CatalogFile, CatalogItem
from digitize.storage.catalog_records import Viewer
from digitize.storage.objects import ObjectStore

__all__ = ["ByteRange", "INLINE_TYPES", "parse_range", "router"]

log = logging.getLogger(__name__)

router = APIRouter()

# Shown in the browser rather than saved: the PDF (the browser's own reader) and images.
INLINE_TYPES = ("application/pdf", "image/jpeg", "image/png")
_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``start`` to ``end`` inclusive, as HTTP counts them."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> ByteRange | None | bool:
    """The one range a ``Range`` header asks of a ``size``-byte file.

    None: serve the whole file (no header, one we do not understand, or
    several ranges). False: nothing asked is inside the file (416).
    """
    if not header:
        return None
    unit, _eq, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        return None
    parts = spec.split(",")
    if len(parts) != 1:
        return None  # several ranges: the whole file is a valid answer, and simpler than multipart/byteranges
    match = _RANGE.match(parts[0])
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return False
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # syntactically invalid: ignored, as RFC 9110 says
    if start >= size:
        return False
    end = min(int(last), size - 1) if last else size - 1
    return ByteRange(start, end)


def _stored_file(catalog: Catalog, identifier: str, key: str, name: str) -> CatalogFile:
    stored = next((f for f in catalog.files(identifier) if f.key == key), None)
    if stored is None:
        raise HTTPException(404, Translatable("item %(item)s has no file %(name)s", item=repr(identifier),
                                              name=repr(name)))
    return stored


def _cache_control(item: CatalogItem) -> str:
    # A restricted item's files are not for shared caches (a proxy would hand them to anyone).
    return "public" if item.access == "public" and item.embargo_until is None else "private"


def _last_modified(item: CatalogItem) -> datetime:
    when = item.updated_at
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)


def _not_modified(request: Request, etag: str, modified: datetime) -> bool:
    """Whether the client's copy is current (If-None-Match wins over If-Modified-Since, RFC 9110 13.2.2)."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if since:
        try:
            parsed = parsedate_to_datetime(since)
        except (TypeError, ValueError, IndexError):
            return False
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return modified <= parsed
    return False


def serve_stored(
    request: Request, store: ObjectStore, item: CatalogItem, stored: CatalogFile, *, disposition: str
) -> Response:
    """One stored file as GET or HEAD asks for it: whole, one range, 304 or 416, streamed from the store."""
    etag = f'"{stored.sha256}"'
    modified = _last_modified(item)
    filename = stored.key.rsplit("/", 1)[-1]
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": format_datetime(modified, usegmt=True),
        "Cache-Control": f"{_cache_control(item)}, max-age=3600",
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(filename)}",
    }
    if _not_modified(request, etag, modified):
        return Response(status_code=304, headers=headers)
    size = stored.size
    wanted = parse_range(request.headers.get("range"), size)
    if_range = request.headers.get("if-range")
    if wanted is not None and if_range is not None and if_range.strip() != etag:
        wanted = None  # the client's partial copy is of another version: send it all
    if wanted is False:
        headers["Content-Range"] = f"bytes */{size}"
        return Response(status_code=416, headers=headers)
    status = 200
    start, length = 0, size
    if isinstance(wanted, ByteRange):
        status, start, length = 206, wanted.start, wanted.length
        headers["Content-Range"] = f"bytes {wanted.start}-{wanted.end}/{size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=stored.content_type)
    try:
        stream = store.open_range(stored.key, start, length) if status == 206 else store.open_read(stored.key)
    except DigitizeError as exc:
        log.warning("reading %s failed: %s", stored.key, exc)
        raise HTTPException(503, Translatable("the file cannot be read from storage right now")) from exc
    return StreamingResponse(
        _chunks(stream, length), status_code=status, media_type=stored.content_type, headers=headers
    )


@router.get("/items/{identifier}/thumbnail.jpg")
@router.head("/items/{identifier}/thumbnail.jpg")
def thumbnail(
    request: Request, identifier: str, catalog: CatalogDep, store: StoreDep, viewer: ViewerDep
) -> Response:
    """The thumbnail the publisher stored (a JPEG made with the item), never rendered here."""
    item = readable_item(catalog, identifier, viewer)
    stored = next((f for f in catalog.files(identifier) if f.role == "thumbnail"), None)
    if stored is None:
        raise HTTPException(404, Translatable("item %(item)s has no thumbnail", item=repr(identifier)))
    return serve_stored(request, store, item, stored, disposition="inline")


@router.get("/items/{identifier}/thumbnail.png")
@router.head("/items/{identifier}/thumbnail.png")
def thumbnail_png(identifier: str, catalog: CatalogDep, renderer: RendererDep, viewer: ViewerDep) -> Response:
    """The old address: a redirect to the stored JPEG; rendered from the PDF only for an item stored without one."""
    item = readable_item(catalog, identifier, viewer)
    if any(f.role == "thumbnail" for f in catalog.files(identifier)):
        return RedirectResponse(f"/items/{quote(identifier, safe='')}/thumbnail.jpg", status_code=301)
    return _page_image(catalog, renderer, viewer, item.identifier, 1, THUMBNAIL_WIDTH)


@router.get("/items/{identifier}/pages/{seq}.png")
@router.head("/items/{identifier}/pages/{seq}.png")
def page_image(identifier: str, seq: int, catalog: CatalogDep, renderer: RendererDep, viewer: ViewerDep) -> Response:
    return _page_image(catalog, renderer, viewer, identifier, seq, PAGE_WIDTH)


@router.get("/items/{identifier}/files/{name:path}")
@router.head("/items/{identifier}/files/{name:path}")
def download(
    request: Request, identifier: str, name: str, catalog: CatalogDep, store: StoreDep, viewer: ViewerDep
) -> Response:
    """A stored file of the item (only files the catalog lists): the PDF to read in the browser, others to save."""
    item = readable_item(catalog, identifier, viewer)
    stored = _stored_file(catalog, identifier, f"items/{identifier}/{name}", name)
    disposition = "inline" if stored.content_type in INLINE_TYPES else "attachment"
    return serve_stored(request, store, item, stored, disposition=disposition)


def page_png(catalog: Catalog, renderer: PageRenderer, item: CatalogItem, seq: int, width: int) -> bytes:
    """Page ``seq`` of the item's PDF as a PNG ``width`` px wide; 404 or 503 as HTTP errors.

    Who may see it is the caller's to decide (readers here, staff on the review page).
    """
    identifier = item.identifier
    pdf = next((f for f in catalog.files(identifier) if f.key == item.pdf_key), None)
    if pdf is None:
        raise HTTPException(404, Translatable("item %(item)s has no PDF to show", item=repr(identifier)))
    try:
        png = renderer.render(pdf.key, pdf.sha256, seq - 1, width)
    except DigitizeError as exc:
        log.warning("rendering %s page %d failed: %s", identifier, seq, exc)
        raise HTTPException(503, Translatable("the page image cannot be made right now")) from exc
    if png is None:
        raise HTTPException(404, Translatable("item %(item)s has no page %(seq)s", item=repr(identifier), seq=seq))
    return png


def _page_image(
    catalog: Catalog, renderer: PageRenderer, viewer: Viewer, identifier: str, seq: int, width: int
) -> Response:
    item = readable_item(catalog, identifier, viewer)
    png = page_png(catalog, renderer, item, seq, width)
    return Response(png, media_type="image/png", headers={"Cache-Control": f"{_cache_control(item)}, max-age=3600"})


def _chunks(stream: BinaryIO, length: int) -> Iterator[bytes]:
    """At most ``length`` bytes of ``stream`` in store-sized chunks, closing it at the end (or when the client goes)."""
    try:
        left = length
        while left > 0 and (chunk := stream.read(min(READ_CHUNK, left))):
            left -= len(chunk)
            yield chunk
    finally:
        stream.close()
