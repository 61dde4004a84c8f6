"""First stage of a text page: bring any scanner image mode to 8-bit pixels.

Scanners deliver bi-level, grey, 16-bit grey, palette, RGB, RGBA and CMYK
images. Image stages work on 8-bit grey (for analysis and OCR) and on an
8-bit grey or RGB picture (what the reader sees). The master file is not
touched: this only concerns the working copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = ["WorkingImage", "prepare"]


@dataclass
class WorkingImage:
    """Pixels for the image stages (kept inside a stage, never pickled)."""

    picture: np.ndarray  # H×W uint8 (grey) or H×W×3 uint8 (RGB)
    grey: np.ndarray  # H×W uint8
    bilevel: bool  # the scan was black and white


def _flatten_alpha(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _scale_to_8bit(image: Image.Image) -> Image.Image:
    array = np.asarray(image, dtype=np.float64)
    top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
    if image.mode == "F":
        low, high = float(array.min()), float(array.max())
        array = (array - low) / ((high - low) or 1.0) * 255.0
    else:
        array = array / top * 255.0
    return Image.fromarray(np.clip(array + 0.5, 0, 255).astype(np.uint8), "L")


def _is_grey(rgb: np.ndarray) -> bool:
    """An RGB scan of a black-and-white page: the channels hardly differ."""
    sample = rgb[:: max(1, rgb.shape[0] // 256), :: max(1, rgb.shape[1] // 256)].astype(np.int16)
    spread = sample.max(axis=2) - sample.min(axis=2)
    return float(np.percentile(spread, 99)) <= 12.0


def prepare(image: Image.Image) -> WorkingImage:
    """Return 8-bit working pixels for any Pillow image mode."""
    mode = image.mode
    bilevel = mode == "1"
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        image = _flatten_alpha(image)
    elif mode.startswith("I") or mode == "F":
        image = _scale_to_8bit(image)
    elif mode in ("1", "L"):
        image = image.convert("L")
    else:  # P, CMYK, YCbCr, LAB, HSV, RGB
        image = image.convert("RGB")
    picture = np.asarray(image)
    if picture.ndim == 3:
        if _is_grey(picture):
            picture = np.ascontiguousarray(picture[:, :, 1])
            grey = picture
        else:
            grey = np.asarray(image.convert("L"))
    else:
        grey = picture
    return WorkingImage(picture=picture, grey=grey, bilevel=bilevel)
