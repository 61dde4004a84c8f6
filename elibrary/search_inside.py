"""Search inside a book: the IIIF Content Search API 2.0 for each item, from its ALTO word boxes.

``GET /iiif/{identifier}/search?q=...`` answers an ``AnnotationPage``:
``items`` are one ``highlighting`` annotation per word box, targeting the
page's canvas with ``#xywh=`` in the canvas's pixels; ``annotations``
holds one ``contextualizing`` annotation per hit with the words before and
after it (a ``TextQuoteSelector``), for a list of hits with snippets.
Results come ``HITS_PER_PAGE`` hits at a time, linked by ``next``/``prev``
and ``partOf`` (the whole result as an ``AnnotationCollection`` with its
``total``). The matching itself (either script, no diacritics, prefixes,
phrases) is ``storage.search_inside``.

Who may search is who may read the item's pages (``access.readable_item``).
A page's ALTO is read only when its text, kept in the catalog, could hold
every query word, so a search reads few files of a long book.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from digitize.archive.alto_words import AltoPage, read_alto_words
from digitize.elibrary.access import ViewerDep, readable_item
from digitize.elibrary.deps import BaseUrlDep, CatalogDep, SettingsDep, StoreDep, check_search
from digitize.errors import SearchQueryError, StorageError
from digitize.storage.catalog import Catalog
from digitize.storage.objects import ObjectStore
from digitize.storage.search_inside import InsideHit, InsideQuery, page_may_match, parse_query, scale_box, search_pages

__all__ = ["HITS_PER_PAGE", "SEARCH_CONTEXT", "alto_keys", "canvas_size", "router", "search_page"]

log = logging.getLogger(__name__)

router = APIRouter()

# Hits per answer: a hundred hits draw at once on a page image and list in a
# side panel; a word on every page of a 300-page book takes a few answers.
HITS_PER_PAGE = 100
PRESENTATION_CONTEXT = "http://iiif.io/api/presentation/3/context.json"
SEARCH_CONTEXT = "http://iiif.io/api/search/2/context.json"
MOTIVATION = "highlighting"
_IMPLEMENTED = ("q", "motivation", "page")
_ALTO_KEY = re.compile(r"/alto/(\d+)\.xml$")
_PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,39}")


@router.get(
    "/iiif/{identifier}/search",
    response_class=JSONResponse,
    responses={400: {"description": "the query cannot be searched (the message says why)"}},
)
def content_search(
    request: Request,
    settings: SettingsDep,
    catalog: CatalogDep,
    store: StoreDep,
    root: BaseUrlDep,
    viewer: ViewerDep,
    identifier: str,
    q: str = "",
    motivation: str = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> JSONResponse:
    readable_item(catalog, identifier, viewer)
    check_search(settings.web, q=q)
    try:
        query = parse_query(q, max_words=settings.web.search_max_words)
    except SearchQueryError as exc:
        raise HTTPException(400, exc.message) from exc
    wanted = set(motivation.split())
    hits, sizes = _hits(catalog, store, identifier, query) if not wanted or MOTIVATION in wanted else ([], {})
    ignored = sorted({name for name in request.query_params if name not in _IMPLEMENTED
                      and _PARAMETER_NAME.fullmatch(name)})[:20]
    body = search_page(root, identifier, query, hits, sizes, page, motivation=motivation, ignored=ignored)
    return JSONResponse(body, headers={"Access-Control-Allow-Origin": "*"})


def alto_keys(catalog: Catalog, identifier: str) -> dict[int, str]:
    """The item's ALTO files by page number (``items/<id>/alto/0007.xml`` is page 7)."""
    keys = {}
    for stored in catalog.files(identifier):
        match = _ALTO_KEY.search(stored.key)
        if stored.role == "alto" and match:
            keys[int(match.group(1))] = stored.key
    return keys


def _hits(
    catalog: Catalog, store: ObjectStore, identifier: str, query: InsideQuery
) -> tuple[list[InsideHit], dict[int, tuple[int, int]]]:
    """The hits in page order, and the canvas size of each page they are on."""
    keys = alto_keys(catalog, identifier)
    if not keys:
        return [], {}
    candidates = [
        seq for seq, original, latin in catalog.page_texts(identifier)
        if seq in keys and page_may_match(query, original or latin)
    ]
    pages = {seq: page for seq in candidates if (page := _read(store, keys[seq])) is not None}
    hits = search_pages(query, pages.items())
    return hits, {seq: canvas_size(pages[seq]) for seq in {hit.seq for hit in hits}}


def canvas_size(page: AltoPage) -> tuple[int, int]:
    """The pixel size of the page's canvas: the page as OCR saw it, the space its ALTO boxes are in.

    The manifest (``archive.iiif``) makes each canvas the page's size in its
    processing report, which is the size of the image OCR read, and so of
    its ALTO page: the word boxes need no scaling, and the viewer fits the
    (smaller) reading image to the canvas.
    """
    return max(1, round(page.width)), max(1, round(page.height))


def _read(store: ObjectStore, key: str) -> AltoPage | None:
    """The page's words; None (and a warning) when its stored ALTO is damaged, 503 when the store cannot be read."""
    try:
        with store.open_read(key) as stream:
            data = stream.read()
    except StorageError as exc:
        log.warning("search inside: cannot read %s: %s", key, exc)
        raise HTTPException(503, "the book's text positions cannot be read from storage right now") from exc
    try:
        return read_alto_words(data, name=key)
    except StorageError as exc:
        log.warning("search inside: %s", exc)
        return None


def search_page(
    root: str,
    identifier: str,
    query: InsideQuery,
    hits: list[InsideHit],
    canvas_sizes: Mapping[int, tuple[int, int]],
    page: int,
    *,
    motivation: str = "",
    ignored: list[str] | None = None,
    per_page: int = HITS_PER_PAGE,
) -> dict[str, Any]:
    """Page ``page`` (from 1) of the hits as a Content Search 2.0 ``AnnotationPage`` (plain JSON data)."""
    item_base = f"{root}/iiif/{quote(identifier, safe='')}"
    service = f"{item_base}/search"
    params = {"q": query.text, **({"motivation": motivation} if motivation else {})}

    def page_url(number: int) -> str:
        return f"{service}?{urlencode({**params, 'page': number})}"

    total = len(hits)
    last = max(1, math.ceil(total / per_page))
    first_index = (page - 1) * per_page
    shown = hits[first_index:first_index + per_page]
    items: list[dict[str, Any]] = []
    contexts: list[dict[str, Any]] = []
    for number, hit in enumerate(shown, start=first_index + 1):
        canvas = f"{item_base}/canvas/{hit.seq}"
        parts = []
        for word_no, word in enumerate(hit.words):
            for box_no, box in enumerate(word.boxes):
                x, y, w, h = scale_box(box, hit.page_size, canvas_sizes[hit.seq])
                anno_id = f"{service}/annotation/h{number}-{word_no + 1}-{box_no + 1}"
                items.append({
                    "id": anno_id,
                    "type": "Annotation",
                    "motivation": MOTIVATION,
                    "body": {"type": "TextualBody", "value": word.text, "format": "text/plain"},
                    "target": f"{canvas}#xywh={x},{y},{w},{h}",
                })
                parts.append(anno_id)
        selector = {"type": "TextQuoteSelector", "prefix": _spaced(hit.prefix, after=True), "exact": hit.exact,
                    "suffix": _spaced(hit.suffix, after=False)}
        targets = [{"type": "SpecificResource", "source": part, "selector": [selector]} for part in parts]
        contexts.append({
            "id": f"{service}/annotation/h{number}",
            "type": "Annotation",
            "motivation": "contextualizing",
            "target": targets[0] if len(targets) == 1 else targets,
        })
    collection = {
        "id": f"{service}?{urlencode(params)}",
        "type": "AnnotationCollection",
        "total": total,
        "first": {"id": page_url(1), "type": "AnnotationPage"},
        "last": {"id": page_url(last), "type": "AnnotationPage"},
    }
    body: dict[str, Any] = {
        "@context": [PRESENTATION_CONTEXT, SEARCH_CONTEXT],
        "id": page_url(page),
        "type": "AnnotationPage",
        "startIndex": first_index,
        "partOf": collection,
    }
    if page < last:
        body["next"] = {"id": page_url(page + 1), "type": "AnnotationPage"}
    if 1 < page <= last:
        body["prev"] = {"id": page_url(page - 1), "type": "AnnotationPage"}
    if ignored:
        body["ignored"] = ignored
    body["items"] = items
    body["annotations"] = [{
        "type": "AnnotationPage",
        "partOf": {"id": collection["id"], "type": "AnnotationCollection", "total": total},
        "items": contexts,
    }]
    return body


def _spaced(text: str, *, after: bool) -> str:
    if not text:
        return ""
    return f"{text} " if after else f" {text}"
