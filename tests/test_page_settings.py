"""The page key hashes only the settings a page reads; ocr.timeout_seconds stops a page."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from digitize.pipeline.model import PageJob
from digitize.pipeline.page import page_cache_key, process_page
from digitize.pipeline.tesseract import OCRTimeoutError
from digitize.samples.corpus import paragraphs
from digitize.samples.render import render_page, scan_like
from digitize.settings import Settings


def _job(tmp_path: Path, source: Path) -> PageJob:
    return PageJob("item-1", "text", 1, source, 0, 1, "0" * 64, tmp_path / "work" / "000001", "Cyrillic")


def test_key_ignores_settings_the_page_does_not_read(tmp_path):
    job = _job(tmp_path, tmp_path / "p.tif")
    base = page_cache_key(job, Settings())
    for changed in (
        Settings(pdf={"thumbnail_px": 512}),
        Settings(pdf={"access_copy": False, "access_copy_px": 1200}),
        Settings(ocr={"timeout_seconds": 5.0}),
        Settings(storage={"url": "file:///elsewhere"}),
        Settings(archive={"bag": False}),
    ):
        assert page_cache_key(job, changed) == base


def test_key_changes_with_settings_the_page_reads(tmp_path):
    job = _job(tmp_path, tmp_path / "p.tif")
    base = page_cache_key(job, Settings())
    for changed in (
        Settings(ocr={"page_segmentation_mode": 6}),
        Settings(ocr={"postcorrect": False}),
        Settings(image={"dewarp": False}),
        Settings(image={"quality": {"min_confidence": 50.0}}),
        Settings(pdf={"text_layer": "both"}),
        Settings(pdf={"max_dpi": 300}),
    ):
        assert page_cache_key(job, changed) != base


@pytest.mark.needs_tesseract
def test_page_over_the_ocr_timeout_fails_naming_the_setting(tmp_path):
    rendered = render_page(paragraphs(seed=3, n=3), seed=3)
    path = tmp_path / "page.tif"
    scan_like(rendered, skew_degrees=0.5, seed=3).save(path, dpi=(300, 300), compression="tiff_lzw")
    settings = Settings(work_dir=tmp_path / "work", output_dir=tmp_path / "out", ocr={"timeout_seconds": 0.001})
    job = _job(tmp_path, path)
    with pytest.raises(OCRTimeoutError) as caught:
        process_page(job, settings)
    assert "ocr.timeout_seconds" in caught.value.message
    assert caught.value.stage == "ocr"
    assert not caught.value.retryable  # the flows do not retry it
    again = pickle.loads(pickle.dumps(caught.value))  # as it comes back from a worker process
    assert isinstance(again, OCRTimeoutError) and not again.retryable
    assert not (job.work_dir / "page.json").exists()
