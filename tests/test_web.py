"""The e-library web service through FastAPI's test client: pages, API, writes."""

from __future__ import annotations

import hashlib
import re
import warnings

import pytest

from digitize.settings import Settings
from digitize.storage.catalog import Catalog
from digitize.storage.local import LocalObjectStore

from helpers.catalog_data import make_registration

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx2
    from fastapi.testclient import TestClient

from digitize.elibrary import create_app

TOKEN = "test-token-" + "x" * 20
EVIL = '<script>alert("x")</script>'


@pytest.fixture
def library(tmp_path):
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    catalog.register(make_registration(
        tmp_path, "tales", "Азәрбајҹан нағыллары", ["Һ. Әлизадә"], 1968,
        pages=["Бир варды, бир јохду.", "Шаһ Аббас вә кечәл."], store=store,
    ))
    catalog.register(make_registration(
        tmp_path, "poems", "Şeirlər", ["Məmməd Araz"], 1990, script="Latn",
        pages=["Gecə düşdü."], store=store, collection="Poeziya",
    ))
    catalog.register(make_registration(
        tmp_path, "evil", f"Kitab {EVIL}", [EVIL], 2001, pages=[EVIL], store=store, collection=EVIL,
    ))
    yield catalog, store
    catalog.close()


def _client(library, token: str | None = TOKEN) -> TestClient:
    catalog, store = library
    settings = Settings(web={"token": token} if token else {})
    # The interface is Azerbaijani unless asked otherwise; these tests read its English.
    return TestClient(create_app(settings, catalog=catalog, store=store), headers={"Accept-Language": "en"})


def test_search_page_finds_items_in_either_script(library):
    with _client(library) as client:
        latin = client.get("/", params={"q": "azərbaycan"})
        cyrillic = client.get("/", params={"q": "Азәрбајҹан"})
        assert latin.status_code == cyrillic.status_code == 200
        for page in (latin, cyrillic):
            assert 'href="/items/tales' in page.text and 'href="/items/poems' not in page.text
            assert "1 item found" in page.text
        assert 'href="/items/poems' in client.get("/", params={"author": "Мәммәд"}).text
        assert 'href="/items/poems' in client.get("/", params={"collection": "Poeziya"}).text
        assert "1 item found" in client.get("/", params={"year": "1968"}).text
        assert "3 items in the e-library" in client.get("/").text
        bad_year = client.get("/", params={"year": "1968'--"})
        assert bad_year.status_code == 200 and "is not a number" in bad_year.text


def test_every_value_is_escaped(library):
    with _client(library) as client:
        for path in ("/", "/?q=kitab", "/items/evil", "/items/evil?q=" + EVIL, "/?title=" + EVIL):
            page = client.get(path)
            assert page.status_code == 200, path
            # The only scripts are the site's own files (the page viewer); nothing the data brought in.
            scripts = re.findall(r"<script[^>]*>", page.text.lower())
            assert all(re.fullmatch(r'<script src="/static/[\w./-]+\.js" defer>', tag) for tag in scripts), path
            assert EVIL not in page.text and "<script>" not in page.text.lower(), path
        assert "&lt;script&gt;" in client.get("/items/evil").text
        assert client.get("/").headers["content-security-policy"].startswith("default-src 'none'")


def test_item_page_with_viewer_thumbnail_and_downloads(library):
    catalog, store = library
    with _client(library) as client:
        page = client.get("/items/tales", params={"q": "kecel".replace("kecel", "keçəl"), "page": 2, "lang": "en"})
        assert page.status_code == 200
        assert "Azərbaycan nağılları" in page.text and "Шаһ Аббас" in page.text
        assert 'src="/items/tales/pages/2.png"' in page.text
        assert 'href="/items/tales/files/tales.pdf"' in page.text
        assert "Pages with" in page.text and "page=2" in page.text

        thumb = client.get("/items/tales/thumbnail.png")
        assert thumb.status_code == 200 and thumb.content.startswith(b"\x89PNG")
        assert client.get("/items/tales/pages/2.png").status_code == 200
        assert client.get("/items/tales/pages/3.png").status_code == 404

        pdf = client.get("/items/tales/files/tales.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert "inline" in pdf.headers["content-disposition"]  # read in the browser; other files are saved
        assert "attachment" in client.get("/items/tales/files/tales.latin.txt").headers["content-disposition"]
        expected = next(f for f in catalog.files("tales") if f.key.endswith(".pdf"))
        assert hashlib.sha256(pdf.content).hexdigest() == expected.sha256
        # only files the catalog lists, never arbitrary keys
        assert client.get("/items/tales/files/../poems/poems.pdf").status_code == 404
        assert client.get("/items/tales/files/poems.pdf").status_code == 404
        assert client.get("/items/nope").status_code == 404


def test_json_api(library):
    with _client(library) as client:
        found = client.get("/api/items", params={"q": "Азәрбајҹан"}).json()
        assert found["total"] == 1 and found["items"][0]["identifier"] == "tales"
        assert found["items"][0]["title_latin"] == "Azərbaycan nağılları"
        assert client.get("/api/items", params={"q": "azərbaycan"}).json()["total"] == 1
        assert client.get("/api/items", params={"kind": "score"}).json()["total"] == 0
        assert client.get("/api/items", params={"year_from": 1980}).json()["total"] == 2
        item = client.get("/api/items/tales").json()
        assert item["authors_latin"] == ["H. Əlizadə"]
        pdf = next(f for f in item["files"] if f["role"] == "pdf")
        assert client.get(pdf["url"]).status_code == 200
        page = client.get("/api/items/tales/pages/2").json()
        assert page["original_text"].startswith("Шаһ") and page["latin_text"].startswith("Şah")
        assert client.get("/api/items/nope").status_code == 404
        assert client.get("/api/items", params={"limit": -1}).status_code == 422


def test_withdraw_needs_the_token(library):
    catalog, _ = library
    with _client(library) as client:
        assert client.post("/api/items/tales/withdraw").status_code == 401
        wrong = client.post("/api/items/tales/withdraw", headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401 and TOKEN not in wrong.text
        assert catalog.get("tales").status == "available"
        ok = client.post("/api/items/tales/withdraw", headers={"Authorization": f"Bearer {TOKEN}"},
                         json={"reason": "duplicate"})
        assert ok.status_code == 200 and ok.json()["status"] == "withdrawn"
        assert client.post("/api/items/nope/withdraw", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
        # gone from search and pages, record kept
        assert client.get("/api/items", params={"q": "azərbaycan"}).json()["total"] == 0
        assert client.get("/items/tales").status_code == 410
        assert client.get("/items/tales/files/tales.pdf").status_code == 410
        assert catalog.get("tales").status == "withdrawn"
        assert catalog.events("tales")[-1].detail == "duplicate"


def test_writes_refused_without_a_configured_token(library):
    with _client(library, token=None) as client:
        refused = client.post("/api/items/tales/withdraw", headers={"Authorization": "Bearer "})
        assert refused.status_code == 403 and "DIGITIZE_WEB__TOKEN" in refused.json()["detail"]


def test_register_through_the_api_checks_storage_first(library, tmp_path):
    catalog, store = library
    auth = {"Authorization": f"Bearer {TOKEN}"}
    source = tmp_path / "new.pdf"
    source.write_bytes(b"%PDF-1.4 tiny")
    stored = store.put_file("items/new-item/new-item.pdf", source)
    body = {
        "record": {"title": "Јени китаб", "title_latin": "Yeni kitab", "year": 2020, "kind": "text"},
        "files": [{"key": stored.key, "role": "pdf", "size": stored.size, "sha256": stored.sha256,
                   "content_type": "application/pdf"}],
        "pages": [{"seq": 1, "original_text": "Дағлар", "latin_text": "Dağlar"}],
        "manifest_key": stored.key,
        "pdf_key": stored.key,
    }
    with _client(library) as client:
        assert client.put("/api/items/new-item", json=body).status_code == 401
        missing = {**body, "files": [{**body["files"][0], "sha256": "0" * 64}]}
        assert client.put("/api/items/new-item", json=missing, headers=auth).status_code == 409
        assert catalog.get("new-item") is None
        outside = {**body, "files": [{**body["files"][0], "key": "items/tales/tales.pdf"}]}
        assert client.put("/api/items/new-item", json=outside, headers=auth).status_code == 422
        created = client.put("/api/items/new-item", json=body, headers=auth)
        assert created.status_code == 201, created.text
        assert client.put("/api/items/new-item", json=body, headers=auth).status_code == 200
        assert catalog.count("items") == 4
        assert client.get("/api/items", params={"q": "дағлар"}).json()["items"][0]["identifier"] == "new-item"


def test_serve_command_binds_loopback_by_default(monkeypatch, tmp_path):
    import uvicorn
    from typer.testing import CliRunner

    from digitize.cli import app as cli

    calls = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.update(kwargs, app=app))
    monkeypatch.setenv("DIGITIZE_WEB__TOKEN", "very-secret-token-value")
    result = CliRunner().invoke(cli, [
        "serve", "--port", "8765",
        "--catalog-url", f"sqlite:///{tmp_path / 'c.sqlite3'}", "--storage-url", f"file://{tmp_path / 'store'}",
    ])
    assert result.exit_code == 0, result.output
    assert calls["host"] == "127.0.0.1" and calls["port"] == 8765
    assert "very-secret-token-value" not in result.output
    with TestClient(calls["app"]) as client:
        assert client.get("/api/items").json()["total"] == 0
