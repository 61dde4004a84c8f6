"""Quality control: measures on every page; blank pages and bad scans flagged."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from digitize.pipeline import normalize, quality
from digitize.pipeline.model import PageJob, PageQuality, PageResult
from digitize.pipeline.page import process_page
from digitize.pipeline.prepare import prepare
from digitize.samples.degrade import degrade
from digitize.settings import QualitySettings, Settings

LIMITS = QualitySettings()


def _assess(kind: str, dpi: int = 300, confidence: float | None = 90.0, words: int = 200):
    page = degrade(kind, seed=1, dpi=dpi)
    grey = prepare(page.image).grey
    ocr, info = normalize.ocr_input(grey, page.dpi)
    measures = quality.measure_image(grey, ocr, info["focus"])
    return quality.assess(measures, dpi=page.dpi, skew_degrees=0.0, turned_degrees=0, confidence=confidence,
                          words=words, thresholds=LIMITS)


def test_good_page_passes():
    record = _assess("clean")
    assert not record.rescan and not record.blank and record.reasons == ()
    assert record.focus is not None and record.focus > LIMITS.min_focus and record.contrast > LIMITS.min_contrast


def test_blurred_page_is_flagged():
    record = _assess("blur")
    assert record.rescan and any("focus" in reason for reason in record.reasons)


def test_low_resolution_is_flagged():
    record = _assess("low_resolution")
    assert record.rescan and any("150 dpi" in reason for reason in record.reasons)


def test_low_confidence_is_flagged():
    record = _assess("clean", confidence=41.0)
    assert record.rescan and any("confidence 41" in reason for reason in record.reasons)


def test_low_contrast_is_flagged():
    grey = np.full((400, 300), 140, dtype=np.uint8)
    grey[100:110, 50:250] = 110  # faint print on grey paper
    measures = quality.measure_image(grey, normalize.flatten_background(grey, 100), None)
    record = quality.assess(measures, dpi=300, skew_degrees=0.0, turned_degrees=0, confidence=80.0, words=5,
                            thresholds=LIMITS)
    assert any("contrast" in reason for reason in record.reasons)


def test_blank_page_is_blank_not_rescan():
    grey = np.full((600, 400), 247, dtype=np.uint8)
    measures = quality.measure_image(grey, grey, None)
    record = quality.assess(measures, dpi=300, skew_degrees=0.0, turned_degrees=0, confidence=None, words=0,
                            thresholds=LIMITS)
    assert record.blank and not record.rescan


@pytest.mark.needs_tesseract
def test_page_result_carries_quality_and_round_trips(tmp_path):
    path = tmp_path / "blank.png"
    Image.new("L", (600, 800), 248).save(path, dpi=(300, 300))
    job = PageJob("item", "text", 1, path, 0, 1, hashlib.sha256(path.read_bytes()).hexdigest(), tmp_path / "w",
                  "Cyrillic")
    result = process_page(job, Settings(work_dir=tmp_path, output_dir=tmp_path / "o"))
    assert result.quality is not None and result.quality.blank is True and result.quality.rescan is False
    again = PageResult.from_json(result.to_json())
    assert again.quality == result.quality and again.orientation_degrees == 0


def test_old_page_json_without_quality_still_loads(tmp_path):
    old = ('{"item_id": "i", "seq": 1, "source": "a.tif", "frame": 0, "width": 10, "height": 10, "dpi": 300,'
           ' "pdf": "p.pdf", "steps": []}')
    result = PageResult.from_json(old)
    assert result.quality is None and result.quality_dict() == {} and result.part is None


def test_quality_record_dict_keeps_the_stored_keys_and_order():
    measures = quality.ImageMeasures(contrast=200.0, focus=None, ink_share=0.1)
    record = quality.assess(measures, dpi=300.0, skew_degrees=0.5, turned_degrees=0, confidence=88.123, words=9,
                            thresholds=LIMITS)
    assert list(record.to_dict()) == ["contrast", "focus", "ink_share", "dpi", "skew_degrees", "turned_degrees",
                                      "ocr_confidence", "blank", "rescan", "reasons"]
    wide = quality.assess(quality.ImageMeasures(200.0, 9000.0, 0.1, spread_suspected=True), dpi=300.0,
                          skew_degrees=0.0, turned_degrees=0, confidence=90.0, words=9, thresholds=LIMITS)
    assert list(wide.to_dict())[3] == "spread_suspected" and wide.rescan
    assert PageQuality.from_dict(wide.to_dict()) == wide and PageQuality.from_dict(record.to_dict()) == record
