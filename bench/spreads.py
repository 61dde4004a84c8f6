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

    .venv/bin/python -m bench.spreads --per-kind 6 --dpi 200
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tests.helpers.spreads import SINGLE_KINDS, SPREAD_KINDS, make_frame, text_page


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

    from digitize.pipeline.spread import examine, frame_sizes, split_decisions

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
        pages = [text_page(seed, 300) for seed in range(20)]
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
            pages = tuple(PageSource(i + 1, p, f, len(frames))
                          for i, (p, f) in enumerate(zip(paths, frames, strict=True)))
            return SimpleNamespace(files=files, pages=pages)

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
