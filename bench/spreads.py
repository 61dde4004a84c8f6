"""Benchmark: automatic spread detection (pipeline/spread.py) on generated frames.

Spreads: two rendered pages side by side with the spine's shadow
(samples/degrade.spread), plain, skewed by a few degrees, under uneven
light, on a dark scanner bed, all of these at once, both pages curling
towards the spine, tight inner margins (0.3 in each), and a right page
with a few lines only. Not spreads: one page lying sideways, one landscape
page with a single wide text block, one landscape page in two columns
(gap 0.15-0.45 in, 0.45-0.6 in, or with a column rule; lines level on both
sides, as in a newspaper), text beside a photograph with a 1.2 in band
between them, a blank landscape page, a landscape score.
Prints the confusion counts, every miss with what was measured, the time
per frame for detection (on a frame already decoded), and what planning
costs for a portrait frame (a header read) and a wide one (a reduced
decode and the detector).

    .venv/bin/python bench/spreads.py --per-kind 6 --dpi 200
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from digitize.samples.corpus import paragraphs  # noqa: E402
from digitize.samples.degrade import curl, scanner_bed, spread  # noqa: E402
from digitize.samples.render import noise, render_page, render_score_page, skew, uneven_light, yellow_paper  # noqa: E402

SPREAD_KINDS = ("spread", "spread_skew", "spread_light", "spread_bed", "spread_all",
                "spread_curl", "spread_narrow", "spread_short")
SINGLE_KINDS = ("sideways", "landscape", "two_columns", "two_columns_wide", "two_columns_rule", "text_and_picture",
                "blank", "score")


def _page(seed: int, dpi: int, **size) -> Image.Image:
    return render_page(paragraphs(seed=2000 + seed, n=6), dpi=dpi, seed=seed, **size).image


def _two_columns(seed: int, dpi: int, gap_in: float) -> Image.Image:
    """A landscape A4 page set in two columns ``gap_in`` apart: two narrow
    pages with their inner margins cut off, so lines sit level on both sides."""
    column = 5.85 - (0.65 - gap_in / 2)  # each column's page: outer margin 0.65 in, inner gap_in / 2
    left = _page(seed, dpi, width_in=column + 0.65 - gap_in / 2, height_in=8.3)
    right = _page(seed + 1, dpi, width_in=column + 0.65 - gap_in / 2, height_in=8.3)
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
        left, right = _page(seed, dpi), _page(seed + 100, dpi)
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
        return _page(seed, dpi).rotate(int(rng.choice([90, 270])), expand=True)
    if kind == "landscape":
        return _page(seed, dpi, width_in=11.7, height_in=8.3)
    if kind.startswith("two_columns"):
        gap = float(rng.uniform(0.45, 0.6) if kind == "two_columns_wide" else rng.uniform(0.15, 0.45))
        image = _two_columns(seed, dpi, gap)
        if kind == "two_columns_rule":  # a column rule in the gap
            x = image.width // 2
            ImageDraw.Draw(image).line([(x, round(0.6 * dpi)), (x, image.height - round(0.7 * dpi))],
                                       fill=30, width=max(1, dpi // 100))
        return skew(image, float(rng.uniform(-2.0, 2.0)), expand=True) if seed % 2 else image
    if kind == "text_and_picture":  # a landscape plate: text on the left, a photograph on the right
        image = _page(seed, dpi, width_in=11.7, height_in=8.3).convert("L")
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


def previous_detector(grey: np.ndarray) -> bool:
    """The flag-only test this replaced (pipeline/spread.py before spreads =
    "auto"), kept here as the comparison: a quiet column window near the
    middle with ink on both sides."""
    from digitize.pipeline.spread import _ink_columns, _small, find_gutter

    height, width = grey.shape
    if width < height * 1.15:
        return False
    small, factor = _small(grey)
    ink = _ink_columns(small)
    x = int(find_gutter(grey) * factor)
    band = max(2, small.shape[1] // 60)
    gutter = ink[max(0, x - band) : x + band + 1].mean()
    left = ink[: max(1, x - band)].mean()
    right = ink[x + band + 1 :].mean() if x + band + 1 < ink.size else 0.0
    return bool(left > 0.01 and right > 0.01 and gutter < 0.2 * min(left, right))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-kind", type=int, default=6)
    parser.add_argument("--dpi", type=int, default=200)
    args = parser.parse_args()

    from digitize.pipeline.spread import examine, frame_sizes, split_decisions  # noqa: E402

    counts = {"tp": 0, "fn": 0, "tn": 0, "fp": 0}
    before = {"tp": 0, "fn": 0, "tn": 0, "fp": 0}
    seconds: list[float] = []
    for kind in SPREAD_KINDS + SINGLE_KINDS:
        truth = kind in SPREAD_KINDS
        hits = 0
        gaps: list[float] = []
        old_hits = 0
        for seed in range(args.per_kind):
            grey = np.asarray(make_frame(kind, seed, args.dpi).convert("L"))
            clock = time.perf_counter()
            evidence = examine(grey)
            seconds.append(time.perf_counter() - clock)
            hits += evidence.spread
            old = previous_detector(grey)
            before[("tp" if old else "fn") if truth else ("fp" if old else "tn")] += 1
            old_hits += old
            if evidence.gap_pitches:
                gaps.append(evidence.gap_pitches)
            key = ("tp" if evidence.spread else "fn") if truth else ("fp" if evidence.spread else "tn")
            counts[key] += 1
            if evidence.spread != truth:
                print(f"  MISS {kind} seed {seed}: {evidence}")
        measured = f"; band {min(gaps):.2f}-{max(gaps):.2f} line pitches" if gaps else ""
        print(f"{kind:16s} said spread {hits}/{args.per_kind} (previous test {old_hits}){measured}")
    n_pos, n_neg = counts["tp"] + counts["fn"], counts["tn"] + counts["fp"]
    print(f"\nspreads: {counts['tp']}/{n_pos} found, {counts['fn']} missed; "
          f"not spreads: {counts['tn']}/{n_neg} kept whole, {counts['fp']} split wrongly")
    print(f"previous flag-only test on the same frames: spreads {before['tp']}/{n_pos} found; "
          f"not spreads: {before['tn']}/{n_neg} kept whole, {before['fp']} taken for spreads")
    print(f"detection on a decoded {args.dpi} dpi frame: median {1000 * float(np.median(seconds)):.1f} ms, "
          f"max {1000 * max(seconds):.1f} ms")

    # Planning cost: portrait frames (header only) and wide frames (reduced decode + detector).
    from types import SimpleNamespace

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        portrait = folder / "portrait.tif"
        pages = [_page(seed, 300) for seed in range(20)]
        pages[0].save(portrait, save_all=True, append_images=pages[1:], compression="tiff_lzw", dpi=(300, 300))
        clock = time.perf_counter()
        sizes = frame_sizes(portrait)
        header = (time.perf_counter() - clock) / len(sizes)
        wide = {}
        for suffix in ("tif", "jpg", "png"):
            path = folder / f"spread.{suffix}"
            make_frame("spread", 0, 300).save(path, dpi=(300, 300))
            wide[suffix] = path
        from digitize.scanners.batch import PageSource, SourceFile

        def item_of(paths: list[Path], frames: list[int]) -> SimpleNamespace:
            files = tuple(SourceFile(p, p.stat().st_size, p.name) for p in set(paths))
            return SimpleNamespace(files=files, pages=tuple(PageSource(i + 1, p, f, len(frames))
                                                            for i, (p, f) in enumerate(zip(paths, frames))))

        tif_item = item_of([portrait] * 20, list(range(20)))
        clock = time.perf_counter()
        split_decisions(tif_item, folder / "w1")
        first = (time.perf_counter() - clock) / 20
        clock = time.perf_counter()
        split_decisions(tif_item, folder / "w1")
        again = (time.perf_counter() - clock) / 20
        print(f"\nplanning, 20 portrait frames of a 300 dpi multi-frame TIFF: "
              f"header read {1000 * header:.2f} ms/frame; "
              f"split_decisions {1000 * first:.2f} ms/frame first time, {1000 * again:.2f} ms/frame from the cache")
        jpegs = []
        for seed, page in enumerate(pages):
            jpegs.append(folder / f"p{seed:02d}.jpg")
            page.save(jpegs[-1], quality=85, dpi=(300, 300))
        jpeg_item = item_of(jpegs, [0] * len(jpegs))
        jpeg_item.pages = tuple(PageSource(i + 1, p, 0, 1) for i, p in enumerate(jpegs))
        clock = time.perf_counter()
        split_decisions(jpeg_item, folder / "w2")
        print(f"planning, 20 portrait 300 dpi JPEG files: split_decisions "
              f"{1000 * (time.perf_counter() - clock) / 20:.2f} ms/frame first time")
        for suffix, path in wide.items():
            clock = time.perf_counter()
            decisions = split_decisions(item_of([path], [0]), folder / f"w-{suffix}")
            print(f"planning, one 300 dpi spread {Image.open(path).size} as {suffix.upper()}: "
                  f"{1000 * (time.perf_counter() - clock):.0f} ms (said spread: {decisions[0]})")


if __name__ == "__main__":
    main()
