"""OCR input: background divided out, grain and show-through removed, clean pages untouched."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from pipeline import normalize, tesseract
from pipeline.prepare import prepare
from samples.degrade import degrade
from samples.metrics import cer


def _grey(kind: str, seed: int = 1, dpi: int = 150) -> tuple[np.ndarray, str, int]:
    page = degrade(kind, seed=seed, dpi=dpi)
    return prepare(page.image).grey, page.text, page.dpi


def test_clean_page_is_given_to_ocr_as_scanned():
    grey, _, dpi = _grey("clean")
    out, info = normalize.ocr_input(grey, dpi)
    assert out is grey and info["changed"].startswith("nothing")


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
