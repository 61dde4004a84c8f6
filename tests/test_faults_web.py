"""Fault suite, web: bad input to the e-library and OAI-PMH is refused with a message, never a 500.

Each case runs against the real app (FastAPI's test client, or the app called
directly as ASGI where a client would refuse to send the request) over a real
SQLite catalog and a local object store, and checks that nothing was stored.
"""

from __future__ import annotations

import asyncio
import base64
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from lxml import etree

from digitize.settings import Settings
from digitize.storage.catalog import Catalog
from digitize.storage.local import LocalObjectStore

from helpers.catalog_data import make_registration

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx2
    from fastapi.testclient import TestClient

from digitize.elibrary import create_app

TOKEN = "fault-token-" + "y" * 20
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NS = {"oai": "http://www.openarchives.org/OAI/2.0/"}


@pytest.fixture
def library(tmp_path: Path) -> Iterator[tuple[Catalog, LocalObjectStore]]:
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    catalog.register(make_registration(
        tmp_path, "tales", "Азәрбајҹан нағыллары", ["Һ. Әлизадә"], 1968,
        pages=["Бир варды, бир јохду."], store=store,
    ))
    catalog.register(make_registration(
        tmp_path, "poems", "Şeirlər", ["Məmməd Araz"], 1990, script="Latn", pages=["Gecə düşdü."], store=store,
    ))
    yield catalog, store
    catalog.close()


def _app(library: tuple[Catalog, LocalObjectStore], **web: Any) -> Any:
    catalog, store = library
    return create_app(Settings(web={"token": TOKEN, **web}), catalog=catalog, store=store)


def _client(library: tuple[Catalog, LocalObjectStore], **web: Any) -> TestClient:
    return TestClient(_app(library, **web), raise_server_exceptions=False)


def _asgi(
    app: Any, method: str, path: str, query: bytes = b"", headers: dict[str, str] | None = None,
    chunks: list[bytes] | None = None,
) -> tuple[int, bytes, int]:
    """Call the app as a server would, with any query string and body: (status, body, body chunks read)."""
    pending = list(chunks or [])
    reads = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        if not pending:
            return {"type": "http.request", "body": b"", "more_body": False}
        reads += 1
        return {"type": "http.request", "body": pending.pop(0), "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, reads


# -- search: bounded query length and word count -------------------------------------------------


@pytest.mark.parametrize(
    ("params", "cause"),
    [
        ({"q": "a" * 50_001}, "characters"),
        ({"q": " ".join(["ab"] * 1_500)}, "characters"),
        ({"q": "a " * 200}, "words"),
        ({"title": "söz " * 40}, "words"),
        ({"author": "x" * 2_000}, "characters"),
        ({"q": "kitab " * 20, "title": "söz " * 20}, "words"),
    ],
)
def test_overlong_search_is_refused_with_a_message(library, params, cause):
    with _client(library) as client:
        api = client.get("/api/items", params=params)
        assert api.status_code == 422, api.text[:300]
        assert api.headers["content-type"].startswith("application/json")
        assert cause in api.json()["detail"]
        page = client.get("/", params={**params, "lang": "en"})  # the message asked in English
        assert page.status_code == 422, page.text[:300]
        assert page.headers["content-type"].startswith("text/html")
        assert cause in page.text and "<html" in page.text.lower()
        if list(params) == ["q"]:
            item = client.get("/items/tales", params={"q": params["q"], "lang": "en"})
            assert item.status_code == 422 and cause in item.text


def test_a_100kb_query_is_refused_before_any_search_work(library):
    """100 KB of words (longer than an HTTP client will send) held a CPU for seconds, then answered 500."""
    app = _app(library)
    query = ("lang=en&q=" + "+".join(["kitabxana"] * 10_000)).encode()
    for path in ("/api/items", "/"):
        status, body, _ = _asgi(app, "GET", path, query)
        assert status == 422, body[:300]
        assert b"characters" in body


def test_searches_within_the_limits_still_work(library):
    with _client(library) as client:
        found = client.get("/api/items", params={"q": "azərbaycan " * 3})
        assert found.status_code == 200 and found.json()["total"] == 1
        assert client.get("/", params={"q": "Азәрбајҹан", "author": "Әлизадә"}).status_code == 200
        limited = _client(library, search_max_words=2, search_max_chars=20)
        assert limited.get("/api/items", params={"q": "a b"}).status_code == 200
        assert limited.get("/api/items", params={"q": "a b c"}).status_code == 422
        assert limited.get("/api/items", params={"q": "a" * 21}).status_code == 422


def test_numbers_the_catalog_cannot_hold_are_refused(library):
    """Found by fuzzing: an offset or a year past 2**63 reached SQLite and answered 500."""
    with _client(library) as client:
        for name in ("offset", "year", "year_from", "year_to"):
            refused = client.get("/api/items", params={name: 2**63})
            assert refused.status_code == 422 and name in refused.text
        page = client.get("/", params={"year": str(2**63), "lang": "en"})
        assert page.status_code == 200 and "is not a number" in page.text


# -- OAI-PMH: every malformed argument and token is an OAI error ---------------------------------


def _oai_error(response: Any) -> str | None:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/xml")
    doc = etree.fromstring(response.content)
    error = doc.find("oai:error", NS)
    return None if error is None else error.get("code")


def _token(**state: Any) -> str:
    base = {"verb": "ListRecords", "set": None, "since": None, "before": "2100-01-01T00:00:00+00:00",
            "after": ["2020-01-01T00:00:00+00:00", 1], "cursor": 1}
    return base64.urlsafe_b64encode(json.dumps({**base, **state}).encode()).decode().rstrip("=")


def test_oai_until_the_end_of_time_lists_every_record(library):
    with _client(library) as client:
        for until in ("9999-12-31", "9999-12-31T23:59:59Z"):
            response = client.get("/oai", params={"verb": "ListIdentifiers", "metadataPrefix": "oai_dc",
                                                  "until": until})
            assert _oai_error(response) is None
            assert len(etree.fromstring(response.content).findall(".//oai:header", NS)) == 2


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "oai:elibrary.local:tales\x01"},
         "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc\x00"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "kind:\x0b"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2024-01-01\x1f"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from\x02": "2024-01-01"}, "badArgument"),
        ({"verb": "Identify\x07"}, "badVerb"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "0000-01-01"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2024-02-30"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "until": "99999-12-31"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2024-01-01", "until": "2024-01-02T00:00:00Z"},
         "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "resumptionToken": _token(after=["2020-01-01T00:00:00"
                                                                                           "+00:00", 10**30])},
         "badArgument"),
        ({"verb": "ListRecords", "resumptionToken": _token(after=["2020-01-01T00:00:00+00:00", 10**30])},
         "badResumptionToken"),
        ({"verb": "ListRecords", "resumptionToken": _token(cursor=10**30)}, "badResumptionToken"),
        ({"verb": "ListRecords", "resumptionToken": _token(after=["2020-01-01T00:00:00+00:00", -5])},
         "badResumptionToken"),
        ({"verb": "ListRecords", "resumptionToken": _token(after=["2020-01-01T00:00:00", 1])}, "badResumptionToken"),
        ({"verb": "ListRecords", "resumptionToken": _token(before="9999-12-31T23:59:59-14:00")},
         "badResumptionToken"),
        ({"verb": "ListRecords", "resumptionToken": _token(set="kind:\x01")}, "badResumptionToken"),
        ({"verb": "ListRecords", "resumptionToken": _token(after=[1.5, 1])}, "badResumptionToken"),
        ({"verb": "ListRecords", "resumptionToken": _token(cursor=True)}, "badResumptionToken"),
        ({"verb": "ListRecords", "resumptionToken": base64.urlsafe_b64encode(b"[1, 2]").decode()},
         "badResumptionToken"),
        ({"verb": "ListRecords", "resumptionToken": "A" * 60_000}, "badResumptionToken"),
        ({"verb": "ListRecords", "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "metadataPrefix ": "x"}, "badArgument"),
    ],
)
def test_oai_malformed_arguments_are_oai_errors(library, params, code):
    with _client(library) as client:
        assert _oai_error(client.get("/oai", params=params)) == code
        assert _oai_error(client.post("/oai", data=params)) == code


def test_oai_post_body_that_is_not_utf8_or_form_is_an_oai_error(library):
    with _client(library) as client:
        assert _oai_error(client.post("/oai", content=b"verb=Identify&\xff\xfe=\x01")) == "badArgument"
        assert _oai_error(client.post("/oai", content=b"\x00\x00\x00")) in ("badArgument", "badVerb")


# -- request bodies: a size limit, authentication first --------------------------------------------


def _register_body(store: LocalObjectStore, tmp_path: Path, record: dict[str, Any] | None = None) -> dict[str, Any]:
    source = tmp_path / "new.pdf"
    source.write_bytes(b"%PDF-1.4 tiny")
    stored = store.put_file("items/new-item/new-item.pdf", source)
    return {
        "record": record if record is not None else {"title": "Јени китаб", "year": 2020, "kind": "text"},
        "files": [{"key": stored.key, "role": "pdf", "size": stored.size, "sha256": stored.sha256,
                   "content_type": "application/pdf"}],
        "pages": [{"seq": 1, "original_text": "Дағлар", "latin_text": "Dağlar"}],
        "manifest_key": stored.key,
        "pdf_key": stored.key,
    }


def test_a_body_over_the_limit_is_refused_by_its_length(library, tmp_path):
    catalog, store = library
    body = _register_body(store, tmp_path)
    body["pages"][0]["original_text"] = "я" * 5_000
    with _client(library, max_request_bytes=4_000) as client:
        refused = client.put("/api/items/new-item", json=body, headers=AUTH)
        assert refused.status_code == 413 and "4000" in refused.json()["detail"]
        assert client.post("/oai", data={"verb": "Identify", "x": "y" * 5_000}).status_code == 413
    assert catalog.get("new-item") is None


def test_a_chunked_body_is_counted_as_it_streams(library, tmp_path):
    """No Content-Length: the limit is reached while reading, and reading stops there."""
    catalog, store = library
    app = _app(library, max_request_bytes=4_000)
    chunks = [b'{"record": {"title": "x"}, "pages": [{"seq": 1, "original_text": "'] + [b"a" * 1_000] * 50
    status, body, reads = _asgi(app, "PUT", "/api/items/new-item",
                                headers={**AUTH, "content-type": "application/json"}, chunks=chunks)
    assert status == 413 and b"4000" in body
    assert reads <= 6  # stopped at the limit, not after all 51 chunks
    assert catalog.get("new-item") is None


def test_the_token_is_checked_before_the_body_is_read(library):
    app = _app(library)
    garbage = [b"{not json" + b"x" * 1_000] * 20
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        status, body, reads = _asgi(app, "PUT", "/api/items/new-item",
                                    headers={**headers, "content-type": "application/json"}, chunks=garbage)
        assert status == 401, body[:300]
        assert reads == 0
        status, body, reads = _asgi(app, "POST", "/api/items/tales/withdraw",
                                    headers={**headers, "content-type": "application/json"}, chunks=garbage)
        assert status == 401 and reads == 0
    assert library[0].get("tales").status == "available"


# -- PUT validates the record with intake's rules --------------------------------------------------


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        ({"record": {"title": "Kitab", "year": "notanint"}}, "year"),
        ({"record": {"title": "Kitab", "year": 99999}}, "year"),
        ({"record": {"title": "Kitab", "kind": "weird"}}, "kind"),
        ({"record": {"title": "   "}}, "title"),
        ({"record": {"title": "Kitab", "colour": "red"}}, "colour"),
        ({"record": {"title": "Kitab", "page_count": -3}}, "page_count"),
        ({"record": {"title": "Kitab", "identifier": "other"}}, "identifier"),
        ({"record": {"title": "Kitab", "authors": [["nested"]]}}, "authors"),
        ({"pdf_key": "items/new-item/../tales/tales.pdf"}, "pdf_key"),
        ({"pdf_key": "items/tales/tales.pdf"}, "pdf_key"),
        ({"manifest_key": "items/new-item/\x00.json"}, "manifest_key"),
        ({"files": [{"key": "items/new-item/../tales/tales.pdf", "role": "pdf", "size": 1, "sha256": "0" * 64}]},
         "files"),
        ({"files": [{"key": "items/new-item/a.pdf", "role": "pdf", "size": 2**70, "sha256": "0" * 64}]}, "size"),
        ({"pages": [{"seq": 1}, {"seq": 1}]}, "seq"),
        ({"pages": [{"seq": 2**70}]}, "seq"),
    ],
)
def test_put_refuses_what_intake_would_refuse(library, tmp_path, change, cause):
    catalog, store = library
    body = {**_register_body(store, tmp_path), **change}
    with _client(library) as client:
        refused = client.put("/api/items/new-item", json=body, headers=AUTH)
    assert refused.status_code == 422, refused.text[:500]
    assert cause in refused.text
    assert catalog.get("new-item") is None and catalog.count("items") == 2


def test_put_refuses_an_identifier_intake_would_refuse(library, tmp_path):
    catalog, store = library
    body = _register_body(store, tmp_path)
    with _client(library) as client:
        for identifier in ("new item", "-dash", "x" * 200):
            refused = client.put(f"/api/items/{identifier}", json=body, headers=AUTH)
            assert refused.status_code == 422 and "identifier" in refused.text, refused.text[:300]
    assert catalog.count("items") == 2


def test_put_takes_authors_as_intake_does(library, tmp_path):
    """A single author given as a string is one author (intake's rule), not a list of letters."""
    catalog, store = library
    body = _register_body(store, tmp_path, {"title": "Јени китаб", "authors": "Һ. Әлизадә", "year": "1968"})
    with _client(library) as client:
        created = client.put("/api/items/new-item", json=body, headers=AUTH)
        assert created.status_code == 201, created.text
    item = catalog.get("new-item")
    assert item is not None and item.authors == ("Һ. Әлизадә",) and item.year == 1968
    assert item.language is None  # not given: not invented


# -- fuzzing: no generated request gets a 500 --------------------------------------------------------

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("fuzz")
    store = LocalObjectStore(folder / "store")
    catalog = Catalog(f"sqlite:///{folder / 'catalog.sqlite3'}")
    catalog.register(make_registration(folder, "tales", "Азәрбајҹан", ["Һ. Әлизадә"], 1968, pages=["Бир"], store=store))
    yield create_app(Settings(web={"token": TOKEN, "max_request_bytes": 200_000}), catalog=catalog, store=store)
    catalog.close()


@pytest.mark.slow
def test_fuzzed_requests_never_get_a_500(fuzzed_app: Any) -> None:
    """Requests generated from the OpenAPI document, with the token: a 4xx at worst.

    Driven through hypothesis directly (schemathesis's pytest plugin does
    not load under this pytest).
    """
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", fuzzed_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/items", "/api/items/{identifier}", "/"}
    for operation in operations:

        @hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @given(operation.as_strategy())
        def call(case: Any) -> None:
            case.call_and_validate(headers=AUTH, checks=[not_a_server_error])

        call()


_OAI_NAMES = st.sampled_from(["verb", "metadataPrefix", "identifier", "from", "until", "set", "resumptionToken"])
_OAI_VALUES = st.one_of(
    st.sampled_from(["ListRecords", "ListIdentifiers", "GetRecord", "Identify", "ListSets", "ListMetadataFormats",
                     "oai_dc", "oai:elibrary.local:tales", "kind:text", "9999-12-31", "0001-01-01",
                     "2024-01-01T00:00:00Z", "9999-12-31T23:59:59Z", _token(), _token(cursor=10**30)]),
    st.text(max_size=30),
)


@pytest.mark.slow
def test_fuzzed_oai_arguments_always_get_an_oai_answer(fuzzed_app: Any) -> None:
    client = TestClient(fuzzed_app, raise_server_exceptions=False)

    @hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(_OAI_NAMES | st.text(max_size=10), _OAI_VALUES), max_size=5))
    def ask(params: list[tuple[str, str]]) -> None:
        form = urlencode(params).encode()  # a form body carries any text, unlike a URL
        response = client.post("/oai", content=form, headers={"content-type": "application/x-www-form-urlencoded"})
        code = _oai_error(response)
        assert code is None or code in {"badVerb", "badArgument", "badResumptionToken", "cannotDisseminateFormat",
                                        "idDoesNotExist", "noRecordsMatch", "noSetHierarchy",
                                        "noMetadataFormats"}

    ask()
