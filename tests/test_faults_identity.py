"""Fault suite: content, not names, decides an item's identity (issue 14, case 1).

Two batch folders that happen to share a name (``a/scans`` and ``b/scans``)
each hold an item ``score-9`` with other scans and another title. The second
run must not replace the registered item or overwrite its master: it is
refused before any page work, with a message naming both folders. Replacing
happens only when asked (``runs.replace_items``), and then the old masters
are kept under ``items/<id>/versions/<n>/`` and a replacement event names the
old and the new content. A rescan of a page in the item's own folder is the
same item and is accepted (its old master is kept as a version too).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from digitize.assembly.item import assemble_item, plan_pages
from digitize.delivery.publish import item_prefix, publish_item
from digitize.delivery.tiles import TILES_EVENT, tiles_prefix
from digitize.errors import IntakeError, StorageUnavailableError
from digitize.flows.preflight import identifier_conflict
from digitize.pipeline.page import process_page
from digitize.scanners.batch import read_item
from digitize.settings import Settings
from digitize.storage.catalog import Catalog
from digitize.storage.factory import open_store
from digitize.storage.local import LocalObjectStore

from helpers.catalog_data import postgres_catalog_url
from helpers.flows import env_for, run_cli

BACKENDS = ["sqlite"] + (["postgresql"] if postgres_catalog_url() else [])
ITEM = "score-9"
MASTER = f"items/{ITEM}/masters/p1.png"


def _kinds(events: Iterable[Any]) -> list[str]:
    """The item's events but the IIIF tiles' own (each records a tiles index: tests/test_iiif.py checks them)."""
    return [e.kind for e in events if e.kind != TILES_EVENT]


def _replaced(events: Iterable[Any]) -> Any:
    """The item's ``replaced`` event (a ``bag replaced`` event follows it: the bag lists the new masters)."""
    return next(e for e in events if e.kind == "replaced")


def _score(folder: Path, title: str, seed: int) -> Path:
    """An item ``score-9`` (a score: lossless, no OCR, so runs are quick) with one generated scan."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "item.toml").write_text(
        f'identifier = "{ITEM}"\ntitle = "{title}"\nkind = "score"\n', encoding="utf-8"
    )
    _scan(folder / "p1.png", seed)
    return folder


def _scan(path: Path, seed: int) -> None:
    pixels = np.random.default_rng(seed).integers(0, 255, (120, 80), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _report(root: Path) -> dict:
    return json.loads((root / "out" / "batch-scans.json").read_text(encoding="utf-8"))


def _item(report: dict) -> dict:
    return next(i for i in report["items"] if i["identifier"] == ITEM)


@pytest.mark.needs_prefect
@pytest.mark.slow
def test_same_batch_name_other_book_is_refused_and_replaced_only_on_request(tmp_path):
    env = env_for(tmp_path)
    store = tmp_path / "store"
    first = _score(tmp_path / "a" / "scans" / ITEM, "Sonata", seed=1)
    second = _score(tmp_path / "b" / "scans" / ITEM, "Nocturne", seed=2)
    first_scan, second_scan = (first / "p1.png").read_bytes(), (second / "p1.png").read_bytes()

    result = run_cli(["run", str(first.parent)], env)
    assert result.returncode == 0, result.stdout.decode()[-3000:] + result.stderr.decode()[-3000:]
    assert (store / MASTER).read_bytes() == first_scan

    # another book under the same identifier, from a batch folder with the same name: refused, nothing touched
    result = run_cli(["run", str(second.parent)], env)
    assert result.returncode == 1, result.stdout.decode()[-3000:]
    refused = _item(_report(tmp_path))
    assert refused["status"] == "failed" and refused["stage"] == "intake"
    message = refused["message"]
    assert str(first.resolve()) in message and str(second) in message  # both sources named
    assert "different scans" in message and "DIGITIZE_RUNS__REPLACE_ITEMS" in message  # the cause, and the way on
    assert not [p for p in _report(tmp_path)["pages"] if p["item"] == ITEM]  # no page work spent on it
    assert (store / MASTER).read_bytes() == first_scan  # the first master, byte-identical
    assert not (store / "items" / ITEM / "versions").exists()
    catalog = Catalog(env["DIGITIZE_CATALOG__URL"])
    try:
        registered = catalog.get(ITEM)
        assert registered is not None and registered.title == "Sonata"
        assert _kinds(catalog.events(ITEM)) == ["registered"]
    finally:
        catalog.close()

    # asked to replace: the new book is registered, the old master kept under a version key, an event says so
    result = run_cli(["run", str(second.parent)], env | {"DIGITIZE_RUNS__REPLACE_ITEMS": "true"})
    assert result.returncode == 0, result.stdout.decode()[-3000:] + result.stderr.decode()[-3000:]
    assert (store / MASTER).read_bytes() == second_scan
    kept = store / "items" / ITEM / "versions" / "1" / "masters" / "p1.png"
    assert kept.read_bytes() == first_scan
    old_manifest = json.loads((store / "items" / ITEM / "versions" / "1" / "manifest.json").read_text())
    assert {f["sha256"] for f in old_manifest["files"] if f["role"] == "master"} == {_sha(first_scan)}
    catalog = Catalog(env["DIGITIZE_CATALOG__URL"])
    try:
        registered = catalog.get(ITEM)
        assert registered is not None and registered.title == "Nocturne"
        assert registered.source == str(second.resolve())
        events = catalog.events(ITEM)
        assert _kinds(events) == ["registered", "replaced", "bag replaced"]
        detail = json.loads(_replaced(events).detail or "{}")
        assert detail["eventType"] == "replacement" and detail["reason"] == "replace_items"
        assert detail["old"]["title"] == "Sonata" and detail["new"]["title"] == "Nocturne"
        assert detail["old"]["source"] == str(first.resolve()) and detail["new"]["source"] == str(second.resolve())
        assert detail["old"]["masters"] == [
            {"key": MASTER, "kept_as": f"items/{ITEM}/versions/1/masters/p1.png", "sha256": _sha(first_scan)}
        ]
        assert detail["new"]["masters"] == [{"key": MASTER, "sha256": _sha(second_scan)}]
    finally:
        catalog.close()


@pytest.mark.needs_prefect
@pytest.mark.slow
def test_rescan_in_the_same_folder_is_the_same_item_and_keeps_the_old_master(tmp_path):
    env = env_for(tmp_path)
    store = tmp_path / "store"
    folder = _score(tmp_path / "a" / "scans" / ITEM, "Sonata", seed=1)
    old_scan = (folder / "p1.png").read_bytes()
    result = run_cli(["run", str(folder.parent)], env)
    assert result.returncode == 0, result.stdout.decode()[-3000:] + result.stderr.decode()[-3000:]

    _scan(folder / "p1.png", seed=3)  # the page is scanned again, in place
    new_scan = (folder / "p1.png").read_bytes()
    result = run_cli(["run", str(folder.parent)], env)
    assert result.returncode == 0, result.stdout.decode()[-3000:] + result.stderr.decode()[-3000:]
    assert _item(_report(tmp_path))["message"] == "updated"
    assert (store / MASTER).read_bytes() == new_scan
    assert (store / "items" / ITEM / "versions" / "1" / "masters" / "p1.png").read_bytes() == old_scan
    catalog = Catalog(env["DIGITIZE_CATALOG__URL"])
    try:
        events = catalog.events(ITEM)
        assert _kinds(events) == ["registered", "replaced", "bag replaced"]
        assert json.loads(_replaced(events).detail or "{}")["reason"] == "rescan in the same folder"
    finally:
        catalog.close()


def _processed(folder: Path, settings: Settings):
    item = read_item(folder)
    pages = [process_page(job, settings) for job in plan_pages(item, settings)]
    return item, pages, assemble_item(item, pages, settings)


def _refuse_then_replace(tmp_path: Path, settings: Settings) -> None:
    """Publish one score-9, refuse another, then replace it on request: the old master kept, an event logged."""
    first = _score(tmp_path / "a" / "scans" / ITEM, "Sonata", seed=1)
    second = _score(tmp_path / "b" / "scans" / ITEM, "Nocturne", seed=2)
    store = open_store(settings.storage)
    catalog = Catalog(settings.catalog.url)
    try:
        item, pages, outputs = _processed(first, settings)
        publish_item(item, outputs, pages, store, catalog, batch="scans")
        first_sha = _sha((first / "p1.png").read_bytes())
        assert store.stat(MASTER).sha256 == first_sha

        other = read_item(second)
        message = identifier_conflict(catalog, other, "scans", settings)  # refused before any page work
        assert message and str(first.resolve()) in message and str(second) in message
        item2, pages2, outputs2 = _processed(second, settings)
        with pytest.raises(IntakeError, match="different scans"):  # and again at publishing (two runs at once)
            publish_item(item2, outputs2, pages2, store, catalog, batch="scans")
        assert store.stat(MASTER).sha256 == first_sha and store.verify(MASTER, store.stat(MASTER).size, first_sha)
        assert catalog.get(ITEM).title == "Sonata"
        assert not list(store.list(item_prefix(ITEM) + "versions/"))

        publish_item(item2, outputs2, pages2, store, catalog, batch="scans", replace_items=True)
        kept_key = item_prefix(ITEM) + "versions/1/masters/p1.png"
        kept = store.stat(kept_key)
        assert kept is not None and store.verify(kept_key, kept.size, first_sha)
        assert store.stat(item_prefix(ITEM) + "versions/1/manifest.json") is not None
        assert store.stat(MASTER).sha256 == _sha((second / "p1.png").read_bytes())
        assert catalog.get(ITEM).title == "Nocturne"
        events = catalog.events(ITEM)
        assert _kinds(events) == ["registered", "replaced", "bag replaced"]
        detail = json.loads(_replaced(events).detail or "{}")
        assert detail["old"]["content_hash"] == item.content_hash
        assert detail["new"]["content_hash"] == item2.content_hash

        # published again (a retry): nothing more is kept, no second version
        publish_item(item2, outputs2, pages2, store, catalog, batch="scans", replace_items=True)
        assert {k.split("/")[3] for k in store.list(item_prefix(ITEM) + "versions/")} == {"1"}
        assert _kinds(catalog.events(ITEM)) == ["registered", "replaced", "bag replaced"]
    finally:
        catalog.close()


@pytest.mark.needs_seaweedfs
@pytest.mark.slow
def test_s3_store_refuses_another_item_and_keeps_the_old_master_on_replace(seaweed, tmp_path):
    settings = Settings(
        work_dir=tmp_path / "work",
        output_dir=tmp_path / "out",
        storage=seaweed.storage_settings(prefix=f"identity-{tmp_path.name}"),
        catalog={"url": f"sqlite:///{tmp_path / 'catalog.sqlite3'}"},
    )
    _refuse_then_replace(tmp_path, settings)


@pytest.mark.parametrize("backend", BACKENDS)
def test_local_store_refuses_another_item_and_keeps_the_old_master_on_replace(backend, tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}" if backend == "sqlite" else postgres_catalog_url(fresh=True)
    settings = Settings(
        work_dir=tmp_path / "work",
        output_dir=tmp_path / "out",
        storage={"url": f"file://{tmp_path / 'store'}"},
        catalog={"url": url},
    )
    _refuse_then_replace(tmp_path, settings)


def test_same_scans_with_a_corrected_title_from_another_folder_are_the_same_item(tmp_path):
    """The masters' hashes say it is the registered item: an update, nothing refused, no version needed."""
    settings = Settings(
        work_dir=tmp_path / "work",
        output_dir=tmp_path / "out",
        storage={"url": f"file://{tmp_path / 'store'}"},
        catalog={"url": f"sqlite:///{tmp_path / 'catalog.sqlite3'}"},
    )
    first = _score(tmp_path / "a" / "scans" / ITEM, "Sonta", seed=1)
    moved = _score(tmp_path / "b" / "scans" / ITEM, "Sonata", seed=1)  # the same scan, the typo fixed
    store = open_store(settings.storage)
    catalog = Catalog(settings.catalog.url)
    try:
        item, pages, outputs = _processed(first, settings)
        publish_item(item, outputs, pages, store, catalog, batch="scans")
        corrected = read_item(moved)
        assert corrected.content_hash != item.content_hash
        assert identifier_conflict(catalog, corrected, "scans", settings) is None
        item2, pages2, outputs2 = _processed(moved, settings)
        publish_item(item2, outputs2, pages2, store, catalog, batch="scans")
        registered = catalog.get(ITEM)
        assert registered.title == "Sonata" and registered.source == str(moved.resolve())
        assert _kinds(catalog.events(ITEM)) == ["registered", "updated", "bag replaced"]
        assert not list(store.list(item_prefix(ITEM) + "versions/"))
    finally:
        catalog.close()


class _StoreDyingAtThePdf(LocalObjectStore):
    """A local store whose endpoint goes away when the item's PDF is sent (after the masters)."""

    def _upload(self, key, *args, **kwargs):
        if key.endswith(".pdf"):
            raise StorageUnavailableError("store went away (injected)")
        return super()._upload(key, *args, **kwargs)


def test_replacement_interrupted_by_a_store_failure_loses_nothing_and_the_retry_keeps_one_version(tmp_path):
    settings = Settings(
        work_dir=tmp_path / "work",
        output_dir=tmp_path / "out",
        storage={"url": f"file://{tmp_path / 'store'}"},
        catalog={"url": f"sqlite:///{tmp_path / 'catalog.sqlite3'}"},
        runs={"replace_items": True},
    )
    first = _score(tmp_path / "a" / "scans" / ITEM, "Sonata", seed=1)
    second = _score(tmp_path / "b" / "scans" / ITEM, "Nocturne", seed=2)
    first_sha, second_sha = _sha((first / "p1.png").read_bytes()), _sha((second / "p1.png").read_bytes())
    catalog = Catalog(settings.catalog.url)
    try:
        item, pages, outputs = _processed(first, settings)
        publish_item(item, outputs, pages, LocalObjectStore(tmp_path / "store"), catalog, batch="scans")
        item2, pages2, outputs2 = _processed(second, settings)
        dying = _StoreDyingAtThePdf(tmp_path / "store")
        with pytest.raises(StorageUnavailableError):
            publish_item(item2, outputs2, pages2, dying, catalog, batch="scans", replace_items=True)
        # the new master already overwrote the old key, but the old one is safe under its version key
        assert dying.stat(MASTER).sha256 == second_sha
        kept_key = item_prefix(ITEM) + "versions/1/masters/p1.png"
        assert dying.verify(kept_key, dying.stat(kept_key).size, first_sha)
        assert catalog.get(ITEM).title == "Sonata" and _kinds(catalog.events(ITEM)) == ["registered"]

        healthy = LocalObjectStore(tmp_path / "store")
        publish_item(item2, outputs2, pages2, healthy, catalog, batch="scans", replace_items=True)
        assert {k.split("/")[3] for k in healthy.list(item_prefix(ITEM) + "versions/")} == {"1"}  # reused
        assert healthy.verify(kept_key, healthy.stat(kept_key).size, first_sha)
        old_manifest = json.loads((tmp_path / "store" / item_prefix(ITEM) / "versions/1/manifest.json").read_text())
        assert [f["sha256"] for f in old_manifest["files"] if f["role"] == "master"] == [first_sha]
        events = catalog.events(ITEM)
        assert _kinds(events) == ["registered", "replaced", "bag replaced"]
        assert json.loads(_replaced(events).detail or "{}")["old"]["masters"][0]["kept_as"] == kept_key
    finally:
        catalog.close()


def test_replacing_with_fewer_scans_moves_the_dropped_master_to_the_version(tmp_path):
    settings = Settings(
        work_dir=tmp_path / "work",
        output_dir=tmp_path / "out",
        storage={"url": f"file://{tmp_path / 'store'}"},
        catalog={"url": f"sqlite:///{tmp_path / 'catalog.sqlite3'}"},
    )
    first = _score(tmp_path / "a" / "scans" / ITEM, "Sonata", seed=1)
    _scan(first / "p2.png", seed=4)
    dropped_sha = _sha((first / "p2.png").read_bytes())
    second = _score(tmp_path / "b" / "scans" / ITEM, "Nocturne", seed=2)
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(settings.catalog.url)
    try:
        item, pages, outputs = _processed(first, settings)
        publish_item(item, outputs, pages, store, catalog, batch="scans")
        item2, pages2, outputs2 = _processed(second, settings)
        publish_item(item2, outputs2, pages2, store, catalog, batch="scans", replace_items=True)
        current = {
            k for k in store.list(item_prefix(ITEM)) if "/versions/" not in k and not k.startswith(tiles_prefix(ITEM))
        }
        assert current == {f.key for f in catalog.files(ITEM)}  # no object of the old version left beside the new
        kept = item_prefix(ITEM) + "versions/1/masters/p2.png"
        assert store.verify(kept, store.stat(kept).size, dropped_sha)
        assert store.stat(item_prefix(ITEM) + "masters/p2.png") is None
    finally:
        catalog.close()
