"""One page through every stage: load → prepare → image stages → OCR → QC → text → page PDF.

Each stage writes into the page's own work folder with a predictable name,
so every intermediate can be inspected. ``page.json`` is written last and
carries a key made of the source file's hash and every setting that
changes the output: a re-run with the same key reuses the page (resume
after a crash), a changed scan or setting redoes it.

A page is reused only when nothing of it is damaged: ``page.json`` records
the size and SHA-256 of every file the page wrote and its own SHA-256, and
each is checked first. A power cut can leave a file empty or short under its
final name (its data never reached the disk), a disk can flip a bit; a file
that is missing, of another size or another digest, a record that does not
match its digest, or one written before digests were kept, makes the page
run again, with a log line naming the file and what was wrong.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import img2pdf
import numpy as np
import pikepdf
from PIL import Image

from digitize.checksums import sha256_file
from digitize.errors import DigitizeError, ImageStageError, OutputError
from digitize.files import atomic_path, atomic_write_bytes
from digitize.pipeline import masters, postcorrect, quality, reread, tesseract
from digitize.pipeline.hocr import page_text, parse_hocr
from digitize.pipeline.model import FileFixity, PageJob, PageResult, ProcessingStep
from digitize.pipeline.page_image import clean_page, recheck_upside_down
from digitize.pipeline.prepare import prepare
from digitize.pipeline.textlayer import add_text_layer, layers_for
from digitize.scanners.images import load_page
from digitize.settings import Settings
from digitize.transliteration import RULES_VERSION, transliterate_words

__all__ = ["PIPELINE_VERSION", "process_page", "page_cache_key", "page_settings_fingerprint", "finished_page"]

log = logging.getLogger(__name__)

# Bump when a stage changes its output, so cached pages are redone.
PIPELINE_VERSION = "4"  # 2: crop, orientation, OCR-input normalisation, quality control; 3: OCR-input despeckle;
# 4: OCR post-correction, dewarping, 200 dpi access images, hOCR language tag

_RESULT = "page.json"


# The settings a page's stages read, and nothing else: changing any other
# (the thumbnail size, the EPUB, storage) must not redo the OCR of every page.
# Every image setting is read (pipeline/page_image.py, quality control); the
# OCR model comes with the job; the timeout changes no output.
_PAGE_SETTINGS: dict[str, set[str] | None] = {
    "ocr": {"tessdata", "page_segmentation_mode", "postcorrect", "postcorrect_min_confidence", "reread",
            "reread_below_confidence", "reread_lines_below_confidence"},
    "image": None,  # all of them
    "pdf": {"text_layer", "image_codec", "jpeg2000_rate", "max_dpi", "score_ocr"},
}


def page_settings_fingerprint(settings: Settings) -> str:
    """A short hash of the settings that change a page's outputs."""
    data = {
        part: getattr(settings, part).model_dump(mode="json", include=fields)
        for part, fields in _PAGE_SETTINGS.items()
    }
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def page_cache_key(job: PageJob, settings: Settings) -> str:
    """The key of a page's result: its scan, its job and the settings its stages read."""
    parts = [
        PIPELINE_VERSION,
        job.kind,
        job.source_sha256,
        str(job.frame),
        job.ocr_model,
        RULES_VERSION,
        str(job.year),
        str(job.part),
        str(job.binarize_access),
        job.language,
        page_settings_fingerprint(settings),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def _files(result: PageResult) -> list[Path]:
    """The files a page wrote and its result names (its PDF, hOCR, texts)."""
    return [p for p in (result.pdf, result.hocr, result.text, result.text_latin) if p is not None]


def _fixity(result: PageResult) -> tuple[FileFixity, ...]:
    """Size and SHA-256 of each file of a finished page, as written."""
    return tuple(FileFixity(p.name, p.stat().st_size, sha256_file(p)) for p in _files(result))


def _damage(result: PageResult) -> str | None:
    """What is wrong with a finished page's files, or None when each is as its record says."""
    if not result.fixity:
        return f"{_RESULT} records no sizes and digests of its files (written by an older version)"
    recorded = {entry.name: entry for entry in result.fixity}
    for path in _files(result):
        entry = recorded.get(path.name)
        if entry is None:
            return f"{_RESULT} records no digest of {path.name}"
        try:
            size = path.stat().st_size
            if size != entry.size:
                return f"{path.name} has {size} bytes, {_RESULT} recorded {entry.size}"
            if sha256_file(path) != entry.sha256:
                return f"{path.name}: SHA-256 differs from the one {_RESULT} recorded (same size: changed on disk)"
        except FileNotFoundError:
            return f"{path.name} is missing"
        except OSError as exc:
            return f"{path.name} cannot be read ({exc.strerror or exc})"
    return None


def _cached(job: PageJob, key: str) -> PageResult | None:
    path = job.work_dir / _RESULT
    try:
        blob = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if job.work_dir.is_dir() and any(job.work_dir.iterdir()):
            log.info("%s: no %s in %s (the page was not finished); doing it again", job.label, _RESULT, job.work_dir)
        return None
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8
        log.warning("%s: %s cannot be read (%s); doing the page again", job.label, path, exc)
        return None
    try:
        result = PageResult.from_json(blob)
    except (ValueError, TypeError, KeyError) as exc:
        log.warning("%s: %s is damaged (%s); doing the page again", job.label, path, exc)
        return None
    if result.cache_key != key:
        log.debug("%s: made with other inputs or settings; doing the page again", job.label)
        return None
    problem = _damage(result)
    if problem is not None:
        log.warning("%s: %s in %s; doing the page again", job.label, problem, job.work_dir)
        return None
    # A reused page names the scan where it is now: the batch may have moved
    # (hot folder) or been copied in again since the page was made.
    return replace(result, source=job.source)


def finished_page(job: PageJob, settings: Settings) -> PageResult | None:
    """The page's result in its work folder, if it was finished with the same inputs."""
    return _cached(job, page_cache_key(job, settings))


def process_page(job: PageJob, settings: Settings) -> PageResult:
    """Process one page; reuse a finished result with the same inputs."""
    key = page_cache_key(job, settings)
    cached = _cached(job, key)
    if cached is not None:
        log.debug("page %s of %s: reusing %s", job.seq, job.item_id, job.work_dir)
        return cached
    job.work_dir.mkdir(parents=True, exist_ok=True)
    if job.kind == "text":
        result = _process_text_page(job, settings, key)
    else:
        result = _process_image_page(job, settings, key)
    # last, once every file is written and synced: their digests, and the record that marks the page finished
    result = replace(result, fixity=_fixity(result))
    atomic_write_bytes(job.work_dir / _RESULT, result.to_json().encode("utf-8"))
    return result


def _process_text_page(job: PageJob, settings: Settings, key: str) -> PageResult:
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    loaded = load_page(job.source, job.frame, settings.image.max_image_pixels)
    dpi = loaded.dpi or float(settings.image.default_dpi)
    try:
        working = prepare(loaded.image)
    except (ValueError, OSError) as exc:
        raise ImageStageError(f"{job.label}: image mode {loaded.image.mode} cannot be converted ({exc})") from exc
    del loaded
    seconds["load"] = time.perf_counter() - clock

    # Image stages (pipeline/page_image.py): the picture and the OCR input
    # share one geometry, so OCR word boxes fit the picture.
    clock = time.perf_counter()
    info = tesseract.probe(settings.ocr.tessdata)
    cleaned = clean_page(working, dpi, settings, model=job.ocr_model, tessdata=info.tessdata,
                         part=job.part, split_by=job.split_by, binarize_access=job.binarize_access)
    del working
    picture, bilevel, angle = cleaned.picture, cleaned.bilevel, cleaned.skew_degrees
    seconds["image"] = time.perf_counter() - clock
    height, width = picture.shape[:2]

    clock = time.perf_counter()
    # the item language's model, if rescoring is on and there is one (pipeline/reread.py)
    language_model = reread.language_model(job.language, settings.ocr.reread)
    recognition = reread.recognize(
        Image.fromarray(cleaned.ocr), model=job.ocr_model, dpi=dpi, tessdata=info.tessdata,
        psm=settings.ocr.page_segmentation_mode, timeout=settings.ocr.timeout_seconds, lm=language_model,
    )
    confidence = recognition.confidence
    if recheck_upside_down(cleaned, confidence, settings, model=job.ocr_model, dpi=dpi, tessdata=info.tessdata):
        picture = cleaned.picture  # read badly because it was upside down: read it again upright
        recognition = reread.recognize(
            Image.fromarray(cleaned.ocr), model=job.ocr_model, dpi=dpi, tessdata=info.tessdata,
            psm=settings.ocr.page_segmentation_mode, timeout=settings.ocr.timeout_seconds, lm=language_model,
        )
        confidence = recognition.confidence
    page_div, reread_step = reread.apply(
        recognition, language_model, language=job.language, below_confidence=settings.ocr.reread_below_confidence,
        second=reread.picture_reader(cleaned.picture, model=job.ocr_model, dpi=dpi, tessdata=info.tessdata)
        if language_model is not None else None, line_below=settings.ocr.reread_lines_below_confidence,
    )
    corrected_step = None
    if settings.ocr.postcorrect:  # before the hOCR is written: everything downstream reads the corrected words
        fix_clock = time.perf_counter()
        page_div, corrected_step = postcorrect.apply(
            page_div, model=job.ocr_model, tessdata=info.tessdata,
            min_confidence=settings.ocr.postcorrect_min_confidence, year=job.year,
            cache_dir=settings.cache_dir, language=job.language,
        )
        seconds["postcorrect"] = time.perf_counter() - fix_clock
        clock += seconds["postcorrect"]  # not counted in "ocr"
    hocr_path = job.work_dir / "page.hocr"
    hocr = tesseract.hocr_document(page_div, info.version, job.language).encode("utf-8")
    atomic_write_bytes(hocr_path, hocr)
    ocr = parse_hocr(hocr)  # the bytes just written, not read back from the disk
    image_steps = tuple(cleaned.steps)
    seconds["ocr"] = time.perf_counter() - clock
    if cleaned.measures is None:  # clean_page always measures; a None here is a bug
        raise ImageStageError(f"{job.label}: the image stages left no quality measures")
    page_quality = quality.assess(
        cleaned.measures, dpi=dpi, skew_degrees=angle, turned_degrees=cleaned.turned_degrees,
        confidence=confidence, words=len(ocr.words),
        thresholds=settings.image.quality, word_confidences=[word.confidence for word in ocr.words],
    )
    if page_quality.rescan:
        log.warning("%s: flagged for re-scanning: %s", job.label, "; ".join(page_quality.reasons))
    del cleaned

    clock = time.perf_counter()
    words = [word.text for word in ocr.words]
    latin_words = transliterate_words(words, year=job.year)
    text_path = job.work_dir / "text.original.txt"
    latin_path = job.work_dir / "text.latin.txt"
    atomic_write_bytes(text_path, page_text(ocr).encode("utf-8"))
    atomic_write_bytes(latin_path, page_text(ocr, latin_words).encode("utf-8"))
    seconds["transliterate"] = time.perf_counter() - clock

    clock = time.perf_counter()
    access, access_dpi, encoding = _encode_access_image(picture, bilevel, dpi, settings)
    pdf_path = job.work_dir / "page.pdf"
    layers = layers_for(settings.pdf.text_layer, words, latin_words)
    _page_pdf(
        access, access_dpi, pdf_path, lambda pdf, page: add_text_layer(pdf, page, ocr, layers, dpi, info.tessdata)
    )
    seconds["pdf"] = time.perf_counter() - clock

    steps = (
        ProcessingStep("load", "decoded the scanned page", {"file": job.source.name, "frame": job.frame, "dpi": dpi}),
        *image_steps,
        ProcessingStep(
            "ocr",
            "recognised text with Tesseract (LSTM)",
            {"engine": f"tesseract {info.version}", "model": job.ocr_model, "psm": settings.ocr.page_segmentation_mode},
        ),
        *((reread_step,) if reread_step else ()),
        *((corrected_step,) if corrected_step else ()),
        ProcessingStep(
            "transliterate", "Azerbaijani Cyrillic to Latin", {"rules_version": RULES_VERSION, "year": job.year}
        ),
        ProcessingStep(
            "pdf",
            "page image with invisible text layer",
            {"image": encoding, "dpi": access_dpi, "text_layer": settings.pdf.text_layer},
        ),
    )
    return PageResult(
        item_id=job.item_id,
        seq=job.seq,
        source=job.source,
        frame=job.frame,
        width=width,
        height=height,
        dpi=dpi,
        pdf=pdf_path,
        hocr=hocr_path,
        text=text_path,
        text_latin=latin_path,
        skew_degrees=angle,
        mean_confidence=round(confidence, 2) if confidence is not None else None,
        word_count=len(words),
        cache_key=key,
        seconds={k: round(v, 3) for k, v in seconds.items()},
        steps=steps,
        part=job.part,
        orientation_degrees=page_quality.turned_degrees,
        quality=page_quality,
    )


def _encode_access_image(
    picture: np.ndarray, bilevel: bool, dpi: float, settings: Settings
) -> tuple[bytes, float, str]:
    """The picture a reader sees, its resolution and a description of its encoding.

    Black-and-white pages: lossless CCITT G4 (never lossy JBIG2). Grey and
    colour pages: JPEG 2000 at ``pdf.jpeg2000_rate`` (default) or JPEG at
    ``image.access_jpeg_quality``, scaled down to ``pdf.max_dpi`` if the
    scan is finer. The master keeps the scan as it came.
    """
    options = settings.pdf
    buffer = io.BytesIO()
    if bilevel:
        Image.fromarray(picture).convert("1").save(buffer, format="TIFF", compression="group4", dpi=(dpi, dpi))
        return buffer.getvalue(), dpi, "CCITT G4 (lossless)"
    picture, dpi = _access_pixels(picture, dpi, options.max_dpi)
    image = Image.fromarray(picture)
    if options.image_codec == "jpeg2000":
        image.save(
            buffer, format="JPEG2000", quality_mode="rates", quality_layers=[options.jpeg2000_rate],
            irreversible=True, no_jp2=False,
        )
        return buffer.getvalue(), dpi, f"JPEG 2000 1:{options.jpeg2000_rate:g}"
    quality = settings.image.access_jpeg_quality
    image.save(buffer, format="JPEG", quality=quality, optimize=True, dpi=(round(dpi), round(dpi)))
    return buffer.getvalue(), dpi, f"JPEG q{quality}"


def _access_pixels(picture: np.ndarray, dpi: float, max_dpi: int) -> tuple[np.ndarray, float]:
    """A grey or colour picture scaled down to ``max_dpi`` if the scan is finer (0: kept), and its resolution."""
    if not max_dpi or dpi <= max_dpi * 1.01:
        return picture, dpi
    scale = max_dpi / dpi
    size = (max(1, round(picture.shape[1] * scale)), max(1, round(picture.shape[0] * scale)))
    # Area averaging: the right filter for shrinking, and a few times
    # cheaper than Lanczos on a full page.
    small = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
    return small, dpi * small.shape[1] / picture.shape[1]


def _page_pdf(
    image_bytes: bytes, dpi: float, out: Path, decorate: Callable[[pikepdf.Pdf, pikepdf.Page], None] | None = None
) -> None:
    """A one-page PDF of an image at ``dpi``, optionally decorated (text layer)."""
    try:
        layout = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
        data = img2pdf.convert(image_bytes, layout_fun=layout, rotation=img2pdf.Rotation.ifvalid, nodate=True)
        with pikepdf.open(io.BytesIO(data)) as pdf:
            if decorate is not None:
                decorate(pdf, pdf.pages[0])
            # img2pdf's file carries a random /ID, whose first half qpdf keeps: without it the
            # ID is made from the content, so a page done again gives the same bytes
            if "/ID" in pdf.trailer:
                del pdf.trailer["/ID"]
            with atomic_path(out) as tmp:
                pdf.save(tmp, deterministic_id=True)
    except DigitizeError:
        raise
    except (img2pdf.ImageOpenError, img2pdf.AlphaChannelError, pikepdf.PdfError, OSError, ValueError) as exc:
        raise OutputError(f"{out}: cannot build the page PDF ({exc})") from exc


def _process_image_page(job: PageJob, settings: Settings, key: str) -> PageResult:
    """Scores and art prints: the scan goes into the access PDF without loss.

    No deskew, no binarisation, no lossy encoding. A single-image file is
    embedded exactly as stored (img2pdf copies JPEG and PNG data
    unchanged); a frame of a multi-page file is extracted to PNG first.
    """
    clock = time.perf_counter()
    loaded = load_page(job.source, job.frame, settings.image.max_image_pixels)
    dpi = loaded.dpi or float(settings.image.default_dpi)
    width, height = loaded.image.size
    pdf_path = job.work_dir / "page.pdf"
    if masters.can_embed_tiff(job.source, job.frame):
        # TIFF: the samples themselves, at their bit depth and with the ICC
        # profile (Pillow and img2pdf would reduce 16-bit to 8-bit).
        embedded = masters.tiff_page_pdf(job.source, job.frame, dpi, pdf_path)["embedded"]
    elif job.frames_in_file == 1 and job.source.suffix.lower() != ".pdf":
        data = job.source.read_bytes()
        try:
            _page_pdf(data, dpi, pdf_path)
            embedded = "original file data"
        except OutputError:
            data = _lossless_png(loaded.image)
            _page_pdf(data, dpi, pdf_path)
            embedded = "PNG (lossless) of the decoded scan"
    else:
        _page_pdf(_lossless_png(loaded.image), dpi, pdf_path)
        embedded = "PNG (lossless) of the decoded frame"
    steps: tuple[ProcessingStep, ...] = (
        ProcessingStep("load", "decoded the scanned page", {"file": job.source.name, "frame": job.frame, "dpi": dpi}),
        ProcessingStep("pdf", "lossless access PDF; no image processing", {"embedded": embedded}),
    )
    title_text = None
    if job.kind == "score" and settings.pdf.score_ocr == "titles":
        title_text, laid = masters.add_title_layer(
            pdf_path, loaded.image, dpi, job.ocr_model, settings.ocr.tessdata, job.work_dir, language=job.language
        )
        steps += (
            ProcessingStep(
                "ocr", "printed text of the score read with Tesseract; confident lines only, printed script",
                {"model": job.ocr_model, "words": laid},
            ),
        )
    return PageResult(
        item_id=job.item_id,
        seq=job.seq,
        source=job.source,
        frame=job.frame,
        width=width,
        height=height,
        dpi=dpi,
        pdf=pdf_path,
        text=title_text,
        cache_key=key,
        seconds={"pdf": round(time.perf_counter() - clock, 3)},
        steps=steps,
    )


def _lossless_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # img2pdf cannot embed alpha; the master keeps it.
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")
    elif image.mode == "CMYK":
        image = image.convert("RGB")
    image.save(buffer, format="PNG")
    return buffer.getvalue()
