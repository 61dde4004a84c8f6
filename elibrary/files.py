"""Files of an item: page images rendered from its PDF, and downloads streamed from the store.

Only files the catalog lists are served, and only for items the viewer may
read (``elibrary.access``: published, embargo passed, access level met).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import quote

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response, StreamingResponse

from digitize.checksums import READ_CHUNK
from digitize.elibrary.access import ViewerDep, readable_item
from digitize.elibrary.deps import CatalogDep, RendererDep, StoreDep
from digitize.elibrary.render import PAGE_WIDTH, THUMBNAIL_WIDTH, PageRenderer
from digitize.errors import DigitizeError
from digitize.storage.catalog import Catalog, CatalogItem
from digitize.storage.catalog_records import Viewer

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter()


@router.get("/items/{identifier}/thumbnail.png")
def thumbnail(identifier: str, catalog: CatalogDep, renderer: RendererDep, viewer: ViewerDep) -> Response:
    return _page_image(catalog, renderer, viewer, identifier, 1, THUMBNAIL_WIDTH)


@router.get("/items/{identifier}/pages/{seq}.png")
def page_image(identifier: str, seq: int, catalog: CatalogDep, renderer: RendererDep, viewer: ViewerDep) -> Response:
    return _page_image(catalog, renderer, viewer, identifier, seq, PAGE_WIDTH)


@router.get("/items/{identifier}/files/{name:path}")
def download(identifier: str, name: str, catalog: CatalogDep, store: StoreDep, viewer: ViewerDep) -> StreamingResponse:
    """Stream a stored file of the item; only files the catalog lists."""
    readable_item(catalog, identifier, viewer)
    key = f"items/{identifier}/{name}"
    stored = next((f for f in catalog.files(identifier) if f.key == key), None)
    if stored is None:
        raise HTTPException(404, f"item {identifier!r} has no file {name!r}")
    try:
        stream = store.open_read(key)
    except DigitizeError as exc:
        log.warning("download of %s failed: %s", key, exc)
        raise HTTPException(503, "the file cannot be read from storage right now") from exc
    filename = name.rsplit("/", 1)[-1]
    headers = {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
        "Content-Length": str(stored.size),
        "ETag": f'"{stored.sha256}"',
    }
    return StreamingResponse(_chunks(stream), media_type=stored.content_type, headers=headers)


def page_png(catalog: Catalog, renderer: PageRenderer, item: CatalogItem, seq: int, width: int) -> bytes:
    """Page ``seq`` of the item's PDF as a PNG ``width`` px wide; 404 or 503 as HTTP errors.

    Who may see it is the caller's to decide (readers here, staff on the review page).
    """
    identifier = item.identifier
    pdf = next((f for f in catalog.files(identifier) if f.key == item.pdf_key), None)
    if pdf is None:
        raise HTTPException(404, f"item {identifier!r} has no PDF to show")
    try:
        png = renderer.render(pdf.key, pdf.sha256, seq - 1, width)
    except DigitizeError as exc:
        log.warning("rendering %s page %d failed: %s", identifier, seq, exc)
        raise HTTPException(503, "the page image cannot be made right now") from exc
    if png is None:
        raise HTTPException(404, f"item {identifier!r} has no page {seq}")
    return png


def _page_image(
    catalog: Catalog, renderer: PageRenderer, viewer: Viewer, identifier: str, seq: int, width: int
) -> Response:
    item = readable_item(catalog, identifier, viewer)
    png = page_png(catalog, renderer, item, seq, width)
    # A restricted item's page is not for shared caches (a proxy would hand it to anyone).
    cache = "private" if item.access != "public" or item.embargo_until is not None else "public"
    return Response(png, media_type="image/png", headers={"Cache-Control": f"{cache}, max-age=3600"})


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := stream.read(READ_CHUNK):
            yield chunk
    finally:
        stream.close()
