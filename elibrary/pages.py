"""Pages for readers: search (with paging) and the item page with its viewer and downloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from digitize.elibrary.access import ViewerDep
from digitize.elibrary.deps import (
    YEAR_MAX,
    YEAR_MIN,
    CatalogDep,
    SettingsDep,
    TemplatesDep,
    available_item,
    check_search,
    render_page,
)
from digitize.elibrary.views import READING_ROLES, archival_groups, download_entry
from digitize.errors import SearchQueryError
from digitize.storage.catalog import SearchQuery, SearchSort

__all__ = ["KINDS", "router"]

KINDS = ("text", "score", "art")

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
@router.head("/", response_class=HTMLResponse)
def search_page(
    request: Request,
    settings: SettingsDep,
    catalog: CatalogDep,
    templates: TemplatesDep,
    viewer: ViewerDep,
    q: str = "",
    title: str = "",
    author: str = "",
    year: str = "",
    year_from: str = "",
    year_to: str = "",
    kind: str = "",
    collection: str = "",
    language: str = "",
    script: str = "",
    sort: str = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """Ranked results with marked passages and their pages, facets with counts, sorting."""
    check_search(
        settings.web, q=q, title=title, author=author, year=year, year_from=year_from, year_to=year_to,
        kind=kind, collection=collection, language=language, script=script, sort=sort,
    )
    size = settings.web.search_page_size
    year_value, from_value, to_value = _int_or_none(year), _int_or_none(year_from), _int_or_none(year_to)
    chosen_sort = SearchSort(sort) if sort in {s.value for s in SearchSort} else SearchSort.RELEVANCE
    query = SearchQuery(
        text=q, title=title, author=author, year=year_value, year_from=from_value, year_to=to_value,
        kind=kind or None, collection=collection or None, language=language or None, script=script or None,
        sort=chosen_sort, viewer=viewer, facets=True, limit=size, offset=(page_number - 1) * size,
    )
    try:
        result = catalog.search(query)
    except SearchQueryError as exc:
        raise HTTPException(400, str(exc)) from exc
    form = {
        "q": q, "title": title, "author": author, "year": year, "year_from": year_from, "year_to": year_to,
        "kind": kind, "collection": collection, "language": language, "script": script,
        "sort": sort if sort == chosen_sort.value else "",
    }
    # Not exact: at least one more item than counted, so there is a next page (reading further).
    pages = max(1, -(-(result.total + (0 if result.total_exact else 1)) // size))
    kept = {k: v for k, v in form.items() if v}

    def link(**changes: str | int | None) -> str:
        """This search with some fields changed (None: removed), from its first page unless ``page`` is given."""
        values: dict[str, str | int] = {k: v for k, v in kept.items() if k not in changes}
        values.update({k: v for k, v in changes.items() if v is not None and v != ""})
        return "/?" + urlencode(values)

    searched = any(v for k, v in form.items() if k != "sort")
    return render_page(templates, request, "search.html", {
        "form": form,
        "result": result,
        "results": list(zip(result.items, result.hits, strict=True)),
        "searched": searched,
        "year_invalid": any(bool(v) and p is None for v, p in ((year, year_value), (year_from, from_value),
                                                                  (year_to, to_value))),
        "kinds": KINDS,
        "collections": catalog.collections(),
        "sorts": [s.value for s in SearchSort],
        "sort": chosen_sort.value if (q or title or author) or chosen_sort is not SearchSort.RELEVANCE else "title",
        "link": link,
        "page_number": page_number,
        "pages": pages,
        "previous_link": link(page=page_number - 1) if page_number > 1 else None,
        "next_link": link(page=page_number + 1) if page_number < pages else None,
        "query_string": urlencode({"q": q}) if q else "",
        # Thumbnails only of items the viewer may read (the others' metadata is listed).
        "readable": {item.identifier for item in result.items if item.readable_by(viewer)},
    })


@router.get("/items/{identifier}", response_class=HTMLResponse)
@router.head("/items/{identifier}", response_class=HTMLResponse)
def item_page(
    request: Request,
    settings: SettingsDep,
    catalog: CatalogDep,
    templates: TemplatesDep,
    viewer: ViewerDep,
    identifier: str,
    q: str = "",
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
) -> HTMLResponse:
    check_search(settings.web, q=q)
    item = available_item(catalog, identifier)
    # Restricted (access level, embargo): the description only, no files, page images or texts.
    refusal = item.refusal(viewer)
    files = catalog.files(identifier) if refusal is None else []
    texts = (
        {seq: (original, latin) for seq, original, latin in catalog.page_texts(identifier)} if refusal is None else {}
    )
    page_count = max(item.page_count or 0, len(texts), 1 if item.pdf_key else 0)
    page_number = min(page_number, max(page_count, 1))
    downloads = [download_entry(identifier, f) for f in files if f.role != "manifest"]
    return render_page(templates, request, "item.html", {
        "item": item,
        "downloads": downloads,
        # The item page leads with reading (viewer, PDF, EPUB); the rest is under "Archival files".
        "reading": {f["role"]: f for f in downloads if f["role"] in READING_ROLES},
        "archival": archival_groups(downloads),
        "thumbnail": next((f for f in downloads if f["role"] == "thumbnail"), None),
        "page_number": page_number,
        "page_count": page_count,
        "page_text": texts.get(page_number),
        "matching_pages": catalog.matching_pages(identifier, q) if q and refusal is None else [],
        "q": q,
        "has_pdf": bool(item.pdf_key) and refusal is None,
        "restricted": refusal,
        "embargoed": refusal is not None and item.embargo_until is not None
        and item.embargo_until > datetime.now(UTC).date(),
        "access_note": item.record().access_note(),
    })


def _int_or_none(value: str) -> int | None:
    """A year as typed, or None when it is not one (shown as "is not a number")."""
    try:
        year = int(value.strip())
    except ValueError:
        return None
    return year if YEAR_MIN <= year <= YEAR_MAX else None
