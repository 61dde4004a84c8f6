"""Does writing METS and ALTO stay flat in memory as the book grows? Peak RSS for N pages.

Builds an N-page item once (tiny PNG masters, and for every page a copy of
one real Tesseract hOCR page with its real processing steps), then, in a
fresh process per measurement, writes the ALTO files and the METS document
and reports the growth of peak RSS over the process's baseline.

    .venv/bin/python -m bench.archive_memory --pages 100 1000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mb() -> float:
    """Peak resident set size since the last reset (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    """Linux: writing 5 to clear_refs resets the peak RSS to the current RSS."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def prepare(folder: Path, pages: int) -> Path:
    """Write the synthetic item and its page results; returns the pickle."""
    from PIL import Image

    from digitize.assembly.item import plan_pages
    from digitize.pipeline.page import process_page
    from digitize.samples.corpus import paragraphs
    from digitize.samples.render import render_page
    from digitize.scanners.batch import read_item
    from digitize.settings import Settings

    template_dir = folder / "template"
    template_dir.mkdir(parents=True)
    (template_dir / "item.toml").write_text('title = "Шаблон"\nyear = 1968\n', encoding="utf-8")
    render_page(paragraphs(seed=1, n=2), dpi=200, seed=1).image.save(template_dir / "p1.png", dpi=(200, 200))
    settings = Settings(work_dir=folder / "work", output_dir=folder / "out")
    template = read_item(template_dir)
    real = process_page(plan_pages(template, settings)[0], settings)

    item_dir = folder / "book"
    item_dir.mkdir()
    (item_dir / "item.toml").write_text(
        'title = "Китаб <&> \\"кітап\\" كتاب é"\nauthors = ["Һ. Әлизадә"]\nyear = 1968\n', encoding="utf-8"
    )
    tiny = Image.new("L", (600, 800), 255)
    for seq in range(1, pages + 1):
        tiny.save(item_dir / f"p{seq:05d}.png")
    item = read_item(item_dir)
    results = []
    for page in item.pages:
        work = folder / "work" / "book" / f"{page.seq:06d}"
        work.mkdir(parents=True)
        paths = {}
        for name in ("pdf", "hocr", "text", "text_latin"):
            src = getattr(real, name)
            paths[name] = work / src.name
            shutil.copyfile(src, paths[name])
        results.append(dataclasses.replace(real, item_id=item.item_id, seq=page.seq, source=page.path, **paths))
    blob = folder / "pages.pickle"
    blob.write_bytes(pickle.dumps((item, results)))
    return blob


def measure(blob: Path, out: Path) -> dict:
    from digitize.archive.alto import AltoSource, write_alto
    from digitize.archive.mets import write_mets
    from digitize.archive.records import item_record
    from digitize.assembly.item import run_day
    from digitize.pipeline.masters import verify_masters
    from digitize.pipeline.model import OutputFile

    item, pages = pickle.loads(blob.read_bytes())
    _reset_peak()
    baseline = _rss_mb()
    clock = time.perf_counter()
    digests = verify_masters({s.path: s.sha256 for s in item.files})  # the fixity check the METS relies on
    files = [OutputFile(s.path, f"masters/{s.path.name}", "master", "image/png", digests[s.path]) for s in item.files]
    for page in pages:
        key = f"alto/{page.seq:04d}.xml"
        write_alto(page.hocr, out / key, AltoSource(page.seq, page.source.name, "az"))
        files.append(OutputFile(out / key, key, "alto", "application/xml"))
        files.append(OutputFile(page.hocr, f"ocr/{page.seq:04d}.hocr", "hocr", "text/vnd.hocr+html"))
    record = item_record(item.item_id, item.metadata, len(pages))
    mets = out / "book.mets.xml"
    write_mets(mets, item, pages, files, record, "Bench", run_day=run_day(pages))
    return {
        "pages": len(pages),
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(_rss_mb(), 1),
        "growth_mb": round(_rss_mb() - baseline, 1),
        "seconds": round(time.perf_counter() - clock, 2),
        "mets_bytes": mets.stat().st_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.out)))
        return
    for pages in args.pages:
        with tempfile.TemporaryDirectory() as tmp:
            blob = prepare(Path(tmp), pages)
            done = subprocess.run(
                [sys.executable, "-m", "bench.archive_memory", "--measure", str(blob), "--out", str(Path(tmp) / "out")],
                check=True, capture_output=True, text=True,
            )
            print(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
