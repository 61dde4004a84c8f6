"""Dewarp: straighten text lines that bend where the page curls.

A page lying open on the scanner rises towards the spine (or sags at the
top or bottom), so its text lines bend there, which costs OCR dearly. After
deskew, the method follows Leptonica's vertical-disparity model:

1. on a copy reduced to about 100 dpi, binarise and smear the ink along the
   rows so each text line becomes one long blob (connected component);
2. for every long, line-shaped blob, take the centre of its ink in each
   column and fit a low-order polynomial ``y(x)``;
3. if fewer than 3 lines depart from their own best straight line by more
   than 0.35 of the line thickness, the page is flat: stop (almost every
   page; ~10 ms at 300 dpi A5);
4. otherwise each line's deviation ``y(x) − y(x_ref)`` (``x_ref`` the column
   where the lines are flattest) is the vertical disparity on that line;
   interpolate it in ``y`` between the lines, fill the margins, smooth, and
   remap the page so every line lands on the row it had at ``x_ref``.

The model knows nothing about which edge curls or how: lines bending near
the left or right edge, or the whole top or bottom of the page, give the
same kind of disparity field. Only vertical disparity is corrected
(foreshortening of the letters near the spine is left as it is).

Measured on generated curled pages (bench/ocr_quality.py --kinds curl):
4.65 % CER without, 0.26 % with, the same as flat pages. The page-dewarp
package (a cubic-sheet optimiser) took 16-23 s a page, read at 3.8 %, and
crops and resizes the page, so it was not used.

:func:`find_warp` measures, :func:`apply` remaps. The same :class:`Warp` is
applied to the reader's picture and to the OCR input, so both keep the same
geometry (see pipeline/page_image.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from digitize.pipeline.shrink import shrink

__all__ = ["Warp", "LineCurve", "find_warp", "apply", "line_curves"]

_ANALYSIS_DPI = 100.0
# A line counts if it is this share of the widest line's length.
_LONG_LINE_SHARE = 0.5
# A page is flat when no line bends away from its chord by more than this
# share of the median line height (the x-height band of the smeared line) ...
_FLAT_SHARE_OF_LINE = 0.35
# ... in at least this many lines.
_MIN_BENT_LINES = 3
_DEGREE = 3


@dataclass(frozen=True, eq=False)
class Warp:
    """A vertical displacement field, kept on a coarse grid.

    ``grid[i, j]`` is how far down (in pixels of the full page) the page
    is sampled for output point (``j * (width - 1) / (cols - 1)``,
    ``i * (height - 1) / (rows - 1)``); between samples it is linear."""

    shape: tuple[int, int]  # height, width of the page it was measured on
    grid: np.ndarray  # float32 (rows, cols), full-resolution pixels
    max_displacement_px: float
    lines: int  # text lines the field was built from


@dataclass(frozen=True, eq=False)
class LineCurve:
    """A text line's centre curve on the reduced page: ``y = poly(x)``."""

    x0: int
    x1: int
    poly: np.ndarray  # numpy.polyfit coefficients, highest power first
    height: float  # the smeared line's median thickness

    def y(self, x: np.ndarray) -> np.ndarray:
        return np.polyval(self.poly, x)

    def bend(self) -> float:
        """Largest distance between the curve and the straight line fitted to it."""
        xs = np.linspace(self.x0, self.x1, 32)
        ys = self.y(xs)
        return float(np.abs(ys - np.polyval(_polyfit(xs, ys, 1), xs)).max())


def _polyfit(x: np.ndarray, y: np.ndarray, degree: int) -> np.ndarray:
    """numpy.polyfit's result (highest power first) by normal equations on
    scaled x: a few µs instead of an SVD, ample for a cubic on one line."""
    scale = float(np.abs(x).max()) or 1.0
    v = np.vander(x / scale, degree + 1)
    coefficients: npt.NDArray[np.float64] = np.linalg.solve(v.T @ v, v.T @ y)
    return coefficients / scale ** np.arange(degree, -1, -1)


def _odd(value: float) -> int:
    value = max(3, int(round(value)))
    return value if value % 2 else value + 1


def _reduce(grey: np.ndarray, dpi: float) -> tuple[np.ndarray, float]:
    return shrink(grey, _ANALYSIS_DPI / max(dpi, 1.0))


def line_curves(grey: np.ndarray, dpi: float) -> tuple[list[LineCurve], float]:
    """The centre curves of the long text lines of a grey page, measured on
    a copy reduced to about 100 dpi; returns them with the reduction factor."""
    if grey.ndim == 3:
        grey = cv2.cvtColor(grey, cv2.COLOR_RGB2GRAY)
    small, factor = _reduce(grey, dpi)
    height, width = small.shape
    scale = dpi * factor  # resolution of the reduced page
    if height < 16 or width < 16:
        return [], factor
    # Ink against the local mean: robust to shadow in the curl and to
    # uneven light. A letter is at most ~0.15 in; the window is wider.
    # A 3×3 median first: grain and dust specks would be joined to the
    # lines by the closing below and drag their ends into the margins.
    ink = cv2.adaptiveThreshold(cv2.medianBlur(small, 3), 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV,
                                _odd(0.35 * scale), 12)
    # Join the letters and words of a line, not the lines: a row-only closing
    # about a word gap wide, then a small opening against specks and thin
    # joins between lines.
    ink = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, np.ones((1, _odd(0.25 * scale)), np.uint8))
    ink = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((_odd(0.02 * scale), _odd(0.04 * scale)), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if count <= 1:
        return [], factor
    widths = stats[1:, cv2.CC_STAT_WIDTH]
    heights = stats[1:, cv2.CC_STAT_HEIGHT]
    areas = stats[1:, cv2.CC_STAT_AREA]
    # Line-shaped: long and thin, mostly filled along its own curve.
    shaped = (widths >= 8 * heights) & (widths >= 0.5 * scale)
    if not shaped.any():
        return [], factor
    longest = widths[shaped].max()
    keep = np.flatnonzero(shaped & (widths >= _LONG_LINE_SHARE * longest)) + 1
    if keep.size == 0:
        return [], factor
    thickness = areas[keep - 1] / widths[keep - 1]
    typical = float(np.median(thickness))
    # Two lines merged into one blob are about twice as thick: drop them.
    keep = keep[(thickness < 1.7 * typical) & (thickness > 0.4 * typical)]
    # The centre of each kept line's ink in each column, within its box.
    curves: list[LineCurve] = []
    for label in keep:
        left, top, w, h = stats[label, :4]
        mine = labels[top:top + h, left:left + w] == label
        hits = mine.sum(axis=0)
        columns = np.flatnonzero(hits >= max(1.0, 0.5 * typical))
        if columns.size < 16:
            continue
        rows = np.arange(top, top + h, dtype=np.float64)
        centres = (mine[:, columns] * rows[:, None]).sum(axis=0) / hits[columns]
        xs = (columns + left).astype(np.float64)
        poly = _polyfit(xs, centres, _DEGREE)
        # Once more without the columns a speck or an accent pulled away.
        close = np.abs(np.polyval(poly, xs) - centres) <= 0.25 * typical
        if 16 <= close.sum() < close.size:
            poly = _polyfit(xs[close], centres[close], _DEGREE)
        curves.append(LineCurve(int(left + columns[0]), int(left + columns[-1]), poly, float(np.median(hits[columns]))))
    return curves, factor


def find_warp(grey: np.ndarray, dpi: float) -> Warp | None:
    """The vertical disparity of a deskewed page, or None when its text
    lines are straight enough (or there are too few to tell)."""
    if grey.ndim not in (2, 3) or min(grey.shape[:2]) < 16:
        return None
    curves, factor = line_curves(grey, dpi)
    if len(curves) < _MIN_BENT_LINES:
        return None
    line_height = float(np.median([c.height for c in curves]))
    limit = max(1.0, _FLAT_SHARE_OF_LINE * line_height)
    bends = np.array([c.bend() for c in curves])
    if (bends > limit).sum() < _MIN_BENT_LINES:
        return None
    height, width = grey.shape[:2]
    small_h, small_w = max(1, round(height * factor)), max(1, round(width * factor))
    # Reference column: where the lines curve least on average (most
    # lines must reach it); the page stays as it is there.
    step = max(2.0, 0.06 * _ANALYSIS_DPI)
    columns = np.linspace(0.0, small_w - 1.0, max(2, round(small_w / step) + 1))
    curvature = np.zeros_like(columns)
    cover = np.zeros_like(columns)
    for c in curves:
        inside = (columns >= c.x0) & (columns <= c.x1)
        curvature[inside] += np.abs(np.polyval(np.polyder(c.poly, 2), columns[inside]))
        cover[inside] += 1
    covered = cover >= max(1, 0.5 * len(curves))
    mean_bend = np.where(covered, curvature / np.maximum(cover, 1), np.inf)
    x_ref = float(columns[int(np.argmin(mean_bend))])
    # Per line: the row it keeps (at x_ref) and its displacement per column.
    refs, rows = [], []
    for c in curves:
        at = min(max(x_ref, c.x0), c.x1)
        ref = float(c.y(np.array([at]))[0])
        inside = (columns >= c.x0) & (columns <= c.x1)
        shift = np.where(inside, c.y(columns) - ref, np.nan)
        refs.append(ref)
        rows.append(shift)
    order = np.argsort(refs)
    refs_sorted = np.asarray(refs)[order]
    shifts = np.asarray(rows)[order]  # (lines, columns), NaN outside a line
    # Each column: interpolate in y between the lines that reach it (a
    # shorter line's missing end follows its neighbours above and below).
    grid_rows = np.linspace(0.0, small_h - 1.0, max(2, round(small_h / step) + 1))
    field: np.ndarray = np.zeros((grid_rows.size, columns.size), np.float64)
    for j in range(columns.size):
        known = ~np.isnan(shifts[:, j])
        if known.sum() >= 1:
            field[:, j] = np.interp(grid_rows, refs_sorted[known], shifts[known, j])
        else:
            field[:, j] = np.nan
    # Margins no line reaches: carry the nearest column's field outwards.
    filled = np.flatnonzero(~np.isnan(field[0]))
    if filled.size == 0:
        return None
    for j in range(columns.size):
        if np.isnan(field[0, j]):
            field[:, j] = field[:, filled[np.argmin(np.abs(filled - j))]]
    sigma = max(1.0, 1.5 * line_height / step)
    field = cv2.GaussianBlur(field.astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    grid = (field / factor).astype(np.float32)
    largest = float(np.abs(grid).max())
    if largest < limit / factor:
        return None
    return Warp(shape=(height, width), grid=grid, max_displacement_px=round(largest, 1), lines=len(curves))


def apply(image: np.ndarray, warp: Warp, *, bilevel: bool = False) -> np.ndarray:
    """Remap a page image (grey or RGB, the size the warp was measured on)
    so its text lines run straight. The same warp gives the same geometry
    for every image of the page."""
    height, width = image.shape[:2]
    if (height, width) != warp.shape:
        raise ValueError(f"warp measured on a {warp.shape[1]}x{warp.shape[0]} page, image is {width}x{height}")
    rows, cols = warp.grid.shape
    # The grid's first and last samples sit on the page's first and last
    # pixels: stretch it to full size with exactly that mapping.
    to_grid = np.array([[(cols - 1) / max(width - 1, 1), 0.0, 0.0],
                        [0.0, (rows - 1) / max(height - 1, 1), 0.0]])
    shift = cv2.warpAffine(warp.grid, to_grid, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REPLICATE)
    map_x = np.broadcast_to(np.arange(width, dtype=np.float32)[None, :], (height, width))
    map_y = np.arange(height, dtype=np.float32)[:, None] + shift
    flags = cv2.INTER_NEAREST if bilevel else cv2.INTER_CUBIC
    return cv2.remap(image, np.ascontiguousarray(map_x), map_y, flags, borderMode=cv2.BORDER_REPLICATE)
