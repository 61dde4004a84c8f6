"""Deskew: a known angle in, the same angle out; a straightened page reads as straight."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from digitize.pipeline.deskew import estimate_skew, rotate
from digitize.samples.corpus import paragraphs
from digitize.samples.render import render_page, skew


@pytest.fixture(scope="module")
def page() -> Image.Image:
    # A small page (150 dpi) keeps the test fast; the method does not care.
    return render_page(paragraphs(seed=1, n=4), dpi=150, seed=1).image


@pytest.mark.parametrize("angle", [-15.0, -7.3, -2.5, -0.4, 0.0, 0.3, 1.2, 3.7, 9.9, 14.5])
def test_known_angle_is_found(page, angle):
    found = estimate_skew(np.asarray(skew(page, angle)))
    assert found == pytest.approx(angle, abs=0.1)


def test_rotating_by_minus_the_angle_straightens(page):
    tilted = np.asarray(skew(page, 4.0))
    angle = estimate_skew(tilted)
    straight = rotate(tilted, -angle)
    assert straight.shape == tilted.shape
    assert estimate_skew(straight) == pytest.approx(0.0, abs=0.1)


def test_blank_page_has_no_skew():
    assert estimate_skew(np.full((800, 600), 250, dtype=np.uint8)) == 0.0


def test_rotation_fills_corners_with_paper_colour():
    paper = np.full((400, 300), 200, dtype=np.uint8)
    turned = rotate(paper, 10.0)
    assert turned.min() >= 195  # no black wedges


def test_tiny_angles_leave_the_image_untouched(page):
    array = np.asarray(page)
    assert rotate(array, 0.01) is array


def test_colour_page_keeps_its_shape(page):
    rgb = np.dstack([np.asarray(page)] * 3)
    assert rotate(rgb, 2.0).shape == rgb.shape
