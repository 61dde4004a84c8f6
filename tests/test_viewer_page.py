"""The item page's viewer markup (templates/viewer.html) without a browser: labels, addresses, the no-JS view."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from digitize.elibrary import create_app
from digitize.settings import Settings
from digitize.storage.catalog import Catalog
from digitize.storage.local import LocalObjectStore

from helpers.alto_item import register_alto_item

VENDOR = Path(__file__).resolve().parents[1] / "elibrary" / "static" / "vendor" / "openseadragon.min.js"


@pytest.fixture
def client(tmp_path):
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    register_alto_item(tmp_path, catalog, store, "book", "Шәки", [["Шәки шәһәри"], ["Бакы"]])
    register_alto_item(tmp_path, catalog, store, "room", "Otaq", [["Шәки"]], access="reading-room")
    with TestClient(create_app(Settings(), catalog=catalog, store=store)) as client:
        yield client
    catalog.close()


def test_the_viewer_is_on_the_item_page_with_the_plain_view_for_no_javascript(client):
    html = client.get("/items/book?q=seki", headers={"Accept-Language": "en"}).text
    assert '<section class="book-viewer" id="book-viewer" hidden' in html
    assert 'data-manifest="/iiif/book/manifest.json"' in html and 'data-search="/iiif/book/search"' in html
    assert 'data-q="seki"' in html and 'data-page-count="2"' in html
    assert 'data-label-page-of="Page {label} of {count}"' in html  # translated in the template, filled by the script
    assert '<script src="/static/vendor/openseadragon.min.js" defer></script>' in html
    noscript = html[html.index("<noscript>"):html.index("</noscript>")]
    assert 'src="/items/book/pages/1.png"' in noscript and 'id="next-page"' in noscript
    assert "<script" not in html.split("<body", 1)[1].replace('<script src="/static/', "")  # no inline script


def test_a_restricted_item_has_no_viewer(client):
    assert 'id="book-viewer"' not in client.get("/items/room").text


def test_the_scripts_are_served_by_the_site_itself(client):
    assert client.get("/static/viewer.js").status_code == 200
    assert client.get("/static/viewer.css").status_code == 200
    policy = client.get("/items/book").headers["content-security-policy"]
    assert "script-src 'self';" in policy and "connect-src 'self';" in policy
    if not VENDOR.exists():
        pytest.skip("elibrary/static/vendor/ is not built (bin/setup runs npm ci in web/)")
    vendor = client.get("/static/vendor/openseadragon.min.js")
    assert vendor.status_code == 200 and b"OpenSeadragon" in vendor.content[:2000]
