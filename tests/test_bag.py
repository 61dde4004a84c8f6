"""BagIt: the item's bag refers to the stored files (fetch.txt), validates with the bagit library once
fetched, and one changed byte of a stored master fails it (and the audit)."""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from pathlib import Path
from urllib.parse import unquote

import bagit
import numpy as np
import pytest
from PIL import Image

from digitize.archive.bag import (
    BAG_ALGORITHMS,
    FETCH_TXT,
    fetch_url,
    make_bag_zip,
    read_bag_zip,
    stored_key_of,
    unpack_bag,
    validate_bag,
)
from digitize.archive.package import BAG_CARRIES
from digitize.assembly.item import assemble_item, plan_pages
from digitize.checksums import sha256_file
from digitize.delivery.audit import audit_store
from digitize.delivery.bags import fetch_bag
from digitize.delivery.publish import item_prefix, publish_item
from digitize.errors import AuditError
from digitize.pipeline.model import OutputFile
from digitize.pipeline.page import process_page
from digitize.scanners.batch import read_item
from digitize.settings import AuditSettings, Settings, StorageSettings
from digitize.storage.catalog import Catalog, CatalogFile
from digitize.storage.local import LocalObjectStore
from digitize.storage.s3 import S3ObjectStore

INFO = {
    "Source-Organization": "Test Library",
    "External-Identifier": "book-9",
    "External-Description": 'Нағыллар <&> "ики" كتاب e\u0301',
    "Bagging-Date": "2026-11-23",
}
DATE = (2026, 11, 23, 12, 0, 0)
MASTER = "masters/сəһифə 1.tif"
MASTER_BYTES = bytes(range(256)) * 40


@pytest.fixture
def files(tmp_path) -> list[OutputFile]:
    src = tmp_path / "src"
    src.mkdir()
    made = []
    for key, data in (
        (MASTER, MASTER_BYTES),
        ("book-9.pdf", b"%PDF-1.7\n" + b"x" * 5000),
        ("ocr/0001.hocr", "<html>Азәрбајҹан</html>".encode()),
        ("alto/0001.xml", b"<alto/>"),
        ("book-9.mets.xml", b"<mets/>"),
    ):
        path = src / key.replace("/", "__")
        path.write_bytes(data)
        made.append(OutputFile(path, key, "mets" if key.endswith("mets.xml") else "x"))
    return made


def _urls(files: list[OutputFile], storage_url: str = "file:///srv/store") -> dict[str, str]:
    return {f.key: fetch_url(storage_url, f"items/book-9/{f.key}") for f in files if f.role not in BAG_CARRIES}


def _unzip(archive: Path, into: Path) -> Path:
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        zf.extractall(into)
    return into / "book-9.bag"


def _from_sources(files: list[OutputFile], changed: dict[str, bytes] | None = None):
    """A fetch callback serving each file's bytes by the key its URL names (``changed``: other bytes)."""
    by_key = {f"items/book-9/{f.key}": f.path.read_bytes() for f in files}
    by_key.update(changed or {})

    @contextlib.contextmanager
    def fetch(url: str, path: str):
        key = stored_key_of(url)
        assert key is not None and key == f"items/book-9/{path.removeprefix('data/')}"
        yield io.BytesIO(by_key[key])

    return fetch


def test_bag_refers_to_the_stored_files_and_carries_only_the_mets(files, tmp_path):
    dest = tmp_path / "book-9.bag.zip"
    make_bag_zip(files, dest, "book-9.bag", INFO, DATE, fetch_urls=_urls(files))
    with zipfile.ZipFile(dest) as zf:
        names = zf.namelist()
        contents = read_bag_zip(zf)
    assert names == sorted(names) and all(n.startswith("book-9.bag/") for n in names)
    assert [n for n in names if "/data/" in n] == ["book-9.bag/data/book-9.mets.xml"]
    assert MASTER_BYTES[:2000] not in dest.read_bytes()  # no master payload bytes inside the zip
    # the manifests still prove every file, masters included
    assert contents.manifest == {f"data/{f.key}": sha256_file(f.path) for f in files}
    assert set(contents.fetch) == {f"data/{f.key}" for f in files if f.role != "mets"}
    encoded = "file:items/book-9/masters/%D1%81%C9%99%D2%BB%D0%B8%D1%84%C9%99%201.tif"
    assert contents.fetch[f"data/{MASTER}"] == (encoded, len(MASTER_BYTES))
    assert contents.info["Payload-Oxum"] == f"{sum(f.path.stat().st_size for f in files)}.{len(files)}"
    assert contents.tag_problems == ()
    # unzipped as it is, the bag is incomplete (its Payload-Oxum counts the files to fetch) ...
    holey = bagit.Bag(str(_unzip(dest, tmp_path / "holey")))
    assert sorted(holey.files_to_be_fetched()) == sorted(contents.fetch)
    with pytest.raises(bagit.BagValidationError, match="Payload-Oxum"):
        holey.validate()
    # ... and complete and valid once its fetch.txt is fetched
    folder, fetched = unpack_bag(dest, tmp_path / "complete", _from_sources(files))
    bag = validate_bag(folder)
    assert fetched == len(files) - 1
    assert sorted(bag.algorithms) == sorted(BAG_ALGORITHMS)
    assert sorted(bag.payload_files()) == sorted(f"data/{f.key}" for f in files)
    for algorithm in BAG_ALGORITHMS:
        tagged = (folder / f"tagmanifest-{algorithm}.txt").read_text()
        assert FETCH_TXT in tagged and "bag-info.txt" in tagged and f"manifest-{algorithm}.txt" in tagged
    for f in files:
        assert (folder / "data" / f.key).read_bytes() == f.path.read_bytes()
    assert bag.info["External-Description"] == INFO["External-Description"]
    assert bag.info["Bagging-Date"] == "2026-11-23"


@pytest.mark.parametrize("key", [MASTER, "book-9.pdf"])
def test_a_changed_stored_file_fails_the_fetched_bag_for_sha256_and_sha512(files, tmp_path, key):
    dest = tmp_path / "book-9.bag.zip"
    make_bag_zip(files, dest, "book-9.bag", INFO, DATE, fetch_urls=_urls(files))
    data = bytearray(next(f for f in files if f.key == key).path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one byte; the size stays the same
    with pytest.raises(bagit.BagValidationError) as failure:
        unpack_bag(dest, tmp_path / "x", _from_sources(files, {f"items/book-9/{key}": bytes(data)}))
    mismatches = [d for d in failure.value.details if isinstance(d, bagit.ChecksumMismatch)]
    assert {d.algorithm for d in mismatches} == {"sha256", "sha512"}
    assert {d.path for d in mismatches} == {f"data/{key}"}


def test_a_bag_that_carries_every_file_still_validates(files, tmp_path):
    """The layout made before bags referred to the store (no fetch_urls): every file inside."""
    dest = tmp_path / "book-9.bag.zip"
    make_bag_zip(files, dest, "book-9.bag", INFO, DATE)
    root = _unzip(dest, tmp_path / "x")
    assert not (root / FETCH_TXT).exists()
    bag = validate_bag(root)
    assert sorted(bag.payload_files()) == sorted(f"data/{f.key}" for f in files)
    payload = root / "data" / MASTER
    payload.write_bytes(payload.read_bytes()[:-1] + b"\x00")
    with pytest.raises(bagit.BagValidationError):
        validate_bag(root)


def test_bag_zip_is_deterministic(files, tmp_path):
    one, two = tmp_path / "one.zip", tmp_path / "two.zip"
    make_bag_zip(files, one, "book-9.bag", INFO, DATE, fetch_urls=_urls(files))
    make_bag_zip(files, two, "book-9.bag", INFO, DATE, fetch_urls=_urls(files, "file:///elsewhere/store"))
    assert one.read_bytes() == two.read_bytes()  # a local store's place is not in the bag
    with zipfile.ZipFile(one) as zf:
        assert {zf.getinfo(n).date_time for n in zf.namelist()} == {DATE}


def test_fetch_urls_name_the_stored_objects():
    key = "items/book-9/masters/сəһифə 1.tif"
    assert stored_key_of(fetch_url("file://./data", key)) == key
    assert stored_key_of("file:///srv/store/x") is None and stored_key_of("s3://b/x") is None
    for url in ("s3://bucket", "s3://bucket/", "s3://bucket/some/prefix/", "s3://bucket//p"):
        store = S3ObjectStore(StorageSettings(url=url), client=object())
        assert unquote(fetch_url(url, key)) == store.url_for(key)


def _master_bytes(store: LocalObjectStore, key: str) -> bytes:
    with store.open_read(key) as stream:
        return stream.read()


@pytest.fixture
def published(tmp_path):
    """A two-page score (no OCR: quick), assembled and published to a local store."""
    folder = tmp_path / "batch" / "score-9"
    folder.mkdir(parents=True)
    (folder / "item.toml").write_text('title = "Соната"\nkind = "score"\nyear = 1950\n', encoding="utf-8")
    rng = np.random.default_rng(9)
    for n in (1, 2):
        Image.fromarray(rng.integers(0, 255, (400, 300), dtype=np.uint8)).save(folder / f"p{n}.png")
    settings = Settings(work_dir=tmp_path / "work", output_dir=tmp_path / "out",
                        storage={"url": f"file://{tmp_path / 'store'}"})
    item = read_item(folder)
    pages = [process_page(job, settings) for job in plan_pages(item, settings)]
    outputs = assemble_item(item, pages, settings)
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    publish_item(item, outputs, pages, store, catalog, batch="b1")
    yield item, pages, outputs, store, catalog, settings
    catalog.close()


def test_stored_bag_holds_no_master_and_fetches_into_a_valid_bag(published, tmp_path):
    item, _, outputs, store, catalog, _ = published
    prefix = item_prefix(item.item_id)
    masters = [f for f in catalog.files(item.item_id) if f.role == "master"]
    bag_row = next(f for f in catalog.files(item.item_id) if f.role == "bag")
    stored_bag = _master_bytes(store, bag_row.key)
    with zipfile.ZipFile(io.BytesIO(stored_bag)) as zf:
        assert not [n for n in zf.namelist() if "/data/masters/" in n]
        manifest = read_bag_zip(zf).manifest
    for master in masters:
        assert _master_bytes(store, master.key)[1000:3000] not in stored_bag
        assert manifest[f"data/{master.key.removeprefix(prefix)}"] == master.sha256
    # the store holds the masters once: the bag is a small part of the item's bytes
    total = sum(f.size for f in catalog.files(item.item_id))
    assert bag_row.size < 0.05 * total

    fetched = fetch_bag(store, item.item_id, tmp_path / "fetched", catalog)
    assert fetched.fetched == len(outputs.files) - 2  # all but the METS (carried) and the bag itself
    bag = validate_bag(fetched.folder)
    assert sorted(bag.payload_files()) == sorted(f"data/{f.key}" for f in outputs.files if f.role != "bag")
    assert audit_store(store, catalog, AuditSettings(), items=[item.item_id]).ok


def test_a_tampered_stored_master_fails_the_audit_and_the_fetched_bag(published, tmp_path):
    item, _, _, store, catalog, _ = published
    master = next(f for f in catalog.files(item.item_id) if f.role == "master")
    path = store._path(master.key)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    report = audit_store(store, catalog, AuditSettings(), items=[item.item_id])
    assert not report.ok
    assert [(p.key, p.kind) for p in report.items[0].problems] == [(master.key, "changed")]
    with pytest.raises(AuditError) as failure:
        fetch_bag(store, item.item_id, tmp_path / "fetched", catalog)
    assert "masters/" in str(failure.value)


def test_a_bag_that_disagrees_with_the_catalog_fails_the_audit(published, tmp_path):
    """The bag is a third record: a bag naming another SHA-256 for a master is a finding."""
    item, _, outputs, store, catalog, settings = published
    bag_row = next(f for f in catalog.files(item.item_id) if f.role == "bag")
    bag_file = next(f for f in outputs.files if f.role == "bag").path
    master = next(f for f in outputs.files if f.role == "master")
    other = tmp_path / "other.png"
    other.write_bytes(master.path.read_bytes() + b"\x00")
    payload = [OutputFile(other, master.key, "master") if f is master else f for f in outputs.files if f.role != "bag"]
    urls = {f.key: fetch_url(settings.storage.url, item_prefix(item.item_id) + f.key)
            for f in payload if f.role not in BAG_CARRIES}
    make_bag_zip(payload, bag_file, f"{item.item_id}.bag", {"Bagging-Date": "2026-01-01"}, DATE, fetch_urls=urls)
    # put it in place of the stored bag, as if the catalog and the manifest had recorded it
    _replace_recorded(store, catalog, bag_row.key, bag_file)
    report = audit_store(store, catalog, AuditSettings(), items=[item.item_id])
    problems = [(p.key, p.kind) for p in report.items[0].problems]
    assert problems == [(item_prefix(item.item_id) + master.key, "disagrees")], report.items[0].problems


def _replace_recorded(store: LocalObjectStore, catalog: Catalog, key: str, path: Path) -> None:
    """Store ``path`` under ``key`` and record it in the catalog and the manifest (a consistent item)."""
    identifier = key.split("/")[1]
    obj = store.put_file(key, path)
    rows = catalog.files(identifier)
    manifest_row = next(f for f in rows if f.role == "manifest")
    manifest = json.loads(_master_bytes(store, manifest_row.key))
    for entry in manifest["files"]:
        if entry["key"] == key:
            entry["size"], entry["sha256"] = obj.size, obj.sha256
    manifest_path = path.with_name("manifest.json")
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    new_manifest = store.put_file(manifest_row.key, manifest_path)
    catalog.update_files(identifier, [
        CatalogFile(f.key, f.role, obj.size, obj.sha256, f.content_type) if f.key == key
        else CatalogFile(f.key, f.role, new_manifest.size, new_manifest.sha256, f.content_type)
        if f.key == manifest_row.key else f
        for f in rows
    ], "test")


def test_an_old_bag_with_every_master_stays_valid_and_a_rerun_replaces_it_once(published, tmp_path):
    """Items stored before bags referred to the store: the old bag (every file inside) audits and
    fetches as it is; re-running the unchanged item replaces it by the light bag, uploading the bag and
    the manifest only (no master), records a 'bag replaced' event, and a second re-run uploads nothing."""
    item, pages, outputs, _, _, _ = published
    store = LocalObjectStore(tmp_path / "old-store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'old-catalog.sqlite3'}")
    bag_file = next(f for f in outputs.files if f.role == "bag").path
    light = bag_file.read_bytes()
    payload = [f for f in outputs.files if f.role != "bag"]
    info = read_bag_zip(zipfile.ZipFile(io.BytesIO(light))).info
    info.pop("Payload-Oxum")
    make_bag_zip(payload, bag_file, f"{item.item_id}.bag", info, DATE)  # the old layout: every file carried
    old_size = bag_file.stat().st_size
    assert old_size > sum(f.path.stat().st_size for f in payload if f.role == "master")
    publish_item(item, outputs, pages, store, catalog, batch="b1")  # as the code before stored it
    bag_key = item_prefix(item.item_id) + bag_file.name

    assert audit_store(store, catalog, AuditSettings(), items=[item.item_id]).ok
    fetched = fetch_bag(store, item.item_id, tmp_path / "old", catalog)
    assert fetched.fetched == 0 and validate_bag(fetched.folder)

    bag_file.write_bytes(light)  # the run's bag, as assembling the same pages now makes it
    again = publish_item(item, outputs, pages, store, catalog, batch="b1")
    assert again.uploaded == 2  # the bag and manifest.json, which lists it; no master
    assert _master_bytes(store, bag_key) == light
    event = next(e for e in catalog.events(item.item_id) if e.kind == "bag replaced")
    detail = json.loads(event.detail or "{}")
    assert detail["old"]["size"] == old_size and detail["new"]["size"] == len(light)
    assert detail["masters"] == "unchanged, stored once under masters/"
    assert audit_store(store, catalog, AuditSettings(), items=[item.item_id]).ok
    assert publish_item(item, outputs, pages, store, catalog, batch="b1").uploaded == 0
    assert validate_bag(fetch_bag(store, item.item_id, tmp_path / "new", catalog).folder)
    catalog.close()
