"""The image stages of a text page, in page order.

    spread half → crop scanner bed → sideways? → deskew → dewarp → OCR input
    (background, denoise, show-through) → upside down? → quality measures

Geometry (half, crop, quarter turns, deskew, dewarp) is applied alike to the
reader's picture and to the OCR input, so the two keep the same size and
every OCR word box sits on its word in the picture. Tone changes
(flattening, denoising, binarising) apply to the OCR input only; the
picture is binarised only when the item asks for it (``binarize_access``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from digitize.pipeline import crop, deskew, dewarp, normalize, orientation, quality, spread, tesseract
from digitize.pipeline.model import ProcessingStep
from digitize.pipeline.prepare import WorkingImage
from digitize.settings import Settings

__all__ = ["CleanPage", "clean_page", "recheck_upside_down"]

log = logging.getLogger(__name__)


@dataclass
class CleanPage:
    """Pixels after the image stages (kept inside the page's stage)."""

    picture: np.ndarray  # what the reader sees: upright, straight, cropped; tones kept
    ocr: np.ndarray  # what Tesseract reads: same size as ``picture``
    bilevel: bool
    skew_degrees: float
    turned_degrees: int
    measures: quality.ImageMeasures | None = None  # taken last, on the upright page
    steps: list[ProcessingStep] = field(default_factory=list)
    upside_down_tested: bool = False  # the strip test was made before OCR (no need to repeat it after)


def _turn_all(picture: np.ndarray, grey: np.ndarray, degrees: int) -> tuple[np.ndarray, np.ndarray]:
    turned = orientation.turn(picture, degrees)
    return turned, (turned if grey is picture else orientation.turn(grey, degrees))


def clean_page(
    working: WorkingImage,
    dpi: float,
    settings: Settings,
    *,
    model: str,
    tessdata: Path,
    part: int | None = None,
    split_by: str | None = None,
    binarize_access: bool = False,
) -> CleanPage:
    options = settings.image
    picture, grey, bilevel = working.picture, working.grey, working.bilevel
    steps: list[ProcessingStep] = []

    if part is not None:
        gutter = spread.find_gutter(grey)
        picture = spread.half(picture, gutter, part)
        grey = picture if picture.ndim == 2 else spread.half(grey, gutter, part)
        why = ("found to be a spread (item.toml spreads = \"auto\")" if split_by == "detected"
               else "as item.toml asks (spreads = true)")
        steps.append(ProcessingStep("spread", f"split a two-page spread at its gutter, {why}",
                                    {"gutter_x": gutter, "part": "left" if part == 0 else "right",
                                     "split_by": split_by or "item.toml"}))

    if options.crop_borders:
        box = crop.find_page(grey)
        if box.size != (grey.shape[1], grey.shape[0]):
            picture = crop.crop(picture, box)
            grey = picture if picture.ndim == 2 else crop.crop(grey, box)
            steps.append(ProcessingStep("crop", "cut the dark scanner bed around the page",
                                        {"box": [box.left, box.top, box.right, box.bottom]}))

    turned = 0
    if options.orientation and orientation.is_sideways(grey, options.max_skew_degrees):
        picture, grey = _turn_all(picture, grey, 90)
        turned = 90

    angle = deskew.estimate_skew(grey, options.max_skew_degrees)
    picture = deskew.rotate(picture, -angle, bilevel=bilevel)
    grey = picture if picture.ndim == 2 else deskew.rotate(grey, -angle)
    steps.append(ProcessingStep(
        "deskew", "measured text-line skew by projection profile and rotated the page straight",
        {"angle_degrees": angle, "corrected": abs(angle) >= deskew.MIN_CORRECTION_DEGREES},
    ))

    if options.dewarp:
        warp = dewarp.find_warp(grey, dpi)
        if warp is not None:
            picture = dewarp.apply(picture, warp, bilevel=bilevel)
            grey = picture if picture.ndim == 2 else dewarp.apply(grey, warp)
        steps.append(ProcessingStep(
            "dewarp", "measured the bend of the text lines and remapped curled parts of the page straight",
            {"max_displacement_px": warp.max_displacement_px if warp else 0.0,
             "lines": warp.lines if warp else 0, "corrected": warp is not None},
        ))

    ocr, how = normalize.ocr_input(grey, dpi, binarize=options.ocr_binarization)
    steps.append(
        ProcessingStep("normalize", "OCR input: background divided out, speckle and show-through removed", how)
    )

    cleaned = CleanPage(picture=picture, ocr=ocr, bilevel=bilevel, skew_degrees=angle, turned_degrees=turned,
                        steps=steps)
    # A page found sideways is upside down half the time: test it now. A
    # level page is tested now when its lines hint that it is upside down
    # (paragraphs' short last lines hang from the right margin), which
    # spares reading a turned page twice; otherwise only if its OCR reads
    # badly (recheck_upside_down), which saves the test on almost every page.
    hinted = not turned and options.orientation and orientation.looks_upside_down(ocr, dpi)
    if turned or hinted:
        cleaned.upside_down_tested = _upside_down_test(
            cleaned, model=model, dpi=dpi, tessdata=tessdata,
            prompted_by="sideways text lines" if turned else "short paragraph ends on the left",
        )
        if turned and not cleaned.upside_down_tested:
            steps.append(ProcessingStep("orientation", "turned the page upright (text-line profile)",
                                        {"turned_degrees": turned}))
        picture, ocr = cleaned.picture, cleaned.ocr
        grey = picture if picture.ndim == 2 else orientation.turn(grey, cleaned.turned_degrees - turned)
        turned = cleaned.turned_degrees

    measures = quality.measure_image(grey, ocr, how.get("focus"))
    if options.detect_spreads and part is None and grey.shape[1] > grey.shape[0] * 1.15:
        measures = replace(measures, spread_suspected=spread.looks_like_spread(grey))

    if binarize_access and not bilevel:
        _, picture = cv2.threshold(ocr, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        bilevel = True
        steps.append(ProcessingStep("binarize", "reading image made black and white, as the item asks", {}))

    cleaned.picture, cleaned.bilevel, cleaned.measures = picture, bilevel, measures
    return cleaned


def _upside_down_test(cleaned: CleanPage, *, model: str, dpi: float, tessdata: Path, prompted_by: str) -> bool:
    """Read a strip both ways up; turn the page by 180° if it reads clearly
    better turned. Returns whether the test could be made."""
    box = orientation.pick_strip(cleaned.ocr, dpi)
    if box is None:
        return False
    left, top, right, bottom = box
    found = orientation.upside_down(
        cleaned.ocr[top:bottom, left:right],
        lambda strip: tesseract.strip_confidence(Image.fromarray(strip), model=model, dpi=dpi, tessdata=tessdata),
    )
    if found.degrees:
        cleaned.picture = orientation.turn(cleaned.picture, 180)
        cleaned.ocr = orientation.turn(cleaned.ocr, 180)
        cleaned.turned_degrees = (cleaned.turned_degrees + 180) % 360
    cleaned.steps.append(ProcessingStep(
        "orientation", "turned the page upright (text-line profile; OCR confidence of a strip both ways up)",
        {"turned_degrees": cleaned.turned_degrees, "confidence_as_is": found.confidence_upright,
         "confidence_turned": found.confidence_turned, "prompted_by": prompted_by},
    ))
    return True


def recheck_upside_down(
    cleaned: CleanPage, confidence: float | None, settings: Settings, *, model: str, dpi: float, tessdata: Path
) -> bool:
    """After OCR: a page that read badly may be upside down. True when it was
    turned (and must be read again)."""
    if not settings.image.orientation or cleaned.turned_degrees in (90, 270) or cleaned.upside_down_tested:
        return False  # off, or already tested
    if confidence is not None and confidence >= settings.image.orientation_check_below_confidence:
        return False
    before = cleaned.turned_degrees
    _upside_down_test(cleaned, model=model, dpi=dpi, tessdata=tessdata,
                      prompted_by=f"OCR confidence {confidence} below "
                                  f"{settings.image.orientation_check_below_confidence:g}")
    return cleaned.turned_degrees != before
