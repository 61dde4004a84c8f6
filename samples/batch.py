"""A sample scanner batch on disk, with the ground truth to score it against.

The batch follows the scanner output format the pipeline ingests: one folder
per item holding ``item.toml`` and its page files. Between its items it uses
every page format we accept (single-page TIFF, multi-page TIFF, PNG, JPEG),
unpadded page numbers (so only a natural sort orders them), known skews and
a sheet-music item. The same seed writes the same bytes.

    python -m samples.batch DEST --seed 0 --pages 3 [--ground-truth truth.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import img2pdf
import numpy as np
from PIL import Image

from . import corpus
from .render import blur, render_page, render_score_page, scan_like, uneven_light, yellow_paper

__all__ = [
    "SampleBatch",
    "SampleItem",
    "SamplePage",
    "main",
    "make_image_pdf",
    "make_sample_batch",
    "toml_document",
    "write_ground_truth",
]

log = logging.getLogger(__name__)

DPI = 300

# What item.toml says for each item; the inventory number gets the seed.
_METADATA: dict[str, dict[str, object]] = {
    "book-001": {
        "title": "Хәзәр саһилләриндә",
        "authors": ["Ә. Мәммәдов"],
        "year": 1965,
        "kind": "text",
    },
    "book-002": {
        "title": "Әдәбијјатымызын инҹиләри",
        "authors": ["Р. Әлијева", "Т. Һүсејнов"],
        "year": 1978,
        "kind": "text",
    },
    "book-003": {
        "title": "Китабханалар вә китаблар",
        "authors": ["Н. Гулијев"],
        "year": 1984,
        "kind": "text",
    },
    "score-001": {
        "title": "Лајла",
        "authors": ["Ф. Бағырова"],
        "year": 1972,
        "kind": "score",
    },
}
_SCORE_SUBTITLE = "Азәрбајҹан халг маһнысы"


@dataclass(frozen=True)
class SamplePage:
    """One page: where it is stored, what it says, how crooked it lies."""

    file: Path
    frame: int  # page index inside a multi-page file; 0 for single-page files
    text: str  # ground truth, lines joined with "\n"
    skew_degrees: float  # counter-clockwise, as applied by render.skew


@dataclass(frozen=True)
class SampleItem:
    """An item folder of the batch and its pages in reading order."""

    item_id: str
    kind: str
    path: Path
    metadata: Mapping[str, object]  # exactly what item.toml holds
    pages: tuple[SamplePage, ...]

    @property
    def files(self) -> list[Path]:
        """The page files in reading order, a multi-page file once."""
        return list(dict.fromkeys(page.file for page in self.pages))

    @property
    def texts(self) -> list[str]:
        return [page.text for page in self.pages]

    @property
    def skews(self) -> list[float]:
        return [page.skew_degrees for page in self.pages]


@dataclass(frozen=True)
class SampleBatch:
    path: Path
    seed: int
    items: tuple[SampleItem, ...]

    def item(self, item_id: str) -> SampleItem:
        for item in self.items:
            if item.item_id == item_id:
                return item
        raise KeyError(item_id)


def _toml_string(value: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
    out = []
    for char in value:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(element) for element in value) + "]"
    raise TypeError(f"cannot write {value!r} as a TOML value")


def toml_document(table: Mapping[str, object]) -> str:
    """A flat table as TOML text: ``key = value`` lines, strings escaped.

    Enough for item.toml (strings, integers, floats, booleans and arrays of
    them); the standard library only reads TOML.
    """
    lines = []
    for key, value in table.items():
        bare = key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key)
        lines.append(f"{key if bare else _toml_string(key)} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _skews(rng: np.random.Generator, count: int) -> list[float]:
    """Distinct skews between 0.5 and 3 degrees either way, to 0.1 degree."""
    skews: list[float] = []
    while len(skews) < count:
        angle = round(float(rng.uniform(0.5, 3.0)) * float(rng.choice([-1.0, 1.0])), 1)
        if angle not in skews or len(skews) >= 52:  # 52 values exist; then repeat
            skews.append(angle)
    return skews


def _save(image: Image.Image, path: Path, **options: Any) -> None:  # Pillow's own type for save() options
    image.save(path, dpi=(DPI, DPI), **options)


_TIFF = {"format": "TIFF", "compression": "tiff_lzw"}

# Sixteen evenly spaced gray levels, 0 and 255 included. OCR cannot tell the
# difference, but LZW and PNG files of a skewed page shrink to less than half.
_GRAY16 = [min(255, round(value / 17) * 17) for value in range(256)]


def _gray16(image: Image.Image) -> Image.Image:
    return image.point(_GRAY16)


def make_sample_batch(dest: Path, *, seed: int = 0, pages_per_book: int = 3) -> SampleBatch:
    """Write a sample batch into ``dest`` (created; must be empty) and describe it.

    Items: ``book-001`` one grayscale LZW TIFF per page (``page-1.tif`` ...),
    ``book-002`` one multi-page TIFF, ``book-003`` colour JPEG pages on
    yellowed paper alternating with blurred, unevenly lit PNG pages, and
    ``score-001`` a page of sheet music as a lossless PNG. All at 300 dpi,
    written in the file; grayscale pages are kept to 16 gray levels so the
    default batch stays near 3 MB. Every text page is skewed by a known angle.
    """
    if pages_per_book < 1:
        raise ValueError(f"pages_per_book must be at least 1, got {pages_per_book}")
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty; sample batches are written into a new folder")
    dest.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    items: list[SampleItem] = []

    def text_pages(item_number: int) -> list[tuple[Image.Image, str, float, int]]:
        """Scanned pages of one book: image, ground truth, skew, page seed."""
        pages = []
        for number, angle in enumerate(_skews(rng, pages_per_book), start=1):
            page_seed = seed * 10_000 + item_number * 100 + number
            page = render_page(corpus.paragraphs(page_seed, 6), dpi=DPI, seed=page_seed)
            pages.append((scan_like(page, skew_degrees=angle, seed=page_seed), page.text, angle, page_seed))
        return pages

    def start_item(item_id: str) -> tuple[Path, dict[str, object]]:
        folder = dest / item_id
        folder.mkdir()
        known = _METADATA[item_id]
        metadata = {
            "title": known["title"],
            "authors": known["authors"],
            "year": known["year"],
            "language": "az",
            "script": "Cyrl",
            "kind": known["kind"],
            "inventory_number": f"SMP-{seed}-{item_id.upper()}",
            "collection": "Сынаг нүмунәләри",
        }
        (folder / "item.toml").write_text(toml_document(metadata), encoding="utf-8")
        return folder, metadata

    def finish_item(item_id: str, folder: Path, metadata: dict[str, object], pages: list[SamplePage]) -> None:
        items.append(SampleItem(item_id, str(metadata["kind"]), folder, metadata, tuple(pages)))

    # book-001: a file per page, named without zero padding.
    folder, metadata = start_item("book-001")
    pages = []
    for number, (image, text, angle, _) in enumerate(text_pages(1), start=1):
        path = folder / f"page-{number}.tif"
        _save(_gray16(image), path, **_TIFF)
        pages.append(SamplePage(path, 0, text, angle))
    finish_item("book-001", folder, metadata, pages)

    # book-002: the whole book in one multi-page TIFF.
    folder, metadata = start_item("book-002")
    scanned = text_pages(2)
    path = folder / "pages.tif"
    images = [_gray16(image) for image, *_ in scanned]
    _save(images[0], path, save_all=True, append_images=images[1:], **_TIFF)
    pages = [SamplePage(path, frame, text, angle) for frame, (_, text, angle, _) in enumerate(scanned)]
    finish_item("book-002", folder, metadata, pages)

    # book-003: odd pages a colour JPEG of yellowed paper, even pages a
    # blurred, unevenly lit grayscale PNG, as when a book is finished on
    # another scanner.
    folder, metadata = start_item("book-003")
    pages = []
    for number, (image, text, angle, page_seed) in enumerate(text_pages(3), start=1):
        if number % 2:
            path = folder / f"page-{number}.jpg"
            _save(yellow_paper(image), path, format="JPEG", quality=70)
        else:
            path = folder / f"page-{number}.png"
            # Light after the gray levels are cut, or the falloff shows bands.
            lit = uneven_light(_gray16(blur(image, 0.8)), 0.2, seed=page_seed)
            _save(lit, path, format="PNG", optimize=True)
        pages.append(SamplePage(path, 0, text, angle))
    finish_item("book-003", folder, metadata, pages)

    # score-001: engraved music, lossless, straight.
    folder, metadata = start_item("score-001")
    score = render_score_page(str(metadata["title"]), _SCORE_SUBTITLE, dpi=DPI, seed=seed)
    path = folder / "page-1.png"
    _save(score.image, path, format="PNG", optimize=True)
    finish_item("score-001", folder, metadata, [SamplePage(path, 0, score.text, 0.0)])

    log.info("wrote sample batch %s (seed %d, %d items)", dest, seed, len(items))
    return SampleBatch(path=dest, seed=seed, items=tuple(items))


def write_ground_truth(batch: SampleBatch, path: Path) -> Path:
    """Write the batch's ground truth as JSON, file names relative to the batch."""
    document = {
        "seed": batch.seed,
        "items": [
            {
                "id": item.item_id,
                "kind": item.kind,
                "metadata": dict(item.metadata),
                "pages": [
                    {
                        "file": page.file.relative_to(batch.path).as_posix(),
                        "frame": page.frame,
                        "skew_degrees": page.skew_degrees,
                        "text": page.text,
                    }
                    for page in item.pages
                ],
            }
            for item in batch.items
        ],
    }
    path = Path(path)
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def make_image_pdf(image_paths: Iterable[Path], pdf_path: Path) -> Path:
    """An image-only PDF like a scanner's, one page per image (per frame of a
    multi-page TIFF), each page sized from the image's dpi."""
    sources = [str(path) for path in image_paths]
    if not sources:
        raise ValueError("make_image_pdf needs at least one image")
    pdf_path = Path(pdf_path)
    pdf_path.write_bytes(img2pdf.convert(sources, nodate=True))
    return pdf_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m samples.batch", description="Write a synthetic scanner batch with known ground truth."
    )
    parser.add_argument("dest", type=Path, help="folder to create (must be new or empty)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes (default 0)")
    parser.add_argument("--pages", type=int, default=3, help="pages per book (default 3)")
    parser.add_argument("--ground-truth", type=Path, help="also write the ground truth JSON here")
    args = parser.parse_args(argv)
    try:
        batch = make_sample_batch(args.dest, seed=args.seed, pages_per_book=args.pages)
    except (FileExistsError, ValueError) as exc:
        parser.exit(2, f"error: {exc}\n")
    if args.ground_truth:
        write_ground_truth(batch, args.ground_truth)
    for item in batch.items:
        print(f"{item.item_id}: {len(item.pages)} page(s) in {', '.join(p.name for p in item.files)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
