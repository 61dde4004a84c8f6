"""Fault suite, archival package: the same pages give the same package, however the run went.

A run killed with SIGKILL in the middle of a batch and then run again must
leave the output folder and the store byte for byte as an uninterrupted run
does, and so must two uninterrupted runs: the archival files (report.json,
METS, bag.zip, manifest.json) carry nothing that belongs to one run. The
files that do are listed in ``_PER_RUN`` with the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digitize.assembly.item import assemble_item, plan_pages, run_day
from digitize.pipeline.model import PageResult
from digitize.pipeline.page import process_page
from digitize.samples.batch import make_sample_batch
from digitize.scanners.batch import Item, read_batch
from digitize.settings import Settings
from digitize.storage.catalog import Catalog

from helpers.flows import art_batch, env_for, run_cli

# Per run, by design, and never archived: the batch report (batch-<name>.json: how the run went and
# how long it took), each item's timings.json (seconds per stage of the run that made each page), and
# in the local store the hidden digest sidecars (.<name>.sha256: a cache of the digest keyed by that
# copy's mtime and inode, not an object; storage/local.py); and the morning report (reports/morning-<date>.*).
_PER_RUN = ("batch-", "timings.json", "morning-")


def _per_run(path: Path) -> bool:
    return path.name.startswith(_PER_RUN) or (path.name.startswith(".") and path.name.endswith(".sha256"))


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path → SHA-256), the per-run files left out."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not _per_run(p)
    }


def _differences(first: dict[str, str], second: dict[str, str]) -> list[str]:
    only = sorted(first.keys() ^ second.keys())
    changed = sorted(k for k in first.keys() & second.keys() if first[k] != second[k])
    return [f"only in one run: {k}" for k in only] + [f"differs: {k}" for k in changed]


def _bag_differences(first: Path, second: Path) -> list[str]:
    """Which entries of two bag zips differ (for the failure message)."""
    with zipfile.ZipFile(first) as a, zipfile.ZipFile(second) as b:
        names = sorted(set(a.namelist()) | set(b.namelist()))
        return [n for n in names if n not in a.namelist() or n not in b.namelist() or a.read(n) != b.read(n)]


def _assert_same(runs: dict[str, Path]) -> None:
    """Output folders and stores of the runs are identical, file for file."""
    (ref_name, ref), *others = runs.items()
    for name, root in others:
        for part in ("out", "store"):
            details = []
            for problem in _differences(_tree(ref / part), _tree(root / part)):
                key = problem.split(": ", 1)[1]
                if key.endswith(".bag.zip") and problem.startswith("differs"):
                    problem += f" (entries {_bag_differences(ref / part / key, root / part / key)})"
                details.append(problem)
            assert not details, f"{part} of the {name} run is not that of the {ref_name} run:\n" + "\n".join(details)


def _assert_nothing_lost(root: Path, identifiers: list[str]) -> None:
    """Every item is registered once, and every file its manifest lists is in the store, as listed."""
    catalog = Catalog(f"sqlite:///{root / 'catalog.sqlite3'}")
    try:
        assert catalog.identifiers() == identifiers
    finally:
        catalog.close()
    for identifier in identifiers:
        manifest = json.loads((root / "store" / "items" / identifier / "manifest.json").read_text())
        assert manifest["files"], identifier
        for entry in manifest["files"]:
            data = (root / "store" / entry["key"]).read_bytes()
            assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["size"], entry["sha256"]), entry["key"]


def _batch(folder: Path) -> Path:
    """One small text book (2 pages, real OCR), one score and two art items."""
    make_sample_batch(folder, seed=3, pages_per_book=2)
    for name in ("book-002", "book-003"):  # fewer pages to OCR: one book shows it
        shutil.rmtree(folder / name)
    return art_batch(folder, {"art-a": 2, "art-b": 1})


def _killed_run(batch: Path, root: Path, page: str) -> None:
    """``digitize run`` killed (SIGKILL to its whole process group) when the worker reaches ``page``."""
    counters = root / "faults"
    env = env_for(root, DIGITIZE_FAULT_KILL_PAGE=f"{page}*always", DIGITIZE_FAULT_COUNTER_DIR=str(counters))
    log = root / "killed-run.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "digitize.cli", "run", str(batch)],
        env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"), start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not (counters.exists() and any(counters.glob("*.fault-kills"))):
            if process.poll() is not None:
                pytest.fail("the run ended before it could be killed: " + log.read_text()[-3000:])
            assert time.monotonic() < deadline, "the run never reached the page it should be killed at"
            time.sleep(0.05)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.needs_prefect
@pytest.mark.needs_tesseract
def test_killed_and_resumed_run_gives_the_package_of_an_uninterrupted_one(tmp_path):
    started = time.gmtime()
    batch = _batch(tmp_path / "batch")
    identifiers = ["art-a", "art-b", "book-001", "score-001"]

    _killed_run(batch, tmp_path / "resumed", "book-001#2")
    assert not (tmp_path / "resumed" / "store" / "items" / "book-001").exists()  # killed before book-001 was done
    result = run_cli(["run", str(batch)], env_for(tmp_path / "resumed"))
    assert result.returncode == 0, result.stderr.decode()[-3000:]

    for name in ("uninterrupted", "again"):
        result = run_cli(["run", str(batch)], env_for(tmp_path / name))
        assert result.returncode == 0, result.stderr.decode()[-3000:]
    if time.gmtime().tm_yday != started.tm_yday:
        pytest.skip("the UTC day changed during the test: the package's dates are the days pages were made")

    for name in ("resumed", "uninterrupted", "again"):
        _assert_nothing_lost(tmp_path / name, identifiers)
    _assert_same({name: tmp_path / name for name in ("uninterrupted", "resumed", "again")})
    # the timings were not lost: they are beside the package, one entry per page
    timings = json.loads((tmp_path / "resumed" / "out" / "book-001" / "timings.json").read_text())
    assert [p["seq"] for p in timings["pages"]] == [1, 2] and all(p["seconds"]["ocr"] > 0 for p in timings["pages"])


def _art_pages(tmp_path: Path) -> tuple[Settings, Item, list[PageResult]]:
    """An art item of two pages, processed (lossless, no OCR: quick)."""
    batch = art_batch(tmp_path / "batch", {"art-x": 2})
    settings = Settings(work_dir=tmp_path / "work", output_dir=tmp_path / "out")
    item = read_batch(batch).items[0]
    return settings, item, [process_page(job, settings) for job in plan_pages(item, settings)]


def _package(out: Path) -> dict[str, str]:
    """The item's files at its top level (the package and the reader's files), timings.json aside."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.iterdir())
        if p.is_file() and p.name != "timings.json"
    }


def test_timings_stay_out_of_the_archival_package(tmp_path):
    """Two assemblies of the same pages measured at different speeds give the same package."""
    settings, item, pages = _art_pages(tmp_path)
    out = tmp_path / "out" / "art-x"
    assemble_item(item, pages, settings)
    first = _package(out)
    assert {"report.json", "art-x.mets.xml", "art-x.bag.zip"} <= first.keys()
    slower = [replace(p, seconds={k: v + 12.5 for k, v in p.seconds.items()}) for p in pages]
    outputs = assemble_item(item, slower, settings)
    assert _differences(first, _package(out)) == []
    report = json.loads((out / "report.json").read_text())
    assert all("seconds" not in page for page in report["pages"])
    # the timings are kept, outside the package: not published, not in the METS or the bag
    timings = json.loads((out / "timings.json").read_text())
    assert [p["seconds"] for p in timings["pages"]] == [p.seconds for p in slower]
    assert "timings.json" not in {f.key for f in outputs.files}
    assert b"timings.json" not in (out / "art-x.mets.xml").read_bytes()
    with zipfile.ZipFile(out / "art-x.bag.zip") as bag:
        assert not [n for n in bag.namelist() if n.endswith("timings.json")]


def test_run_day_is_the_day_the_newest_page_was_made_not_the_day_of_assembly(tmp_path):
    """A run that crosses midnight dates its package by its last page; assembling the same
    pages again on a later day (a resume after a crash, a re-run) keeps that date."""
    settings, item, pages = _art_pages(tmp_path)
    before_midnight = datetime(2024, 3, 9, 23, 59, 30, tzinfo=UTC).timestamp()
    after_midnight = datetime(2024, 3, 10, 0, 0, 40, tzinfo=UTC).timestamp()
    for page, stamp in zip(pages, (before_midnight, after_midnight), strict=True):
        for path in page.pdf.parent.iterdir():
            os.utime(path, (stamp, stamp))
    assert run_day(pages) == datetime(2024, 3, 10, tzinfo=UTC)
    outputs = assemble_item(item, pages, settings)
    first = _package(outputs.folder)
    mets = (outputs.folder / "art-x.mets.xml").read_text()
    assert "2024-03-10" in mets and "2024-03-09" in mets  # the package's date; page 1's events
    assert datetime.now(UTC).strftime("%Y-%m-%d") not in mets  # never the clock's day
    shutil.rmtree(outputs.folder)  # nothing changed; assembled again (today): the same bytes
    outputs = assemble_item(item, pages, settings)
    assert _differences(first, _package(outputs.folder)) == []


def test_temporary_files_of_a_killed_writer_are_removed_at_assembly(tmp_path):
    """A writer killed mid-file leaves its temporary file (found by the kill test above: a
    thumbnail's); the next assembly of the item removes it, and nothing else."""
    settings, item, pages = _art_pages(tmp_path)
    out = tmp_path / "out" / "art-x"
    (out / "access").mkdir(parents=True)
    leftovers = [out / ".thumbnail.jpg.d7d6e15b184d.part", out / "access" / ".0001.jpg.0123456789ab.part.jpg"]
    for path in leftovers:
        path.write_bytes(b"half a file")
    kept = out / ".notes"  # not a temporary name: not ours to remove
    kept.write_text("staff notes")
    assemble_item(item, pages, settings)
    assert not [p for p in leftovers if p.exists()]
    assert kept.read_text() == "staff notes"
    assert (out / "thumbnail.jpg").stat().st_size > 0
