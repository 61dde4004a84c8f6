"""Fault suite: `digitize audit` and stale multipart uploads (issue 14, case 8).

Small real items (scores: no OCR) are published to a local folder and to a
real SeaweedFS server, then damaged as time and people damage a store: a
byte of a master flipped (bit rot), a derivative deleted, a stray object
uploaded. The audit must find exactly those, exit with AUDIT_FAILED, record
a failing PREMIS fixity event and leave every object as it found it. An S3
multipart upload left unfinished (by a client, or by the server dying in the
middle) must be listed and, when asked, aborted.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from digitize.assembly.item import assemble_item, plan_pages
from digitize.cli import app
from digitize.delivery.audit import FIXITY_EVENT, audit_store, choose_items
from digitize.delivery.publish import item_prefix, publish_item
from digitize.errors import ExitCode, StorageUnavailableError
from digitize.pipeline.page import process_page
from digitize.scanners.batch import read_item
from digitize.settings import AuditSettings, Settings
from digitize.storage.catalog import Catalog
from digitize.storage.factory import open_store
from digitize.storage.local import LocalObjectStore
from digitize.storage.objects import ObjectStore

import helpers.seaweed as seaweed_module
from helpers.seaweed import SeaweedServer

IDS = ("score-a", "score-b", "score-c")


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory):
    """Three one-page scores, processed and assembled (no OCR: fast)."""
    root = tmp_path_factory.mktemp("audit-items")
    settings = Settings(work_dir=root / "work", output_dir=root / "out")
    made = []
    rng = np.random.default_rng(14)
    for identifier in IDS:
        folder = root / "batch" / identifier
        folder.mkdir(parents=True)
        toml = f'title = "Соната {identifier}"\nkind = "score"\nyear = 1950\n'
        (folder / "item.toml").write_text(toml, encoding="utf-8")
        Image.fromarray(rng.integers(0, 255, (160, 120), dtype=np.uint8)).save(folder / "p1.png")
        item = read_item(folder)
        pages = [process_page(job, settings) for job in plan_pages(item, settings)]
        made.append((item, pages, assemble_item(item, pages, settings)))
    return made


def _publish_all(items, store: ObjectStore, catalog: Catalog) -> None:
    for item, pages, outputs in items:
        publish_item(item, outputs, pages, store, catalog, batch="audit-test")


def _snapshot(store: ObjectStore) -> dict[str, bytes]:
    """Every object's bytes: the audit must change none of them."""
    result = {}
    for key in store.list(""):
        with store.open_read(key) as stream:
            result[key] = stream.read()
    return result


def _cli(tmp_path: Path, storage_url: str, catalog_url: str, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(
        app,
        ["audit", *args, "--storage-url", storage_url, "--catalog-url", catalog_url,
         "--work-dir", str(tmp_path / "work"), "--output-dir", str(tmp_path / "reports")],
        env={"COLUMNS": "400", **(env or {})},  # wide enough that the table shows whole keys
    )


def _fixity_events(catalog: Catalog, identifier: str) -> list[dict]:
    return [json.loads(e.detail or "{}") for e in catalog.events(identifier) if e.kind == FIXITY_EVENT]


def _damage(items, flip, delete, put_stray) -> tuple[str, str, str]:
    """Flip a byte of a master of score-a, delete its thumbnail, add a stray object; return the three keys."""
    item, _, outputs = items[0]
    prefix = item_prefix(item.item_id)
    master = prefix + next(f.key for f in outputs.files if f.role == "master")
    derivative = prefix + next(f.key for f in outputs.files if f.role == "thumbnail")
    stray = prefix + "masters/uploaded-by-hand.png"
    flip(master)
    delete(derivative)
    put_stray(stray)
    return master, derivative, stray


def _assert_finds_exactly(result, catalog: Catalog, tmp_path: Path, master: str, derivative: str, stray: str) -> None:
    assert result.exit_code == ExitCode.AUDIT_FAILED, result.output
    report = json.loads(next((tmp_path / "reports").glob("audit-*.json")).read_text(encoding="utf-8"))
    assert not report["ok"] and report["items_audited"] == 3 and report["items_failed"] == 1
    failed = next(i for i in report["items"] if i["identifier"] == "score-a")
    found = {(p["key"], p["kind"]) for p in failed["problems"]}
    assert found == {(master, "changed"), (derivative, "missing"), (stray, "unexpected")}
    changed = next(p for p in failed["problems"] if p["kind"] == "changed")
    assert "sha256" in changed["detail"]  # the message names the cause: the digest differs
    assert all(i["outcome"] == "pass" for i in report["items"] if i["identifier"] != "score-a")
    # The table names each object and problem.
    for key in (master, derivative, stray):
        assert key in result.output.replace("\n", "")
    events = _fixity_events(catalog, "score-a")
    assert [e["outcome"] for e in events] == ["pass", "fail"]
    assert {(p["key"], p["kind"]) for p in events[-1]["problems"]} == found
    assert [e["outcome"] for e in _fixity_events(catalog, "score-b")] == ["pass", "pass"]


# -- local folder -------------------------------------------------------------


def test_local_audit_clean_passes_then_finds_flip_delete_and_stray(items, tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store")
    catalog_url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    catalog = Catalog(catalog_url)
    _publish_all(items, store, catalog)
    storage_url = f"file://{tmp_path / 'store'}"

    clean = _cli(tmp_path, storage_url, catalog_url)
    assert clean.exit_code == ExitCode.OK, clean.output
    assert "pass" in clean.output
    assert [e["outcome"] for e in _fixity_events(catalog, "score-a")] == ["pass"]
    (report_file,) = (tmp_path / "reports").glob("audit-*.json")
    assert json.loads(report_file.read_text(encoding="utf-8"))["ok"] is True

    def flip(key: str) -> None:
        path = store._path(key)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))  # behind the store's back, as bit rot would

    def put_stray(key: str) -> None:
        path = store._path(key)
        path.write_bytes(b"not a master")

    master, derivative, stray = _damage(items, flip, store.delete, put_stray)
    before = _snapshot(store)
    damaged = _cli(tmp_path, storage_url, catalog_url)
    _assert_finds_exactly(damaged, catalog, tmp_path, master, derivative, stray)
    assert _snapshot(store) == before  # the audit reads; it never repairs or removes
    catalog.close()


def test_local_audit_reports_objects_of_no_registered_item(items, tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    _publish_all(items[:1], store, catalog)
    orphan = tmp_path / "orphan.txt"
    orphan.write_text("left by a failed run", encoding="utf-8")
    store.put_file("items/never-registered/never-registered.pdf", orphan)

    report = audit_store(store, catalog, AuditSettings())
    assert not report.ok and not report.failed_items
    assert [(p.key, p.kind) for p in report.orphans] == [("items/never-registered/never-registered.pdf", "unexpected")]
    assert "no registered item" in report.orphans[0].detail
    catalog.close()


def test_manifest_that_disagrees_with_the_catalog_is_reported(items, tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    _publish_all(items[:1], store, catalog)
    manifest_key = item_prefix("score-a") + "manifest.json"
    manifest = json.loads(store._path(manifest_key).read_text(encoding="utf-8"))
    entry = next(f for f in manifest["files"] if f["role"] == "pdf")
    entry["size"] += 1
    store._path(manifest_key).write_text(json.dumps(manifest), encoding="utf-8")

    report = audit_store(store, catalog, AuditSettings())
    kinds = {(p.key, p.kind) for p in report.items[0].problems}
    assert kinds == {(manifest_key, "changed"), (entry["key"], "disagrees")}
    detail = next(p.detail for p in report.items[0].problems if p.kind == "disagrees")
    assert "manifest says" in detail and "catalog says" in detail
    catalog.close()


def test_kept_versions_of_a_replaced_item_are_verified_not_stray(items, tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    _publish_all(items[:1], store, catalog)
    old = tmp_path / "old-master.png"
    old.write_bytes(b"the master of the replaced version")
    kept = store.put_file("items/score-a/versions/1/masters/p1.png", old)
    store.put_file("items/score-a/versions/1/manifest.json", old)
    detail = {"eventType": "replacement", "kept_under": "items/score-a/versions/1/",
              "old": {"masters": [{"key": "items/score-a/masters/p1.png", "kept_as": kept.key, "sha256": kept.sha256}]}}
    catalog.add_event("score-a", "replaced", json.dumps(detail))
    assert audit_store(store, catalog, AuditSettings()).ok

    store._path(kept.key).write_bytes(b"rotted")
    (result,) = audit_store(store, catalog, AuditSettings()).items
    assert [(p.key, p.kind) for p in result.problems] == [(kept.key, "changed")]
    assert "replacement event" in result.problems[0].detail
    catalog.close()


def test_interrupted_audit_resumes_and_restart_starts_over(items, tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    _publish_all(items, store, catalog)
    settings = AuditSettings(state_save_seconds=0)

    def stop_after_first(result) -> None:
        raise KeyboardInterrupt  # the operator's Ctrl-C, or the night window closing

    with pytest.raises(KeyboardInterrupt):
        audit_store(store, catalog, settings, state_dir=tmp_path / "work", on_item=stop_after_first)
    assert (tmp_path / "work" / "audit-state.json").is_file()
    assert sum(len(_fixity_events(catalog, i)) for i in IDS) == 1

    audited = []
    report = audit_store(store, catalog, settings, state_dir=tmp_path / "work", on_item=audited.append)
    assert report.ok and report.resumed == ("score-a",)
    assert [r.identifier for r in audited] == ["score-b", "score-c"]  # the done item is not read again
    assert [r.identifier for r in report.items] == list(IDS)  # but the report covers the whole round
    assert [len(_fixity_events(catalog, i)) for i in IDS] == [1, 1, 1]
    assert not (tmp_path / "work" / "audit-state.json").exists()  # the round is complete

    with pytest.raises(KeyboardInterrupt):
        audit_store(store, catalog, settings, state_dir=tmp_path / "work", on_item=stop_after_first)
    audited.clear()
    audit_store(store, catalog, settings, state_dir=tmp_path / "work", restart=True, on_item=audited.append)
    assert [r.identifier for r in audited] == list(IDS)
    catalog.close()


def test_resumed_round_still_fails_for_a_loss_found_before_the_interruption(items, tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    _publish_all(items, store, catalog)
    store.delete(item_prefix("score-a") + "score-a.pdf")

    def stop_after_first(result) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        audit_store(store, catalog, AuditSettings(state_save_seconds=0), state_dir=tmp_path, on_item=stop_after_first)
    report = audit_store(store, catalog, AuditSettings(), state_dir=tmp_path)
    assert not report.ok
    assert [(p.key, p.kind) for p in report.failed_items[0].problems] == [("items/score-a/score-a.pdf", "missing")]
    catalog.close()


def test_one_item_and_a_sample(items, tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store")
    catalog_url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    catalog = Catalog(catalog_url)
    _publish_all(items, store, catalog)
    storage_url = f"file://{tmp_path / 'store'}"

    one = _cli(tmp_path, storage_url, catalog_url, "score-b")
    assert one.exit_code == ExitCode.OK, one.output
    assert [len(_fixity_events(catalog, i)) for i in IDS] == [0, 1, 0]
    sample = _cli(tmp_path, storage_url, catalog_url, "--sample", "2")
    assert sample.exit_code == ExitCode.OK, sample.output
    assert sum(len(_fixity_events(catalog, i)) for i in IDS) == 3
    unknown = _cli(tmp_path, storage_url, catalog_url, "no-such-item")
    assert unknown.exit_code == ExitCode.AUDIT_FAILED and "no-such-item" in unknown.output

    assert len(choose_items(IDS, sample_percent=34, rng=random.Random(1))) == 1
    assert choose_items(IDS, sample=10) == list(IDS)
    catalog.close()


def test_local_store_has_no_incomplete_uploads(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    assert list(store.incomplete_uploads()) == []


# -- SeaweedFS ----------------------------------------------------------------


@pytest.mark.needs_seaweedfs
@pytest.mark.slow
def test_s3_audit_clean_passes_then_finds_flip_delete_and_stray(items, seaweed: SeaweedServer, tmp_path: Path) -> None:
    prefix = f"audit-{tmp_path.name[-12:]}"
    settings = seaweed.storage_settings(prefix)
    store = open_store(settings)
    catalog_url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    catalog = Catalog(catalog_url)
    _publish_all(items, store, catalog)
    env = {
        "DIGITIZE_STORAGE__ENDPOINT_URL": seaweed.endpoint_url,
        "DIGITIZE_STORAGE__REGION": seaweed.region,
        "DIGITIZE_STORAGE__ACCESS_KEY_ID": seaweed.access_key_id,
        "DIGITIZE_STORAGE__SECRET_ACCESS_KEY": seaweed.secret_access_key,
    }
    clean = _cli(tmp_path, settings.url, catalog_url, env=env)
    assert clean.exit_code == ExitCode.OK, clean.output

    client, bucket = seaweed.client(), seaweed.bucket
    name = store.prefix  # type: ignore[attr-defined]

    def flip(key: str) -> None:
        stored = client.get_object(Bucket=bucket, Key=name + key)
        data = bytearray(stored["Body"].read())
        data[len(data) // 2] ^= 0x01
        # The recorded sha256 is kept: only the bytes rot.
        client.put_object(Bucket=bucket, Key=name + key, Body=bytes(data), Metadata=stored["Metadata"])

    def put_stray(key: str) -> None:
        client.put_object(Bucket=bucket, Key=name + key, Body=b"not a master")

    master, derivative, stray = _damage(items, flip, store.delete, put_stray)
    before = _snapshot(store)
    damaged = _cli(tmp_path, settings.url, catalog_url, env=env)
    _assert_finds_exactly(damaged, catalog, tmp_path, master, derivative, stray)
    assert seaweed.secret_access_key not in damaged.output
    assert _snapshot(store) == before
    catalog.close()


@pytest.mark.needs_seaweedfs
def test_s3_unfinished_multipart_upload_is_listed_and_aborted(seaweed: SeaweedServer, tmp_path: Path) -> None:
    prefix = f"mpu-{tmp_path.name[-12:]}"
    store = open_store(seaweed.storage_settings(prefix))
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    client = seaweed.client()
    name = store.prefix + "items/big/masters/p1.tif"  # type: ignore[attr-defined]
    upload_id = client.create_multipart_upload(Bucket=seaweed.bucket, Key=name)["UploadId"]
    client.upload_part(Bucket=seaweed.bucket, Key=name, UploadId=upload_id, PartNumber=1, Body=b"x" * 1024)

    listed = audit_store(store, catalog, AuditSettings())  # default: stale after 24 h
    (entry,) = listed.uploads
    assert entry.upload.key == "items/big/masters/p1.tif" and entry.upload.upload_id == upload_id
    assert not entry.stale and not entry.aborted
    assert (datetime.now(UTC) - entry.upload.initiated).total_seconds() < 600

    kept = audit_store(store, catalog, AuditSettings(), abort_stale_uploads=True)  # not stale yet: kept
    assert not kept.uploads[0].aborted
    assert _server_uploads(seaweed, store) == [upload_id]

    aborted = audit_store(store, catalog, AuditSettings(stale_upload_hours=0), abort_stale_uploads=True)
    assert aborted.uploads[0].stale and aborted.uploads[0].aborted
    assert _server_uploads(seaweed, store) == []
    catalog.close()


def _server_uploads(server: SeaweedServer, store: ObjectStore) -> list[str]:
    answer = server.client().list_multipart_uploads(Bucket=server.bucket, Prefix=store.prefix)  # type: ignore[attr-defined]
    return [upload["UploadId"] for upload in answer.get("Uploads", [])]


@pytest.mark.needs_seaweedfs
@pytest.mark.slow
def test_server_stopped_during_multipart_put_leaves_no_unfinished_upload(
    private_seaweed: SeaweedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server = private_seaweed
    settings = server.storage_settings("library", multipart_chunk_mb=5, max_attempts=2)
    store = open_store(settings)
    big = tmp_path / "big.tif"
    big.write_bytes(np.random.default_rng(8).integers(0, 255, 11 * 1024 * 1024, dtype=np.uint8).tobytes())
    parts = []

    def kill_after_first_part(**_kwargs) -> None:
        parts.append(1)
        if len(parts) == 1:
            server.kill()

    store._client.meta.events.register("after-call.s3.UploadPart", kill_after_first_part)  # type: ignore[attr-defined]
    with pytest.raises(StorageUnavailableError) as failure:
        store.put_file("items/big/masters/big.tif", big)
    assert server.endpoint_url in str(failure.value)
    assert parts == [1], "the kill did not come in the middle of a multipart upload"
    warning = next(r.getMessage() for r in caplog.records if "could not abort" in r.getMessage())
    assert "library/items/big/masters/big.tif" in warning and "--abort-stale-uploads" in warning

    monkeypatch.setattr(seaweed_module, "_pick_ports", lambda _count: list(server.ports.values()))
    revived = seaweed_module._start_once(seaweed_module.find_weed(), server.data_dir, server.bucket, 60.0)
    try:
        # A fresh process finds the upload the dead server could not be told to abort:
        fresh = open_store(settings)
        (left,) = fresh.incomplete_uploads()
        assert left.key == "items/big/masters/big.tif"

        # The same store, once the server is back, aborts it before its next upload ...
        store._client.meta.events.unregister("after-call.s3.UploadPart", kill_after_first_part)  # type: ignore[attr-defined]
        stored = store.put_file("items/big/masters/big.tif", big)
        assert stored.uploaded and fresh.verify(stored.key, stored.size, stored.sha256)
        assert list(fresh.incomplete_uploads()) == []

        # ... and what a crashed process leaves, the audit cleans up.
        orphaned_id = revived.client().create_multipart_upload(Bucket=server.bucket, Key="library/items/x/y.tif")
        catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
        report = audit_store(fresh, catalog, AuditSettings(stale_upload_hours=0), abort_stale_uploads=True)
        assert [(u.upload.upload_id, u.aborted) for u in report.uploads] == [(orphaned_id["UploadId"], True)]
        assert list(fresh.incomplete_uploads()) == []
        catalog.close()
    finally:
        revived.kill()

