"""Any scanner image mode becomes 8-bit working pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from digitize.pipeline.prepare import prepare


def test_sixteen_bit_grey_is_scaled_not_clipped():
    array = np.array([[0, 32768, 65535]], dtype=np.uint16)
    working = prepare(Image.fromarray(array))
    assert working.grey.dtype == np.uint8
    assert working.grey.tolist() == [[0, 128, 255]]


def test_bilevel_is_recognised():
    image = Image.new("1", (10, 10), 1)
    working = prepare(image)
    assert working.bilevel and working.grey.max() == 255


def test_rgba_is_flattened_on_white():
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    working = prepare(image)
    assert working.picture.min() == 255


def test_cmyk_and_palette_become_rgb_or_grey():
    cmyk = prepare(Image.new("CMYK", (4, 4), (0, 255, 0, 0)))
    assert cmyk.picture.shape == (4, 4, 3)
    palette = prepare(Image.new("RGB", (4, 4), (10, 10, 10)).convert("P"))
    assert palette.picture.ndim == 2  # a grey scan stored as colour stays grey


@pytest.mark.parametrize("size", [(1, 1), (3, 2)])
def test_tiny_images(size):
    working = prepare(Image.new("L", size, 7))
    assert working.grey.shape == (size[1], size[0])
