"""Reduced copies of a page for the analysis stages, by whole-number steps.

Most image stages look at the page at a low resolution (crop, orientation,
deskew, dewarp, background). OpenCV's area averaging has a fast path for a
whole-number step and a general path for any other ratio that is about six
times slower: reducing an A5 page at 300 dpi (1740 × 2490) to a sixth took
1.8 ms, to a size a few pixels off it 9.3 ms (one thread, measured). The
stages ask for the reduction they want and get the nearest whole step, with
the exact factor to map coordinates back.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["shrink"]


def shrink(image: np.ndarray, factor: float) -> tuple[np.ndarray, float]:
    """``image`` reduced by the whole step nearest ``1 / factor`` (area
    averaging), and the factor used: ``1 / step``, or 1.0 with the image
    itself when the step is 1."""
    if factor >= 1.0 or factor <= 0.0:
        return image, 1.0
    step = min(round(1.0 / factor), *image.shape[:2])  # never below one pixel
    if step <= 1:
        return image, 1.0
    scale = 1.0 / step
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), scale
