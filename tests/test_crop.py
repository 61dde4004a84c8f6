"""Crop: the dark scanner bed in, the bed gone; a page's own margins stay."""

from __future__ import annotations

import numpy as np

from digitize.pipeline.crop import crop, find_page
from digitize.samples.degrade import degrade, scanner_bed


def test_bed_around_the_page_is_cut():
    page = degrade("clean", seed=2, dpi=100).image
    on_bed = np.asarray(scanner_bed(page, seed=4))
    box = find_page(on_bed)
    w, h = page.size
    width, height = box.size
    assert w - 12 <= width <= w and h - 12 <= height <= h
    cut = crop(on_bed, box)
    assert cut.shape == (height, width)
    assert cut[:, :3].mean() > 200 and cut[:3, :].mean() > 200  # paper at every edge, no bed


def test_page_without_bed_is_left_whole():
    grey = np.asarray(degrade("clean", seed=2, dpi=100).image)
    box = find_page(grey)
    assert (box.left, box.top, box.right, box.bottom) == (0, 0, grey.shape[1], grey.shape[0])


def test_dark_corner_from_uneven_light_is_not_a_border():
    grey = np.asarray(degrade("uneven_light", seed=1, dpi=100).image.convert("L"))
    box = find_page(grey)
    assert box.size == (grey.shape[1], grey.shape[0])


def test_all_dark_or_tiny_images_are_left_whole():
    dark = np.full((300, 200), 20, dtype=np.uint8)
    assert find_page(dark).size == (200, 300)
    assert find_page(np.zeros((4, 4), dtype=np.uint8)).size == (4, 4)


def test_one_sided_band():
    grey = np.full((400, 300), 240, dtype=np.uint8)
    grey[:, :40] = 15  # the bed on the left only
    box = find_page(grey)
    assert 40 <= box.left <= 46 and (box.top, box.right, box.bottom) == (0, 300, 400)
