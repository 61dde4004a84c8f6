"""Fault suite, runs: two runs of one batch at once, and a catalog that fails at the start or the end.

Every test runs the real ``digitize run`` on a small art batch (no OCR, so
runs are quick) and checks that nothing was lost and that the message names
the cause. A run is held at a known point with the existing fault injection
(``DIGITIZE_FAULT_KILL_PAGE``: a page worker killed once, then a crash
backoff of some seconds before its page runs again).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from digitize.errors import ExitCode
from digitize.scanners.run_lock import lock_file
from digitize.storage.catalog import Catalog

from helpers.flows import DIGITIZE, art_batch, env_for, run_cli

pytestmark = [pytest.mark.needs_prefect, pytest.mark.slow]


def _start(args: list[str], env: dict) -> subprocess.Popen[bytes]:
    return subprocess.Popen(DIGITIZE + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(condition, timeout: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _lock_pid(work: Path, batch: str) -> int | None:
    try:
        return json.loads(lock_file(work, batch).read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def _held_in_backoff(tmp_path: Path, run: subprocess.Popen[bytes]) -> None:
    """Wait until ``run`` holds the lock of batch ``b`` and sits in its crash backoff (page art-a#1 killed)."""
    counter = tmp_path / "work" / "art-a" / "pages" / "000001" / ".fault-kills"
    _wait_for(lambda: _lock_pid(tmp_path / "work", "b") == run.pid and counter.exists() or run.poll() is not None,
              what="the first run to hold the lock")
    assert run.poll() is None, run.communicate()[1].decode()[-3000:]


def _page_records(work: Path) -> dict[str, int]:
    return {str(p.relative_to(work)): p.stat().st_mtime_ns for p in work.rglob("page.json")}


def _slow_first_run(tmp_path: Path, backoff: str = "8") -> tuple[Path, dict]:
    batch = art_batch(tmp_path / "b", {"art-a": 2, "art-b": 2})
    env = env_for(tmp_path, DIGITIZE_FAULT_KILL_PAGE="art-a#1", DIGITIZE_RUNS__CRASH_BACKOFF_SECONDS=backoff)
    return batch, env


# -- case 6: one run per batch ---------------------------------------------------------------------------------


def test_second_run_of_a_busy_batch_stops_at_once_naming_the_holder(tmp_path):
    batch, env = _slow_first_run(tmp_path)
    first = _start(["run", str(batch)], env)
    try:
        _held_in_backoff(tmp_path, first)
        started = time.monotonic()
        second = run_cli(["run", str(batch)], env)
        assert first.poll() is None, "the first run ended before the second was refused: the test proves nothing"
        err = second.stderr.decode()
        assert second.returncode == ExitCode.BATCH_LOCKED == 10, err[-3000:]
        assert f"pid {first.pid}" in err and "--wait" in err, err
        assert "Traceback" not in err
        assert time.monotonic() - started < 30
        assert not (tmp_path / "out" / "batch-b.json").exists()  # the refused run wrote nothing
    finally:
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err.decode()[-3000:]
    report = json.loads((tmp_path / "out" / "batch-b.json").read_text())
    assert [(i["identifier"], i["status"]) for i in report["items"]] == [("art-a", "done"), ("art-b", "done")]


def test_a_waiting_run_starts_when_the_first_ends_and_reuses_its_pages(tmp_path):
    batch, env = _slow_first_run(tmp_path)
    first = _start(["run", str(batch), "-v"], env)
    try:
        _held_in_backoff(tmp_path, first)
        second = _start(["run", str(batch), "--wait", "-v"], env)
        _, first_err = first.communicate(timeout=300)
        assert first.returncode == 0, first_err.decode()[-3000:]
        pages_after_first = _page_records(tmp_path / "work")
        _, second_err = second.communicate(timeout=300)
    finally:
        for run in (first, second):
            if run.poll() is None:
                run.kill()
    err = second_err.decode()
    assert second.returncode == 0, err[-3000:]
    assert "waiting for it to finish" in err and f"pid {first.pid}" in err, err[-3000:]
    # every page was processed by the first run only: the second ran no page task and rewrote no page record
    assert "page art-a#" in first_err.decode()
    assert "page art-a#" not in err and "page art-b#" not in err, err[-3000:]
    assert len(pages_after_first) == 4 and _page_records(tmp_path / "work") == pages_after_first
    report = json.loads((tmp_path / "out" / "batch-b.json").read_text())
    assert [(i["identifier"], i["status"]) for i in report["items"]] == [("art-a", "done"), ("art-b", "done")]


def test_a_lock_left_by_a_killed_run_does_not_block_the_next(tmp_path):
    batch, env = _slow_first_run(tmp_path, backoff="60")
    first = subprocess.Popen(DIGITIZE + ["run", str(batch)], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _held_in_backoff(tmp_path, first)
        os.kill(first.pid, signal.SIGKILL)  # the run itself; its page workers die with it
        first.wait(timeout=30)
    finally:
        try:
            os.killpg(first.pid, signal.SIGKILL)  # what is left of its process group (Prefect's server)
        except ProcessLookupError:
            pass
    assert _lock_pid(tmp_path / "work", "b") == first.pid  # the lock file is still there, naming the dead run
    env.pop("DIGITIZE_FAULT_KILL_PAGE")
    started = time.monotonic()
    second = run_cli(["run", str(batch)], env)
    assert second.returncode == 0, second.stderr.decode()[-3000:]
    assert time.monotonic() - started < 240
    report = json.loads((tmp_path / "out" / "batch-b.json").read_text())
    assert [(i["identifier"], i["status"]) for i in report["items"]] == [("art-a", "done"), ("art-b", "done")]


# -- case 5: catalog faults end the run with the catalog's exit code and a report ------------------------------


def _catalog_env(tmp_path: Path, url: str | None = None) -> dict:
    env = env_for(tmp_path, DIGITIZE_CATALOG__BUSY_TIMEOUT_SECONDS="1")
    if url:
        env["DIGITIZE_CATALOG__URL"] = url
    return env


def _assert_catalog_failure(result: subprocess.CompletedProcess[bytes], *causes: str, quiet: bool = True) -> str:
    """Exit 8 and a final paragraph naming the cause; ``quiet``: no traceback anywhere (else: not in the paragraph,
    as Prefect logs a failed task's traceback itself)."""
    err = result.stderr.decode()
    assert result.returncode == ExitCode.CATALOG == 8, err[-3000:]
    assert "Traceback" not in err or not quiet, err[-3000:]
    lines = [line for line in err.splitlines() if "error" in line and "(catalog)" in line]
    assert lines, err[-3000:]
    message = err[err.index(lines[-1]):]
    assert any(cause in message for cause in causes), message
    assert "batch-b.json" in message  # it says where the report is
    assert "Traceback" not in message and "[SQL:" not in message, message
    return message


def _report(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "out" / "batch-b.json").read_text())


def _existing_catalog(tmp_path: Path) -> Path:
    path = tmp_path / "cat" / "catalog.sqlite3"
    Catalog(f"sqlite:///{path}").close()  # made and migrated (WAL mode) beforehand
    return path


def test_catalog_locked_at_the_start(tmp_path):
    batch = art_batch(tmp_path / "b", {"art-a": 1, "art-b": 1})
    path = _existing_catalog(tmp_path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program writing, for longer than the run is willing to wait
    try:
        result = run_cli(["run", str(batch)], _catalog_env(tmp_path, f"sqlite:///{path}"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _assert_catalog_failure(result, "locked")
    report = _report(tmp_path)
    assert "locked" in report["catalog"]
    assert report["not_registered"] == ["art-a", "art-b"]
    assert {(i["identifier"], i["status"], i["stage"]) for i in report["items"]} == {
        ("art-a", "failed", "catalog"), ("art-b", "failed", "catalog"),
    }
    catalog = Catalog(f"sqlite:///{path}")
    try:
        assert catalog.count("items") == 0
    finally:
        catalog.close()


def test_catalog_read_only_at_the_start(tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("unshare not found")
    batch = art_batch(tmp_path / "b", {"art-a": 1})
    path = _existing_catalog(tmp_path)
    # the catalog's folder mounted read-only for the run (chmod does not stop root, which tests may run as)
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f'mount --bind -o ro "{path.parent}" "{path.parent}"'],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount read-only here: {probe.stderr.decode()}")
    env = _catalog_env(tmp_path, f"sqlite:///{path}")
    command = ["unshare", "-rm", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(path.parent),
               *DIGITIZE, "run", str(batch)]
    result = subprocess.run(command, env=env, capture_output=True, timeout=300)
    _assert_catalog_failure(result, "read-only", "readonly", "unable to open")
    report = _report(tmp_path)
    assert report["not_registered"] == ["art-a"] and report["catalog"]


def test_catalog_server_unreachable_at_the_start(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    batch = art_batch(tmp_path / "b", {"art-a": 1})
    env = _catalog_env(tmp_path, f"postgresql+psycopg://digitize@127.0.0.1:{port}/catalog")
    result = run_cli(["run", str(batch)], env)
    _assert_catalog_failure(result, "cannot be reached", "refused")
    report = _report(tmp_path)
    assert report["not_registered"] == ["art-a"] and str(port) in report["catalog"]


def test_catalog_locked_at_the_end_keeps_the_stored_items_and_says_what_is_not_registered(tmp_path):
    batch = art_batch(tmp_path / "b", {"art-a": 2, "art-b": 1})
    path = _existing_catalog(tmp_path)
    url = f"sqlite:///{path}"
    env = _catalog_env(tmp_path, url)
    run = _start(["run", str(batch)], env)
    locked = threading.Event()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        def started() -> bool:  # the run has opened the catalog and recorded the batch: lock it now
            return holder.execute("SELECT count(*) FROM batches").fetchone()[0] > 0 or run.poll() is not None

        _wait_for(started, what="the run to record its batch")
        holder.execute("BEGIN EXCLUSIVE")
        locked.set()
        out, err = run.communicate(timeout=600)
    finally:
        if locked.is_set():
            holder.execute("ROLLBACK")
        holder.close()
        if run.poll() is None:
            run.kill()
    result = subprocess.CompletedProcess(run.args, run.returncode, out, err)
    _assert_catalog_failure(result, "locked", quiet=False)
    report = _report(tmp_path)
    assert report["not_registered"] == ["art-a", "art-b"] and "locked" in report["catalog"]
    for item in report["items"]:
        assert item["stage"] == "catalog" and "not registered" in item["message"]
        assert Path(item["output_dir"]).is_dir()  # assembled and kept
    stored = {p.relative_to(tmp_path / "store").as_posix() for p in (tmp_path / "store").rglob("*") if p.is_file()}
    assert "items/art-a/manifest.json" in stored and "items/art-b/manifest.json" in stored  # stored and verified

    # nothing lost: once the catalog is free, the same batch registers both items
    again = run_cli(["run", str(batch)], env)
    assert again.returncode == 0, again.stderr.decode()[-3000:]
    catalog = Catalog(url)
    try:
        assert catalog.identifiers() == ["art-a", "art-b"]
    finally:
        catalog.close()
    assert "catalog" not in _report(tmp_path)  # a normal run's report carries no catalog fields
