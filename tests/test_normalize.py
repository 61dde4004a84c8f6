"""OCR input: background divided out, grain and show-through removed, clean pages untouched."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from digitize.pipeline import normalize, tesseract
from digitize.pipeline.prepare import prepare
from digitize.samples.degrade import _rendered, degrade
from digitize.samples.metrics import cer


def _grey(kind: str, seed: int = 1, dpi: int = 150) -> tuple[np.ndarray, str, int]:
    page = degrade(kind, seed=seed, dpi=dpi)
    return prepare(page.image).grey, page.text, page.dpi


def test_clean_page_is_given_to_ocr_as_scanned():
    grey = prepare(_rendered(1, 150).image).grey  # no dust
    out, info = normalize.ocr_input(grey, 150)
    assert out is grey and info["changed"].startswith("nothing") and info["specks_removed"] == 0


def test_clean_page_loses_only_its_dust():
    grey, _, dpi = _grey("clean")  # a few dark specks, as on every scan
    out, info = normalize.ocr_input(grey, dpi)
    assert info["changed"].startswith("only dust specks") and info["specks_removed"] > 50
    changed = out != grey
    assert np.all(out[changed] == 255) and np.all(grey[changed] < 128)
    assert changed.sum() == info["specks_removed"]


@pytest.mark.parametrize("dpi", [150, 300])
def test_despeckle_keeps_every_letter_and_dot(dpi):
    grey = prepare(_rendered(2, dpi).image).grey  # Azerbaijani Cyrillic text, no dust
    out, specks = normalize.despeckle(grey, dpi)
    assert out is grey and specks == 0


def test_despeckle_removes_blobs_of_one_or_two_pixels_only():
    grey = np.full((40, 40), 230, dtype=np.uint8)
    grey[5, 5] = 0  # one pixel
    grey[10, 10] = grey[11, 11] = 40  # two, touching at a corner
    grey[20, 20:23] = 0  # three in a row: kept
    grey[30:32, 30:32] = 0  # a 2×2 dot: kept
    out, specks = normalize.despeckle(grey, 300)
    assert specks == 3
    assert out[5, 5] == out[10, 10] == out[11, 11] == 255
    assert np.all(out[20, 20:23] == 0) and np.all(out[30:32, 30:32] == 0)
    assert normalize.despeckle(grey, 600)[1] == 3 + 3 + 4  # at 600 dpi up to 8 pixels


@pytest.mark.needs_tesseract
def test_despeckled_low_resolution_page_reads_better():
    page = degrade("low_resolution", seed=2)
    grey = prepare(page.image).grey
    tessdata = tesseract.find_tessdata()

    def read(array):
        div, _ = tesseract.recognize_hocr(Image.fromarray(array), model="Cyrillic", dpi=page.dpi, tessdata=tessdata)
        return " ".join(re.findall(r">([^<>]+)</span>", div))

    clean, specks = normalize.despeckle(grey, page.dpi)
    assert specks > 100
    assert cer(page.text, read(clean)) < cer(page.text, read(grey))


def test_uneven_light_is_flattened():
    grey, _, dpi = _grey("uneven_light")
    assert normalize.background_spread(normalize._background(grey, dpi)) > 0.3
    out, info = normalize.ocr_input(grey, dpi)
    assert out.shape == grey.shape and info["background"] == "divided"
    paper = out[out > 128]
    assert np.percentile(paper, 5) > 200  # the dark corner's paper is light again


def test_grain_is_measured_and_removed():
    clean, _, dpi = _grey("clean")
    noisy, _, _ = _grey("noise")
    assert normalize.noise_level(normalize.flatten_background(clean, dpi)) < 1.0
    assert normalize.noise_level(normalize.flatten_background(noisy, dpi)) > 1.0
    out, info = normalize.ocr_input(noisy, dpi)
    assert info["denoised"]
    assert normalize.noise_level(out) < normalize.noise_level(normalize.flatten_background(noisy, dpi)) / 2


def test_show_through_is_found_and_whitened():
    clean, _, dpi = _grey("clean")
    bleed, _, _ = _grey("bleed_through")
    assert normalize.show_through(normalize.flatten_background(clean, dpi), dpi) < 0.02
    assert normalize.show_through(normalize.flatten_background(bleed, dpi), dpi) > 0.05
    out, info = normalize.ocr_input(bleed, dpi)
    assert "white_point_share" in info
    assert normalize.show_through(out, dpi) < 0.02


def test_sauvola_gives_black_and_white():
    grey, _, dpi = _grey("uneven_light")
    out, info = normalize.ocr_input(grey, dpi, binarize="sauvola")
    assert set(np.unique(out)) <= {0, 255} and info["binarized"] == "sauvola"


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (16, 16), (5, 4000)])
def test_tiny_and_thin_images(shape):
    grey = np.full(shape, 200, dtype=np.uint8)
    out, _ = normalize.ocr_input(grey, 300)
    assert out.shape == grey.shape


@pytest.mark.needs_tesseract
def test_uneven_light_reads_well_only_after_normalising():
    page = degrade("uneven_light", seed=2)
    grey = prepare(page.image).grey
    tessdata = tesseract.find_tessdata()

    def read(array):
        div, _ = tesseract.recognize_hocr(Image.fromarray(array), model="Cyrillic", dpi=page.dpi, tessdata=tessdata)
        return " ".join(re.findall(r">([^<>]+)</span>", div))

    ours = cer(page.text, read(normalize.ocr_input(grey, page.dpi)[0]))
    raw = cer(page.text, read(grey))
    assert ours < 0.02 and raw > 2 * ours
