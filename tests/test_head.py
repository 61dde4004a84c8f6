"""HEAD on the pages and IIIF documents people and link checkers ask for, and the Mirador page's access.

HEAD answers what GET would (status, type, length, validators) with no
body: checked on a real uvicorn, reading the raw answer off the socket.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx
import pytest

from digitize.delivery.tiles import tiles_for_stored_item
from digitize.elibrary import create_app
from digitize.settings import Settings
from digitize.storage.catalog import Catalog
from digitize.storage.local import LocalObjectStore

from helpers.alto_item import register_alto_item
from helpers.live_server import serve

PAGES = [["Шәки шәһәри дағлар арасында"], ["Бакы шәһәри"]]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("head")
    store = LocalObjectStore(folder / "store")
    catalog = Catalog(f"sqlite:///{folder / 'catalog.sqlite3'}")
    register_alto_item(folder, catalog, store, "book", "Шәки китабы", PAGES)
    register_alto_item(folder, catalog, store, "staff-book", "Гапалы китаб", PAGES, access="staff")
    register_alto_item(folder, catalog, store, "gone", "Чыхарылмыш китаб", PAGES)
    catalog.withdraw("gone", "test")
    tiles = tiles_for_stored_item(store, catalog, "book", folder / "work")
    with serve(create_app(Settings(), catalog=catalog, store=store)) as url:
        yield url, tiles.index
    catalog.close()


def _raw_head(url: str) -> tuple[bytes, bytes]:
    """The answer's head and whatever came after it, as the server sent them."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(f"HEAD {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _pages(site) -> list[str]:
    url, index = site
    first = index.pages[0]
    tile = next(f.path for f in first.files if f.path.endswith("default.jpg"))
    return [
        "/", "/?q=seki&lang=en", "/items/book", "/items/book?lang=ru", "/items/book/mirador",
        "/iiif/collection.json", "/iiif/book/manifest.json", "/iiif/book/pages/1/info.json",
        f"/iiif/book/pages/1/{tile}", "/items/book/pages/1.png",
    ]


def test_head_answers_as_get_without_a_body(site):
    url, _ = site
    with httpx.Client(base_url=url) as client:
        for path in _pages(site):
            got = client.get(path)
            headed = client.head(path)
            assert got.status_code == 200, (path, got.status_code)
            assert headed.status_code == 200, (path, headed.status_code)
            assert headed.headers["content-type"] == got.headers["content-type"], path
            assert int(headed.headers["content-length"]) == len(got.content), path
            assert headed.headers.get("etag") == got.headers.get("etag"), path
            head, rest = _raw_head(url + path)
            assert head.startswith(b"HTTP/1.1 200"), (path, head[:40])
            assert rest == b"", path
        # The image service's own URL sends a viewer to its info.json, for HEAD as for GET.
        service = client.head("/iiif/book/pages/1")
        assert service.status_code == 303 and service.headers["location"].endswith("/iiif/book/pages/1/info.json")


@pytest.mark.parametrize(("path", "status"), [
    ("/items/nothing", 404), ("/items/gone", 410), ("/iiif/nothing/manifest.json", 404),
    ("/iiif/staff-book/manifest.json", 403), ("/iiif/gone/manifest.json", 410),
    ("/iiif/book/pages/99/info.json", 404), ("/iiif/book/pages/1/full/max/0/made-up.jpg", 404),
    ("/items/staff-book/mirador", 403), ("/items/gone/mirador", 410), ("/items/nothing/mirador", 404),
])
def test_head_refuses_as_get_does(site, path, status):
    url, _ = site
    with httpx.Client(base_url=url) as client:
        assert client.get(path).status_code == status
        assert client.head(path).status_code == status


def test_mirador_page_refusals_are_pages_and_bad_input_no_server_error(site):
    url, _ = site
    with httpx.Client(base_url=url) as client:
        refused = client.get("/items/staff-book/mirador", headers={"Accept-Language": "en"})
        assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
        page = client.get("/items/book/mirador?page=2")
        assert page.status_code == 200
        assert '<script src="/static/vendor/mirador.min.js" defer></script>' in page.text
        assert 'data-manifest="' + url + '/iiif/book/manifest.json"' in page.text
        assert 'data-page="2"' in page.text
        for bad in ("/items/book/mirador?page=0", "/items/book/mirador?page=x", "/items/%2e%2e/mirador"):
            assert client.get(bad).status_code in (404, 422), bad
        vendor = client.get("/static/vendor/mirador.min.js")
        assert vendor.status_code == 200 and b"Mirador" in vendor.content[:4000]
