"""Pages through the object store (storage/staging.py), with the real page stages and a local store.

The flow's side (batch, work folder) and the worker's scratch folder are
separate trees; the worker is handed only its job and the store.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from digitize.assembly.item import plan_pages
from digitize.delivery.staging import download, fetch_page, page_prefix, process_staged_page, source_key, stage_sources
from digitize.errors import VerificationError
from digitize.pipeline.page import process_page
from digitize.scanners.batch import read_batch
from digitize.settings import load_settings
from digitize.storage.local import LocalObjectStore

from helpers.flows import art_batch


@pytest.fixture
def setup(tmp_path):
    flow = tmp_path / "flow"
    batch = art_batch(flow / "batch", {"art-a": 3})
    settings = load_settings(work_dir=flow / "work", output_dir=flow / "out")
    (item,) = read_batch(batch).items
    jobs = plan_pages(item, settings)
    return settings, jobs, LocalObjectStore(tmp_path / "store"), tmp_path / "worker"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_scans_are_staged_once_by_content(setup):
    settings, jobs, store, _ = setup
    assert stage_sources(jobs, store) == 3
    assert stage_sources(jobs, store) == 0  # already there: nothing sent
    for job in jobs:
        assert store.stat(source_key(job.source_sha256)).sha256 == job.source_sha256


def test_a_page_goes_through_the_store_and_back(setup):
    settings, jobs, store, scratch = setup
    stage_sources(jobs, store)
    calls = []

    def counting(job, settings):
        calls.append(job)
        assert str(job.source).startswith(str(scratch)) and str(job.work_dir).startswith(str(scratch))
        return process_page(job, settings)

    job = jobs[1]
    result = process_staged_page(job, settings, store, scratch, counting)
    assert len(calls) == 1
    assert result.source == job.source and result.pdf == job.work_dir / "page.pdf" and result.seq == 2
    assert not job.work_dir.exists()  # the worker never wrote on the flow's side
    assert list(scratch.iterdir()) == []  # and cleaned its scratch folder
    assert store.stat(f"{page_prefix(result.cache_key)}/page.json") is not None

    local = fetch_page(job, result, store)
    assert local.pdf.exists() and _sha(local.pdf) == store.stat(f"{page_prefix(result.cache_key)}/page.pdf").sha256
    assert (job.work_dir / "page.json").exists()
    assert local.steps[0].settings["file"] == job.source.name  # provenance names the scan, not the scratch copy

    # a worker on another machine: the staged page is reused, nothing processed again
    again = process_staged_page(job, settings, store, scratch / "other", counting)
    assert len(calls) == 1 and again == result
    # the flow's side resumes from its work folder as usual
    assert process_page(job, settings).cache_key == result.cache_key


def test_a_damaged_download_is_refused(setup):
    settings, jobs, store, scratch = setup
    stage_sources(jobs[:1], store)
    key = source_key(jobs[0].source_sha256)
    stored = store.root / key
    stored.write_bytes(stored.read_bytes()[:-10] + b"0123456789")  # bit rot behind the store's back
    with pytest.raises(VerificationError):
        download(store, key, scratch / "scan.png", jobs[0].source_sha256)
    assert not (scratch / "scan.png").exists() and not list(scratch.glob(".*"))
    with pytest.raises(VerificationError):
        process_staged_page(jobs[0], settings, store, scratch)
    assert list(scratch.iterdir()) == []
