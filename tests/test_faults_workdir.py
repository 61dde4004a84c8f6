"""Fault suite, the work folder (issue 14, case 2): a damaged intermediate is never reused.

A page's ``page.json`` records the size and SHA-256 of every file the page
wrote, and its own SHA-256; before a page is reused each is checked. Here
each file of a finished page (both texts, the hOCR, the page PDF and
``page.json`` itself) is emptied, cut short, given one flipped byte or
deleted, as a power cut or a failing disk leaves it: the re-run must redo
the page, give exactly the bytes of an uninterrupted run, and say in its
log which file was wrong. The last test goes through the ``digitize run``
command, as the issue found it: an emptied ``text.original.txt`` used to
publish an empty page to the output folder, the store and the catalog.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitize.assembly.item import plan_pages
from digitize.checksums import sha256_file
from digitize.delivery.staging import fetch_page, page_prefix, process_staged_page, stage_sources
from digitize.errors import VerificationError
from digitize.pipeline import spread
from digitize.pipeline.model import PageJob, PageResult
from digitize.pipeline.page import finished_page, process_page
from digitize.samples.corpus import paragraphs
from digitize.samples.render import render_page, scan_like
from digitize.scanners.batch import read_batch, read_item
from digitize.settings import Settings
from digitize.storage.catalog import Catalog
from digitize.storage.local import LocalObjectStore

from helpers.flows import art_batch, env_for, run_cli
from helpers.spreads import make_frame

_TEXT_FILES = ("text.original.txt", "text.latin.txt", "page.hocr", "page.pdf")
_PAGE_LOG = "digitize.pipeline.page"


def _small_text_page(path: Path, seed: int) -> None:
    rendered = render_page(paragraphs(seed=seed, n=1), width_in=3.2, height_in=2.4, seed=seed)
    scan_like(rendered, skew_degrees=1.5, seed=seed).save(path, dpi=(300, 300), compression="tiff_lzw")


def _job(source: Path, work: Path, kind: str = "text") -> PageJob:
    return PageJob("item-1", kind, 1, source, 0, 1, "ab" * 32, work, "Cyrillic")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One text page processed without interruption: its settings, scan and work folder."""
    folder = tmp_path_factory.mktemp("workdir-faults")
    source = folder / "scan.tif"
    _small_text_page(source, seed=11)
    settings = Settings(work_dir=folder / "work", output_dir=folder / "out")
    work = folder / "reference"
    result = process_page(_job(source, work), settings)
    assert result.word_count > 5  # a page worth protecting
    return settings, source, work


def _zero(path: Path) -> None:
    path.write_bytes(b"")


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size: only the digest can tell
    path.write_bytes(bytes(data))


def _delete(path: Path) -> None:
    path.unlink()


_DAMAGE: dict[str, Callable[[Path], None]] = {"zero": _zero, "truncated": _truncate, "flipped": _flip,
                                              "deleted": _delete}


def _copy_of(reference_work: Path, tmp_path: Path) -> Path:
    work = tmp_path / "page"
    shutil.copytree(reference_work, work)
    # The copy's page.json names the reference's files: point it here, as a resumed run sees its own
    # folder, and write it as the page cache does (so it stays a sound record).
    record = work / "page.json"
    result = PageResult.from_json(record.read_text(encoding="utf-8"))
    moved = {name: work / getattr(result, name).name for name in ("pdf", "hocr", "text", "text_latin")}
    record.write_text(replace(result, **moved).to_json(), encoding="utf-8")
    return work


def _rerun_is_clean(reference, work: Path, caplog, name: str, level: int = logging.WARNING) -> None:
    settings, source, reference_work = reference
    job = _job(source, work)
    assert finished_page(job, settings) is None, f"a page with a damaged {name} was taken as finished"
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger=_PAGE_LOG):
        result = process_page(job, settings)
    # the log names the damaged file, at the expected level
    named = [r for r in caplog.records if r.levelno >= level and name in r.getMessage()]
    assert named, f"no log line names {name}: {[r.getMessage() for r in caplog.records]}"
    # nothing lost: every file as an uninterrupted run wrote it
    for file in _TEXT_FILES:
        assert (work / file).read_bytes() == (reference_work / file).read_bytes(), f"{file} differs after the re-run"
    assert result.text is not None and result.text.read_text(encoding="utf-8").strip()
    # and the page is finished again: the next run reuses it without a word
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger=_PAGE_LOG):
        again = finished_page(job, settings)
    assert again is not None
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]


@pytest.mark.needs_tesseract
@pytest.mark.parametrize("damage", sorted(_DAMAGE))
@pytest.mark.parametrize("name", _TEXT_FILES)
def test_damaged_page_file_makes_the_page_run_again(reference, tmp_path, caplog, name, damage):
    work = _copy_of(reference[2], tmp_path)
    _DAMAGE[damage](work / name)
    _rerun_is_clean(reference, work, caplog, name)


@pytest.mark.needs_tesseract
@pytest.mark.parametrize("damage", sorted(_DAMAGE))
def test_damaged_page_json_makes_the_page_run_again(reference, tmp_path, caplog, damage):
    work = _copy_of(reference[2], tmp_path)
    _DAMAGE[damage](work / "page.json")
    # a missing page.json is the normal state of a page a crash interrupted: said, not warned
    _rerun_is_clean(reference, work, caplog, "page.json", logging.INFO if damage == "deleted" else logging.WARNING)


@pytest.mark.needs_tesseract
def test_page_json_with_a_changed_value_that_still_parses_is_not_trusted(reference, tmp_path, caplog):
    work = _copy_of(reference[2], tmp_path)
    record = work / "page.json"
    data = json.loads(record.read_text(encoding="utf-8"))
    text = record.read_text(encoding="utf-8")
    changed = text.replace(f'"word_count": {data["word_count"]}', f'"word_count": {data["word_count"] + 1}')
    assert changed != text
    record.write_text(changed, encoding="utf-8")
    _rerun_is_clean(reference, work, caplog, "page.json")


@pytest.mark.needs_tesseract
def test_page_json_of_an_older_version_without_digests_is_not_trusted(reference, tmp_path, caplog):
    work = _copy_of(reference[2], tmp_path)
    record = work / "page.json"
    data = json.loads(record.read_text(encoding="utf-8"))
    for key in ("fixity", "record_sha256"):
        data.pop(key, None)
    record.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    settings, source, _ = reference
    with caplog.at_level(logging.WARNING, logger=_PAGE_LOG):
        assert finished_page(_job(source, work), settings) is None
    assert any("older version" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
    _rerun_is_clean(reference, work, caplog, "page.json")
    fresh = json.loads(record.read_text(encoding="utf-8"))
    assert {f["name"] for f in fresh["fixity"]} == set(_TEXT_FILES)


def test_art_page_with_a_truncated_pdf_runs_again(tmp_path, caplog):
    source = tmp_path / "print.png"
    pixels = np.random.default_rng(4).integers(0, 255, (120, 90, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(source, dpi=(300, 300))
    settings = Settings(work_dir=tmp_path / "work", output_dir=tmp_path / "out")
    job = _job(source, tmp_path / "page", kind="art")
    first = process_page(job, settings)
    expected = first.pdf.read_bytes()
    _truncate(first.pdf)
    with caplog.at_level(logging.WARNING, logger=_PAGE_LOG):
        again = process_page(job, settings)
    assert again.pdf.read_bytes() == expected
    assert any("page.pdf" in r.getMessage() for r in caplog.records)


def test_spread_decisions_changed_on_disk_are_examined_again(tmp_path, caplog):
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "item.toml").write_text('title = "Китаб"\nspreads = "auto"\n', encoding="utf-8")
    make_frame("spread", 1, 80).convert("L").save(folder / "1.png")
    make_frame("spread", 2, 80).convert("L").save(folder / "2.png")
    work = tmp_path / "work"
    decisions = spread.split_decisions(read_item(folder), work)
    assert decisions == [True, True]
    cache = work / "spreads.json"
    text = cache.read_text(encoding="utf-8")
    changed = text.replace('"spread": true', '"spread": false', 1)  # still JSON: only a digest can tell
    assert changed != text
    cache.write_text(changed, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="digitize.pipeline.spread"):
        assert spread.split_decisions(read_item(folder), work) == decisions  # the same pages as before
    assert any("spreads.json" in r.getMessage() for r in caplog.records)
    for damage in (_zero, _truncate):
        damage(cache)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="digitize.pipeline.spread"):
            assert spread.split_decisions(read_item(folder), work) == decisions
        assert any("spreads.json" in r.getMessage() for r in caplog.records)


def _staged(tmp_path):
    flow = tmp_path / "flow"
    batch = art_batch(flow / "batch", {"art-a": 1})
    settings = Settings(work_dir=flow / "work", output_dir=flow / "out")
    (item,) = read_batch(batch).items
    (job,) = plan_pages(item, settings)
    store = LocalObjectStore(tmp_path / "store")
    stage_sources([job], store)
    calls: list[PageJob] = []

    def counting(job: PageJob, settings: Settings) -> PageResult:
        calls.append(job)
        return process_page(job, settings)

    result = process_staged_page(job, settings, store, tmp_path / "worker", counting)
    return settings, job, store, result, calls, counting


def test_staged_page_replaced_by_a_short_file_is_done_again(tmp_path, caplog):
    settings, job, store, result, calls, counting = _staged(tmp_path)
    key = f"{page_prefix(result.cache_key)}/page.pdf"
    good = store.stat(key)
    short = tmp_path / "short.pdf"
    short.write_bytes(b"%PDF-1.3\n")  # a half-sent upload, recorded by the store as it is
    store.put_file(key, short)
    with caplog.at_level(logging.WARNING, logger="digitize.delivery.staging"):
        again = process_staged_page(job, settings, store, tmp_path / "worker", counting)
    assert len(calls) == 2  # done again, not reused
    assert any("page.pdf" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert store.stat(key).sha256 == good.sha256  # the staged page is whole again
    local = fetch_page(job, again, store)
    assert sha256_file(local.pdf) == good.sha256


def test_staged_file_rotted_in_the_store_is_refused_and_the_page_done_again(tmp_path):
    settings, job, store, result, calls, counting = _staged(tmp_path)
    key = f"{page_prefix(result.cache_key)}/page.pdf"
    good = store.stat(key)
    _flip(store.root / key)  # bit rot: the store's own record of the object still says the old digest
    with pytest.raises(VerificationError, match="page.pdf"):
        fetch_page(job, result, store)
    assert not (job.work_dir / "page.json").exists()  # nothing damaged is taken as finished
    again = process_staged_page(job, settings, store, tmp_path / "worker", counting)
    assert len(calls) == 2  # the next attempt made the page again
    local = fetch_page(job, again, store)
    assert sha256_file(local.pdf) == good.sha256


# -- through the command ------------------------------------------------------------------------------------------


def _text_batch(folder: Path) -> Path:
    item = folder / "kitab-1"
    item.mkdir(parents=True)
    (item / "item.toml").write_text('title = "Китаб"\nyear = 1962\n', encoding="utf-8")
    for n in (1, 2):
        _small_text_page(item / f"p{n}.tif", seed=20 + n)
    return folder


def _published(root: Path) -> tuple[bytes, bytes, list[tuple[int, str, str]]]:
    """Page 1's original text in the output folder and in the store, and the catalog's page texts."""
    out = root / "out" / "kitab-1" / "text" / "original" / "0001.txt"
    stored = [p for p in (root / "store").rglob("0001.txt") if "original" in p.parts]
    assert len(stored) == 1, stored
    catalog = Catalog(f"sqlite:///{root / 'catalog.sqlite3'}")
    try:
        texts = list(catalog.page_texts("kitab-1"))
    finally:
        catalog.close()
    return out.read_bytes(), stored[0].read_bytes(), texts


@pytest.mark.needs_tesseract
@pytest.mark.needs_prefect
@pytest.mark.slow
def test_cli_rerun_after_a_power_cut_emptied_a_page_text_publishes_the_text(tmp_path):
    batch = _text_batch(tmp_path / "batch")
    root = tmp_path / "run"
    env = env_for(root)
    first = run_cli(["run", str(batch)], env)
    assert first.returncode == 0, first.stderr.decode()[-3000:]
    text, stored, catalog_texts = _published(root)
    assert text.strip() and stored == text and catalog_texts[0][1].strip()

    damaged = sorted((root / "work").glob("kitab-1/pages/*/text.original.txt"))[0]
    damaged.write_bytes(b"")  # what a power cut leaves of a file whose data never reached the disk

    second = run_cli(["run", str(batch)], env)
    log = second.stdout.decode() + second.stderr.decode()
    assert second.returncode == 0, log[-3000:]
    assert _published(root) == (text, stored, catalog_texts)  # nothing lost: output, store and catalog as before
    assert "text.original.txt" in log, log[-3000:]  # the re-run says which file it did not trust
    assert damaged.read_bytes() == text
