"""Benchmark: `digitize run` against OCRmyPDF on the same generated pages, in one run.

For both: seconds per page (wall clock of the whole command, start-up
included), character and word error rate against the ground truth (the
PDF's text layer, extracted the same way for both), and bytes per page of
the PDF. OCRmyPDF runs as the issue asks: --deskew -l <same model> --jobs <same>.

    .venv/bin/python -m bench.ocr_vs_ocrmypdf --pages 12 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import img2pdf
import pypdfium2

from digitize.samples.corpus import paragraphs
from digitize.samples.metrics import cer, wer
from digitize.samples.render import render_page, scan_like


def make_pages(folder: Path, count: int) -> list[str]:
    truths = []
    for number in range(1, count + 1):
        rendered = render_page(paragraphs(seed=100 + number, n=4), seed=number)
        angle = ((number * 37) % 13 - 6) * 0.7  # -4.2° … +4.2°
        scan_like(rendered, skew_degrees=angle, seed=number).save(
            folder / f"page-{number}.tif", dpi=(300, 300), compression="tiff_lzw"
        )
        truths.append(rendered.text)
    return truths


def pdf_pages_text(path: Path) -> list[str]:
    document = pypdfium2.PdfDocument(str(path))
    try:
        return [page.get_textpage().get_text_range() for page in document]
    finally:
        document.close()


def score(truths: list[str], texts: list[str]) -> tuple[float, float]:
    joined_truth, joined_text = "\n".join(truths), "\n".join(texts)
    return cer(joined_truth, joined_text), wer(joined_truth, joined_text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--model", default="Cyrillic")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as tmp:
        tmp = Path(tmp)
        item = tmp / "batch" / "bench-book"
        item.mkdir(parents=True)
        (item / "item.toml").write_text(
            f'title = "Bench"\nlanguage = "az"\nscript = "Cyrl"\nocr_model = "{args.model}"\n', encoding="utf-8"
        )
        truths = make_pages(item, args.pages)
        env = dict(
            os.environ,
            DIGITIZE_WORK_DIR=str(tmp / "work"),
            DIGITIZE_OUTPUT_DIR=str(tmp / "out"),
            DIGITIZE_STORAGE__URL=f"file://{tmp / 'store'}",
            DIGITIZE_CATALOG__URL=f"sqlite:///{tmp / 'catalog.sqlite3'}",
            DIGITIZE_WORKERS=str(args.workers),
            OMP_THREAD_LIMIT="1",
        )
        env.pop("PREFECT_API_URL", None)
        digitize = Path(sys.executable).with_name("digitize")
        start = time.perf_counter()
        subprocess.run([str(digitize), "run", str(tmp / "batch")], env=env, check=True, capture_output=True)
        ours_seconds = time.perf_counter() - start
        ours_pdf = tmp / "out" / "bench-book" / "bench-book.pdf"
        timings = json.loads((tmp / "out" / "bench-book" / "timings.json").read_text())  # not in report.json
        ocr_seconds = sum(p["seconds"].get("ocr", 0.0) for p in timings["pages"])

        source_pdf = tmp / "scans.pdf"
        scans = sorted(item.glob("*.tif"), key=lambda p: int(p.stem.split("-")[1]))
        source_pdf.write_bytes(img2pdf.convert([str(p) for p in scans]))
        theirs_pdf = tmp / "ocrmypdf.pdf"
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "ocrmypdf", "--deskew", "-l", args.model, "--jobs", str(args.workers),
             str(source_pdf), str(theirs_pdf)],
            env=env, check=True, capture_output=True,
        )
        theirs_seconds = time.perf_counter() - start

        ours_cer, ours_wer = score(truths, pdf_pages_text(ours_pdf))
        theirs_cer, theirs_wer = score(truths, pdf_pages_text(theirs_pdf))
        rows = {
            "digitize": {
                "seconds_per_page": ours_seconds / args.pages,
                "cer": ours_cer,
                "wer": ours_wer,
                "bytes_per_page": ours_pdf.stat().st_size / args.pages,
                "tesseract_seconds_per_page": ocr_seconds / args.pages,
            },
            "ocrmypdf": {
                "seconds_per_page": theirs_seconds / args.pages,
                "cer": theirs_cer,
                "wer": theirs_wer,
                "bytes_per_page": theirs_pdf.stat().st_size / args.pages,
            },
        }
    print(f"{args.pages} A5 pages at 300 dpi, skewed ±4.2°, model {args.model}, {args.workers} workers")
    print(f"{'':10} {'s/page':>8} {'CER':>7} {'WER':>7} {'bytes/page':>11}")
    for name, row in rows.items():
        print(f"{name:10} {row['seconds_per_page']:8.2f} {row['cer']:7.2%} {row['wer']:7.2%} "
              f"{row['bytes_per_page']:11,.0f}")
    print(f"(digitize: Tesseract itself {rows['digitize']['tesseract_seconds_per_page']:.2f} s/page of worker time; "
          "the wall clock includes starting a temporary Prefect server)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
