"""Synthetic scanned pages of Azerbaijani Cyrillic books, with ground truth.

Used by the tests, the benchmark and the demo; nothing binary is committed,
every page is generated on demand and the same seed gives the same bytes.
"""

from .corpus import ALPHABET_LETTERS, SPECIAL_LETTERS, paragraphs
from .render import (
    FontNotFoundError,
    RenderedPage,
    blur,
    dark_border,
    find_font,
    jpeg_artifacts,
    noise,
    render_page,
    render_score_page,
    scan_like,
    skew,
    uneven_light,
    yellow_paper,
)

__all__ = [
    "ALPHABET_LETTERS",
    "SPECIAL_LETTERS",
    "FontNotFoundError",
    "RenderedPage",
    "SampleBatch",
    "SampleItem",
    "SamplePage",
    "blur",
    "dark_border",
    "find_font",
    "jpeg_artifacts",
    "make_image_pdf",
    "make_sample_batch",
    "noise",
    "paragraphs",
    "render_page",
    "render_score_page",
    "scan_like",
    "skew",
    "uneven_light",
    "write_ground_truth",
    "yellow_paper",
]

_BATCH_NAMES = {
    "SampleBatch",
    "SampleItem",
    "SamplePage",
    "make_image_pdf",
    "make_sample_batch",
    "write_ground_truth",
}


def __getattr__(name: str) -> object:
    # samples.batch is imported on first use, not here, so that
    # ``python -m samples.batch`` does not find it already imported.
    if name in _BATCH_NAMES:
        from . import batch

        return getattr(batch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
