"""Benchmark: bytes per page of our PDF/A against OCRmyPDF's default, on the same pages.

Both get the same generated scans (A5, 300 dpi, grey, slightly skewed and
specked, as bench/ocr_vs_ocrmypdf.py makes them). OCRmyPDF runs with its
defaults as the issue asks (``ocrmypdf -l Cyrillic --output-type pdfa``) on
an image PDF of the scans (img2pdf, lossless, as a scanner writes it); we
run the pipeline (pages, then item assembly) with each image codec. For
ours we also check the text layer: pdftotext must find the printed words.

    .venv/bin/python -m bench.pdf_size --pages 6
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from digitize.assembly.item import assemble_item, plan_pages
from digitize.assembly.pdfa import check_pdfa
from digitize.pipeline.page import process_page
from digitize.samples.batch import make_image_pdf
from digitize.samples.corpus import paragraphs
from digitize.samples.render import render_page, scan_like
from digitize.scanners.batch import read_item
from digitize.settings import Settings


def make_item(folder: Path, count: int) -> tuple[Path, list[str]]:
    item = folder / "bench-item"
    item.mkdir(parents=True)
    (item / "item.toml").write_text('title = "Бенчмарк"\nyear = 1968\n', encoding="utf-8")
    truths = []
    for number in range(1, count + 1):
        rendered = render_page(paragraphs(seed=100 + number, n=4), seed=number)
        angle = ((number * 37) % 13 - 6) * 0.7
        scan_like(rendered, skew_degrees=angle, seed=number).save(
            item / f"page-{number}.tif", dpi=(300, 300), compression="tiff_lzw"
        )
        truths.append(rendered.text)
    return item, truths


def words_found(pdf: Path, truths: list[str]) -> float:
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    found = set(re.findall(r"\w+", text.lower()))
    wanted = [w for truth in truths for w in re.findall(r"\w+", truth.lower())]
    return sum(w in found for w in wanted) / len(wanted)


def run_ours(item_folder: Path, work: Path, codec: str) -> Path:
    settings = Settings(work_dir=work / f"work-{codec}", output_dir=work / f"out-{codec}", workers=1)
    settings = settings.model_copy(update={"pdf": settings.pdf.model_copy(update={"image_codec": codec})})
    item = read_item(item_folder)
    pages = [process_page(job, settings) for job in plan_pages(item, settings)]
    return assemble_item(item, pages, settings).pdf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=6)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="pdf-size-") as tmp:
        work = Path(tmp)
        item, truths = make_item(work / "batch", args.pages)
        scans = sorted(item.glob("page-*.tif"), key=lambda p: int(p.stem.split("-")[1]))
        image_pdf = make_image_pdf(scans, work / "scans.pdf")

        clock = time.perf_counter()
        ocrmypdf_out = work / "ocrmypdf.pdf"
        env = dict(os.environ, OMP_THREAD_LIMIT="1")
        subprocess.run(
            [str(Path(sys.executable).with_name("ocrmypdf")), "-q", "-l", "Cyrillic", "--output-type", "pdfa",
             str(image_pdf), str(ocrmypdf_out)],
            check=True, env=env,
        )
        results["ocrmypdf"] = {
            "bytes_per_page": ocrmypdf_out.stat().st_size // args.pages,
            "seconds": round(time.perf_counter() - clock, 1),
            "words_found": round(words_found(ocrmypdf_out, truths), 4),
        }
        for codec in ("jpeg2000", "jpeg"):
            clock = time.perf_counter()
            ours = run_ours(item, work, codec)
            results[f"digitize ({codec})"] = {
                "bytes_per_page": ours.stat().st_size // args.pages,
                "seconds": round(time.perf_counter() - clock, 1),
                "words_found": round(words_found(ours, truths), 4),
                "pdfa_problems": len(check_pdfa(ours)),
            }
        results["scans (image PDF, lossless)"] = {"bytes_per_page": image_pdf.stat().st_size // args.pages}

    base = results["ocrmypdf"]["bytes_per_page"]
    print(f"{args.pages} pages, A5 grey 300 dpi")
    print(f"{'':30} {'bytes/page':>11} {'vs OCRmyPDF':>11} {'words found':>12} {'seconds':>8}")
    for name, row in results.items():
        ratio = row["bytes_per_page"] / base
        print(
            f"{name:30} {row['bytes_per_page']:>11,} {ratio:>11.2f} "
            f"{row.get('words_found', float('nan')):>12.4f} {row.get('seconds', float('nan')):>8}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
