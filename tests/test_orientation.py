"""Orientation: pages at 90°, 180° and 270° come out upright."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from digitize.pipeline import orientation, tesseract
from digitize.pipeline.model import PageJob
from digitize.pipeline.page import process_page
from digitize.pipeline.prepare import prepare
from digitize.samples.degrade import degrade
from digitize.samples.metrics import cer
from digitize.settings import Settings


@pytest.fixture(scope="module")
def page():
    return degrade("clean", seed=5, dpi=150)


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
def test_sideways_pages_are_recognised(page, degrees):
    grey = orientation.turn(prepare(page.image).grey, degrees)
    assert orientation.is_sideways(grey) == (degrees in (90, 270))


def test_skewed_page_is_not_sideways():
    grey = prepare(degrade("skew", seed=2, dpi=150).image).grey
    assert not orientation.is_sideways(grey)


def test_blank_page_is_never_turned():
    assert not orientation.is_sideways(np.full((600, 400), 245, dtype=np.uint8))
    assert orientation.pick_strip(np.full((600, 400), 245, dtype=np.uint8), 150) is None


def test_quarter_turns_are_exact():
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert np.array_equal(orientation.turn(orientation.turn(array, 90), 270), array)
    assert orientation.turn(array, 0) is array
    assert orientation.turn(array, 90).shape == (4, 3)


@pytest.mark.needs_tesseract
@pytest.mark.parametrize("degrees", [0, 180])
def test_upside_down_strip_is_found(page, degrees):
    grey = orientation.turn(prepare(page.image).grey, degrees)
    box = orientation.pick_strip(grey, page.dpi)
    assert box is not None
    tessdata = tesseract.find_tessdata()
    found = orientation.upside_down(
        grey[box[1] : box[3], box[0] : box[2]],
        lambda strip: tesseract.strip_confidence(Image.fromarray(strip), model="Cyrillic", dpi=page.dpi,
                                                 tessdata=tessdata),
    )
    assert found.degrees == degrees


@pytest.mark.needs_tesseract
@pytest.mark.parametrize("scan_turn", [180, 90])
def test_turned_scan_is_read_upright(tmp_path, scan_turn):
    page = degrade("clean", seed=6, dpi=200)
    path = tmp_path / "page.png"
    page.image.rotate(scan_turn, expand=True).save(path, dpi=(page.dpi, page.dpi))
    job = PageJob("item", "text", 1, path, 0, 1, hashlib.sha256(path.read_bytes()).hexdigest(),
                  tmp_path / "work", "Cyrillic")
    result = process_page(job, Settings(work_dir=tmp_path, output_dir=tmp_path / "out"))
    assert result.orientation_degrees == (360 - scan_turn) % 360
    assert (result.width, result.height) == page.image.size
    assert cer(page.text, result.text.read_text()) < 0.02


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_short_paragraph_ends_hint_at_an_upside_down_page(seed):
    grey = np.asarray(degrade("clean", seed=seed, dpi=150).image)
    assert not orientation.looks_upside_down(grey, 150)
    assert orientation.looks_upside_down(np.ascontiguousarray(grey[::-1, ::-1]), 150)


def test_no_hint_on_blank_or_tiny_pages():
    assert not orientation.looks_upside_down(np.full((1200, 800), 245, np.uint8), 150)
    assert not orientation.looks_upside_down(np.full((5, 3), 0, np.uint8), 150)


def _orientation_step(result):
    return next(s for s in result.steps if s.name == "orientation")


def _read_upside_down_page(tmp_path):
    page = degrade("clean", seed=6, dpi=200)
    path = tmp_path / "page.png"
    page.image.rotate(180).save(path, dpi=(page.dpi, page.dpi))
    job = PageJob("item", "text", 1, path, 0, 1, hashlib.sha256(path.read_bytes()).hexdigest(),
                  tmp_path / "work", "Cyrillic")
    return page, process_page(job, Settings(work_dir=tmp_path, output_dir=tmp_path / "out"))


@pytest.mark.needs_tesseract
def test_upside_down_page_is_turned_before_ocr(tmp_path):
    page, result = _read_upside_down_page(tmp_path)
    assert result.orientation_degrees == 180
    assert _orientation_step(result).settings["prompted_by"] == "short paragraph ends on the left"
    assert cer(page.text, result.text.read_text()) < 0.02


@pytest.mark.needs_tesseract
def test_upside_down_page_without_the_hint_is_caught_by_its_low_ocr_confidence(tmp_path, monkeypatch):
    """The hint is only a shortcut: a turned page it misses still comes out
    upright, found by the check after OCR."""
    monkeypatch.setattr(orientation, "looks_upside_down", lambda grey, dpi: False)
    page, result = _read_upside_down_page(tmp_path)
    assert result.orientation_degrees == 180
    assert _orientation_step(result).settings["prompted_by"].startswith("OCR confidence")
    assert cer(page.text, result.text.read_text()) < 0.02
