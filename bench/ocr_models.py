"""Which Tesseract model reads Azerbaijani Cyrillic best? Measured on the same pages.

Renders pages of Azerbaijani Cyrillic prose (every letter of the 1958
alphabet occurs), as clean and as scanned (skewed, then straightened by our
deskew), and reads them with each model through the same tesserocr call the
pipeline uses. Prints character and word error rates and seconds per page.

    .venv/bin/python -m bench.ocr_models --pages 6
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image

import digitize  # noqa: F401  (process defaults: one OpenMP thread)
from digitize.pipeline import deskew, tesseract
from digitize.pipeline.hocr import page_text, parse_hocr
from digitize.samples.corpus import paragraphs
from digitize.samples.metrics import cer, wer
from digitize.samples.render import render_page, scan_like

MODELS = ("Cyrillic", "aze_cyrl", "aze_cyrl+rus", "rus")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=6)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    args = parser.parse_args(argv)

    info = tesseract.probe()
    models = [m for m in args.models if all(p in info.models for p in m.split("+"))]
    pages = []
    for number in range(args.pages):
        rendered = render_page(paragraphs(seed=200 + number, n=4), seed=number)
        scanned = np.asarray(scan_like(rendered, skew_degrees=2.0 + number * 0.5, seed=number))
        straight = deskew.rotate(scanned, -deskew.estimate_skew(scanned))
        pages.append((rendered.text, {"clean": rendered.image, "scanned": Image.fromarray(straight)}))

    print(f"{args.pages} A5 pages, 300 dpi, Tesseract {info.version}")
    print(f"{'model':14} {'kind':8} {'CER':>7} {'WER':>7} {'s/page':>7}")
    for model in models:
        for kind in ("clean", "scanned"):
            truth, found, seconds = [], [], 0.0
            for text, images in pages:
                start = time.perf_counter()
                hocr, _ = tesseract.recognize_hocr(images[kind], model=model, dpi=300, tessdata=info.tessdata)
                seconds += time.perf_counter() - start
                truth.append(text)
                found.append(page_text(parse_hocr(tesseract.hocr_document(hocr, info.version, "az"))))
            joined_truth, joined = "\n".join(truth), "\n".join(found)
            print(f"{model:14} {kind:8} {cer(joined_truth, joined):7.2%} {wer(joined_truth, joined):7.2%} "
                  f"{seconds / len(pages):7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
