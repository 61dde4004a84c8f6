"""OCR input: even out the light, remove speckle, binarise.

Scans of old books have yellowed paper, light falling off towards one
corner, ink from the back showing through, dust. Tesseract binarises with
one global (Otsu) threshold, which fails on uneven light: the dark corner
becomes a black blob. We divide the page by an estimate of its own
background (the paper, found by closing the ink away on a reduced copy),
so paper becomes white everywhere and ink keeps its contrast, then
binarise locally (Sauvola) so faint show-through falls below the threshold.

This image feeds OCR only. The picture a reader sees is not binarised
(unless the item asks for it): it keeps its tones, only its geometry is
corrected. Both have the same size, so OCR word boxes fit the picture.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from digitize.pipeline.shrink import shrink

__all__ = [
    "background_spread", "flatten_background", "focus", "noise_level", "denoise", "despeckle", "sharpen",
    "show_through", "white_point", "sauvola", "ocr_input",
]


def _odd(value: float) -> int:
    value = max(3, int(round(value)))
    return value if value % 2 else value + 1


def _background(grey: np.ndarray, dpi: float) -> np.ndarray:
    """The paper's brightness everywhere, estimated on a copy reduced to
    about 50 dpi, where a closing wider than a letter removes the ink."""
    height, width = grey.shape
    factor = min(1.0, 50.0 / max(dpi, 1.0))
    small, factor = shrink(grey, factor)
    # A letter is about 0.15 in at most; 0.25 in of closing covers it.
    size = _odd(0.25 * dpi * factor)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    background = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    return cv2.GaussianBlur(background, (0, 0), size / 2.0)


def background_spread(background: np.ndarray) -> float:
    """How uneven the paper is: (bright − dark) / bright of the background, 0-1."""
    high = float(np.percentile(background, 95))
    low = float(np.percentile(background, 5))
    return (high - low) / high if high > 0 else 0.0


def flatten_background(grey: np.ndarray, dpi: float = 300.0, background: np.ndarray | None = None) -> np.ndarray:
    """Divide the page by its background: paper → 255 everywhere. A few ms."""
    if background is None:
        background = _background(grey, dpi)
    height, width = grey.shape
    full = cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.divide(grey, np.maximum(full, 1), scale=255)


def focus(centre: np.ndarray) -> float | None:
    """Variance of the Laplacian of the flattened middle of a page, as
    :func:`ocr_input` cuts it (None if it holds no ink)."""
    if centre.size < 9 or min(centre.shape) < 3:
        return None
    if cv2.countNonZero(cv2.compare(centre, 128, cv2.CMP_LT)) <= 0.002 * centre.size:  # type: ignore[call-overload]  # OpenCV's stubs lack the scalar operand
        return None
    # 16-bit integers hold a 3×3 Laplacian of 8-bit pixels exactly.
    _, deviation = cv2.meanStdDev(cv2.Laplacian(centre, cv2.CV_16S))
    return float(deviation[0, 0]) ** 2


def sharpen(grey: np.ndarray, dpi: float, amount: float = 0.6) -> np.ndarray:
    """Unsharp mask (σ = 1.5 px at 300 dpi) for soft-focus scans."""
    soft = cv2.GaussianBlur(grey, (0, 0), 1.5 * dpi / 300.0)
    return cv2.addWeighted(grey, 1.0 + amount, soft, -amount, 0)


def noise_level(flat: np.ndarray) -> float:
    """Noise on the paper of a flattened page (0-255 scale): grain plus speckle.

    Measured only on paper well away from letters (where the 7×7 minimum of
    the 3×3 median is light), so letter edges never count: the robust
    spread of page − median there, plus 300 × the share of dark specks.
    A clean scan scores about 0.1, grain of σ≈18 with 1 % speckle about 5.
    """
    if min(flat.shape) < 8:
        return 0.0
    smooth = cv2.medianBlur(flat, 3)
    paper = cv2.compare(cv2.erode(smooth, np.ones((7, 7), np.uint8)), 200, cv2.CMP_GT)  # type: ignore[call-overload]  # OpenCV's stubs lack the scalar operand
    # The differences are whole numbers 0-255: their histogram over the
    # paper gives the median and the share of specks without sorting.
    counts = cv2.calcHist([cv2.absdiff(flat, smooth)], [0], paper, [256], [0, 256]).ravel()
    total = float(counts.sum())
    if total < 100:
        return 0.0
    cumulative = np.cumsum(counts)
    low = int(np.searchsorted(cumulative, (total - 1) // 2 + 1))  # the middle value (two of them if even)
    high = int(np.searchsorted(cumulative, total // 2 + 1))
    return (low + high) / 2.0 * 1.4826 + float(counts[61:].sum()) / total * 300.0


def denoise(grey: np.ndarray, level: float) -> np.ndarray:
    """A 3×3 median against grain and speckle when there is some (level ≥ 1);
    clean pages are left alone (a median thins fine strokes)."""
    if level < 1.0:
        return grey
    return cv2.medianBlur(grey, 3)


def despeckle(grey: np.ndarray, dpi: float) -> tuple[np.ndarray, int]:
    """Whiten isolated dark specks (dust) too small to be part of a letter.

    Dark is below the page's Otsu threshold (as Tesseract binarises); a
    speck is an 8-connected dark blob of at most 2 pixels between 150 and
    300 dpi (scaled by the square of the resolution outside that range):
    smaller than any letter's dot or full stop (a page without specks comes
    back unchanged). Tesseract reads specks as punctuation and splits words
    at them, most of all at low resolution, where the letters are small
    beside a speck (bench/ocr_quality.py, six 150 dpi pages: 0.78 % → 0.48 %
    character errors, OCRmyPDF ``--clean`` 0.65 %; no kind read worse).
    Returns the image (``grey`` itself when nothing was found) and how
    many speck pixels were whitened. About 10 ms on an A5 page at 300 dpi.
    """
    if min(grey.shape) < 3:
        return grey, 0
    _, ink = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    reference = min(300.0, max(150.0, float(dpi)))
    largest = max(1, round(2.0 * (float(dpi) / reference) ** 2))
    if largest <= 2:
        # Exact for blobs of 1-2 pixels without labelling the page (a third
        # of the cost): a dark pixel with at most ``largest`` dark pixels in
        # its 3×3 (itself included) and no other kind of dark pixel beside it.
        # (OpenCV's own operations on 0/255 masks: a few times cheaper
        # than the same steps in NumPy on a whole page.)
        count = cv2.boxFilter(ink, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
        candidate = cv2.bitwise_and(cv2.compare(ink, 1, cv2.CMP_EQ), cv2.compare(count, largest, cv2.CMP_LE))  # type: ignore[call-overload]  # OpenCV's stubs lack the scalar operand
        others = cv2.bitwise_and(cv2.compare(ink, 1, cv2.CMP_EQ), cv2.bitwise_not(candidate))  # type: ignore[call-overload]  # OpenCV's stubs lack the scalar operand
        remove = cv2.bitwise_and(candidate, cv2.bitwise_not(cv2.dilate(others, np.ones((3, 3), np.uint8))))
    else:
        _, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
        small = stats[:, cv2.CC_STAT_AREA] <= largest
        small[0] = False  # the paper
        remove = small[labels].astype(np.uint8) * 255
    specks = cv2.countNonZero(remove)
    if specks == 0:
        return grey, 0
    return cv2.max(grey, remove), specks  # a speck's pixels become 255


def show_through(flat: np.ndarray, dpi: float) -> float:
    """How much mid-grey lies away from the letters, relative to the ink.

    Ink from the back of the leaf (or stains) is mid-grey and sits between
    lines and words; the grey edges of blurred or small letters sit next
    to them. Measured: clean, blurred, noisy and 150-dpi pages below 0.01,
    strong show-through 0.15-0.2.
    """
    sample = flat
    ink = float(np.percentile(sample[::6, ::6], 1.0))
    span = 255.0 - ink
    if span < 40:
        return 0.0
    # Pixels are whole numbers: x < t is x ≤ ⌈t⌉ − 1 and x > t is x ≥ ⌊t⌋ + 1,
    # which lets OpenCV's inRange make the masks (0/255).
    dark_below, mid_above = ink + 0.3 * span, ink + 0.8 * span
    dark = cv2.inRange(sample, 0, math.ceil(dark_below) - 1)
    dark_count = cv2.countNonZero(dark)
    if dark_count == 0:
        return 0.0
    size = max(3, int(dpi * 0.05)) | 1
    near = cv2.dilate(dark, np.ones((size, size), np.uint8))
    mid = cv2.inRange(sample, math.floor(dark_below) + 1, math.ceil(mid_above) - 1)
    return cv2.countNonZero(cv2.bitwise_and(mid, cv2.bitwise_not(near))) / float(dark_count)


def sauvola(grey: np.ndarray, window: int, k: float = 0.25, r: float = 128.0) -> np.ndarray:
    """Sauvola's local threshold (box-filter means, O(1) per pixel): ink 0, paper 255."""
    values = grey.astype(np.float32)
    window = _odd(window)
    mean = cv2.boxFilter(values, cv2.CV_32F, (window, window), borderType=cv2.BORDER_REFLECT)
    square = cv2.boxFilter(values * values, cv2.CV_32F, (window, window), borderType=cv2.BORDER_REFLECT)
    std = np.sqrt(np.maximum(square - mean * mean, 0.0))
    threshold = mean * (1.0 + k * (std / r - 1.0))
    return np.where(values > threshold, 255, 0).astype(np.uint8)


def white_point(flat: np.ndarray, share: float = 0.55) -> np.ndarray:
    """Levels: ink stays dark, everything lighter than ``share`` of the way
    from ink to paper becomes paper. Removes show-through and stains that
    Tesseract's global threshold would keep as specks and "punctuation"."""
    sample = flat[:: max(1, flat.shape[0] // 300), :: max(1, flat.shape[1] // 300)]
    ink = float(np.percentile(sample, 1.0))
    white = ink + share * (255.0 - ink)
    if white - ink < 20:
        return flat
    lut = np.clip((np.arange(256, dtype=np.float32) - ink) * 255.0 / (white - ink), 0, 255).astype(np.uint8)
    return cv2.LUT(flat, lut)


def ocr_input(
    grey: np.ndarray,
    dpi: float,
    *,
    binarize: str = "none",
    show_through_limit: float = 0.05,
    white_share: float = 0.65,
    uneven_limit: float = 0.08,
    soft_focus: float = 1500.0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The image Tesseract reads, and what was done to make it (the settings of its ProcessingStep).

    Same size as ``grey`` (so OCR boxes fit the access picture). Measured on
    samples/degrade.py pages (bench/ocr_quality.py): dividing by the
    background takes uneven light from 11 % to 0.4 % character errors; the
    median takes grainy pages from 2.2 % to 0.4 %; the white point takes
    show-through from 15 % to under 1 % but costs accuracy on clean,
    blurred and small scans, so it is used only when show-through is found;
    an unsharp mask helps soft-focus pages a little. A page with even paper,
    no grain and no show-through is given to Tesseract as scanned (every
    other change cost a character or two on clean pages) but for isolated
    dust specks, whitened on every page (:func:`despeckle`). Sauvola binarisation
    lost to Tesseract's own Otsu on the flattened page (small and
    show-through pages), so it is an option, not the default.
    """
    background = _background(grey, dpi)
    spread = background_spread(background)
    height, width = grey.shape
    full = np.maximum(cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR), 1)
    # Grain and show-through cover the whole leaf: the middle quarter of
    # the page tells as well as the whole, at a quarter of the cost; the
    # focus is measured there too. The whole page is flattened only when
    # it needs to be.
    rows = slice(height // 4, max(height // 4 + 1, 3 * height // 4))
    columns = slice(width // 4, max(width // 4 + 1, 3 * width // 4))
    middle = cv2.divide(grey[rows, columns], full[rows, columns], scale=255)
    level = noise_level(middle)
    through = show_through(middle, dpi)
    sharpness = focus(middle)
    info: dict[str, Any] = {"background_spread": round(spread, 3), "noise_level": round(level, 2),
                  "show_through": round(through, 3), "focus": None if sharpness is None else round(sharpness, 1)}
    soft = sharpness is not None and sharpness < soft_focus
    if spread < uneven_limit and level < 1.0 and through <= show_through_limit and not soft and binarize == "none":
        out, specks = despeckle(grey, dpi)
        return out, {**info, "specks_removed": specks,
                     "changed": "only dust specks: even paper, no grain, no show-through" if specks
                     else "nothing: even paper, no grain, no show-through"}
    clean = denoise(cv2.divide(grey, full, scale=255), level)
    info.update(background="divided", denoised=level >= 1.0)
    if through > show_through_limit:
        clean = white_point(clean, white_share)
        info["white_point_share"] = white_share
    if soft:
        clean = sharpen(clean, dpi)
        info["sharpened"] = True
    clean, info["specks_removed"] = despeckle(clean, dpi)
    if binarize == "sauvola":
        window = _odd(0.15 * dpi)  # a little wider than a letter
        return sauvola(clean, window), {**info, "binarized": "sauvola", "window_px": window}
    return clean, {**info, "binarized": "by Tesseract (Otsu) on the flattened page"}
