"""The FastAPI application: HTML pages for readers, a JSON API, OAI-PMH.

Reads are public. Writes (registering, withdrawing) need the bearer token
from ``settings.web.token``; with no token configured they are refused.
Every value shown in a page goes through Jinja2's autoescaping, and the
pages load nothing from other sites (a Content-Security-Policy says so).

The routes live in small routers (``pages``, ``files``, ``api``, ``admin``,
``harvest``) and reach the catalog, store, renderer and settings through the
dependencies in ``deps``; this module only builds the app around them.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digitize.elibrary import admin, api, files, harvest, i18n, iiif, pages, search_inside, staff
from digitize.elibrary.deps import get_templates, render_page
from digitize.elibrary.render import PageRenderer
from digitize.settings import Settings
from digitize.storage.catalog import Catalog
from digitize.storage.objects import ObjectStore

__all__ = ["BodyLimit", "create_app", "make_templates"]

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    # script-src/connect-src: the page viewer's own scripts (static/viewer.js, static/vendor/) and its
    # requests to this site (manifest, tiles, page texts, search inside); nothing from elsewhere. The one
    # hash lets an *empty* inline <style> through: the viewer's stand-in for one OpenSeadragon would add.
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; "
    "style-src 'self' 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
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
    app = FastAPI(
        title=settings.web.repository_name,
        lifespan=_lifespan,
        docs_url=None,  # the interactive docs load scripts from a CDN
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.catalog = catalog
    app.state.store = store
    app.state.renderer = PageRenderer(store, Path(tempfile.mkdtemp(prefix="elibrary-pages-")))
    app.state.templates = make_templates(settings.web.repository_name)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_middleware(BodyLimit, max_bytes=settings.web.max_request_bytes)
    app.middleware("http")(_security_headers)
    app.add_middleware(i18n.LanguageCookie)
    app.exception_handler(HTTPException)(_http_error)
    # The order the OpenAPI document lists the routes in.
    for module in (pages, files, api, iiif, search_inside, admin, harvest, staff):
        app.include_router(module.router)
    return app


def make_templates(repository_name: str) -> Jinja2Templates:
    """The page templates, with autoescaping on and the repository's name in every page."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.autoescape = True  # every value in every page is escaped
    templates.env.globals["repository_name"] = repository_name
    # ... in the request's language when the catalogs translate it (the default name does)
    templates.context_processors.append(
        lambda request: {"repository_name": i18n.repository_name(repository_name, i18n.request_locale(request))})
    templates.env.filters["url_quote"] = lambda value: quote(str(value), safe="")
    i18n.install(templates.env)  # _(), ngettext(), the language switch, dates/numbers/sizes per locale
    return templates


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    try:
        yield
    finally:
        renderer: PageRenderer = app.state.renderer
        shutil.rmtree(renderer.cache_dir, ignore_errors=True)


class BodyLimit:
    """Refuse (413) a request body over ``max_bytes``, reading no more of it than that.

    A declared Content-Length is checked before the request goes any
    further; a body without one (chunked) is counted as it streams in, and
    the read that passes the limit raises the 413 to whichever route was
    reading it, so no route ever holds more than the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await JSONResponse({"detail": "Content-Length is not a number"}, status_code=400)(scope, receive, send)
                return
            if length > self.max_bytes:
                await JSONResponse({"detail": self._too_large(length)}, status_code=413)(scope, receive, send)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._too_large(None))
            return message

        await self.app(scope, counted, send)

    def _too_large(self, length: int | None) -> str:
        size = f"of {length} bytes " if length is not None else ""
        return (
            f"the request body {size}is over the limit of {self.max_bytes} bytes (web.max_request_bytes); "
            "nothing was stored"
        )


async def _security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Errors as JSON for the API and OAI, as an HTML page for readers."""
    if request.url.path.startswith(("/api/", "/iiif/")) or request.url.path == "/oai":
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    templates = await get_templates(request)
    translated = isinstance(exc.detail, i18n.Translatable)
    return render_page(templates, request, "error.html", {
        "status": exc.status_code, "message": i18n.localized(request, exc.detail),
        "message_lang": i18n.request_locale(request) if translated else "en",
    }, exc.status_code)
