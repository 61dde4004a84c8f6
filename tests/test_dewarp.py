"""Dewarp: curled lines are found and come out straight; flat pages are left alone.

Straightness is measured here independently of pipeline/dewarp.py's own
polynomial fits: each text line is smeared into one blob at full
resolution, its ink centre taken per column and smoothed with a running
median, and the line's *y-spread* is the range of that centre curve.
"""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
from PIL import Image

from digitize.pipeline import deskew, dewarp, tesseract
from digitize.pipeline.page_image import clean_page
from digitize.pipeline.prepare import WorkingImage
from digitize.pipeline.tesseract import find_tessdata
from digitize.samples.corpus import paragraphs
from digitize.samples.degrade import curl
from digitize.samples.metrics import cer
from digitize.samples.render import render_page, skew
from digitize.settings import Settings

DPI = 150


@pytest.fixture(scope="module")
def flat() -> np.ndarray:
    return np.asarray(render_page(paragraphs(seed=3, n=5), dpi=DPI, seed=3).image.convert("L"))


def _straightened(grey: np.ndarray) -> np.ndarray:
    return deskew.rotate(grey, -deskew.estimate_skew(grey))


def _bend(grey: np.ndarray, where: str, depth: float = 0.04) -> np.ndarray:
    """Lines bending near one edge, a warp of our own (not degrade.curl):
    the left edge sags, or the top lines arch upwards at both sides."""
    h, w = grey.shape
    xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    if where == "left":
        u = np.clip((0.45 - xx / w) / 0.45, 0, 1)
        map_y = yy + depth * h * u**2
    else:  # top
        v = np.clip((0.4 - yy / h) / 0.4, 0, 1)
        map_y = yy + 2 * depth * h * v**2 * (2 * (xx / w - 0.5)) ** 2
    return cv2.remap(grey, xx, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT, borderValue=245)


def line_spreads(grey: np.ndarray) -> tuple[list[float], float]:
    """The y-spread of each long text line's centre, and the typical line
    pitch, both in pixels."""
    _, ink = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    gap = int(0.25 * DPI)
    smeared = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, np.ones((1, gap), np.uint8))
    smeared = cv2.morphologyEx(smeared, cv2.MORPH_OPEN, np.ones((5, 9), np.uint8))
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(smeared)
    width = grey.shape[1]
    spreads, tops = [], []
    for label in range(1, count):
        left, top, w, h, _ = stats[label]
        if w < 0.5 * width or w < 6 * h:
            continue
        mine = labels[top:top + h, left:left + w] == label
        hits = mine.sum(axis=0)
        filled = hits >= 3
        rows = np.arange(h)[:, None]
        centre = (mine * rows).sum(axis=0)[filled] / hits[filled]
        # Running median over a few words: the letters' ups and downs go.
        k = (3 * gap) | 1
        smooth = np.array([np.median(centre[max(0, i - k // 2): i + k // 2 + 1]) for i in range(0, centre.size, 4)])
        spreads.append(float(smooth.max() - smooth.min()))
        tops.append(centroids[label][1])
    pitch = float(np.median(np.diff(sorted(tops)))) if len(tops) > 2 else 0.0
    return spreads, pitch


@pytest.mark.parametrize("how", ["curl", "left", "top"])
def test_curled_lines_are_found_and_straightened(flat, how):
    if how == "curl":
        bent = np.asarray(curl(Image.fromarray(flat), 0.05, seed=2))
    else:
        bent = _bend(flat, how)
    bent = _straightened(bent)
    before, pitch = line_spreads(bent)
    assert len(before) >= 15 and pitch > 0
    warp = dewarp.find_warp(bent, DPI)
    assert warp is not None and warp.max_displacement_px > 0.3 * pitch
    after, _ = line_spreads(dewarp.apply(bent, warp))
    # Curled: several lines rise or fall by close to half a line pitch or more.
    assert sorted(before)[-3] > 0.45 * pitch
    # Straightened: every line keeps within a small share of a line pitch.
    assert len(after) >= len(before) - 2
    assert max(after) < 0.2 * pitch, (max(after), pitch)
    assert max(after) < 0.35 * sorted(before)[-3]


@pytest.mark.needs_tesseract
def test_a_dewarped_curled_page_reads_better():
    page = render_page(paragraphs(seed=1002, n=3), dpi=DPI, seed=2)
    bent = _straightened(np.asarray(curl(page.image, 0.05, seed=2)))
    tessdata = tesseract.find_tessdata()

    def read(array):
        div, _ = tesseract.recognize_hocr(Image.fromarray(array), model="Cyrillic", dpi=DPI, tessdata=tessdata)
        return " ".join(re.findall(r">([^<>]+)</span>", div))

    warp = dewarp.find_warp(bent, DPI)
    assert warp is not None
    before, after = cer(page.text, read(bent)), cer(page.text, read(dewarp.apply(bent, warp)))
    assert after < 0.015 and after < before / 3, (before, after)  # measured 11.1 % → 0.9 %


def test_a_flat_page_is_left_alone(flat):
    spreads, pitch = line_spreads(flat)
    assert max(spreads) < 0.25 * pitch  # the measure itself calls it straight
    assert dewarp.find_warp(flat, DPI) is None


def test_a_skewed_straight_page_after_deskew_is_left_alone(flat):

    tilted = np.asarray(skew(Image.fromarray(flat), 6.0, expand=True))
    assert dewarp.find_warp(_straightened(tilted), DPI) is None


def test_picture_and_ocr_input_get_the_same_geometry(flat):
    grey = _straightened(_bend(flat, "left"))
    rgb = np.dstack([grey, grey, (grey * 0.9).astype(np.uint8)])
    warp = dewarp.find_warp(grey, DPI)
    assert warp is not None
    out_grey, out_rgb = dewarp.apply(grey, warp), dewarp.apply(rgb, warp)
    assert out_rgb.shape == rgb.shape and out_grey.shape == grey.shape
    assert np.array_equal(out_rgb[:, :, 0], out_grey)
    assert np.array_equal(out_rgb[:, :, 1], out_grey)
    with pytest.raises(ValueError):
        dewarp.apply(grey[:-1], warp)


def test_bilevel_picture_stays_two_toned(flat):
    grey = _straightened(_bend(flat, "left"))
    bilevel = np.where(grey < 128, 0, 255).astype(np.uint8)
    warp = dewarp.find_warp(grey, DPI)
    assert set(np.unique(dewarp.apply(bilevel, warp, bilevel=True))) <= {0, 255}


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (900, 640)])
def test_blank_and_tiny_images_do_not_crash(shape):
    blank = np.full(shape, 250, np.uint8)
    assert dewarp.find_warp(blank, DPI) is None
    assert dewarp.find_warp(np.dstack([blank] * 3), DPI) is None


def test_clean_page_records_the_step_and_keeps_the_two_images_aligned(flat):
    grey = _bend(flat, "left")
    rgb = np.dstack([grey, grey, (grey * 0.9).astype(np.uint8)])
    working = WorkingImage(picture=rgb, grey=grey, bilevel=False)
    page = clean_page(working, DPI, Settings(), model="Cyrillic", tessdata=find_tessdata())
    step = next(s for s in page.steps if s.name == "dewarp")
    assert step.settings["corrected"] and step.settings["max_displacement_px"] > 10
    assert page.picture.shape[:2] == page.ocr.shape
    spreads, pitch = line_spreads(page.picture[:, :, 0])
    assert max(spreads) < 0.25 * pitch
    # The OCR input's ink lies on the picture's ink (same remap for both).
    picture_ink = cv2.dilate((page.picture[:, :, 0] < 128).astype(np.uint8), np.ones((3, 3), np.uint8))
    ocr_ink = page.ocr < 128
    assert picture_ink[ocr_ink].mean() > 0.97

    off = Settings()
    off.image.dewarp = False
    unchanged = clean_page(working, DPI, off, model="Cyrillic", tessdata=find_tessdata())
    assert not any(s.name == "dewarp" for s in unchanged.steps)
