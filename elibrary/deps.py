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
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from digitize.elibrary.render import PageRenderer
from digitize.settings import Settings
from digitize.storage.catalog import Catalog, CatalogItem
from digitize.storage.objects import ObjectStore

__all__ = [
    "BaseUrlDep",
    "CatalogDep",
    "RendererDep",
    "SettingsDep",
    "StoreDep",
    "TemplatesDep",
    "available_item",
    "get_base_url",
    "get_catalog",
    "get_renderer",
    "get_settings",
    "get_store",
    "get_templates",
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


def available_item(catalog: Catalog, identifier: str) -> CatalogItem:
    """The catalog item, or 404 (never registered) / 410 (withdrawn).

    Called from the route body rather than declared as a dependency, so that
    a request with invalid parameters is still answered 422 before the item
    is looked up.
    """
    item = catalog.get(identifier)
    if item is None:
        raise HTTPException(404, f"no item {identifier!r} in the e-library")
    if not item.available:
        raise HTTPException(410, f"item {identifier!r} has been withdrawn")
    return item


def render_page(
    templates: Jinja2Templates, request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """One HTML page from a template; every value in it is escaped (see ``app.make_templates``)."""
    return templates.TemplateResponse(request, name, context, status_code=status_code)
