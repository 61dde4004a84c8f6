"""Two-page spreads: a book scanner shoots both pages of an opening at once.

The gutter between the pages is a vertical band near the middle with no
text, usually darkened by the shadow of the spine. We look for it in the
middle third of the frame: the column window with the least ink after the
background is divided out, and within it the darkest column of the raw
scan (the spine's shadow). Each half then goes through the page stages as
a page of its own.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["find_gutter", "half", "looks_like_spread"]

_ANALYSIS_WIDTH = 800


def _small(grey: np.ndarray) -> tuple[np.ndarray, float]:
    height, width = grey.shape
    factor = min(1.0, _ANALYSIS_WIDTH / float(width))
    small = cv2.resize(grey, (max(1, int(width * factor)), max(1, int(height * factor))), interpolation=cv2.INTER_AREA)
    return small, factor


def _ink_columns(small: np.ndarray) -> np.ndarray:
    size = max(3, (min(small.shape) // 30) | 1)
    background = cv2.morphologyEx(small, cv2.MORPH_CLOSE, np.ones((size, size), np.uint8))
    flat = cv2.divide(small, np.maximum(background, 1), scale=255)
    return (flat < 160).mean(axis=0)


def find_gutter(grey: np.ndarray) -> int:
    """The x (full resolution) where a spread divides into its two pages."""
    small, factor = _small(grey)
    width = small.shape[1]
    if width < 6:
        return grey.shape[1] // 2
    ink = _ink_columns(small)
    lo, hi = width // 3, max(width // 3 + 1, 2 * width // 3)
    window = max(1, width // 50)
    smoothed = np.convolve(ink, np.ones(window) / window, mode="same")
    # Quietest column; among equally quiet ones prefer the one nearest the
    # middle and in the shadow of the spine.
    middle = smoothed[lo:hi]
    quiet = middle <= middle.min() + 0.005
    brightness = small.mean(axis=0)[lo:hi]
    distance = np.abs(np.arange(lo, hi) - width / 2.0) / width
    score = np.where(quiet, brightness / 255.0 + distance, np.inf)
    x = lo + int(np.argmin(score))
    return int(round(x / factor))


def looks_like_spread(grey: np.ndarray) -> bool:
    """A frame that is wider than tall with a text-free gutter near its middle
    and text on both sides (for ``spreads = "auto"``)."""
    height, width = grey.shape
    if width < height * 1.15:
        return False
    small, factor = _small(grey)
    ink = _ink_columns(small)
    x = int(find_gutter(grey) * factor)
    band = max(2, small.shape[1] // 60)
    gutter = ink[max(0, x - band) : x + band + 1].mean()
    left, right = ink[: max(1, x - band)].mean(), ink[x + band + 1 :].mean() if x + band + 1 < ink.size else 0.0
    return bool(left > 0.01 and right > 0.01 and gutter < 0.2 * min(left, right))


def half(picture: np.ndarray, gutter: int, part: int) -> np.ndarray:
    """The left (``part`` 0) or right (1) page of a spread."""
    if part == 0:
        return np.ascontiguousarray(picture[:, :gutter])
    return np.ascontiguousarray(picture[:, gutter:])
