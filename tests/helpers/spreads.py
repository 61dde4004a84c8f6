"""Generated frames for the spread detector: two-page spreads and wide single pages.

``make_frame(kind, seed, dpi)`` renders one frame; ``SPREAD_KINDS`` are
spreads (plain, skewed, under uneven light, on a dark scanner bed, all at
once, curling, tight inner margins, a short right page), ``SINGLE_KINDS``
are not (a page lying sideways, a landscape page, two columns with a
narrow gap, a wider gap or a rule, text beside a photograph, a blank
landscape page, a landscape score). Used by tests/test_spread_auto.py and
bench/spreads.py.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageOps

from digitize.samples.corpus import paragraphs
from digitize.samples.degrade import curl, scanner_bed, spread
from digitize.samples.render import noise, render_page, render_score_page, skew, uneven_light, yellow_paper

SPREAD_KINDS = ("spread", "spread_skew", "spread_light", "spread_bed", "spread_all",
                "spread_curl", "spread_narrow", "spread_short")
SINGLE_KINDS = ("sideways", "landscape", "two_columns", "two_columns_wide", "two_columns_rule", "text_and_picture",
                "blank", "score")


def text_page(seed: int, dpi: int, **size) -> Image.Image:
    """A rendered page of six paragraphs (A4 portrait unless ``width_in``/``height_in`` say otherwise)."""
    return render_page(paragraphs(seed=2000 + seed, n=6), dpi=dpi, seed=seed, **size).image


def _two_columns(seed: int, dpi: int, gap_in: float) -> Image.Image:
    """A landscape A4 page set in two columns ``gap_in`` apart: two narrow
    pages with their inner margins cut off, so lines sit level on both sides."""
    column = 5.85 - (0.65 - gap_in / 2)  # each column's page: outer margin 0.65 in, inner gap_in / 2
    left = text_page(seed, dpi, width_in=column + 0.65 - gap_in / 2, height_in=8.3)
    right = text_page(seed + 1, dpi, width_in=column + 0.65 - gap_in / 2, height_in=8.3)
    cut = round((0.65 - gap_in / 2) * dpi)
    left = left.crop((0, 0, left.width - cut, left.height))
    right = right.crop((cut, 0, right.width, right.height)).resize((left.width, left.height))
    canvas = Image.new("L", (left.width * 2, left.height), 250)
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width, 0))
    return canvas


def make_frame(kind: str, seed: int, dpi: int = 150) -> Image.Image:
    """One generated frame of ``kind`` (SPREAD_KINDS are spreads, SINGLE_KINDS are not)."""
    rng = np.random.default_rng(seed * 31 + (SPREAD_KINDS + SINGLE_KINDS).index(kind))
    if kind.startswith("spread"):
        gutter = int(rng.uniform(0.1, 0.5) * dpi)
        left, right = text_page(seed, dpi), text_page(seed + 100, dpi)
        if kind == "spread_curl":  # both pages curl up towards the spine
            left = curl(left, float(rng.uniform(0.03, 0.05)), seed=seed)
            right = ImageOps.mirror(curl(ImageOps.mirror(right), float(rng.uniform(0.03, 0.05)), seed=seed + 1))
        elif kind == "spread_narrow":  # tight inner margins: 0.3 in on each page, no gutter band
            cut = round(0.35 * dpi)
            left = left.crop((0, 0, left.width - cut, left.height))
            right = right.crop((cut, 0, right.width, right.height))
            gutter = int(rng.uniform(0.05, 0.12) * dpi)  # the spine still shades the join
        elif kind == "spread_short":  # the end of a chapter: a few lines on the right page
            right = render_page(paragraphs(seed=3000 + seed, n=1)[:1], dpi=dpi, seed=seed + 100).image
        image = spread(left, right, gutter=max(1, gutter))
        if kind in ("spread_light", "spread_all"):
            image = uneven_light(yellow_paper(image), float(rng.uniform(0.4, 0.7)), seed=seed).convert("L")
        if kind in ("spread_skew", "spread_all"):
            image = skew(image, float(rng.choice([-1, 1]) * rng.uniform(1.0, 4.0)), expand=True)
        if kind in ("spread_bed", "spread_all"):
            image = scanner_bed(image, seed=seed)
        return noise(image, 0.0005, seed=seed)
    if kind == "sideways":
        return text_page(seed, dpi).rotate(int(rng.choice([90, 270])), expand=True)
    if kind == "landscape":
        return text_page(seed, dpi, width_in=11.7, height_in=8.3)
    if kind.startswith("two_columns"):
        gap = float(rng.uniform(0.45, 0.6) if kind == "two_columns_wide" else rng.uniform(0.15, 0.45))
        image = _two_columns(seed, dpi, gap)
        if kind == "two_columns_rule":  # a column rule in the gap
            x = image.width // 2
            ImageDraw.Draw(image).line([(x, round(0.6 * dpi)), (x, image.height - round(0.7 * dpi))],
                                       fill=30, width=max(1, dpi // 100))
        return skew(image, float(rng.uniform(-2.0, 2.0)), expand=True) if seed % 2 else image
    if kind == "text_and_picture":  # a landscape plate: text on the left, a photograph on the right
        image = text_page(seed, dpi, width_in=11.7, height_in=8.3).convert("L")
        w, h = image.size
        noise_field = rng.normal(0, 1, (h // 16 + 1, w // 32 + 1)).astype(np.float32)
        photo = cv2.resize(noise_field, (w // 2 - round(1.25 * dpi), h - round(1.5 * dpi)),
                           interpolation=cv2.INTER_CUBIC)
        photo = np.clip(128 + 60 * photo + rng.normal(0, 12, photo.shape), 0, 255).astype(np.uint8)
        canvas = np.asarray(image).copy()
        canvas[:, w // 2 - round(0.6 * dpi):] = canvas[0, 0]  # the text stops short of the middle
        canvas[round(0.7 * dpi): round(0.7 * dpi) + photo.shape[0], w // 2 + round(0.6 * dpi):
               w // 2 + round(0.6 * dpi) + photo.shape[1]] = photo
        return Image.fromarray(canvas)
    if kind == "blank":
        paper = Image.new("L", (round(11.7 * dpi), round(8.3 * dpi)), int(rng.integers(235, 252)))
        return noise(uneven_light(paper, 0.4, seed=seed), 0.0005, seed=seed)
    if kind == "score":
        score = render_score_page("Ҹ. Һаҹыбәјов", "Увертүра", dpi=dpi, width_in=11.7, height_in=8.3, seed=seed)
        return score.image
    raise ValueError(kind)
