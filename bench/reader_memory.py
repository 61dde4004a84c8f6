"""Benchmark: peak memory of item assembly (PDF/A + EPUB + texts) for 100 and 1,000 pages.

A few real pages are processed (Tesseract and all), then their results are
repeated to make items of 100 and 1,000 small pages; each item is assembled
in a fresh process and its peak resident memory (ru_maxrss) reported. Flat
means the 1,000-page figure is close to the 100-page one.

    .venv/bin/python -m bench.reader_memory --counts 100 1000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _child(folder: Path, work: Path, count: int) -> None:
    """Assemble the prepared item of ``count`` pages and print its figures."""
    from digitize.assembly.item import assemble_item, plan_pages
    from digitize.pipeline.model import PageResult
    from digitize.scanners.batch import read_item
    from digitize.settings import Settings

    settings = Settings(work_dir=work / "work", output_dir=work / "out")
    item = read_item(folder)
    templates = [PageResult.from_json(p.read_text()) for p in sorted((work / "templates").glob("*.json"))]
    pages = []
    for job in plan_pages(item, settings):
        template = templates[(job.seq - 1) % len(templates)]
        # Each page its own files, as after a real run (qpdf must open 1,000 PDFs).
        job.work_dir.mkdir(parents=True, exist_ok=True)
        own = {}
        for name in ("pdf", "hocr", "text", "text_latin"):
            source = getattr(template, name)
            own[name] = job.work_dir / source.name
            shutil.copyfile(source, own[name])
        pages.append(dataclasses.replace(template, seq=job.seq, source=job.source, item_id=item.item_id, **own))
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    clock = time.perf_counter()
    outputs = assemble_item(item, pages, settings)
    seconds = time.perf_counter() - clock
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sizes = {f.role: f.path.stat().st_size for f in outputs.files if f.role in ("pdf", "epub")}
    print(json.dumps({"pages": count, "peak_rss_mb": round(peak_kb / 1024, 1),
                      "before_assembly_mb": round(baseline_kb / 1024, 1), "seconds": round(seconds, 1), **sizes}))


def _prepare(base: Path, count: int, templates: list[Path]) -> Path:
    from PIL import Image

    folder = base / f"batch-{count}" / f"book-{count}"
    folder.mkdir(parents=True)
    (folder / "item.toml").write_text('title = "Yaddaş sınağı"\nyear = 1968\n', encoding="utf-8")
    # Distinct tiny page files (the pages' content comes from the templates).
    for seq in range(1, count + 1):
        Image.new("L", (32, 32), seq % 256).save(folder / f"p-{seq}.png")
    work = base / f"run-{count}"
    (work / "templates").mkdir(parents=True)
    for template in templates:
        shutil.copy(template, work / "templates" / template.name)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(Path(args.child[0]), Path(args.child[1]), int(args.child[2]))
        return 0

    from digitize.pipeline.model import PageJob
    from digitize.pipeline.page import process_page
    from digitize.samples.corpus import paragraphs
    from digitize.samples.render import render_page, scan_like
    from digitize.settings import Settings

    with tempfile.TemporaryDirectory(prefix="reader-memory-") as tmp:
        base = Path(tmp)
        settings = Settings(work_dir=base / "real", output_dir=base / "real-out")
        templates = []
        for number in range(1, 4):  # three real pages, A6 at 200 dpi
            rendered = render_page(paragraphs(seed=number, n=2), seed=number, dpi=200, width_in=4.1, height_in=5.8)
            scan = base / f"scan-{number}.png"
            scan_like(rendered, skew_degrees=0.5 * number, seed=number).save(scan, dpi=(200, 200))
            job = PageJob("real", "text", number, scan, 0, 1, "0" * 64, base / "real" / f"{number:06d}", "Cyrillic")
            result = process_page(job, settings)
            path = base / f"template-{number}.json"
            path.write_text(result.to_json())
            templates.append(path)
        rows = []
        for count in args.counts:
            folder = _prepare(base, count, templates)
            out = subprocess.run(
                [sys.executable, "-m", "bench.reader_memory",
                 "--child", str(folder), str(base / f"run-{count}"), str(count)],
                capture_output=True, text=True,
            )
            if out.returncode:
                raise SystemExit(out.stderr)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'pages':>6} {'RSS before MB':>14} {'peak RSS MB':>12} {'seconds':>8} {'PDF MB':>8} {'EPUB MB':>8}")
    for row in rows:
        print(
            f"{row['pages']:>6} {row['before_assembly_mb']:>14} {row['peak_rss_mb']:>12} {row['seconds']:>8} "
            f"{row.get('pdf', 0) / 1e6:>8.1f} {row.get('epub', 0) / 1e6:>8.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
