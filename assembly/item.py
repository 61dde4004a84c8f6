"""Per item: plan its pages, then assemble the finished pages into outputs.

Assembly streams: page PDFs are joined by qpdf (which opens only a bounded
number of files at a time and copies page data straight from them), and
texts are concatenated file by file, so memory does not grow with the
length of the book.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pikepdf

from digitize.archive.package import write_archive
from digitize.archive.records import ItemRecord, dublin_core_xml, item_record
from digitize.assembly.epub import EpubInfo, write_epub
from digitize.assembly.pdfa import DocumentInfo, finish_pdfa
from digitize.assembly.reflow import PageSource as FlowSource
from digitize.assembly.reflow import page_furniture, printed_labels, reflow_pages
from digitize.errors import OutputError
from digitize.files import TEMP_SUFFIX, atomic_output, atomic_path, atomic_write_bytes
from digitize.pipeline import spread
from digitize.pipeline.hocr import parse_hocr
from digitize.pipeline.masters import access_copy_jpeg, verify_masters
from digitize.pipeline.model import ItemOutputs, OutputFile, PageJob, PageResult
from digitize.pipeline.thumbnails import page_jpeg
from digitize.scanners.batch import Item
from digitize.settings import Settings

__all__ = ["TIMINGS_FILE", "plan_pages", "assemble_item", "item_work_dir", "item_output_dir", "run_day"]

log = logging.getLogger(__name__)

# Per item, beside its files: seconds per stage of each page (not published, not archived).
TIMINGS_FILE = "timings.json"


def item_work_dir(settings: Settings, item_id: str) -> Path:
    return Path(settings.work_dir) / item_id


def item_output_dir(settings: Settings, item_id: str) -> Path:
    return Path(settings.output_dir) / item_id


def language_tag(language: str, script: str | None) -> str:
    """The BCP 47 tag of an item's text: ``az`` and ``Cyrl`` give ``az-Cyrl``."""
    return f"{language}-{script}" if script else language


def plan_pages(item: Item, settings: Settings) -> list[PageJob]:
    """One job per page of the item, each with its own work folder.

    A frame holding two pages (a spread) gives two jobs, left half and
    right half, and pages are numbered on in reading order. Text items
    only: with item.toml ``spreads = true`` every frame is a spread; with
    ``"auto"`` (the default) the frames pipeline.spread finds to be spreads
    (decided once, kept in the item's work folder, so every planning of the
    item gives the same pages); with ``false`` none.
    """
    model = item.metadata.ocr_model or settings.ocr.model_for(item.metadata.language, item.metadata.script)
    hashes = {source.path: source.sha256 for source in item.files}
    base = item_work_dir(settings, item.item_id) / "pages"
    mode = item.metadata.spreads if item.kind == "text" else False
    if mode == "auto" and settings.image.detect_spreads:
        split = spread.split_decisions(item, item_work_dir(settings, item.item_id), settings.image.max_image_pixels)
        split_by = "detected"
    else:
        split, split_by = [mode is True] * len(item.pages), "item.toml"
    jobs = []
    seq = 0
    for page, two in zip(item.pages, split, strict=False):
        for part in (0, 1) if two else (None,):
            seq += 1
            jobs.append(
                PageJob(
                    item_id=item.item_id,
                    kind=item.kind,
                    seq=seq,
                    source=page.path,
                    frame=page.frame,
                    frames_in_file=page.frames_in_file,
                    source_sha256=hashes[page.path],
                    work_dir=base / f"{seq:06d}",
                    ocr_model=model,
                    year=item.metadata.year,
                    part=part,
                    split_by=None if part is None else split_by,
                    binarize_access=item.metadata.binarize_access,
                    language=language_tag(item.metadata.language, item.metadata.script),
                )
            )
    return jobs


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def _place(src: Path, dest: Path) -> None:
    """Put a page's finished file (its text, its hOCR) in the item's folder under ``dest``.

    A hard link, renamed into place, so the name is complete or absent: the
    page stage wrote the bytes durably (the atomic writer), and writing them
    again with an fsync per file was most of the item's assembly time on a
    disk where an fsync costs milliseconds (bench/assembly.py: 3 files a
    page). Without the folder's fsync a power cut may lose the new name, not
    the bytes; assembly makes every output again on the next run, so nothing
    trusts the name. A second run finds the same file in place. Where the
    file system cannot link (another device), the atomic writer copies.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if dest.exists() and os.path.samefile(src, dest):
            return
    temp = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
    try:
        os.link(src, temp)
    except OSError:
        _copy(src, dest)
        return
    try:
        os.replace(temp, dest)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _write(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(dest, data)


def _join_texts(paths: Sequence[Path], dest: Path) -> None:
    """Whole-book text: pages in order, separated by a form feed (as pdftotext does)."""
    with atomic_output(dest) as out:
        for index, path in enumerate(paths):
            if index:
                out.write(b"\f")
            with path.open("rb") as page:
                shutil.copyfileobj(page, out)


def _merge_pdfs(
    pages: Sequence[Path], dest: Path, item: Item, labels: Sequence[str | None] | None, moment: datetime
) -> None:
    """Join the page PDFs (qpdf streams them) and finish the result as validated PDF/A-2b."""
    joined = dest.with_name(f".{dest.name}.joined")
    meta = item.metadata
    info = DocumentInfo(
        title=meta.title,
        authors=tuple(meta.authors),
        language=f"{meta.language}-{meta.script}" if meta.script else meta.language,
        year=meta.year,
        identifier=item.item_id,
    )
    try:
        pikepdf.Job(["qpdf", "--deterministic-id", "--empty", "--pages", *map(str, pages), "--", str(joined)]).run()
        # Same pages and metadata give the same bytes: a re-run uploads nothing.
        finish_pdfa(joined, dest, info, labels, moment)
    except pikepdf.PdfError as exc:
        raise OutputError(f"{dest}: cannot join the page PDFs ({exc})") from exc
    finally:
        joined.unlink(missing_ok=True)


# The atomic writer's temporary names (digitize/files.py): ".<name>.<12 hex>.part", maybe with the name's suffix.
_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{12}" + re.escape(TEMP_SUFFIX) + r"(\.[^.]+)?")


def _remove_leftover_temps(out: Path) -> None:
    """Remove temporary files that a killed run left in the item's output folder.

    A writer killed with SIGKILL (or a power cut) cannot remove its
    temporary file; its final file was never replaced, so nothing is lost,
    but the stray file would make the output folder differ from that of an
    uninterrupted run. Only this item's assembly writes here (one run per
    batch at a time), so any such file is a leftover.
    """
    for path in sorted(out.rglob(".*")):
        if path.is_file() and _TEMP_NAME.fullmatch(path.name):
            log.info("%s: removing %s, left by an interrupted run", out.name, path.relative_to(out))
            path.unlink(missing_ok=True)


def _write_timings(dest: Path, identifier: str, pages: Sequence[PageResult]) -> None:
    """Seconds per stage of each page, as measured by the run that made the page.

    Kept out of report.json and of every file of the package: a page reused
    by a resumed run keeps the timings of the run that made it, and the same
    page made twice is never timed the same, so timings in report.json would
    change report.json, the METS that lists its checksum, the bag and the
    manifest although nothing else did. Written beside the item's files for
    staff and bench/, never published (not an OutputFile).
    """
    timings = {"identifier": identifier, "pages": [{"seq": p.seq, "seconds": p.seconds} for p in pages]}
    _write(dest, json.dumps(timings, ensure_ascii=False, indent=1).encode())


def run_day(pages: Sequence[PageResult]) -> datetime:
    """The run's date: the day (UTC) the newest page was made.

    Computed once per item, here, and passed down: it is the date of the
    PDF and the EPUB, and of the archival package (MARC 008 and 533, the
    METS's PREMIS events, the bag). A day, not a second: a re-run, or a run
    resumed after a crash, makes the same bytes as an uninterrupted run of
    the same day.
    """
    newest = datetime.fromtimestamp(int(max(p.pdf.stat().st_mtime for p in pages)), tz=UTC)
    return newest.replace(hour=0, minute=0, second=0)


def _printed_labels(item: Item, pages: Sequence[PageResult]) -> list[str | None]:
    """Page labels from item.toml's first_page_number, else from numbers printed on the pages."""
    first = item.metadata.first_page_number
    if first is not None or item.kind != "text":
        return printed_labels([None] * len(pages), first)
    numbers = [page_furniture(parse_hocr(p.hocr)) if p.hocr else None for p in pages]
    return printed_labels(numbers)


def _reader_outputs(
    item: Item, pages: Sequence[PageResult], settings: Settings, out: Path, record: ItemRecord,
    labels: Sequence[str | None], moment: datetime,
) -> list[OutputFile]:
    """Thumbnail for the catalog; for text items the Latin EPUB; for scores/art the JPEG access copies."""
    files: list[OutputFile] = []
    thumbnail = out / "thumbnail.jpg"
    _write(thumbnail, page_jpeg(pages[0].pdf, settings.pdf.thumbnail_px))
    files.append(OutputFile(thumbnail, thumbnail.name, "thumbnail", "image/jpeg"))
    if item.kind == "text":
        epub_path = out / f"{item.item_id}.epub"
        info = EpubInfo(
            identifier=item.item_id,
            title=record.title_latin or item.metadata.title,
            authors=tuple(record.authors_latin or item.metadata.authors),
            language=f"{item.metadata.language}-Latn",
            date=str(item.metadata.year) if item.metadata.year else None,
            modified=moment,
        )
        flow = reflow_pages(FlowSource(p.seq, p.hocr, p.text_latin) for p in pages if p.hocr)
        write_epub(epub_path, info, flow, labels, page_jpeg(pages[0].pdf, 1200, quality=85))
        files.append(OutputFile(epub_path, epub_path.name, "epub", "application/epub+zip"))
    elif settings.pdf.access_copy:
        for page in pages:
            key = f"access/{page.seq:04d}.jpg"
            _write(out / key, access_copy_jpeg(page.source, page.frame, settings.pdf.access_copy_px))
            files.append(OutputFile(out / key, key, "access-copy", "image/jpeg"))
    return files


def assemble_item(item: Item, pages: Sequence[PageResult], settings: Settings) -> ItemOutputs:
    """Build the item's outputs from its finished pages (in page order)."""
    pages = sorted(pages, key=lambda p: p.seq)
    expected = [job.seq for job in plan_pages(item, settings)]  # two per frame for spreads
    if [p.seq for p in pages] != expected:
        raise OutputError(f"{item.folder}: pages missing from assembly ({len(pages)} of {len(expected)})")
    out = item_output_dir(settings, item.item_id)
    out.mkdir(parents=True, exist_ok=True)
    _remove_leftover_temps(out)
    files: list[OutputFile] = []

    # Fixity, the one check: every master is hashed once, here, and compared
    # with its intake SHA-256; the digest travels on its OutputFile to the
    # METS (archive.mets, which refuses a master without one) and to the
    # store (which checks the bytes it receives against it on upload).
    digests = verify_masters({source.path: source.sha256 for source in item.files})
    for source in item.files:
        files.append(
            OutputFile(source.path, f"masters/{source.path.name}", "master", _mime(source.path), digests[source.path])
        )

    pdf_path = out / f"{item.item_id}.pdf"
    confidences = [p.mean_confidence for p in pages if p.mean_confidence is not None]
    mean_confidence = round(sum(confidences) / len(confidences), 2) if confidences else None
    record = item_record(
        item.item_id,
        item.metadata,
        len(pages),
        mean_ocr_confidence=mean_confidence,
        content_hash=item.content_hash,
    )
    labels = _printed_labels(item, pages)
    moment = run_day(pages)  # the one run date of this item's outputs
    _merge_pdfs([p.pdf for p in pages], pdf_path, item, labels, moment)
    files.append(OutputFile(pdf_path, pdf_path.name, "pdf", "application/pdf"))
    files.extend(_reader_outputs(item, pages, settings, out, record, labels, moment))

    if item.kind == "text":
        for name, attr in (("original", "text"), ("latin", "text_latin")):
            page_files = [getattr(p, attr) for p in pages]
            for page, path in zip(pages, page_files, strict=True):
                key = f"text/{name}/{page.seq:04d}.txt"
                _place(path, out / key)
                files.append(OutputFile(out / key, key, f"text-{name}-page", "text/plain; charset=utf-8"))
            whole = out / f"{item.item_id}.{name}.txt"
            _join_texts(page_files, whole)
            files.append(OutputFile(whole, whole.name, f"text-{name}", "text/plain; charset=utf-8"))
        for page in pages:
            key = f"ocr/{page.seq:04d}.hocr"
            if page.hocr is None:
                raise OutputError(f"{item.folder}: text page {page.seq} has no OCR result (hOCR); run the item again")
            _place(page.hocr, out / key)
            files.append(OutputFile(out / key, key, "hocr", "text/vnd.hocr+html; charset=utf-8"))

    report = {
        "identifier": item.item_id,
        # Pages flagged by quality control (pipeline/quality.py) for re-scanning.
        "rescan": [p.seq for p in pages if p.quality is not None and p.quality.rescan],
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
                "part": p.part,
                "orientation_degrees": p.orientation_degrees,
                "quality": p.quality_dict(),
                "steps": [{"name": s.name, "description": s.description, "settings": s.settings} for s in p.steps],
            }
            for p in pages
        ],
    }
    _write(out / "report.json", json.dumps(report, ensure_ascii=False, indent=1).encode())
    files.append(OutputFile(out / "report.json", "report.json", "report", "application/json"))
    _write_timings(out / TIMINGS_FILE, item.item_id, pages)
    _write(out / "record.json", record.to_json().encode())
    files.append(OutputFile(out / "record.json", "record.json", "record", "application/json"))
    _write(out / "dc.xml", dublin_core_xml(record))
    files.append(OutputFile(out / "dc.xml", "dc.xml", "dublin-core", "application/xml"))
    # Archival package (archive/): ALTO per page, MARC, METS listing every file
    # above, then the BagIt zip of them all. Keep this after the other outputs.
    files.extend(write_archive(item, pages, files, record, out, settings, moment))
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
