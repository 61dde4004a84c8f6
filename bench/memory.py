"""Benchmark: memory of a whole `digitize run` for a short and a long item.

Memory must not grow with the length of a book: a 1,000-page item should
peak where a 100-page one does. Runs the real `digitize run` (temporary
Prefect server, page worker processes) on one generated item at a time and
samples the resident memory (RSS) of the whole process tree every 0.1 s:
the peak of the sum over all processes (command, server, workers) and the
peak of the largest single process.

Art pages (lossless, no OCR) make the long case quick; text pages (OCR)
are run with fewer pages for the same comparison.

    .venv/bin/python -m bench.memory                       # art 100 vs 1000, text 5 vs 20
    .venv/bin/python -m bench.memory --art 100 1000 --text 5 20 --workers 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

from digitize.samples.corpus import paragraphs
from digitize.samples.render import render_page, scan_like


def art_item(folder: Path, pages: int) -> Path:
    item = folder / "batch" / f"art-{pages}"
    item.mkdir(parents=True)
    (item / "item.toml").write_text(f'title = "Art {pages}"\nkind = "art"\n', encoding="utf-8")
    rng = np.random.default_rng(pages)
    for number in range(1, pages + 1):
        pixels = rng.integers(0, 255, (300, 200), dtype=np.uint8)
        Image.fromarray(pixels).save(item / f"p{number:04d}.png", dpi=(100, 100))
    return item.parent


def text_item(folder: Path, pages: int) -> Path:
    item = folder / "batch" / f"text-{pages}"
    item.mkdir(parents=True)
    (item / "item.toml").write_text(f'title = "Text {pages}"\n', encoding="utf-8")
    for number in range(1, pages + 1):
        rendered = render_page(paragraphs(seed=500 + number, n=3), seed=number)
        scan_like(rendered, skew_degrees=1.0, seed=number).save(
            item / f"p{number:04d}.tif", dpi=(300, 300), compression="tiff_lzw"
        )
    return item.parent


def _role(process: psutil.Process, root: int) -> str:
    if process.pid == root:
        return "flow"
    command = " ".join(process.cmdline())
    if "uvicorn" in command:
        return "server"
    return "worker" if "spawn_main" in command or "distributed" in command else "other"


class TreeSampler(threading.Thread):
    """Peak RSS of a process and all its descendants, sampled."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_total = 0
        self.peak_single = 0
        self.peak_by_role: dict[str, int] = {}
        self.most_processes = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            sizes = []
            for process in processes:
                try:
                    rss = process.memory_info().rss
                    role = _role(process, self.root.pid)
                except psutil.NoSuchProcess:
                    continue
                sizes.append(rss)
                self.peak_by_role[role] = max(self.peak_by_role.get(role, 0), rss)
            if sizes:
                self.peak_total = max(self.peak_total, sum(sizes))
                self.peak_single = max(self.peak_single, max(sizes))
                self.most_processes = max(self.most_processes, len(sizes))
            self.stopped.wait(self.interval)


def measure(batch: Path, tmp: Path, workers: int) -> tuple[float, TreeSampler]:
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
    digitize = Path(sys.executable).with_name("digitize")
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(digitize), "run", str(batch)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    sampler = TreeSampler(process.pid)
    sampler.start()
    stdout, stderr = process.communicate()
    sampler.stopped.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(
            f"digitize run failed ({process.returncode}):\n{stdout.decode()[-2000:]}\n{stderr.decode()[-2000:]}"
        )
    return time.perf_counter() - started, sampler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--art", type=int, nargs="*", default=[100, 1000], help="art item lengths (pages)")
    parser.add_argument("--text", type=int, nargs="*", default=[5, 20], help="text item lengths (pages, OCR)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        tmp = Path(tmp)
        for kind, lengths, make in (("art", args.art, art_item), ("text", args.text, text_item)):
            for pages in lengths:
                batch = make(tmp / f"src-{kind}-{pages}", pages)
                seconds, sampler = measure(batch, tmp / f"run-{kind}-{pages}", args.workers)
                rows.append((kind, pages, seconds, sampler))
                print(f"  ... {kind} {pages} pages done in {seconds:.0f} s", file=sys.stderr)

    print(f"\nPeak memory of a whole `digitize run` ({args.workers} page workers; RSS sampled every 0.1 s)")
    print(f"{'item':<6} {'pages':>6} {'seconds':>8} {'peak RSS, all processes':>24} {'largest process':>16} "
          f"{'flow':>8} {'server':>8} {'a worker':>9}")
    for kind, pages, seconds, sampler in rows:
        role = {r: sampler.peak_by_role.get(r, 0) / 2**20 for r in ("flow", "server", "worker")}
        print(
            f"{kind:<6} {pages:>6} {seconds:>8.1f} {sampler.peak_total / 2**20:>21.0f} MB "
            f"{sampler.peak_single / 2**20:>13.0f} MB {role['flow']:>5.0f} MB {role['server']:>5.0f} MB "
            f"{role['worker']:>6.0f} MB"
        )
    for kind in ("art", "text"):
        runs = [r for r in rows if r[0] == kind]
        if len(runs) >= 2:
            short, long = runs[0], runs[-1]
            growth = long[3].peak_total / short[3].peak_total - 1
            print(f"{kind}: {long[1]} pages vs {short[1]} pages: peak RSS (all processes) {growth:+.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
