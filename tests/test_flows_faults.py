"""Bad input through the real hot folder: a batch copied twice, two batches with one item identifier.

(A missing item.toml and a full disk: tests/test_inbox.py. A worker killed
mid-page: tests/test_flows.py (process pool) and tests/test_dask.py (Dask).)
"""

from __future__ import annotations

import json

import pytest

from digitize.storage.catalog import Catalog

from helpers.flows import art_batch, env_for, run_cli

pytestmark = [pytest.mark.needs_prefect, pytest.mark.slow]


def _objects(store) -> dict[str, int]:
    """Stored objects and their modification times (a rewritten object gets a new one)."""
    return {
        str(p.relative_to(store)): p.stat().st_mtime_ns
        for p in store.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def test_batch_copied_twice_and_a_second_batch_reusing_an_identifier(tmp_path):
    root = tmp_path / "hot"
    env = env_for(tmp_path, DIGITIZE_INBOX__ROOT=str(root))

    # 1. the same batch, copied into the inbox twice (the second copy under another name, then as the same name)
    first = art_batch(root / "inbox" / "b1", {"art-a": 2, "art-b": 1})
    (first / "READY").touch()
    result = run_cli(["inbox", "--once"], env)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    stored_once = _objects(tmp_path / "store")

    again = art_batch(root / "inbox" / "b1", {"art-a": 2, "art-b": 1})  # the same files, copied again
    (again / "READY").touch()
    result = run_cli(["inbox", "--once"], env)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    assert (root / "done" / "b1").is_dir() and (root / "done" / "b1~2").is_dir()  # nothing overwritten
    report = json.loads((root / "done" / "b1~2.report.json").read_text())
    assert {i["identifier"]: (i["status"], i["message"]) for i in report["items"]} == {
        "art-a": ("done", "updated"),
        "art-b": ("done", "updated"),
    }
    stored_twice = _objects(tmp_path / "store")
    assert stored_twice.keys() == stored_once.keys()
    # the scans and page images are not sent again
    heavy = [k for k in stored_once if "/masters/" in k or "/access/" in k]
    assert heavy and all(stored_twice[k] == stored_once[k] for k in heavy)
    assert all(i["uploaded_objects"] < len(stored_once) / 2 for i in report["items"])
    catalog = Catalog(env["DIGITIZE_CATALOG__URL"])
    try:
        assert catalog.identifiers() == ["art-a", "art-b"] and catalog.count("items") == 2
    finally:
        catalog.close()

    # 2. another batch whose item "art-a" has different scans: refused with the reason, the rest go on
    other = art_batch(root / "inbox" / "b2", {"art-a": 3, "art-c": 1})
    (other / "READY").touch()
    result = run_cli(["inbox", "--once"], env)
    assert result.returncode == 1
    report = json.loads((root / "failed" / "b2.report.json").read_text())
    items = {i["identifier"]: i for i in report["items"]}
    assert items["art-c"]["status"] == "done"
    assert items["art-a"]["status"] == "failed" and items["art-a"]["stage"] == "intake"
    assert "identifier 'art-a' is already registered from batch 'b1" in items["art-a"]["message"]
    assert "DIGITIZE_RUNS__REPLACE_ITEMS" in items["art-a"]["message"]
    catalog = Catalog(env["DIGITIZE_CATALOG__URL"])
    try:
        assert catalog.get("art-a").page_count == 2  # the registered item is untouched
    finally:
        catalog.close()
