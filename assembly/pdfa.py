"""Finishing the joined page PDFs as PDF/A-2b: metadata, page labels, validation.

pikepdf's PDF/A support (``pikepdf.pdfa``, an allow-list validator built on
veraPDF's rules) adds the sRGB output intent and the pdfaid declaration, and
we validate the bytes written before they replace the destination: a file
that does not pass is never published as PDF/A. Images are not touched
(no re-encoding, unlike a Ghostscript PDF/A conversion).

pikepdf's validator does not look inside JPEG 2000 images (it reports them
as "unsupported"); for those we check the JPEG 2000 rules of ISO 19005-2
(6.2.8.3: 1, 3 or 4 channels, one bit depth of 1-38 for all channels, a
usable ``colr`` box) ourselves, on the image data itself.
"""

from __future__ import annotations

import gc
import logging
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

import pikepdf
from pikepdf import pdfa

from digitize.errors import OutputError
from digitize.files import atomic_path

__all__ = ["DocumentInfo", "LabelRange", "finish_pdfa", "check_pdfa", "jpx_problems", "page_label_ranges"]

log = logging.getLogger(__name__)

FLAVOUR = "2b"
_JPX_UNSUPPORTED = "JPEG 2000 images are not supported"
_CHUNK_PAGES = 50


@dataclass(frozen=True)
class DocumentInfo:
    """What the PDF's XMP and document info say about the item."""

    title: str
    authors: tuple[str, ...] = ()
    language: str | None = None  # BCP 47, e.g. "az-Cyrl"
    year: int | None = None
    identifier: str | None = None
    subject: str | None = None


class LabelRange(TypedDict, total=False):
    """A page-label dictionary's entries: a decimal style (S) from a start (St), or a prefix (P)."""

    S: str
    St: int
    P: str


def page_label_ranges(labels: Sequence[str | None]) -> list[tuple[int, LabelRange]]:
    """Page-label ranges (PDF 12.4.2) for per-page labels; None: the page's number.

    A run of pages numbered n, n+1, ... is one decimal range starting at n;
    any other label is a range of one page with that label as its prefix.
    """
    ranges: list[tuple[int, LabelRange]] = []
    previous: int | None = None
    for index, label in enumerate(labels):
        text = str(index + 1) if label is None else label
        number = int(text) if text.isdigit() and not text.startswith("0") else None
        if number is not None and previous is not None and number == previous + 1 and ranges and "S" in ranges[-1][1]:
            previous = number
            continue
        if number is not None:
            ranges.append((index, {"S": "/D", "St": number}))
        else:
            ranges.append((index, {"P": text}))
        previous = number
    return ranges


def _set_page_labels(pdf: pikepdf.Pdf, labels: Sequence[str | None]) -> None:
    nums: list[int | pikepdf.Dictionary] = []
    for start, spec in page_label_ranges(labels):
        entry = pikepdf.Dictionary(Type=pikepdf.Name.PageLabel)
        if "S" in spec:
            entry.S = pikepdf.Name(spec["S"])
            if spec["St"] != 1:
                entry.St = spec["St"]
        else:
            entry.P = pikepdf.String(spec["P"])
        nums.extend([start, entry])
    pdf.Root.PageLabels = pikepdf.Dictionary(Nums=pikepdf.Array(nums))


def _pdf_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("D:%Y%m%d%H%M%SZ")


def finish_pdfa(
    joined: Path,
    dest: Path,
    info: DocumentInfo,
    labels: Sequence[str | None] | None,
    moment: datetime,
) -> None:
    """Write ``joined`` (the page PDFs, already merged) as a validated PDF/A-2b to ``dest``.

    ``moment`` is the date recorded as the file's creation and modification
    date; callers pass a stable one (the newest page's processing time), so
    the same pages give the same bytes and a re-run uploads nothing.
    """
    try:
        with atomic_path(dest) as tmp:
            _save_finished(joined, tmp, info, labels, moment)
            # The document is closed and out of scope: free its objects before the check reads the file again.
            _release()
            problems = check_pdfa(tmp)
            if problems:
                raise OutputError(f"{dest}: the PDF is not valid PDF/A-{FLAVOUR}: " + "; ".join(problems[:5]))
    except pikepdf.PdfError as exc:
        raise OutputError(f"{dest}: cannot write the PDF/A ({exc})") from exc


def _save_finished(
    joined: Path, tmp: Path, info: DocumentInfo, labels: Sequence[str | None] | None, moment: datetime
) -> None:
    """Metadata, page labels, output intent; saved to ``tmp`` (not yet validated)."""
    with pikepdf.open(joined) as pdf:
        if labels is not None:
            _set_page_labels(pdf, labels)
        pdf.Root.Lang = pikepdf.String(info.language or "und")
        pdf.Root.ViewerPreferences = pikepdf.Dictionary(DisplayDocTitle=True)
        pdf.docinfo[pikepdf.Name.Title] = info.title
        if info.authors:
            pdf.docinfo[pikepdf.Name.Author] = "; ".join(info.authors)
        pdf.docinfo[pikepdf.Name.Creator] = "digitize"
        pdf.docinfo[pikepdf.Name.Producer] = f"pikepdf {pikepdf.__version__}"
        with pdf.open_metadata(set_pikepdf_as_editor=False) as xmp:
            xmp["dc:title"] = info.title
            if info.authors:
                xmp["dc:creator"] = list(info.authors)
            if info.language:
                xmp["dc:language"] = [info.language]
            if info.year:
                xmp["dc:date"] = [str(info.year)]
            if info.identifier:
                xmp["dc:identifier"] = info.identifier
            if info.subject:
                xmp["dc:description"] = info.subject
            xmp["xmp:CreatorTool"] = "digitize"
        pdfa.prepare(pdf, FLAVOUR, output_intent="sRGB")
        stamp = moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        with pdf.open_metadata(set_pikepdf_as_editor=False) as xmp:
            for key in ("xmp:CreateDate", "xmp:ModifyDate", "xmp:MetadataDate"):
                xmp[key] = stamp
        pdf.docinfo[pikepdf.Name.CreationDate] = _pdf_date(moment)
        pdf.docinfo[pikepdf.Name.ModDate] = _pdf_date(moment)
        kwargs = pdfa.resolve_save_kwargs(FLAVOUR, deterministic_id=True)
        pdf.save(tmp, **kwargs)


def check_pdfa(path: Path, chunk_pages: int = _CHUNK_PAGES) -> list[str]:
    """Problems that keep ``path`` from being PDF/A-2b; an empty list: it passes.

    pikepdf's validator decides everything but the inside of JPEG 2000
    images, which ``jpx_problems`` checks. The validator holds what it has
    seen in memory (the whole of a 1,000-page book: 216 MB, measured), so a
    long book is checked ``chunk_pages`` pages at a time: each run of pages
    is written with the book's own catalog (XMP, output intent, page labels,
    every other entry), document info and trailer, and each such file is
    validated whole. What is left growing with the book is qpdf's table of
    the file's objects, about 10 KB a page (measured: 1,000 pages, 50 a
    chunk: 35 MB with the save before it, was 91 MB).
    """
    with pikepdf.open(path) as pdf:
        count = int(pdf.Root.Pages.Count)  # not len(pdf.pages): that reads every page of the book
    if count <= chunk_pages:
        return _check_one(path)
    problems: list[str] = []
    chunk = path.with_name(f".{path.name}.chunk")
    try:
        for first in range(1, count + 1, chunk_pages):
            last = min(count, first + chunk_pages - 1)
            _write_chunk(path, first, last, chunk)
            _release()
            problems.extend(f"pages {first}-{last}: {p}" for p in _check_one(chunk))
    finally:
        chunk.unlink(missing_ok=True)
    return problems


def _write_chunk(path: Path, first: int, last: int, chunk: Path) -> None:
    """Pages ``first``-``last`` (from 1) of ``path``, with everything else of the document but its other pages.

    The page tree's root keeps only those pages; qpdf writes what is then
    reachable from the trailer. Unlike ``qpdf --pages``, which lists (and so
    reads) every page of the book, each chunk reads only its own pages:
    memory and time per chunk do not grow with the book. A page tree that
    is not flat (our own files' is) is cut by qpdf the usual way.
    """
    with pikepdf.open(path) as pdf:
        tree = pdf.Root.Pages
        kids = list(tree.Kids)
        flat = len(kids) == int(tree.Count) and all(
            kid.get("/Type") == pikepdf.Name.Page for kid in kids[first - 1 : last]
        )
        if flat:
            tree.Kids = pikepdf.Array(kids[first - 1 : last])
            tree.Count = last - first + 1
            del kids
            pdf.save(chunk, **pdfa.resolve_save_kwargs(FLAVOUR))
            return
    pikepdf.Job(["qpdf", str(path), "--pages", str(path), f"{first}-{last}", "--", str(chunk)]).run()


def _check_one(path: Path) -> list[str]:
    report = pdfa.validate_written(path, FLAVOUR)
    problems = []
    for finding in report.findings:
        if finding.kind == "unsupported" and _JPX_UNSUPPORTED in finding.message:
            continue
        problems.append(str(finding))
    del report
    with pikepdf.open(path) as pdf:
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Stream) and obj.get("/Subtype") == pikepdf.Name.Image:
                filters = obj.get("/Filter")
                names = [filters] if isinstance(filters, pikepdf.Name) else list(filters or [])
                if pikepdf.Name.JPXDecode in names:
                    problems.extend(f"obj {obj.objgen[0]}: {p}" for p in jpx_problems(obj.read_raw_bytes()))
                if pikepdf.Name("/JBIG2Decode") in names:
                    problems.append(f"obj {obj.objgen[0]}: JBIG2 image (we never use lossy JBIG2)")
    _release()
    return problems


def _release() -> None:
    """Free a closed document's objects now, not whenever the cyclic collector next runs.

    pikepdf's validator and ``pdfa.prepare`` leave reference cycles among the
    Python objects that wrap qpdf's, and each cycle keeps its whole qpdf
    document alive (about 0.25 MB a page) until it is collected: without
    this, checking a 1,000-page book 100 pages at a time grew by 59 MB, with
    it by 25 MB (one chunk's worth), measured.
    """
    gc.collect()


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, bytes]]:
    """The (type, content) of each JP2 box in ``data[start:end]``."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        yield kind, data[pos + header : pos + size]
        pos += size


def jpx_problems(data: bytes) -> list[str]:
    """ISO 19005-2 6.2.8.3 checks of a JPEG 2000 (JP2) image stream."""
    if data[:4] == b"\xff\x4f\xff\x51":
        return ["a raw JPEG 2000 codestream without JP2 boxes (no colour specification)"]
    boxes = dict(_boxes(data))
    header = boxes.get(b"jp2h")
    if header is None:
        return ["no JP2 header box"]
    problems: list[str] = []
    sub = list(_boxes(header))
    ihdr = next((payload for kind, payload in sub if kind == b"ihdr"), None)
    if ihdr is None or len(ihdr) < 14:
        return ["no image header (ihdr) box"]
    _, _, channels, bpc = struct.unpack(">IIHB", ihdr[:11])
    if channels not in (1, 3, 4):
        problems.append(f"{channels} colour channels (1, 3 or 4 allowed)")
    if bpc == 0xFF:
        bpcc = next((payload for kind, payload in sub if kind == b"bpcc"), b"")
        depths = {(b & 0x7F) + 1 for b in bpcc}
        if len(depths) != 1:
            problems.append("channels of different bit depths")
    elif not 1 <= (bpc & 0x7F) + 1 <= 38:
        problems.append(f"bit depth {(bpc & 0x7F) + 1} outside 1-38")
    colrs = [payload for kind, payload in sub if kind == b"colr"]
    if not colrs:
        problems.append("no colour specification (colr) box")
    elif len(colrs) > 1 and sum(1 for c in colrs if len(c) > 2 and c[2] == 1) != 1:
        problems.append("several colr boxes, not exactly one with APPROX 1")
    for colr in colrs:
        method = colr[0] if colr else 0
        if method not in (1, 2, 3):
            problems.append(f"colr METH {method} (1, 2 or 3 allowed)")
        if method == 3 and struct.unpack(">I", colr[3:7])[0] != 16:
            problems.append("colr METH 3 without the sRGB enumerated colour space")
    return problems
