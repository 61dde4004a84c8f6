"""The FastAPI application: HTML pages for readers, a JSON API, OAI-PMH.

Reads are public. Writes (registering, withdrawing) need the bearer token
from ``settings.web.token``; with no token configured they are refused.
Every value shown in a page goes through Jinja2's autoescaping, and the
pages load nothing from other sites (a Content-Security-Policy says so).
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Iterator
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from digitize.errors import DigitizeError
from digitize.settings import Settings
from digitize.elibrary import oai
from digitize.elibrary.render import PAGE_WIDTH, THUMBNAIL_WIDTH, PageRenderer
from digitize.storage.catalog import Catalog, CatalogFile, CatalogPage, Registration, SearchQuery
from digitize.storage.objects import READ_CHUNK, ObjectStore

__all__ = ["create_app"]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
KINDS = ("text", "score", "art")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def create_app(
    settings: Settings,
    *,
    catalog: Catalog | None = None,
    store: ObjectStore | None = None,
) -> FastAPI:
    """The web service over the settings' catalog and store (or the ones given)."""
    if catalog is None:
        catalog = Catalog(settings.catalog.url)
    if store is None:
        from digitize.storage.factory import open_store

        store = open_store(settings.storage)
    cache_dir = Path(tempfile.mkdtemp(prefix="elibrary-pages-"))
    renderer = PageRenderer(store, cache_dir)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        try:
            yield
        finally:
            shutil.rmtree(cache_dir, ignore_errors=True)

    app = FastAPI(
        title=settings.web.repository_name,
        lifespan=lifespan,
        docs_url=None,  # the interactive docs load scripts from a CDN
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.catalog = catalog
    app.state.store = store
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.autoescape = True  # every value in every page is escaped
    templates.env.globals["repository_name"] = settings.web.repository_name
    templates.env.filters["url_quote"] = lambda value: quote(str(value), safe="")
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def page(request: Request, name: str, context: dict, status_code: int = 200) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    def item_or_error(identifier: str) -> dict:
        item = catalog.get(identifier)
        if item is None:
            raise HTTPException(404, f"no item {identifier!r} in the e-library")
        if item["status"] != "available":
            raise HTTPException(410, f"item {identifier!r} has been withdrawn")
        return item

    def base_url(request: Request) -> str:
        return (settings.web.base_url or str(request.base_url)).rstrip("/")

    # -- reader pages ------------------------------------------------------

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if request.url.path.startswith("/api/") or request.url.path == "/oai":
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return page(request, "error.html", {"status": exc.status_code, "message": exc.detail}, exc.status_code)

    @app.get("/", response_class=HTMLResponse)
    def search_page(
        request: Request,
        q: str = "",
        title: str = "",
        author: str = "",
        year: str = "",
        kind: str = "",
        collection: str = "",
        page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
    ):
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

        return page(request, "search.html", {
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
        })

    @app.get("/items/{identifier}", response_class=HTMLResponse)
    def item_page(
        request: Request,
        identifier: str,
        q: str = "",
        page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
    ):
        item = item_or_error(identifier)
        files = catalog.files(identifier)
        texts = {seq: (original, latin) for seq, original, latin in catalog.page_texts(identifier)}
        page_count = max(item["page_count"] or 0, len(texts), 1 if item["pdf_key"] else 0)
        page_number = min(page_number, max(page_count, 1))
        return page(request, "item.html", {
            "item": item,
            "downloads": [_download(identifier, f) for f in files if f.role != "manifest"],
            "page_number": page_number,
            "page_count": page_count,
            "page_text": texts.get(page_number),
            "matching_pages": catalog.matching_pages(identifier, q) if q else [],
            "q": q,
            "has_pdf": bool(item["pdf_key"]),
        })

    @app.get("/items/{identifier}/thumbnail.png")
    def thumbnail(identifier: str):
        return _page_image(identifier, 1, THUMBNAIL_WIDTH)

    @app.get("/items/{identifier}/pages/{seq}.png")
    def page_image(identifier: str, seq: int):
        return _page_image(identifier, seq, PAGE_WIDTH)

    def _page_image(identifier: str, seq: int, width: int) -> Response:
        item = item_or_error(identifier)
        pdf = next((f for f in catalog.files(identifier) if f.key == item["pdf_key"]), None)
        if pdf is None:
            raise HTTPException(404, f"item {identifier!r} has no PDF to show")
        try:
            png = renderer.render(pdf.key, pdf.sha256, seq - 1, width)
        except DigitizeError as exc:
            log.warning("rendering %s page %d failed: %s", identifier, seq, exc)
            raise HTTPException(503, "the page image cannot be made right now") from exc
        if png is None:
            raise HTTPException(404, f"item {identifier!r} has no page {seq}")
        return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=3600"})

    @app.get("/items/{identifier}/files/{name:path}")
    def download(identifier: str, name: str):
        """Stream a stored file of the item; only files the catalog lists."""
        item_or_error(identifier)
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

    # -- JSON API ----------------------------------------------------------

    @app.get("/api/items")
    def api_search(
        request: Request,
        q: str = "",
        title: str = "",
        author: str = "",
        year: int | None = None,
        year_from: int | None = None,
        year_to: int | None = None,
        kind: str | None = None,
        collection: str | None = None,
        limit: Annotated[int, Query(ge=0, le=1000)] = 20,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict:
        result = catalog.search(SearchQuery(
            text=q, title=title, author=author, year=year, year_from=year_from, year_to=year_to,
            kind=kind, collection=collection, limit=limit, offset=offset,
        ))
        root = base_url(request)
        return {
            "total": result.total,
            "limit": limit,
            "offset": offset,
            "items": [_api_item(item, root) for item in result.items],
        }

    @app.get("/api/items/{identifier}")
    def api_item(request: Request, identifier: str) -> dict:
        item = item_or_error(identifier)
        root = base_url(request)
        data = _api_item(item, root)
        data["files"] = [
            {**_download(identifier, f), "url": root + _download(identifier, f)["path"]}
            for f in catalog.files(identifier)
        ]
        return data

    @app.get("/api/items/{identifier}/pages/{seq}")
    def api_page(identifier: str, seq: int) -> dict:
        item_or_error(identifier)
        for number, original, latin in catalog.page_texts(identifier):
            if number == seq:
                return {"identifier": identifier, "seq": seq, "original_text": original, "latin_text": latin}
        raise HTTPException(404, f"item {identifier!r} has no page {seq}")

    def require_token(authorization: Annotated[str | None, Header()] = None) -> None:
        expected = settings.web.token.get_secret_value() if settings.web.token else ""
        if not expected:
            raise HTTPException(403, "writes are disabled: no token is configured (DIGITIZE_WEB__TOKEN)")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), expected.encode()):
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    @app.post("/api/items/{identifier}/withdraw", dependencies=[Depends(require_token)])
    def api_withdraw(identifier: str, body: WithdrawBody | None = None) -> dict:
        if not catalog.withdraw(identifier, reason=body.reason if body else None):
            raise HTTPException(404, f"no item {identifier!r} in the e-library")
        return {"identifier": identifier, "status": "withdrawn"}

    @app.put("/api/items/{identifier}", dependencies=[Depends(require_token)])
    def api_register(identifier: str, body: RegisterBody) -> JSONResponse:
        """Register (or update) an item whose files are already in the store.

        Every file is checked in the store (size and SHA-256 as recorded
        there) before anything is written to the catalog.
        """
        prefix = f"items/{identifier}/"
        if body.record.get("identifier", identifier) != identifier or "title" not in body.record:
            raise HTTPException(422, "record must have a title and this item's identifier")
        for f in body.files:
            if not f.key.startswith(prefix):
                raise HTTPException(422, f"file {f.key!r} is not under {prefix!r}")
            try:
                current = store.stat(f.key)
            except DigitizeError as exc:
                raise HTTPException(503, "storage cannot be reached; nothing was registered") from exc
            if current is None or current.size != f.size or current.sha256 != f.sha256:
                raise HTTPException(409, f"file {f.key!r} is not in storage as described; nothing was registered")
        if body.manifest_key not in {f.key for f in body.files}:
            raise HTTPException(422, "manifest_key must be one of the files")
        registered = catalog.register(Registration(
            identifier=identifier,
            record={**body.record, "identifier": identifier},
            files=tuple(CatalogFile(f.key, f.role, f.size, f.sha256, f.content_type) for f in body.files),
            pages=tuple(
                CatalogPage(p.seq, None, None, p.mean_confidence, p.skew_degrees, p.original_text, p.latin_text)
                for p in body.pages
            ),
            manifest_key=body.manifest_key,
            pdf_key=body.pdf_key,
            store=store.describe(),
            batch=body.batch,
        ))
        return JSONResponse(
            {"identifier": identifier, "created": registered.created, "files": registered.file_count,
             "pages": registered.page_count},
            status_code=201 if registered.created else 200,
        )

    # -- OAI-PMH -----------------------------------------------------------

    @app.api_route("/oai", methods=["GET", "POST"])
    async def oai_endpoint(request: Request) -> Response:
        if request.method == "POST":
            from urllib.parse import parse_qsl

            body = (await request.body()).decode("utf-8", errors="replace")
            params = parse_qsl(body, keep_blank_values=True)
        else:
            params = list(request.query_params.multi_items())
        xml = oai.respond(params, catalog, settings.web, base_url(request) + "/oai", base_url(request))
        return Response(xml, media_type="text/xml; charset=utf-8")

    return app


class WithdrawBody(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


class FileBody(BaseModel):
    key: str
    role: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    content_type: str = "application/octet-stream"


class PageBody(BaseModel):
    seq: int = Field(ge=1)
    original_text: str = ""
    latin_text: str = ""
    mean_confidence: float | None = None
    skew_degrees: float | None = None


class RegisterBody(BaseModel):
    record: dict[str, Any]
    files: list[FileBody] = Field(min_length=1)
    pages: list[PageBody] = []
    manifest_key: str
    pdf_key: str | None = None
    batch: str | None = None


def _chunks(stream) -> Iterator[bytes]:
    try:
        while chunk := stream.read(READ_CHUNK):
            yield chunk
    finally:
        stream.close()


def _int_or_none(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


def _download(identifier: str, f: CatalogFile) -> dict:
    name = f.key.removeprefix(f"items/{identifier}/")
    return {
        "name": name,
        "role": f.role,
        "size": f.size,
        "sha256": f.sha256,
        "content_type": f.content_type,
        "path": f"/items/{quote(identifier)}/files/{quote(name)}",
    }


def _api_item(item: dict, root: str) -> dict:
    keep = (
        "identifier", "title", "title_latin", "authors", "authors_latin", "year", "language", "script",
        "kind", "inventory_number", "collection", "page_count", "status",
    )
    data: dict[str, Any] = {key: item[key] for key in keep}
    for key in ("registered_at", "updated_at"):
        value = item[key]
        data[key] = value.isoformat() if isinstance(value, datetime) else value
    data["url"] = f"{root}/items/{quote(item['identifier'])}"
    data["api_url"] = f"{root}/api/items/{quote(item['identifier'])}"
    return data
