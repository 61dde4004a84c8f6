"""The hot folder: which batches are taken, moves between areas, re-queue, full disk."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from digitize.scanners.inbox import HotFolder

from helpers.flows import art_batch, env_for, run_cli


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def hot(tmp_path):
    clock = Clock()
    folder = HotFolder(tmp_path / "hot", quiet_seconds=300, clock=clock)
    folder.ensure()
    folder.clock_ = clock
    return folder


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_ready_marker_takes_the_batch_at_once(hot):
    batch = art_batch(hot.area("inbox") / "b1", {"a": 1})
    assert hot.scan()[0] == []
    (batch / "READY").touch()
    ready, waiting = hot.scan()
    assert ready == [batch] and waiting == []


def test_quiet_period_rule(hot):
    batch = art_batch(hot.area("inbox") / "b1", {"a": 2})
    ready, waiting = hot.scan()
    assert not ready and "still changing" in waiting[0].reason
    hot.clock_.now += 200
    ready, waiting = hot.scan()
    assert not ready and "quiet for 200 s of 300 s" in waiting[0].reason
    # a file that grows (copy in progress, even with its mtime kept) restarts the wait
    with open(batch / "a" / "p2.png", "ab") as f:
        f.write(b"\0")
    hot.clock_.now += 200
    assert not hot.scan()[0]
    hot.clock_.now += 299
    assert not hot.scan()[0]
    hot.clock_.now += 2
    assert hot.scan()[0] == [batch]


def test_half_copied_batch_is_not_taken(hot, tmp_path):
    source = art_batch(tmp_path / "src", {"a": 2, "b": 2})
    dest = hot.area("inbox") / "src"
    dest.mkdir()
    shutil.copytree(source / "a", dest / "a", copy_function=shutil.copy2)  # mtimes kept, like cp -p
    (dest / "b").mkdir()
    shutil.copy2(source / "b" / "p1.png", dest / "b" / "p1.png")  # b's item.toml not copied yet
    hot.scan()
    hot.clock_.now += 10_000  # the copy stalled for hours: still not taken
    ready, waiting = hot.scan()
    assert ready == []
    assert "b: no item.toml" in waiting[0].reason and "READY" in waiting[0].reason
    shutil.copy2(source / "b" / "item.toml", dest / "b" / "item.toml")
    assert hot.scan()[0] == []  # changed: the quiet period starts again
    hot.clock_.now += 301
    assert hot.scan()[0] == [dest]


def test_quiet_state_survives_between_runs(hot):
    art_batch(hot.area("inbox") / "b1", {"a": 1})
    hot.scan()
    again = HotFolder(hot.root, quiet_seconds=300, clock=lambda: hot.clock_.now + 301)
    assert [p.name for p in again.scan()[0]] == ["b1"]


def test_moves_duplicates_and_requeue_never_touch_the_files(hot, tmp_path):
    batch = art_batch(hot.area("inbox") / "b1", {"a": 2})
    (batch / "READY").touch()
    before = _hashes(batch)
    taken = hot.take(batch)
    assert taken == hot.area("processing") / "b1" and not batch.exists()
    failed = hot.finish(taken, ok=False, report='{"why": "test"}')
    assert failed == hot.area("failed") / "b1"
    assert json.loads((hot.area("failed") / "b1.report.json").read_text()) == {"why": "test"}
    assert _hashes(failed) == before

    # the same batch copied in again while the first is in failed/: a new name, nothing overwritten
    second = art_batch(hot.area("inbox") / "b1", {"a": 2})
    (second / "READY").touch()
    assert hot.take(second).name == "b1~2"

    requeued = hot.requeue("b1")
    assert requeued == hot.area("inbox") / "b1" and _hashes(requeued) == before
    assert hot.scan()[0] == [requeued]


def test_interrupted_batches_are_found(hot):
    batch = art_batch(hot.area("inbox") / "b1", {"a": 1})
    (batch / "READY").touch()
    hot.take(batch)
    assert [p.name for p in HotFolder(hot.root).interrupted()] == ["b1"]


def test_full_disk_while_writing_the_report_loses_nothing(hot, monkeypatch, caplog):
    """ENOSPC injected into the report write: the batch still moves, the error is logged."""
    batch = art_batch(hot.area("inbox") / "b1", {"a": 1})
    before = _hashes(batch)
    taken = hot.take(batch)
    real_fsync = os.fsync

    def full(fd):  # the disk fills while the report's bytes are flushed
        if "report" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    dest = hot.finish(taken, ok=True, report="{}")
    assert dest == hot.area("done") / "b1" and _hashes(dest) == before
    assert "No space left on device" in caplog.text
    assert sorted(p.name for p in hot.area("done").iterdir()) == ["b1"]  # no report, no temporary file


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return result.returncode == 0


@pytest.mark.needs_prefect
@pytest.mark.slow
def test_digitize_inbox_once(tmp_path):
    """A real pass: a complete batch is done, a batch with a missing item.toml waits, a bad one fails."""
    root = tmp_path / "hot"
    good = art_batch(root / "inbox" / "good", {"a": 2, "b": 1})
    (good / "READY").touch()
    partial = art_batch(root / "inbox" / "partial", {"c": 1})
    (partial / "c" / "item.toml").unlink()
    bad = art_batch(root / "inbox" / "bad", {"d": 1, "e": 1})
    (bad / "e" / "item.toml").unlink()
    (bad / "READY").touch()  # staff said go: e fails with the reason, d is done (the batch is split)
    originals = {name: _hashes(root / "inbox" / name) for name in ("good", "bad")}
    env = env_for(tmp_path, DIGITIZE_INBOX__ROOT=str(root))
    result = run_cli(["inbox", "--once"], env)
    assert result.returncode == 1, result.stderr.decode()[-3000:]
    stdout = " ".join(result.stdout.decode().split())
    assert (root / "done" / "good").is_dir() and (root / "failed" / "bad").is_dir()
    assert (root / "inbox" / "partial").is_dir() and "partial" in stdout and "no item.toml" in stdout
    report = json.loads((root / "failed" / "bad.report.json").read_text())
    assert json.loads((root / "done" / "bad.report.json").read_text()) == report
    items = {i["identifier"]: i for i in report["items"]}
    assert items["d"]["status"] == "done" and items["e"]["status"] == "failed"
    assert "item.toml" in items["e"]["message"]
    assert _hashes(root / "done" / "good") == originals["good"]
    # the mixed batch is split per item: d (done) and the READY file in done/bad, e in failed/bad
    assert sorted(p.name for p in (root / "done" / "bad").iterdir()) == ["READY", "d"]
    assert sorted(p.name for p in (root / "failed" / "bad").iterdir()) == ["e"]
    assert _hashes(root / "done" / "bad") | _hashes(root / "failed" / "bad") == originals["bad"]
    assert not list((root / "processing").iterdir())


@pytest.mark.needs_prefect
@pytest.mark.slow
def test_full_disk_fails_the_batch_and_a_requeue_finishes_it(tmp_path):
    """Work, output and store on a 3 MB tmpfs that item b does not fit: b fails with the reason, nothing lost."""
    disk = tmp_path / "small-disk"
    if not _mount_tmpfs(disk, "3m"):
        pytest.skip("needs root to mount a small tmpfs (the ENOSPC unit test above still runs)")
    try:
        root = tmp_path / "hot"
        batch = art_batch(root / "inbox" / "big", {"a": 1, "b": 1})
        # a large, incompressible page: its copies (work, output, store) overflow the small disk
        (batch / "b" / "p1.png").unlink()
        import numpy as np
        from PIL import Image

        Image.fromarray(np.random.default_rng(1).integers(0, 255, (700, 700, 3), dtype=np.uint8)).save(
            batch / "b" / "p1.png"
        )
        (batch / "READY").touch()
        before = _hashes(batch)
        env = env_for(
            tmp_path,
            DIGITIZE_INBOX__ROOT=str(root),
            DIGITIZE_WORK_DIR=str(disk / "work"),
            DIGITIZE_OUTPUT_DIR=str(disk / "out"),
            DIGITIZE_STORAGE__URL=f"file://{disk / 'store'}",
        )
        result = run_cli(["inbox", "--once"], env)
        assert result.returncode == 1, result.stderr.decode()[-3000:]
        report = json.loads((root / "failed" / "big.report.json").read_text())
        items = {i["identifier"]: i for i in report["items"]}
        assert items["a"]["status"] == "done"
        assert items["b"]["status"] == "failed" and "No space left on device" in items["b"]["message"], items
        # split per item: a (published) in done/big, b in failed/big; every file in one of the two
        assert _hashes(root / "done" / "big") | _hashes(root / "failed" / "big") == before
        assert sorted(p.name for p in (root / "failed" / "big").iterdir()) == ["b"]

        # the operator makes room, then re-queues b: it finishes (as big~2, beside done/big)
        subprocess.run(["mount", "-o", "remount,size=40m", str(disk)], check=True)
        assert run_cli(["inbox", "--requeue", "big"], env).returncode == 0
        result = run_cli(["inbox", "--once"], env)
        assert result.returncode == 0, result.stderr.decode()[-3000:]
        assert _hashes(root / "done" / "big") | _hashes(root / "done" / "big~2") == before
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_split_moves_only_the_failed_items_and_loses_nothing(hot):
    """A mixed batch: the failed item's folder (item.toml and pages) to failed/, the rest to done/."""
    batch = art_batch(hot.area("inbox") / "b1", {"good": 2, "bad": 1, "other": 1})
    (batch / "READY").touch()
    (batch / "notes.txt").write_text("from the scanner station")
    before = _hashes(batch)
    taken = hot.take(batch)
    finished = hot.split(taken, ["bad"], '{"batch": "b1"}')
    assert finished.done == hot.area("done") / "b1" and finished.failed == hot.area("failed") / "b1"
    assert finished.failed_items == ("bad",)
    assert sorted(p.name for p in finished.failed.iterdir()) == ["bad"]
    assert sorted(p.name for p in finished.done.iterdir()) == ["READY", "good", "notes.txt", "other"]
    assert _hashes(finished.done) | _hashes(finished.failed) == before  # every file, unchanged
    assert len(_hashes(finished.done)) + len(_hashes(finished.failed)) == len(before)
    for area in ("done", "failed"):
        assert json.loads((hot.area(area) / "b1.report.json").read_text()) == {"batch": "b1"}
    assert not list(hot.area("processing").iterdir())

    # the failed half re-queued does not collide with the good half: a new name, nothing overwritten
    requeued = hot.requeue("b1")
    assert requeued.name == "b1~2" and _hashes(requeued) == {k: v for k, v in before.items() if k.startswith("bad/")}


def test_split_all_good_or_all_bad_moves_the_batch_whole(hot):
    good = art_batch(hot.area("inbox") / "g", {"a": 1})
    bad = art_batch(hot.area("inbox") / "f", {"b": 1, "c": 1})
    assert hot.split(hot.take(good), [], "{}").done == hot.area("done") / "g"
    finished = hot.split(hot.take(bad), ["b", "c"], "{}")
    assert finished.done is None and finished.failed == hot.area("failed") / "f"
    assert sorted(p.name for p in finished.failed.iterdir()) == ["b", "c"]


@pytest.mark.needs_prefect
@pytest.mark.slow
def test_mixed_batch_good_item_published_bad_item_failed(tmp_path):
    """`digitize inbox --once` on one good item and one with a corrupt page: split per item, nothing lost."""
    from digitize.storage.catalog import Catalog

    root = tmp_path / "hot"
    batch = art_batch(root / "inbox" / "mixed", {"good": 2, "bad": 2})
    (batch / "bad" / "p2.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not a picture" * 20)  # corrupt page
    (batch / "READY").touch()
    originals = _hashes(batch)
    env = env_for(tmp_path, DIGITIZE_INBOX__ROOT=str(root))
    result = run_cli(["inbox", "--once"], env)
    assert result.returncode == 1, result.stderr.decode()[-3000:]
    stdout = result.stdout.decode()

    done, failed = root / "done" / "mixed", root / "failed" / "mixed"
    assert sorted(p.name for p in done.iterdir()) == ["READY", "good"]
    assert sorted(p.name for p in failed.iterdir()) == ["bad"]
    assert sorted(p.name for p in (failed / "bad").iterdir()) == ["item.toml", "p1.png", "p2.png"]
    assert _hashes(done) | _hashes(failed) == originals  # every file accounted for, unchanged
    assert len(_hashes(done)) + len(_hashes(failed)) == len(originals)
    assert not list((root / "processing").iterdir()) and not list((root / "inbox").iterdir())

    report = json.loads((root / "failed" / "mixed.report.json").read_text())
    items = {i["identifier"]: i for i in report["items"]}
    assert items["good"]["status"] == "done" and items["bad"]["status"] == "failed"
    assert "p2.png" in items["bad"]["message"], items["bad"]
    assert (root / "done" / "mixed.report.json").is_file()

    catalog = Catalog(env["DIGITIZE_CATALOG__URL"])
    try:
        assert catalog.get("good") is not None and catalog.get("bad") is None
    finally:
        catalog.close()

    # one line per item, in plain words, naming the cause
    lines = [" ".join(line.split()) for line in stdout.splitlines()]
    good_line = next(line for line in lines if "mixed/good" in line)
    bad_line = next(line for line in lines if "mixed/bad" in line)
    assert good_line.startswith("done") and "published, 2 page(s)" in good_line
    assert bad_line.startswith("failed") and str(failed / "bad" / "p2.png") in bad_line  # where it is now
    assert "processing" not in bad_line
    assert any(word in bad_line for word in ("could not be taken in", "could not be read")), bad_line


@pytest.mark.needs_prefect
def test_which_folders_fail_held_items_stay_with_the_good_ones(tmp_path):
    """Held for review is not a failure; a folder named by no report entry goes to failed/ to be looked at."""
    from digitize.flows.inbox import failed_folders
    from digitize.flows.report import BatchReport, ItemOutcome
    from digitize.scanners.inbox import item_identifiers

    batch = art_batch(tmp_path / "b", {"pub": 1, "held": 1, "bad": 1, "lost": 1, "renamed": 1})
    (batch / "renamed" / "item.toml").write_text('title = "r"\nkind = "art"\nidentifier = "inv-7"\n')
    report = BatchReport("b", str(batch), items=[
        ItemOutcome("pub", "done"), ItemOutcome("held", "in review"), ItemOutcome("inv-7", "done"),
        ItemOutcome("bad", "failed", stage="intake", message="bad/p1.png: truncated"),
    ])
    assert sorted(failed_folders(report, item_identifiers(batch))) == ["bad", "lost"]
