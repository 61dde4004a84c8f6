"""Benchmark: the whole `digitize run` command against OCRmyPDF on small and larger batches, in one run.

Generated A5 pages at 300 dpi (URW/Noto fonts with every Azerbaijani
Cyrillic letter, skewed ±4.2°, scanner specks), batches of 3, 9 and 27
pages, one item each. Each timing is the whole command from a cold start
(a new process, new work, output, store and catalog folders):

* ``digitize run`` with the persistent Prefect server running (``digitize
  server start`` once before, or a run before: warm server, cold command:
  ``persistent``); with none running, so that the run starts it and leaves
  it running (``runs.start_server``, the default: the first run of a day,
  ``on-demand``; the server is stopped after each); and with a temporary
  server for the run (``runs.start_server = false``: ``temporary``);
* OCRmyPDF ``--deskew --rotate-pages -l Cyrillic --jobs 2`` over one PDF of
  the same pages (the peer).

Three repetitions, the order of the commands rotated each time; every
repetition is printed in a table (with the machine's load), then the
medians. Also: the time from the command to the first page in OCR (the
page's ``.started`` mark plus its load and image-stage seconds), and the
per-page cost against Tesseract alone in steady state, interleaved page by
page in one process (the page function, then Tesseract alone on the raw
scan with the same model, one thread each).

    .venv/bin/python -m bench.throughput                  # 3, 9, 27 pages, 3 repetitions
    .venv/bin/python -m bench.throughput --sizes 3 9 --repeat 1
    .venv/bin/python -m bench.throughput --sizes 3 27 --servers persistent   # warm server only, vs OCRmyPDF
    .venv/bin/python -m bench.throughput --sizes 9 27 --real-pages 10   # + 10 real newsprint pages
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import img2pdf

from bench.ocr_vs_ocrmypdf import make_pages

MODEL = "Cyrillic"
SERVERS = ("persistent", "temporary", "on-demand")


@dataclass
class Timing:
    """One command's wall clock, and for ours the time to the first page in OCR."""

    seconds: float
    first_ocr: float | None = None
    load: float = 0.0  # the machine's 1-minute load average as the command ended


@dataclass
class Figures:
    runs: dict[str, list[Timing]] = field(default_factory=dict)

    def add(self, key: str, timing: Timing) -> None:
        self.runs.setdefault(key, []).append(timing)

    def median(self, key: str) -> float:
        return statistics.median(t.seconds for t in self.runs[key])

    def median_first(self, key: str) -> float | None:
        firsts = [t.first_ocr for t in self.runs[key] if t.first_ocr is not None]
        return statistics.median(firsts) if firsts else None


def make_batch(root: Path, pages: int) -> tuple[Path, Path]:
    """A batch folder with one item of ``pages`` generated pages, and one PDF of the same scans for OCRmyPDF."""
    item = root / "batch" / "book"
    item.mkdir(parents=True)
    (item / "item.toml").write_text(
        f'title = "Bench"\nlanguage = "az"\nscript = "Cyrl"\nocr_model = "{MODEL}"\n', encoding="utf-8"
    )
    make_pages(item, pages)
    scans = sorted(item.glob("*.tif"), key=lambda p: int(p.stem.split("-")[1]))
    pdf = root / "scans.pdf"
    pdf.write_bytes(img2pdf.convert([str(p) for p in scans]))
    return item.parent, pdf


def make_real_batch(root: Path, pages: int, lines: Path) -> tuple[Path, Path]:
    """One item of ``pages`` pages stacked from real newsprint line scans (as bench/real_print.py does), and its PDF.

    The issue's "small real-newsprint pages": Komi 1939 newsprint lines (../shared/realscans), read with the
    ``Cyrillic`` model and the item's language (Komi), so the re-reading uses the Komi word list.
    """
    from bench.real_print import load_lines, stack_pages

    item = root / "batch" / "real"
    item.mkdir(parents=True)
    (item / "item.toml").write_text(
        f'title = "Real newsprint"\nlanguage = "kv-Cyrl"\nscript = "Cyrl"\nyear = 1939\nocr_model = "{MODEL}"\n',
        encoding="utf-8",
    )
    found = load_lines(lines)
    if not found:
        raise SystemExit(f"no real line scans in {lines} (--real-pages needs ../shared/realscans)")
    stacked = stack_pages(found, -(-len(found) // pages), item)
    pdf = root / "scans.pdf"
    pdf.write_bytes(img2pdf.convert([str(p.path) for p in stacked]))
    return item.parent, pdf


def _env(home: Path, workers: int, start_server: bool = True) -> dict[str, str]:
    env = dict(os.environ)
    for key in [k for k in env if k.startswith("DIGITIZE_") or k == "PREFECT_API_URL"]:
        env.pop(key)
    env.update(
        DIGITIZE_HOME=str(home), DIGITIZE_WORKERS=str(workers), OMP_THREAD_LIMIT="1",
        DIGITIZE_RUNS__START_SERVER="true" if start_server else "false",
        PREFECT_HOME=str(home / "prefect-client"), DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    return env


def _first_ocr(work: Path, start_wall: float) -> float | None:
    """Seconds from the command's start to the first page entering OCR."""
    firsts = []
    for started in work.glob("*/pages/*/.started"):
        try:
            record = json.loads((started.parent / "page.json").read_text())
        except (OSError, ValueError):
            continue
        seconds = record.get("seconds", {})
        firsts.append(started.stat().st_mtime - start_wall + seconds.get("load", 0.0) + seconds.get("image", 0.0))
    return min(firsts) if firsts else None


def run_ours(batch: Path, home: Path, workers: int, start_server: bool = True) -> Timing:
    digitize = Path(sys.executable).with_name("digitize")
    start_wall, start = time.time(), time.perf_counter()
    done = subprocess.run([str(digitize), "run", str(batch)], env=_env(home, workers, start_server),
                          capture_output=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"digitize run failed ({done.returncode}):\n{done.stderr.decode()[-3000:]}")
    if b"Starting temporary server" in done.stderr and (home / "prefect" / "server.json").exists():
        raise SystemExit("a temporary Prefect server was started although the persistent one runs")
    return Timing(seconds, _first_ocr(home / "work", start_wall))


def run_ocrmypdf(pdf: Path, out: Path, workers: int) -> Timing:
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ocrmypdf", "--deskew", "--rotate-pages", "-l", MODEL, "--jobs", str(workers),
         str(pdf), str(out)],
        env=env, check=True, capture_output=True,
    )
    return Timing(time.perf_counter() - start)


def per_page_vs_tesseract(item: Path, tmp: Path, pages: int) -> tuple[float, float, int]:
    """(our page seconds, Tesseract alone seconds), medians over pages, interleaved in one process, warm."""
    from PIL import Image

    from digitize.assembly.item import plan_pages
    from digitize.pipeline import tesseract
    from digitize.pipeline.page import process_page
    from digitize.scanners.batch import read_batch
    from digitize.settings import apply_process_defaults, load_settings
    from digitize.transliteration.identifier import identifier_from_name

    apply_process_defaults()
    settings = load_settings(None, work_dir=tmp / "interleaved-work", workers=1)
    batch = read_batch(item.parent, settings.image.max_image_pixels, identifier_from_name=identifier_from_name)
    jobs = plan_pages(batch.items[0], settings)[:pages]
    import tesserocr

    info = tesseract.probe(settings.ocr.tessdata)
    ours, alone = [], []
    with tesserocr.PyTessBaseAPI(path=str(info.tessdata), lang=MODEL) as api:
        for n, job in enumerate(jobs):
            start = time.perf_counter()
            process_page(job, settings)
            mine = time.perf_counter() - start
            start = time.perf_counter()
            with Image.open(job.source) as scan:
                api.SetImage(scan)
                api.SetSourceResolution(300)
                api.GetHOCRText(0)
            theirs = time.perf_counter() - start
            if n:  # the first page warms models and caches on both sides
                ours.append(mine)
                alone.append(theirs)
    return statistics.median(ours), statistics.median(alone), len(ours)


def _per_rep_table(figures: Figures, args: argparse.Namespace) -> None:
    """Every repetition: our command against OCRmyPDF's of the same repetition, with the load as each ended."""
    print("\nper repetition (s for the whole command; ratio = OCRmyPDF's time / ours, > 1: we are faster)")
    header = ("rep", "pages", "server", "digitize s", "OCRmyPDF s", "ratio", "first page in OCR", "load")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for n in args.labels:
        theirs = figures.runs[f"ocrmypdf|{n}"]
        for kind in args.servers:
            for rep, (ours, peer) in enumerate(zip(figures.runs[f"digitize ({kind} server)|{n}"], theirs, strict=True)):
                first = f"{ours.first_ocr:.1f} s" if ours.first_ocr is not None else "-"
                print(f"{rep + 1} | {n} | {kind} | {ours.seconds:.1f} | {peer.seconds:.1f} | "
                      f"{peer.seconds / ours.seconds:.2f}x | {first} | {ours.load:.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 9, 27])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--interleaved-pages", type=int, default=9, help="pages for the Tesseract-alone comparison")
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=list(SERVERS),
                        help="which runs of ours: with the persistent server running, and/or a temporary one")
    parser.add_argument("--no-interleaved", action="store_true", help="skip the per-page Tesseract-alone comparison")
    parser.add_argument("--real-pages", type=int, default=0,
                        help="also a batch of this many pages stacked from real newsprint lines (the issue's 10)")
    parser.add_argument("--real-lines", type=Path, default=None, help="folder of real line scans (bench/real_print)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    from digitize.flows.local_server import server_folder, start_server, stop_server

    figures = Figures()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp_name, contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        warm_home = tmp / "warm-home"
        folder = server_folder(warm_home)
        started = time.perf_counter()
        start_server(folder)
        server_start = time.perf_counter() - started
        stack.callback(stop_server, folder)
        batches = {str(n): make_batch(tmp / f"src-{n}", n) for n in args.sizes}
        pages_of = {str(n): n for n in args.sizes}
        if args.real_pages:
            from bench.real_print import DEFAULT_LINES

            real = f"{args.real_pages} real"
            batches[real] = make_real_batch(tmp / "src-real", args.real_pages, args.real_lines or DEFAULT_LINES)
            pages_of[real] = len(list((batches[real][0] / "real").glob("page-*.png")))
        args.labels = list(batches)
        args.pages_of = pages_of
        commands = ("ocrmypdf", *(f"digitize ({kind} server)" for kind in args.servers))
        for rep in range(args.repeat):
            order = commands[rep % len(commands):] + commands[:rep % len(commands)]
            for n, (batch, pdf) in batches.items():
                for command in order:
                    if command == "ocrmypdf":
                        timing = run_ocrmypdf(pdf, tmp / f"ocrmypdf-{n}-{rep}.pdf", args.workers)
                    else:
                        persistent = "persistent" in command
                        home = tmp / f"home-{n}-{rep}-{command.split('(')[1].split()[0]}"
                        if persistent:  # the data folder with the running server; its run data emptied
                            for part in ("work", "output", "store", "catalog.sqlite3"):
                                target = warm_home / part
                                shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(
                                    missing_ok=True)
                            home = warm_home
                        timing = run_ours(batch, home, args.workers, start_server="temporary" not in command)
                        if "on-demand" in command:  # the run started the server (the first run of a day): stop it
                            stop_server(server_folder(home))
                    timing.load = os.getloadavg()[0]
                    figures.add(f"{command}|{n}", timing)
                    print(f"rep {rep + 1} {n:>7} pages {command:30} {timing.seconds:6.1f} s"
                          + (f"  first page in OCR {timing.first_ocr:.1f} s" if timing.first_ocr is not None else ""),
                          flush=True)
        ours_page = alone_page = counted = 0
        if not args.no_interleaved:
            ours_page, alone_page, counted = per_page_vs_tesseract(
                batches[str(max(args.sizes))][0] / "book", tmp, args.interleaved_pages
            )
    load_after = os.getloadavg()[0]

    print(f"\nGenerated A5 pages at 300 dpi, model {MODEL}, {args.workers} workers, whole command, cold; median of "
          f"{args.repeat}; {os.cpu_count()} CPUs, load average {load_before:.1f} before, {load_after:.1f} after "
          "(a shared machine: absolute times are noisy, ratios are from the same run)")
    print(f"persistent server started once before the runs in {server_start:.1f} s (not counted)")
    _per_rep_table(figures, args)
    print(f"\nmedians of {args.repeat}")
    header = ("pages", "server", "digitize s/page", "OCRmyPDF s/page", "ratio", "first page in OCR")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    rows = []
    for n in args.labels:
        count = args.pages_of[n]
        theirs = figures.median(f"ocrmypdf|{n}") / count
        for kind in args.servers:
            key = f"digitize ({kind} server)|{n}"
            ours = figures.median(key) / count
            first = figures.median_first(key)
            rows.append({"pages": n, "server": kind, "digitize_s_per_page": ours, "ocrmypdf_s_per_page": theirs,
                         "ratio": theirs / ours, "first_page_in_ocr_s": first,
                         "runs": [t.seconds for t in figures.runs[key]],
                         "ocrmypdf_runs": [t.seconds for t in figures.runs[f"ocrmypdf|{n}"]]})
            faster = "faster" if theirs >= ours else "slower"
            print(f"{n} | {kind} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.2f}x ({faster}) | "
                  + (f"{first:.1f} s" if first is not None else "-"))
    if counted:
        print(f"\nper page, steady state, interleaved in one process ({counted} pages, medians): the page function "
              f"{ours_page:.2f} s, Tesseract alone on the raw scan {alone_page:.2f} s: {ours_page / alone_page:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({
            "rows": rows, "per_page": {"ours": ours_page, "tesseract_alone": alone_page},
            "load": [load_before, load_after], "server_start_seconds": server_start,
        }, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
