"""Degraded test pages with ground truth, one kind of damage at a time.

Each kind is what real holdings suffer: a page laid crooked or upside down
on the glass, speckle, soft focus, uneven light on yellowed paper, the dark
scanner bed around a small page, ink showing through from the back, a low
scanning resolution, a page curling towards the spine. :func:`degrade`
renders an A5 Azerbaijani Cyrillic page (samples.render) and applies one
kind; the same ``seed`` gives the same pixels. Used by the tests and by
``bench/ocr_quality.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image

from .corpus import paragraphs
from .render import RenderedPage, blur, noise, render_page, skew, uneven_light, yellow_paper

__all__ = ["KINDS", "DegradedPage", "degrade", "bleed_through", "curl", "scanner_bed", "low_resolution", "spread"]

#: Every kind of damage, in the order a report lists them.
KINDS: tuple[str, ...] = (
    "clean",
    "skew",
    "rotation",
    "noise",
    "blur",
    "uneven_light",
    "dark_border",
    "bleed_through",
    "low_resolution",
    "curl",
)


@dataclass(frozen=True)
class DegradedPage:
    """A damaged page image, what is printed on it, and how it was damaged."""

    kind: str
    image: Image.Image  # "L" or "RGB"
    text: str  # ground truth, lines joined by "\n"
    dpi: int  # the resolution the file should declare
    params: dict[str, Any] = field(default_factory=dict)


def bleed_through(page: Image.Image, back: Image.Image, strength: float = 0.35) -> Image.Image:
    """Ink of the other side showing through thin paper: the back page,
    mirrored, softened and faint, darkens the front."""
    front = np.asarray(page.convert("L")).astype(np.float32) / 255.0
    reverse = np.asarray(back.convert("L").transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize(page.size))
    reverse = cv2.GaussianBlur(reverse.astype(np.float32) / 255.0, (0, 0), 1.5)
    shade = 1.0 - strength * (1.0 - reverse)
    return Image.fromarray(np.clip(front * shade * 255.0 + 0.5, 0, 255).astype(np.uint8))


def curl(page: Image.Image, depth: float = 0.04, *, seed: int = 0) -> Image.Image:
    """A page curling up towards the spine (right edge): its lines bend and
    crowd together, and the curve falls into shadow.

    ``depth`` is how far (as a share of the page height) the lines sag at
    the spine.
    """
    rng = np.random.default_rng(seed)
    grey = np.asarray(page.convert("L"))
    h, w = grey.shape
    start = rng.uniform(0.45, 0.6)  # where the page starts to lift
    xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    u = np.clip((xx / w - start) / (1.0 - start), 0.0, 1.0)
    # Lines bend down towards the spine, more near the bottom and top
    # (the page is held flat in the middle), and are foreshortened.
    sag = depth * h * u**2 * (0.6 + 0.8 * np.abs(yy / h - 0.5))
    squeeze = 0.12 * w * u**3
    map_x = xx + squeeze
    map_y = yy - sag
    warped = cv2.remap(grey, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT, borderValue=245)
    shadow = 1.0 - 0.35 * u**2
    return Image.fromarray(np.clip(warped * shadow, 0, 255).astype(np.uint8))


def scanner_bed(page: Image.Image, *, seed: int = 0, share: float = 0.08) -> Image.Image:
    """The page lying on a larger, dark scanner bed: dark bands of uneven
    width around it (the page is not centred), a grey shadow at its edge."""
    rng = np.random.default_rng(seed)
    w, h = page.size
    left, top, right, bottom = (int(rng.uniform(0.3, 1.0) * share * s) for s in (w, h, w, h))
    bed = rng.normal(30, 6, (h + top + bottom, w + left + right)).clip(0, 255).astype(np.uint8)
    canvas = Image.fromarray(bed)
    canvas.paste(page.convert("L"), (left, top))
    return canvas


def low_resolution(page: Image.Image, dpi: int, target_dpi: int) -> Image.Image:
    """The same page scanned at ``target_dpi`` instead of ``dpi``."""
    w, h = page.size
    factor = target_dpi / dpi
    return page.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.LANCZOS)


def spread(left: Image.Image, right: Image.Image, *, gutter: int = 40) -> Image.Image:
    """Two pages side by side as a book scanner shoots them, with a dark
    gutter shadow between them."""
    w, h = left.size
    canvas = Image.new("L", (2 * w + gutter, h), 250)
    canvas.paste(left.convert("L"), (0, 0))
    canvas.paste(right.convert("L").resize((w, h)), (w + gutter, 0))
    shade = np.asarray(canvas).astype(np.float32)
    x = np.arange(shade.shape[1], dtype=np.float32)
    centre = w + gutter / 2
    shade *= (1.0 - 0.55 * np.exp(-(((x - centre) / (gutter * 0.6)) ** 2)))[None, :]
    return Image.fromarray(shade.clip(0, 255).astype(np.uint8))


def _rendered(seed: int, dpi: int) -> RenderedPage:
    return render_page(paragraphs(seed=1000 + seed, n=5), dpi=dpi, seed=seed)


def degrade(kind: str, *, seed: int = 0, dpi: int = 300) -> DegradedPage:
    """Render a page and apply one kind of damage (see :data:`KINDS`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown degradation {kind!r}; known: {', '.join(KINDS)}")
    rng = np.random.default_rng(seed * 7919 + KINDS.index(kind))
    page = _rendered(seed, dpi)
    image: Image.Image = page.image
    params: dict[str, Any] = {}
    out_dpi = dpi
    if kind == "skew":
        angle = float(rng.choice([-1, 1]) * rng.uniform(4.0, 15.0))
        image = skew(image, angle, expand=True)
        params["degrees"] = round(angle, 3)
    elif kind == "rotation":
        turn = int(rng.choice([90, 180, 270]))
        image = image.rotate(turn, expand=True)
        params["degrees"] = turn
    elif kind == "noise":
        grain = rng.normal(0.0, 18.0, image.size[::-1])
        pixels = np.asarray(image).astype(np.float32) + grain
        image = noise(Image.fromarray(pixels.clip(0, 255).astype(np.uint8)), 0.01, seed=seed)
        params.update(gaussian_sigma=18.0, speckle=0.01)
    elif kind == "blur":
        radius = float(rng.uniform(1.6, 2.2))
        image = blur(image, radius)
        params["radius_px"] = round(radius, 2)
    elif kind == "uneven_light":
        strength = float(rng.uniform(0.6, 0.75))
        image = uneven_light(yellow_paper(image), strength, seed=seed)
        params["strength"] = round(strength, 2)
    elif kind == "dark_border":
        image = scanner_bed(image, seed=seed)
        params["bed"] = "dark"
    elif kind == "bleed_through":
        back = _rendered(seed + 500, dpi).image
        image = bleed_through(image, back, strength=0.45)
        params["strength"] = 0.45
    elif kind == "low_resolution":
        out_dpi = 150
        image = low_resolution(image, dpi, out_dpi)
        params["dpi"] = out_dpi
    elif kind == "curl":
        depth = float(rng.uniform(0.03, 0.05))
        image = curl(image, depth, seed=seed)
        params["depth"] = round(depth, 3)
    if kind != "noise":
        image = noise(image, 0.0005, seed=seed)  # a few specks, as on every scan
    return DegradedPage(kind=kind, image=image, text=page.text, dpi=out_dpi, params=params)
