"""Page quality control: is this scan good enough to publish?

Computed for every text page from what the image stages already have, so
it costs a few milliseconds: resolution, focus (variance of the Laplacian),
contrast, skew and turn found, blank page, OCR mean confidence. A page
below a threshold (``settings.image.quality``, a ``QualitySettings``) is flagged ``rescan`` with
its reasons; the page is still processed and published, and the flag is
kept in the page result and the item's ``report.json`` for staff to act on.

Measured on samples/degrade.py pages (300 dpi): focus is 5 000-14 000 on
sharp pages and about 300 on pages blurred by 2 px; contrast (paper − ink
of the scan as delivered) 160-255.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from digitize.pipeline.model import PageQuality
from digitize.settings import QualitySettings

__all__ = ["ImageMeasures", "measure_image", "assess", "doubtful_share"]

MIN_WORDS_FOR_SHARE = 20  # fewer words tell too little


@dataclass(frozen=True)
class ImageMeasures:
    """What the image stages measured, before OCR: the first half of a ``PageQuality``."""

    contrast: float
    focus: float | None
    ink_share: float
    spread_suspected: bool | None = None  # None: not tested (page not wide enough, or detection off)


def measure_image(grey: np.ndarray, ocr: np.ndarray, focus: float | None) -> ImageMeasures:
    """Image measures: contrast of the scan as delivered, ink share of the
    OCR input; ``focus`` (variance of the Laplacian of the flattened page,
    see pipeline.normalize.focus) as measured by the normalisation stage."""
    sample = grey[:: max(1, grey.shape[0] // 400), :: max(1, grey.shape[1] // 400)]
    contrast = float(np.percentile(sample, 95) - np.percentile(sample, 1)) if sample.size else 0.0
    ink = ocr[:: max(1, ocr.shape[0] // 600), :: max(1, ocr.shape[1] // 600)]
    ink_share = float(np.mean(ink < 128)) if ink.size else 0.0
    return ImageMeasures(
        contrast=round(contrast, 1),
        focus=round(focus, 1) if focus is not None else None,
        ink_share=round(ink_share, 5),
    )


def doubtful_share(confidences: Sequence[float | None] | None, below: float) -> float | None:
    """Share of words read below ``below`` (no confidence counts as below); None for fewer than 20 words."""
    if not confidences or len(confidences) < MIN_WORDS_FOR_SHARE:
        return None
    return sum(1 for c in confidences if c is None or c < below) / len(confidences)


def assess(
    measures: ImageMeasures,
    *,
    dpi: float,
    skew_degrees: float,
    turned_degrees: int,
    confidence: float | None,
    words: int,
    thresholds: QualitySettings,
    word_confidences: Sequence[float | None] | None = None,
) -> PageQuality:
    """The page's quality record: measures, ``blank``, ``rescan`` and reasons.

    ``word_confidences`` (each word's, as Tesseract gave it): a page with more
    than ``max_doubtful_word_share`` of its words below
    ``doubtful_word_confidence`` is flagged; on real print that share
    tells the pages with many misread words better than the mean confidence
    (see the settings' descriptions for the measurement).
    """
    blank = measures.ink_share < thresholds.blank_ink_share and words == 0
    reasons: list[str] = []
    if dpi < thresholds.min_dpi:
        reasons.append(f"resolution {dpi:.0f} dpi < {thresholds.min_dpi:.0f}")
    if not blank:
        if measures.focus is not None and measures.focus < thresholds.min_focus:
            reasons.append(f"out of focus (Laplacian variance {measures.focus:.0f} < {thresholds.min_focus:.0f})")
        if measures.contrast < thresholds.min_contrast:
            reasons.append(f"low contrast ({measures.contrast:.0f} < {thresholds.min_contrast:.0f})")
        if confidence is None or confidence < thresholds.min_confidence:
            shown = "none" if confidence is None else f"{confidence:.0f}"
            reasons.append(f"OCR confidence {shown} < {thresholds.min_confidence:.0f}")
        share = doubtful_share(word_confidences, thresholds.doubtful_word_confidence)
        if share is not None and share > thresholds.max_doubtful_word_share:
            reasons.append(f"{share:.0%} of the words read below confidence {thresholds.doubtful_word_confidence:.0f} "
                           f"(> {thresholds.max_doubtful_word_share:.0%}): many words are likely misread")
    if measures.spread_suspected:
        reasons.append("looks like a two-page spread but was not split (item.toml: spreads = true splits every frame)")
    return PageQuality(
        contrast=measures.contrast,
        focus=measures.focus,
        ink_share=measures.ink_share,
        spread_suspected=measures.spread_suspected,
        dpi=dpi,
        skew_degrees=skew_degrees,
        turned_degrees=turned_degrees,
        ocr_confidence=None if confidence is None else round(confidence, 2),
        blank=blank,
        rescan=bool(reasons),
        reasons=tuple(reasons),
    )
