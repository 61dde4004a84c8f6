"""Per item: plan its pages, then assemble the finished pages into outputs.

Assembly streams: page PDFs are joined by qpdf (which opens only a bounded
number of files at a time and copies page data straight from them), and
texts are concatenated file by file, so memory does not grow with the
length of the book.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Sequence

import pikepdf

from digitize.errors import OutputError
from digitize.settings import Settings
from pipeline.model import ItemOutputs, OutputFile, PageJob, PageResult
from pipeline.records import ISO639_2, dublin_core_xml, item_record
from scanners.batch import Item

__all__ = ["plan_pages", "assemble_item", "item_work_dir", "item_output_dir"]

log = logging.getLogger(__name__)


def item_work_dir(settings: Settings, item_id: str) -> Path:
    return Path(settings.work_dir) / item_id


def item_output_dir(settings: Settings, item_id: str) -> Path:
    return Path(settings.output_dir) / item_id


def plan_pages(item: Item, settings: Settings) -> list[PageJob]:
    """One job per page of the item, each with its own work folder."""
    model = item.metadata.ocr_model or settings.ocr.model_for(item.metadata.language, item.metadata.script)
    hashes = {source.path: source.sha256 for source in item.files}
    base = item_work_dir(settings, item.item_id) / "pages"
    return [
        PageJob(
            item_id=item.item_id,
            kind=item.kind,
            seq=page.seq,
            source=page.path,
            frame=page.frame,
            frames_in_file=page.frames_in_file,
            source_sha256=hashes[page.path],
            work_dir=base / f"{page.seq:06d}",
            ocr_model=model,
            year=item.metadata.year,
        )
        for page in item.pages
    ]


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def _write(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, dest)


def _join_texts(paths: Sequence[Path], dest: Path) -> None:
    """Whole-book text: pages in order, separated by a form feed (as pdftotext does)."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    with tmp.open("wb") as out:
        for index, path in enumerate(paths):
            if index:
                out.write(b"\f")
            with path.open("rb") as page:
                shutil.copyfileobj(page, out)
    os.replace(tmp, dest)


def _merge_pdfs(pages: Sequence[Path], dest: Path, item: Item, record: dict) -> None:
    tmp = dest.with_name(f".{dest.name}.tmp")
    joined = dest.with_name(f".{dest.name}.joined")
    try:
        pikepdf.Job(["qpdf", "--deterministic-id", "--empty", "--pages", *map(str, pages), "--", str(joined)]).run()
        with pikepdf.open(joined) as pdf:
            meta = item.metadata
            pdf.docinfo[pikepdf.Name.Title] = meta.title
            if meta.authors:
                pdf.docinfo[pikepdf.Name.Author] = "; ".join(meta.authors)
            pdf.docinfo[pikepdf.Name.Creator] = "digitize"
            with pdf.open_metadata(set_pikepdf_as_editor=False) as xmp:
                xmp["dc:title"] = meta.title
                if meta.authors:
                    xmp["dc:creator"] = list(meta.authors)
                xmp["dc:language"] = [ISO639_2.get(meta.language, meta.language)]
                if meta.year:
                    xmp["dc:date"] = [str(meta.year)]
                xmp["dc:identifier"] = item.item_id
                xmp["xmp:CreatorTool"] = "digitize"
            # Same pages and metadata give the same bytes: a re-run uploads nothing.
            pdf.save(tmp, deterministic_id=True)
        os.replace(tmp, dest)
    except pikepdf.PdfError as exc:
        raise OutputError(f"{dest}: cannot join the page PDFs ({exc})") from exc
    finally:
        for leftover in (joined, tmp):
            leftover.unlink(missing_ok=True)


def assemble_item(item: Item, pages: Sequence[PageResult], settings: Settings) -> ItemOutputs:
    """Build the item's outputs from its finished pages (in page order)."""
    pages = sorted(pages, key=lambda p: p.seq)
    if [p.seq for p in pages] != [p.seq for p in item.pages]:
        raise OutputError(f"{item.folder}: pages missing from assembly ({len(pages)} of {len(item.pages)})")
    out = item_output_dir(settings, item.item_id)
    out.mkdir(parents=True, exist_ok=True)
    files: list[OutputFile] = []

    for source in item.files:
        files.append(OutputFile(source.path, f"masters/{source.path.name}", "master", _mime(source.path)))

    pdf_path = out / f"{item.item_id}.pdf"
    confidences = [p.mean_confidence for p in pages if p.mean_confidence is not None]
    mean_confidence = round(sum(confidences) / len(confidences), 2) if confidences else None
    record = item_record(
        item.item_id,
        item.metadata,
        len(pages),
        {"mean_ocr_confidence": mean_confidence, "content_hash": item.content_hash},
    )
    _merge_pdfs([p.pdf for p in pages], pdf_path, item, record)
    files.append(OutputFile(pdf_path, pdf_path.name, "pdf", "application/pdf"))

    if item.kind == "text":
        for name, attr in (("original", "text"), ("latin", "text_latin")):
            page_files = [getattr(p, attr) for p in pages]
            for page, path in zip(pages, page_files):
                key = f"text/{name}/{page.seq:04d}.txt"
                _copy(path, out / key)
                files.append(OutputFile(out / key, key, f"text-{name}-page", "text/plain; charset=utf-8"))
            whole = out / f"{item.item_id}.{name}.txt"
            _join_texts(page_files, whole)
            files.append(OutputFile(whole, whole.name, f"text-{name}", "text/plain; charset=utf-8"))
        for page in pages:
            key = f"ocr/{page.seq:04d}.hocr"
            _copy(page.hocr, out / key)
            files.append(OutputFile(out / key, key, "hocr", "text/vnd.hocr+html; charset=utf-8"))

    report = {
        "identifier": item.item_id,
        "pages": [
            {
                "seq": p.seq,
                "source": p.source.name,
                "frame": p.frame,
                "width": p.width,
                "height": p.height,
                "dpi": p.dpi,
                "skew_degrees": p.skew_degrees,
                "mean_confidence": p.mean_confidence,
                "words": p.word_count,
                "seconds": p.seconds,
                "steps": [{"name": s.name, "description": s.description, "settings": s.settings} for s in p.steps],
            }
            for p in pages
        ],
    }
    _write(out / "report.json", json.dumps(report, ensure_ascii=False, indent=1).encode())
    files.append(OutputFile(out / "report.json", "report.json", "report", "application/json"))
    _write(out / "record.json", json.dumps(record, ensure_ascii=False, indent=1).encode())
    files.append(OutputFile(out / "record.json", "record.json", "record", "application/json"))
    _write(out / "dc.xml", dublin_core_xml(record))
    files.append(OutputFile(out / "dc.xml", "dc.xml", "dublin-core", "application/xml"))
    return ItemOutputs(item.item_id, out, tuple(files), len(pages), pdf_path, mean_confidence)


_MIME = {
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".jp2": "image/jp2",
    ".j2k": "image/jp2",
    ".jpx": "image/jpx",
    ".pdf": "application/pdf",
}


def _mime(path: Path) -> str:
    return _MIME.get(path.suffix.lower(), "application/octet-stream")
