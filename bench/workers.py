"""Benchmark: pages per minute with 1 and 2 page workers, and the second worker's efficiency.

Runs the real `digitize run` (temporary Prefect server, page worker
processes) on the same generated A5 text pages with DIGITIZE_WORKERS=1 and
=2, each on a fresh work folder, and reports two rates:

* whole command: start-up (imports, temporary Prefect server, worker
  processes, Tesseract models) included, as an operator sees it;
* page phase: from the first page submitted to the last item published,
  as the batch report measures it (``page_seconds``): what the workers
  add on a long batch, where the fixed start-up no longer counts.

Efficiency of the second worker = rate(2) / rate(1) / 2. A small batch of
tiny art pages (no OCR) also gives the orchestration cost per page (Prefect
task runs, state changes, pickling) at 1 worker. Memory: bench/memory.py.

    .venv/bin/python -m bench.workers --pages 24
    .venv/bin/python -m bench.workers --pages 24 --runner dask   # a local Dask cluster instead
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

from digitize.samples.corpus import paragraphs
from digitize.samples.render import render_page, scan_like

_API: dict[str, str] = {}  # PREFECT_API_URL of a server shared by every run (--shared-server)


def _env(tmp: Path, workers: int, runner: str) -> dict:
    env = dict(
        os.environ,
        DIGITIZE_WORK_DIR=str(tmp / "work"),
        DIGITIZE_OUTPUT_DIR=str(tmp / "out"),
        DIGITIZE_STORAGE__URL=f"file://{tmp / 'store'}",
        DIGITIZE_CATALOG__URL=f"sqlite:///{tmp / 'catalog.sqlite3'}",
        DIGITIZE_WORKERS=str(workers),
        DIGITIZE_RUNS__TASK_RUNNER=runner,
        PREFECT_HOME=str(tmp / "prefect"),
    )
    env.pop("PREFECT_API_URL", None)
    env.update(_API)
    return env


def _role(process: psutil.Process, root: int) -> str:
    if process.pid == root:
        return "flow"
    command = " ".join(process.cmdline())
    if "uvicorn" in command and "prefect.server" in command:
        return "prefect server"
    if "resource_tracker" in command:
        return "other"
    return "page workers" if "multiprocessing" in command or "distributed" in command else "other"


class CpuAccount(threading.Thread):
    """CPU seconds (user + system) used by each kind of process of a run, sampled."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.last: dict[int, tuple[str, float]] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in processes:
                try:
                    times = process.cpu_times()
                    role = self.last[process.pid][0] if process.pid in self.last else _role(process, self.root.pid)
                    self.last[process.pid] = (role, times.user + times.system)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self.stopped.wait(0.2)

    def by_role(self) -> dict[str, float]:
        total: dict[str, float] = defaultdict(float)
        for role, seconds in self.last.values():
            total[role] += seconds
        return dict(total)


def _run(batch: Path, tmp: Path, workers: int, runner: str) -> tuple[float, float, dict[str, float]]:
    """(whole command seconds, page phase seconds, CPU seconds by process kind) of one `digitize run`."""
    digitize = Path(sys.executable).with_name("digitize")
    start = time.perf_counter()
    process = subprocess.Popen(
        [str(digitize), "run", str(batch)],
        env=_env(tmp, workers, runner), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    account = CpuAccount(process.pid)
    account.start()
    stdout, stderr = process.communicate()
    whole = time.perf_counter() - start
    account.stopped.set()
    account.join()
    if process.returncode != 0:
        raise SystemExit(
            f"digitize run failed ({process.returncode}):\n{stdout.decode()[-3000:]}\n{stderr.decode()[-3000:]}"
        )
    report = json.loads((tmp / "out" / f"batch-{batch.name}.json").read_text())
    return whole, report["page_seconds"], account.by_role()


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


def art_batch(folder: Path, pages: int) -> Path:
    item = folder / "batch" / "tiny-art"
    item.mkdir(parents=True)
    (item / "item.toml").write_text('title = "Tiny"\nkind = "art"\n', encoding="utf-8")
    rng = np.random.default_rng(0)
    for number in range(1, pages + 1):
        Image.fromarray(rng.integers(0, 255, (60, 40), dtype=np.uint8)).save(item / f"p{number}.png", dpi=(100, 100))
    return item.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=24, help="text pages (OCR) per run")
    parser.add_argument("--tiny-pages", type=int, default=60, help="tiny art pages for the per-page overhead (0: skip)")
    parser.add_argument("--runner", choices=("process", "dask"), default="process")
    parser.add_argument(
        "--shared-server", action="store_true",
        help="one Prefect server for all runs (as in production), instead of a temporary one per run",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp, contextlib.ExitStack() as stack:
        tmp = Path(tmp)
        if args.shared_server:
            from digitize.flows.server import prefect_api
            from digitize.settings import apply_process_defaults

            apply_process_defaults()
            os.environ["PREFECT_HOME"] = str(tmp / "prefect-shared")
            _API["PREFECT_API_URL"] = stack.enter_context(prefect_api())
        batch = text_batch(tmp / "src", args.pages)
        runs = {workers: _run(batch, tmp / f"w{workers}", workers, args.runner) for workers in (1, 2)}
        overhead = None
        if args.tiny_pages:
            tiny = art_batch(tmp / "tiny-src", args.tiny_pages)
            overhead = _run(tiny, tmp / "tiny", 1, args.runner)[1] / args.tiny_pages

    server = "one shared Prefect server" if args.shared_server else "a temporary Prefect server per run"
    print(f"\n{args.pages} generated A5 text pages (300 dpi, OCR), `digitize run`, runner: {args.runner}, "
          f"{server}, {os.cpu_count()} CPUs")
    print(f"{'workers':>7} | {'whole command':>13} | {'pages/min':>9} | {'page phase':>10} | {'pages/min':>9}")
    print(f"{'-' * 7}-+-{'-' * 13}-+-{'-' * 9}-+-{'-' * 10}-+-{'-' * 9}")
    rate = {}
    for workers, (whole, phase, _) in runs.items():
        rate[workers] = (args.pages / whole * 60, args.pages / phase * 60)
        print(f"{workers:>7} | {whole:>11.1f} s | {rate[workers][0]:>9.1f} | "
              f"{phase:>8.1f} s | {rate[workers][1]:>9.1f}")
    print(f"efficiency of the second worker: whole command {rate[2][0] / rate[1][0] / 2:.0%}, "
          f"page phase {rate[2][1] / rate[1][1] / 2:.0%}")
    if overhead is not None:
        print(f"orchestration cost per page (tiny art pages, 1 worker, page phase): {overhead * 1000:.0f} ms")
    print("CPU seconds per page, by process (sampled every 0.2 s; the last 0.2 s of each process is missed"
          + ("; the shared server is not counted" if args.shared_server else "") + "):")
    roles = ("page workers", "prefect server", "flow", "other")
    print(f"{'workers':>7} | " + " | ".join(f"{r:>14}" for r in roles))
    for workers, (_, _, cpu) in runs.items():
        print(f"{workers:>7} | " + " | ".join(f"{cpu.get(r, 0.0) / args.pages:>12.2f} s" for r in roles))
    print(f"machine load average during the runs (1 min, at the end): {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
