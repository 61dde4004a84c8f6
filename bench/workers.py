"""Benchmark: pages per minute with 1 and 2 page workers, and memory on a long item.

Runs the real `digitize run` (temporary Prefect server, process pool) on the
same generated text pages with DIGITIZE_WORKERS=1 and =2, each on a fresh
work folder, and reports pages per minute and the second worker's
efficiency (speed-up / 2). Then runs one item of --long-pages small art
pages and reports the peak RSS of the largest process (the flow or a
worker), to show memory does not grow with the length of an item.

    .venv/bin/python bench/workers.py --pages 12 --long-pages 1000
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from samples.corpus import paragraphs  # noqa: E402
from samples.render import render_page, scan_like  # noqa: E402


def _env(tmp: Path, workers: int) -> dict:
    env = dict(
        os.environ,
        DIGITIZE_WORK_DIR=str(tmp / "work"),
        DIGITIZE_OUTPUT_DIR=str(tmp / "out"),
        DIGITIZE_STORAGE__URL=f"file://{tmp / 'store'}",
        DIGITIZE_CATALOG__URL=f"sqlite:///{tmp / 'catalog.sqlite3'}",
        DIGITIZE_WORKERS=str(workers),
        PREFECT_HOME=str(tmp / "prefect"),
    )
    env.pop("PREFECT_API_URL", None)
    return env


def _run(batch: Path, tmp: Path, workers: int) -> float:
    digitize = Path(sys.executable).with_name("digitize")
    start = time.perf_counter()
    result = subprocess.run([str(digitize), "run", str(batch)], env=_env(tmp, workers), capture_output=True)
    if result.returncode != 0:
        raise SystemExit(f"digitize run failed ({result.returncode}):\n{result.stdout.decode()[-3000:]}\n{result.stderr.decode()[-3000:]}")
    return time.perf_counter() - start


def text_batch(folder: Path, pages: int) -> Path:
    item = folder / "batch" / "bench-book"
    item.mkdir(parents=True)
    (item / "item.toml").write_text('title = "Bench"\n', encoding="utf-8")
    for number in range(1, pages + 1):
        rendered = render_page(paragraphs(seed=300 + number, n=4), seed=number)
        scan_like(rendered, skew_degrees=1.5, seed=number).save(
            item / f"page-{number}.tif", dpi=(300, 300), compression="tiff_lzw"
        )
    return item.parent


def long_batch(folder: Path, pages: int) -> Path:
    item = folder / "batch" / "long-item"
    item.mkdir(parents=True)
    (item / "item.toml").write_text('title = "Long"\nkind = "art"\n', encoding="utf-8")
    rng = np.random.default_rng(0)
    for number in range(1, pages + 1):
        Image.fromarray(rng.integers(0, 255, (300, 200), dtype=np.uint8)).save(item / f"p{number}.png", dpi=(100, 100))
    return item.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--long-pages", type=int, default=1000)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        tmp = Path(tmp)
        batch = text_batch(tmp / "src", args.pages)
        seconds = {}
        for workers in (1, 2):
            seconds[workers] = _run(batch, tmp / f"w{workers}", workers)
        per_minute = {w: args.pages / s * 60 for w, s in seconds.items()}
        print(f"{args.pages} A5 text pages, whole `digitize run` (start-up included)")
        for workers in (1, 2):
            print(f"  {workers} worker(s): {seconds[workers]:6.1f} s  {per_minute[workers]:6.1f} pages/min")
        print(f"  efficiency of the second worker: {per_minute[2] / per_minute[1] / 2:.0%}")

        if args.long_pages:
            long = long_batch(tmp / "long-src", args.long_pages)
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            took = _run(long, tmp / "long", 2)
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            print(f"{args.long_pages}-page art item: {took:.1f} s; peak RSS of the largest process "
                  f"{peak / 1024:.0f} MB (text runs before it: {before / 1024:.0f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
