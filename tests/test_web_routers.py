"""Each router of the web app alone, with its dependencies replaced through ``dependency_overrides``."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from fastapi import FastAPI

from digitize.elibrary import admin, api, files
from digitize.elibrary.deps import get_base_url, get_catalog, get_renderer, get_settings, get_store
from digitize.elibrary.render import PageRenderer
from digitize.errors import StorageError
from digitize.settings import Settings
from digitize.storage.catalog import Catalog
from digitize.storage.local import LocalObjectStore

from helpers.catalog_data import make_registration

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx2
    from fastapi.testclient import TestClient

TOKEN = "router-token-" + "y" * 20


@pytest.fixture
def shelf(tmp_path):
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    catalog.register(make_registration(
        tmp_path, "tales", "Азәрбајҹан нағыллары", ["Һ. Әлизадә"], 1968,
        pages=["Бир варды, бир јохду.", "Шаһ Аббас вә кечәл."], store=store,
    ))
    yield catalog, store
    catalog.close()


class BrokenRenderer(PageRenderer):
    """A renderer whose PDF cannot be read, as when the store goes away mid-request."""

    def render(self, key: str, sha256: str, page_index: int, width: int) -> bytes | None:
        raise StorageError(f"cannot read {key}")


def _app(router_module, overrides: dict) -> FastAPI:
    app = FastAPI()
    app.include_router(router_module.router)
    app.dependency_overrides.update(overrides)
    return app


def test_files_router_alone_real_pages_and_a_broken_renderer(shelf, tmp_path: Path):
    catalog, store = shelf
    working = _app(files, {
        get_settings: lambda: Settings(),  # who reads (elibrary.access) is decided from web settings
        get_catalog: lambda: catalog,
        get_store: lambda: store,
        get_renderer: lambda: PageRenderer(store, tmp_path / "cache"),
    })
    with TestClient(working) as client:
        png = client.get("/items/tales/pages/2.png")
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG\r\n\x1a\n")
        assert client.get("/items/tales/pages/3.png").status_code == 404
        pdf = client.get("/items/tales/files/tales.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert client.get("/items/nope/thumbnail.png").json() == {"detail": "no item 'nope' in the e-library"}

    broken = _app(files, {
        get_settings: lambda: Settings(),
        get_catalog: lambda: catalog,
        get_renderer: lambda: BrokenRenderer(store, tmp_path / "unused"),
    })
    with TestClient(broken) as client:
        failed = client.get("/items/tales/thumbnail.png")
        assert failed.status_code == 503
        assert failed.json() == {"detail": "the page image cannot be made right now"}


def test_api_and_admin_routers_alone_with_their_own_settings(shelf):
    catalog, store = shelf
    reader = _app(api, {
        get_settings: lambda: Settings(), get_catalog: lambda: catalog, get_base_url: lambda: "https://library.example",
    })
    with TestClient(reader) as client:
        item = client.get("/api/items/tales").json()
        assert item["url"] == "https://library.example/items/tales"
        pdf = next(f for f in item["files"] if f["role"] == "pdf")
        assert pdf["url"] == "https://library.example/items/tales/files/tales.pdf"

    writer = _app(admin, {
        get_settings: lambda: Settings(web={"token": TOKEN}),
        get_catalog: lambda: catalog,
        get_store: lambda: store,
    })
    with TestClient(writer) as client:
        assert client.post("/api/items/tales/withdraw").status_code == 401
        assert catalog.get("tales").status == "available"
        done = client.post("/api/items/tales/withdraw", headers={"Authorization": f"Bearer {TOKEN}"})
        assert done.status_code == 200 and done.json() == {"identifier": "tales", "status": "withdrawn"}
        assert catalog.get("tales").status == "withdrawn"

    closed = _app(admin, {get_settings: lambda: Settings(), get_catalog: lambda: catalog})
    with TestClient(closed) as client:
        refused = client.post("/api/items/tales/withdraw", headers={"Authorization": f"Bearer {TOKEN}"})
        assert refused.status_code == 403
