"""Downloads as a browser's PDF reader uses them: HEAD, Range (206/416), ETag and 304, from both stores."""

from __future__ import annotations

import dataclasses
import io
import uuid
import warnings
from pathlib import Path

import pytest
from PIL import Image

from digitize.elibrary import create_app
from digitize.elibrary.files import ByteRange, parse_range
from digitize.settings import Settings
from digitize.storage.catalog import Catalog, CatalogFile
from digitize.storage.local import LocalObjectStore
from digitize.storage.objects import ObjectStore

from helpers.catalog_data import make_registration

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TEXTS = [f"Səhifə {n}: bir varmış, bir yoxmuş." for n in range(1, 9)]


def _thumbnail_jpeg(folder: Path) -> Path:
    path = folder / "thumbnail.jpg"
    Image.new("RGB", (120, 170), (200, 180, 150)).save(path, format="JPEG", quality=80)
    return path


def _shelf(tmp_path: Path, store: ObjectStore) -> Catalog:
    """One item with a PDF, its Latin text and a stored thumbnail JPEG."""
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    registration = make_registration(tmp_path, "tales", "Nağıllar", ["Anonim"], 1968, pages=TEXTS, store=store,
                                     script="Latn")
    thumb = store.put_file("items/tales/thumbnail.jpg", _thumbnail_jpeg(tmp_path), content_type="image/jpeg")
    files = (*registration.files, CatalogFile(thumb.key, "thumbnail", thumb.size, thumb.sha256, "image/jpeg"))
    catalog.register(dataclasses.replace(registration, files=files))
    return catalog


@pytest.fixture(params=["local", pytest.param("seaweedfs", marks=[pytest.mark.needs_seaweedfs, pytest.mark.slow])])
def served(request, tmp_path):
    """A test client over a catalog whose files are in a local folder or in a real SeaweedFS (S3)."""
    if request.param == "local":
        store: ObjectStore = LocalObjectStore(tmp_path / "store")
    else:
        from digitize.storage.s3 import S3ObjectStore

        server = request.getfixturevalue("seaweed")
        store = S3ObjectStore(server.storage_settings(prefix=f"range-{uuid.uuid4().hex[:8]}"))
    catalog = _shelf(tmp_path, store)
    pdf = next(f for f in catalog.files("tales") if f.role == "pdf")
    with TestClient(create_app(Settings(), catalog=catalog, store=store)) as client:
        yield client, pdf, store
    catalog.close()


def test_pdf_is_read_in_the_browser_whole_or_by_range(served):
    client, pdf, store = served
    url = "/items/tales/files/tales.pdf"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content.startswith(b"%PDF")
    assert len(whole.content) == pdf.size
    assert whole.headers["content-disposition"].startswith("inline")
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["etag"] == f'"{pdf.sha256}"' and whole.headers["last-modified"].endswith("GMT")
    body = whole.content

    first = client.get(url, headers={"Range": "bytes=0-99"})
    assert first.status_code == 206 and first.content == body[:100]
    assert first.headers["content-range"] == f"bytes 0-99/{pdf.size}" and first.headers["content-length"] == "100"

    middle = client.get(url, headers={"Range": "bytes=1000-1999"})
    assert middle.status_code == 206 and middle.content == body[1000:2000]
    tail = client.get(url, headers={"Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == body[-500:]
    assert tail.headers["content-range"] == f"bytes {pdf.size - 500}-{pdf.size - 1}/{pdf.size}"
    open_ended = client.get(url, headers={"Range": f"bytes={pdf.size - 10}-"})
    assert open_ended.status_code == 206 and open_ended.content == body[-10:]
    past_end = client.get(url, headers={"Range": f"bytes={pdf.size - 5}-{pdf.size + 5000}"})
    assert past_end.status_code == 206 and past_end.content == body[-5:]

    # Several ranges: the whole file is a correct answer.
    several = client.get(url, headers={"Range": "bytes=0-9,20-29"})
    assert several.status_code == 200 and several.content == body
    # A range that does not overlap the file: 416 with the real size.
    beyond = client.get(url, headers={"Range": f"bytes={pdf.size}-{pdf.size + 10}"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{pdf.size}"
    # Nonsense is ignored (RFC 9110): the whole file, never a 500.
    for nonsense in ("bytes=abc", "pages=1-2", "bytes=9-3", "bytes=-", "bytes=" + "9" * 400):
        answer = client.get(url, headers={"Range": nonsense})
        assert answer.status_code in (200, 416), nonsense
    # If-Range with another version's tag: the whole (new) file.
    stale = client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"0000"'})
    assert stale.status_code == 200 and stale.content == body
    current = client.get(url, headers={"Range": "bytes=0-9", "If-Range": whole.headers["etag"]})
    assert current.status_code == 206 and current.content == body[:10]


def test_head_answers_like_get_without_a_body(served):
    client, pdf, _ = served
    url = "/items/tales/files/tales.pdf"
    head = client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(pdf.size)
    assert head.headers["content-type"] == "application/pdf" and head.headers["accept-ranges"] == "bytes"
    assert head.headers["etag"] == client.get(url).headers["etag"]
    ranged = client.head(url, headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.headers["content-length"] == "10" and ranged.content == b""
    assert client.head("/items/tales/files/nope.pdf").status_code == 404
    assert client.head("/items/nope/files/nope.pdf").status_code == 404


def test_conditional_get_answers_304(served):
    client, _, _ = served
    url = "/items/tales/files/tales.pdf"
    first = client.get(url)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert client.get(url, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get(url, headers={"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}).status_code == 200
    assert client.get(url, headers={"If-Modified-Since": "yesterday"}).status_code == 200
    # If-None-Match decides when both are sent.
    assert client.get(url, headers={"If-None-Match": '"other"', "If-Modified-Since": modified}).status_code == 200


def test_other_files_are_downloads_and_the_thumbnail_is_the_stored_jpeg(served):
    client, _, store = served
    text = client.get("/items/tales/files/tales.latin.txt")
    assert text.status_code == 200 and text.headers["content-disposition"].startswith("attachment")
    thumb = client.get("/items/tales/thumbnail.jpg")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    with store.open_read("items/tales/thumbnail.jpg") as stored:
        assert thumb.content == stored.read()  # the stored bytes, not a rendering
    assert Image.open(io.BytesIO(thumb.content)).size == (120, 170)
    assert client.get("/items/tales/thumbnail.jpg", headers={"If-None-Match": thumb.headers["etag"]}).status_code == 304
    old = client.get("/items/tales/thumbnail.png", follow_redirects=False)
    assert old.status_code == 301 and old.headers["location"] == "/items/tales/thumbnail.jpg"
    assert client.get("/items/tales/thumbnail.png").content == thumb.content


def test_ranged_reads_of_the_store(served):
    """The store reads only the asked bytes: a seek (local) or a Range GET (S3)."""
    _, pdf, store = served
    with store.open_read(pdf.key) as whole:
        body = whole.read()
    for start, length in ((0, 10), (100, 1), (pdf.size - 7, 7), (pdf.size - 3, 100)):
        with store.open_range(pdf.key, start, length) as part:
            assert part.read(length) == body[start:start + length]


def test_restricted_and_withdrawn_items_are_refused_as_before(tmp_path):
    store = LocalObjectStore(tmp_path / "store")
    catalog = _shelf(tmp_path, store)
    staff_only = make_registration(tmp_path, "staffonly", "Kitab", ["Anonim"], 2001, pages=["Bir."], store=store)
    catalog.register(dataclasses.replace(staff_only, record=dataclasses.replace(staff_only.record, access="staff")))
    with TestClient(create_app(Settings(), catalog=catalog, store=store)) as client:
        for method in ("GET", "HEAD"):
            refused = client.request(method, "/items/staffonly/files/staffonly.pdf", headers={"Range": "bytes=0-9"})
            assert refused.status_code == 403, method
        catalog.withdraw("tales", "test")
        for method in ("GET", "HEAD"):
            gone = client.request(method, "/items/tales/files/tales.pdf", headers={"Range": "bytes=0-9"})
            assert gone.status_code == 410, method
        assert client.get("/items/tales/thumbnail.jpg").status_code == 410
        assert client.get("/items/tales/thumbnail.png").status_code == 410
    catalog.close()


def test_parse_range_rules():
    assert parse_range(None, 100) is None
    assert parse_range("bytes=0-0", 100) == ByteRange(0, 0)
    assert parse_range("bytes=-1", 100) == ByteRange(99, 99)
    assert parse_range("bytes=-1000", 100) == ByteRange(0, 99)
    assert parse_range("bytes=50-", 100) == ByteRange(50, 99)
    assert parse_range("bytes=100-", 100) is False
    assert parse_range("bytes=-0", 100) is False
    assert parse_range("bytes=0-1", 0) is False
    assert parse_range("bytes=0-1, 5-6", 100) is None
    assert parse_range("items=0-1", 100) is None
