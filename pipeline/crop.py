"""Crop the scanner bed: dark bands around a page smaller than the glass.

A flatbed or book scanner shoots beyond the page; the bed or the cradle
comes out as near-black bands along the edges. They spoil OCR (black blobs
read as letters), skew detection and the reader's view, and they make the
PDF bigger. We walk inward from each edge over rows/columns that are
mostly dark — much darker than the page's paper — and cut there plus a
small inset for the page's shadowed edge.

Only dark bands touching the edge are cut: a page's own margins are kept
(the reader sees the page as printed), and a dark corner from uneven light
is not a band (a whole row or column must be dark).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitize.pipeline.shrink import shrink

__all__ = ["Box", "find_page", "crop"]

_ANALYSIS_SIDE = 800


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    right: int  # exclusive
    bottom: int  # exclusive

    @property
    def size(self) -> tuple[int, int]:
        return self.right - self.left, self.bottom - self.top


def _edge_run(dark: np.ndarray) -> int:
    """How many leading entries are dark (a band starting at the edge)."""
    light = np.flatnonzero(~dark)
    return int(light[0]) if light.size else dark.size


def find_page(grey: np.ndarray, *, dark_share: float = 0.35, min_dark_fraction: float = 0.6,
              inset_fraction: float = 0.004) -> Box:
    """The page inside the dark bands of the scanner bed.

    A row/column belongs to the bed when at least ``min_dark_fraction`` of
    its pixels are darker than ``dark_share`` × the paper's brightness.
    Returns the whole image when there is no band.
    """
    height, width = grey.shape
    full = Box(0, 0, width, height)
    if min(height, width) < 32:
        return full
    factor = min(1.0, _ANALYSIS_SIDE / float(max(height, width)))
    small, factor = shrink(grey, factor)
    paper = float(np.percentile(small, 90))
    if paper < 60:  # a dark picture, not a page on a bed
        return full
    dark = small < dark_share * paper
    columns = dark.mean(axis=0) >= min_dark_fraction
    rows = dark.mean(axis=1) >= min_dark_fraction
    left = _edge_run(columns)
    right = _edge_run(columns[::-1])
    top = _edge_run(rows)
    bottom = _edge_run(rows[::-1])
    sw, sh = small.shape[1], small.shape[0]
    if left + right >= sw * 0.8 or top + bottom >= sh * 0.8:
        return full  # nearly all dark: nothing sensible to keep
    inset = int(round(inset_fraction * max(sw, sh))) + 1
    box = Box(
        left=int((left + inset) / factor) if left else 0,
        top=int((top + inset) / factor) if top else 0,
        right=width - (int((right + inset) / factor) if right else 0),
        bottom=height - (int((bottom + inset) / factor) if bottom else 0),
    )
    if box.right - box.left < width * 0.2 or box.bottom - box.top < height * 0.2:
        return full
    return box


def crop(picture: np.ndarray, box: Box) -> np.ndarray:
    return np.ascontiguousarray(picture[box.top : box.bottom, box.left : box.right])
