"""The JSON API for reading: search, one item with its files, one page's texts.

Addresses in the answers are absolute (``settings.web.base_url`` or the
address the request came to), so a harvester can follow them as they are.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from digitize.elibrary.access import ViewerDep, readable_item
from digitize.elibrary.deps import (
    MAX_OFFSET,
    YEAR_MAX,
    YEAR_MIN,
    BaseUrlDep,
    CatalogDep,
    SettingsDep,
    available_item,
    check_search,
)
from digitize.elibrary.iiif import manifest_link
from digitize.elibrary.views import api_item_view, download_entry
from digitize.errors import SearchQueryError
from digitize.storage.catalog import SearchQuery, SearchSort

__all__ = ["router"]

router = APIRouter()


# response_model=dict keeps the OpenAPI document as it was when these returned a bare ``dict``.
@router.get("/api/items", response_model=dict)
def api_search(
    settings: SettingsDep,
    catalog: CatalogDep,
    root: BaseUrlDep,
    viewer: ViewerDep,
    q: str = "",
    title: str = "",
    author: str = "",
    year: Annotated[int | None, Query(ge=YEAR_MIN, le=YEAR_MAX)] = None,
    year_from: Annotated[int | None, Query(ge=YEAR_MIN, le=YEAR_MAX)] = None,
    year_to: Annotated[int | None, Query(ge=YEAR_MIN, le=YEAR_MAX)] = None,
    kind: str | None = None,
    collection: str | None = None,
    language: str | None = None,
    script: str | None = None,
    sort: SearchSort = SearchSort.RELEVANCE,
    facets: bool = False,
    limit: Annotated[int, Query(ge=0, le=1000)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Ranked items with, per item, the pages the words are on and a passage with them in ``<mark>``."""
    check_search(settings.web, q=q, title=title, author=author, kind=kind, collection=collection,
                 language=language, script=script)
    try:
        result = catalog.search(SearchQuery(
            text=q, title=title, author=author, year=year, year_from=year_from, year_to=year_to,
            kind=kind, collection=collection, language=language, script=script, sort=sort, viewer=viewer,
            facets=facets, limit=limit, offset=offset,
        ))
    except SearchQueryError as exc:
        raise HTTPException(400, str(exc)) from exc
    items = []
    for item, hit in zip(result.items, result.hits, strict=True):
        view = api_item_view(item, root)
        view["hit_pages"] = list(hit.pages)
        view["snippet"] = None if hit.snippet is None else {
            "page": hit.snippet.seq, "html": hit.snippet.html(), "text": hit.snippet.text(),
            "url": f"{view['url']}#page={hit.snippet.seq}",
        }
        items.append(view)
    # total_exact false: at least ``total`` items match (a search reads at most so many; the facets
    # then count those).
    answer: dict[str, Any] = {
        "total": result.total, "total_exact": result.total_exact, "limit": limit, "offset": offset, "items": items,
    }
    if facets:
        answer["facets"] = {
            name: [{"value": f.value, "label": f.label, "count": f.count} for f in values]
            for name, values in result.facets.items()
        }
    if result.notice:
        answer["notice"] = result.notice
    if result.suggestion:
        answer["suggestion"] = result.suggestion
    return answer


@router.get("/api/items/{identifier}", response_model=dict)
def api_item(catalog: CatalogDep, root: BaseUrlDep, viewer: ViewerDep, identifier: str) -> dict[str, Any]:
    item = available_item(catalog, identifier)
    data = api_item_view(item, root)
    data["iiif_manifest"] = manifest_link(root, identifier)
    refusal = item.refusal(viewer)
    data["files"] = [
        {**download_entry(identifier, f), "url": root + download_entry(identifier, f)["path"]}
        for f in catalog.files(identifier)
    ] if refusal is None else []
    if refusal is not None:  # the description is public; the files are not, and this says why
        data["restricted"] = refusal
    return data


@router.get("/api/items/{identifier}/pages/{seq}", response_model=dict)
def api_page(catalog: CatalogDep, viewer: ViewerDep, identifier: str, seq: int) -> dict[str, Any]:
    readable_item(catalog, identifier, viewer)
    for number, original, latin in catalog.page_texts(identifier):
        if number == seq:
            return {"identifier": identifier, "seq": seq, "original_text": original, "latin_text": latin}
    raise HTTPException(404, f"item {identifier!r} has no page {seq}")
