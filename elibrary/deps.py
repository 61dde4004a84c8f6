"""What the routes share, reached through ``Depends``.

``create_app`` puts the settings, the catalog, the object store, the page
renderer and the templates on ``app.state``; the functions here read them
back. A route names what it needs (``catalog: CatalogDep``), so a test can
build an app with one router and replace any of them through
``app.dependency_overrides``. The getters are ``async`` only so that
FastAPI calls them on the event loop instead of handing each to a thread.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError

from digitize.elibrary.i18n import Translatable
from digitize.elibrary.render import PageRenderer
from digitize.settings import Settings, WebSettings
from digitize.storage.catalog import Catalog, CatalogItem
from digitize.storage.objects import ObjectStore

__all__ = [
    "MAX_OFFSET",
    "YEAR_MAX",
    "YEAR_MIN",
    "BaseUrlDep",
    "CatalogDep",
    "RendererDep",
    "SettingsDep",
    "StoreDep",
    "TemplatesDep",
    "available_item",
    "body_openapi",
    "check_search",
    "get_base_url",
    "get_catalog",
    "get_renderer",
    "get_settings",
    "get_store",
    "get_templates",
    "json_body",
    "render_page",
    "require_token",
]


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


async def get_store(request: Request) -> ObjectStore:
    store: ObjectStore = request.app.state.store
    return store


async def get_renderer(request: Request) -> PageRenderer:
    renderer: PageRenderer = request.app.state.renderer
    return renderer


async def get_templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]
RendererDep = Annotated[PageRenderer, Depends(get_renderer)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]


async def get_base_url(request: Request, settings: SettingsDep) -> str:
    """The site's address for links: the configured one, else the one the request came to."""
    return (settings.web.base_url or str(request.base_url)).rstrip("/")


BaseUrlDep = Annotated[str, Depends(get_base_url)]


def require_token(settings: SettingsDep, authorization: Annotated[str | None, Header()] = None) -> None:
    """Let a write through only with the configured bearer token; with none configured, refuse all writes."""
    expected = settings.web.token.get_secret_value() if settings.web.token else ""
    if not expected:
        raise HTTPException(403, "writes are disabled: no token is configured (DIGITIZE_WEB__TOKEN)")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), expected.encode()):
        raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})


# Bounds of numbers a search may ask for: the catalog's integers are 64-bit,
# and no printed year or result offset comes near them.
YEAR_MIN, YEAR_MAX = -9999, 9999
MAX_OFFSET = 1_000_000_000


def check_search(web: WebSettings, **fields: str | None) -> None:
    """Refuse (422) a search longer than the settings allow, before any work is spent on it.

    Counted on the text as given, so a 100 KB query costs a ``len`` and a
    ``split``, not a transliteration and a database query.
    """
    words = 0
    for name, value in fields.items():
        if not value:
            continue
        if len(value) > web.search_max_chars:
            raise HTTPException(422, Translatable(
                "the search field %(name)s has %(count)s characters; at most %(most)s characters are searched: "
                "shorten it", name=repr(name), count=len(value), most=web.search_max_chars,
            ))
        words += len(value.split())
    if words > web.search_max_words:
        raise HTTPException(422, Translatable(
            "the search has %(count)s words; at most %(most)s words are searched: use fewer",
            count=words, most=web.search_max_words,
        ))


ModelT = TypeVar("ModelT", bound=BaseModel)


def json_body(model: type[ModelT], *, empty_is_default: bool = False) -> Callable[[Request], Awaitable[ModelT]]:
    """A dependency that reads the request's JSON body as ``model``.

    FastAPI reads and parses a declared body before it resolves any
    dependency, so a write route declares its body through this instead,
    after ``require_token``: a request without the token is refused before
    a byte of its body is read. Errors are FastAPI's usual 422, without
    echoing the input back. ``empty_is_default``: no body means the model's
    defaults.
    """

    async def read(request: Request) -> ModelT:
        raw = await request.body()
        if empty_is_default and not raw.strip():
            raw = b"{}"
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            raise RequestValidationError([
                {"type": error["type"], "loc": ("body", *error["loc"]), "msg": error["msg"]}
                for error in exc.errors(include_url=False)
            ]) from exc

    return read


def body_openapi(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route whose body ``json_body`` reads (FastAPI cannot see it)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"$ref"}:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    content = {"application/json": {"schema": inline(schema)}}
    return {"requestBody": {"required": required, "content": content}}


def available_item(catalog: Catalog, identifier: str) -> CatalogItem:
    """The catalog item, or 404 (never registered, or not published: waiting for review) / 410 (withdrawn).

    Called from the route body rather than declared as a dependency, so that
    a request with invalid parameters is still answered 422 before the item
    is looked up.
    """
    item = catalog.get(identifier)
    if item is None or (item.available and not item.public):  # in review or rejected: not there for readers
        raise HTTPException(404, Translatable("no item %(item)s in the e-library", item=repr(identifier)))
    if not item.public:
        raise HTTPException(410, Translatable("item %(item)s has been withdrawn", item=repr(identifier)))
    return item


def render_page(
    templates: Jinja2Templates, request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """One HTML page from a template; every value in it is escaped (see ``app.make_templates``)."""
    return templates.TemplateResponse(request, name, context, status_code=status_code)
