"""Pages for readers: search (with paging) and the item page with its viewer and downloads."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
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
from digitize.elibrary.views import download_entry
from digitize.storage.catalog import SearchQuery

__all__ = ["KINDS", "router"]

KINDS = ("text", "score", "art")

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
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
    kind: str = "",
    collection: str = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    check_search(settings.web, q=q, title=title, author=author, year=year, kind=kind, collection=collection)
    size = settings.web.search_page_size
    year_value = _int_or_none(year)
    query = SearchQuery(
        text=q, title=title, author=author, year=year_value, kind=kind or None,
        collection=collection or None, limit=size, offset=(page_number - 1) * size,
    )
    result = catalog.search(query)
    form = {"q": q, "title": title, "author": author, "year": year, "kind": kind, "collection": collection}
    pages = max(1, -(-result.total // size))

    def page_link(number: int) -> str:
        return "/?" + urlencode({**{k: v for k, v in form.items() if v}, "page": number})

    return render_page(templates, request, "search.html", {
        "form": form,
        "result": result,
        "searched": any(form.values()),
        "year_invalid": bool(year) and year_value is None,
        "kinds": KINDS,
        "collections": catalog.collections(),
        "page_number": page_number,
        "pages": pages,
        "previous_link": page_link(page_number - 1) if page_number > 1 else None,
        "next_link": page_link(page_number + 1) if page_number < pages else None,
        "query_string": urlencode({"q": q}) if q else "",
        # Thumbnails only of items the viewer may read (the others' metadata is listed).
        "readable": {item.identifier for item in result.items if item.readable_by(viewer)},
    })


@router.get("/items/{identifier}", response_class=HTMLResponse)
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
    return render_page(templates, request, "item.html", {
        "item": item,
        "downloads": [download_entry(identifier, f) for f in files if f.role != "manifest"],
        "page_number": page_number,
        "page_count": page_count,
        "page_text": texts.get(page_number),
        "matching_pages": catalog.matching_pages(identifier, q) if q and refusal is None else [],
        "q": q,
        "has_pdf": bool(item.pdf_key) and refusal is None,
        "restricted": refusal,
        "access_note": item.record().access_note(),
    })


def _int_or_none(value: str) -> int | None:
    """A year as typed, or None when it is not one (shown as "is not a number")."""
    try:
        year = int(value.strip())
    except ValueError:
        return None
    return year if YEAR_MIN <= year <= YEAR_MAX else None
