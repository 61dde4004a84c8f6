"""Resume after a real kill -9 of `digitize run` in the middle of a batch.

The run is killed (SIGKILL to its whole process group: the command, its
page workers and its temporary Prefect server) once a few pages are done.
The re-run processes only the pages that were missing, and its outputs are
byte for byte those of an uninterrupted run (the batch report and each
item's timings.json aside: they hold the run's measured times and are not
part of the package, tests/test_faults_package.py); the catalog holds each
item once.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digitize.samples.batch import make_sample_batch
from digitize.storage.catalog import Catalog

from helpers.flows import env_for, run_cli

pytestmark = [pytest.mark.needs_tesseract, pytest.mark.needs_prefect, pytest.mark.slow]


def _page_results(work: Path) -> dict[str, int]:
    return {str(p.relative_to(work)): p.stat().st_mtime_ns for p in work.glob("*/pages/*/page.json")}


def _outputs(out: Path) -> dict[str, str]:
    return {
        str(path.relative_to(out)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(out.rglob("*"))
        if path.is_file() and not path.name.startswith(("batch-", "morning-")) and path.name != "timings.json"
    }


def test_kill_minus_9_mid_batch_then_rerun_finishes_only_what_was_left(tmp_path):
    started = time.time()
    sample = make_sample_batch(tmp_path / "batch", seed=5, pages_per_book=3)
    total = sum(len(item.pages) for item in sample.items)
    env = env_for(tmp_path / "resumed")
    work = tmp_path / "resumed" / "work"

    process = subprocess.Popen(
        [sys.executable, "-m", "digitize.cli", "run", str(sample.path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "killed-run.log").open("wb"),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while len(_page_results(work) if work.exists() else {}) < 3:
            if process.poll() is not None:
                log = (tmp_path / "killed-run.log").read_text()
                pytest.fail("the run ended before it could be killed: " + log[-3000:])
            assert time.monotonic() < deadline, "no pages finished in time"
            time.sleep(0.05)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)
    before = _page_results(work)
    assert 3 <= len(before) < total, f"{len(before)} of {total} pages were done at the kill"

    result = run_cli(["run", str(sample.path)], env)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    after = _page_results(work)
    assert len(after) == total
    assert {k: after[k] for k in before} == before  # finished pages were reused, not redone
    assert sum(after[k] != before.get(k) for k in after) == total - len(before)

    catalog = Catalog(env["DIGITIZE_CATALOG__URL"])
    try:
        assert catalog.identifiers() == sorted(item.item_id for item in sample.items)
        assert catalog.count("items") == len(sample.items)
    finally:
        catalog.close()

    reference = env_for(tmp_path / "reference")
    result = run_cli(["run", str(sample.path)], reference)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    resumed, uninterrupted = _outputs(tmp_path / "resumed" / "out"), _outputs(tmp_path / "reference" / "out")
    if time.gmtime(started).tm_yday != time.gmtime().tm_yday:
        pytest.skip("the UTC day changed during the test; output dates are days, so the runs cannot match")
    assert resumed and resumed == uninterrupted
