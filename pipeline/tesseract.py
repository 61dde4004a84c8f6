"""Tesseract, wrapped once: probe, model lookup, and recognition.

We drive Tesseract through tesserocr (the C++ API in-process) rather than
the CLI: the model is loaded once per worker process and kept, instead of
once per page (measured: 0.13 s load, then ~1.1 s per A5 page, against
1.4 s per page for the CLI with one thread). Each worker runs one OpenMP
thread (``OMP_THREAD_LIMIT=1``, set by
:func:`digitize.settings.apply_process_defaults` where a process starts); we
parallelise by page.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from digitize.errors import MissingDependencyError, OCRError

__all__ = [
    "MIN_VERSION",
    "TesseractInfo",
    "probe",
    "find_tessdata",
    "check_model",
    "recognize_hocr",
    "recognize_with_alternatives",
    "Recognition",
    "WordReading",
    "OCRTimeoutError",
    "strip_confidence",
]

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

MIN_VERSION = (5, 0)

_TESSDATA_CANDIDATES = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)

# Debian package that ships each model we name in settings.
_DEBIAN_PACKAGES = {
    "Cyrillic": "tesseract-ocr-script-cyrl",
    "Latin": "tesseract-ocr-script-latn",
    "aze_cyrl": "tesseract-ocr-aze-cyrl",
    "aze": "tesseract-ocr-aze",
    "rus": "tesseract-ocr-rus",
    "eng": "tesseract-ocr-eng",
    "kaz": "tesseract-ocr-kaz",
    "uzb_cyrl": "tesseract-ocr-uzb-cyrl",
    "uzb": "tesseract-ocr-uzb",
}


@dataclass(frozen=True)
class TesseractInfo:
    version: str
    tessdata: Path
    models: tuple[str, ...]


def find_tessdata(configured: Path | None = None) -> Path:
    """The tessdata folder: the configured one, TESSDATA_PREFIX, or Debian's."""
    candidates = [str(configured)] if configured else []
    if os.environ.get("TESSDATA_PREFIX"):
        candidates.append(os.environ["TESSDATA_PREFIX"])
    candidates.extend(_TESSDATA_CANDIDATES)
    for candidate in candidates:
        path = Path(candidate)
        if path.is_dir() and any(path.glob("*.traineddata")):
            return path
    raise MissingDependencyError(
        "no Tesseract models found (looked in "
        + ", ".join(candidates)
        + "); install them: apt-get install tesseract-ocr tesseract-ocr-script-cyrl"
    )


def _import_tesserocr() -> ModuleType:
    try:
        import tesserocr
    except ImportError as exc:  # pragma: no cover - install problem
        raise MissingDependencyError(
            f"the tesserocr Python package cannot be loaded ({exc}); run the project's setup (bin/setup)"
        ) from exc
    module: ModuleType = tesserocr  # tesserocr ships no types
    return module


@lru_cache(maxsize=4)
def probe(tessdata: Path | None = None) -> TesseractInfo:
    """Check Tesseract once: version and the models it can load."""
    tesserocr = _import_tesserocr()
    folder = find_tessdata(tessdata)
    first_line = tesserocr.tesseract_version().splitlines()[0]
    version = first_line.split()[-1]
    numbers = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    if numbers < MIN_VERSION:
        raise MissingDependencyError(
            f"Tesseract {version} is too old; {'.'.join(map(str, MIN_VERSION))} or newer is needed"
        )
    _, models = tesserocr.get_languages(str(folder) + os.sep)
    log.debug("tesseract %s, models in %s: %s", version, folder, models)
    return TesseractInfo(version, folder, tuple(sorted(models)))


def check_model(model: str, tessdata: Path | None = None) -> None:
    """Raise MissingDependencyError naming the Debian package of a missing model."""
    info = probe(tessdata)
    for part in model.split("+"):
        name = part.split("/")[-1]  # "script/Cyrillic" and "Cyrillic" are the same model
        if name not in info.models:
            package = _DEBIAN_PACKAGES.get(name, f"the package that ships {name}.traineddata")
            raise MissingDependencyError(
                f"Tesseract model {name!r} is not installed in {info.tessdata}; "
                f"install it: apt-get install {package}"
            )


def _normalise_model(model: str) -> str:
    return "+".join(part.split("/")[-1] for part in model.split("+"))


class OCRTimeoutError(OCRError):
    """Tesseract did not finish a page within ``ocr.timeout_seconds``.

    Not retried: the same page would take as long again.
    """

    retryable = False


_local = threading.local()


def _api(model: str, tessdata: Path, psm: int) -> Any:  # a tesserocr.PyTessBaseAPI (tesserocr ships no types)
    """One loaded Tesseract per (thread, model): the model loads only once,
    and the page segmentation mode is set for each call (the page's, or
    single block for the orientation strip test), so the strip test needs
    no second copy of the model (0.2 s and its memory per worker)."""
    cache = getattr(_local, "apis", None)
    if cache is None:
        cache = _local.apis = {}
    key = (model, str(tessdata))
    api = cache.get(key)
    if api is not None:
        api.SetPageSegMode(psm)
        return api
    tesserocr = _import_tesserocr()
    try:
        api = tesserocr.PyTessBaseAPI(
            path=str(tessdata) + os.sep,
            lang=_normalise_model(model),
            psm=psm,
            oem=tesserocr.OEM.LSTM_ONLY,
        )
    except RuntimeError as exc:
        raise OCRError(f"Tesseract could not load model {model!r} from {tessdata}: {exc}") from exc
    cache[key] = api
    return api


def recognize_hocr(
    image: Image.Image, *, model: str, dpi: float, tessdata: Path, psm: int = 3, timeout: float | None = None
) -> tuple[str, float | None]:
    """Recognise a PIL image; return Tesseract's hOCR page and mean confidence.

    An empty page (no text found) is a normal result: an hOCR page with no
    words and ``None`` confidence. ``timeout`` (seconds, ``ocr.timeout_seconds``)
    is Tesseract's own deadline: it stops recognising in-process (layout
    analysis may run a little past it) and the page fails with
    :class:`OCRTimeoutError`.
    """
    api = _api(model, tessdata, psm)
    try:
        _start(api, image, dpi, timeout)
        return _results(api)
    finally:
        api.Clear()


@dataclass(frozen=True)
class WordReading:
    """One word as Tesseract's LSTM read it, with the other letters it considered.

    ``letters`` holds, per letter of ``text``, the choices of the LSTM
    (``lstm_choice_mode`` 2) as (text, confidence 0-100), best first;
    ``bbox`` is the word's box in the image (x0, y0, x1, y1), as in the hOCR.
    """

    text: str
    confidence: float
    bbox: tuple[int, int, int, int]
    letters: tuple[tuple[tuple[str, float], ...], ...]


@dataclass(frozen=True)
class Recognition:
    page_div: str
    confidence: float | None
    words: tuple[WordReading, ...]


def recognize_with_alternatives(
    image: Image.Image, *, model: str, dpi: float, tessdata: Path, psm: int = 3, timeout: float | None = None
) -> Recognition:
    """Like :func:`recognize_hocr`, and each word's letter alternatives (for pipeline/reread.py).

    The alternatives come from the same recognition (the LSTM's choices kept
    with ``lstm_choice_mode`` 2), so they cost no second reading.
    """
    api = _api(model, tessdata, psm)
    try:
        api.SetVariable("lstm_choice_mode", "2")
        _start(api, image, dpi, timeout)
        # back to no choices before the hOCR is made: with them it would carry the choices as text
        api.SetVariable("lstm_choice_mode", "0")
        page_div, confidence = _results(api)
        words = _word_readings(api)
    finally:
        api.SetVariable("lstm_choice_mode", "0")
        api.Clear()
    return Recognition(page_div, confidence, words)


def _start(api: Any, image: Image.Image, dpi: float, timeout: float | None) -> None:
    api.SetImage(image)
    api.SetSourceResolution(max(70, int(round(dpi))))
    started = time.monotonic()
    if not api.Recognize(timeout=_milliseconds(timeout)):
        if timeout and time.monotonic() - started >= timeout:
            raise OCRTimeoutError(
                f"Tesseract did not finish the page within {timeout:g} s (ocr.timeout_seconds, "
                "DIGITIZE_OCR__TIMEOUT_SECONDS); check the scan, or raise the timeout"
            )
        raise OCRError("Tesseract failed to recognise the page")


def _results(api: Any) -> tuple[str, float | None]:
    hocr = api.GetHOCRText(0)
    words = api.AllWordConfidences()
    return hocr or "", (sum(words) / len(words)) if words else None


def _word_readings(api: Any) -> tuple[WordReading, ...]:
    tesserocr = _import_tesserocr()
    level_word, level_symbol = tesserocr.RIL.WORD, tesserocr.RIL.SYMBOL
    found: list[WordReading] = []
    iterator = api.GetIterator()
    if iterator is None:
        return ()
    while True:
        if iterator.IsAtBeginningOf(level_word):
            text = iterator.GetUTF8Text(level_word) or ""
            box = iterator.BoundingBox(level_word)
            confidence = iterator.Confidence(level_word)
            letters: list[tuple[tuple[str, float], ...]] = []
            while True:
                # the letter read first, then the LSTM's other choices for it
                letter = iterator.GetUTF8Text(level_symbol) or ""
                best = (letter, round(iterator.Confidence(level_symbol), 1))
                letters.append((best, *((c.GetUTF8Text(), round(c.Confidence(), 1))
                                        for c in iterator.GetChoiceIterator() if c.GetUTF8Text() != letter)))
                if iterator.IsAtFinalElement(level_word, level_symbol) or not iterator.Next(level_symbol):
                    break
            if text.strip() and box is not None:
                found.append(WordReading(text, round(confidence, 2), tuple(box), tuple(letters)))
            if not iterator.Next(level_symbol):
                break
        elif not iterator.Next(level_symbol):
            break
    return tuple(found)


def _milliseconds(timeout: float | None) -> int:
    """Tesseract's deadline in milliseconds (0: none)."""
    return max(1, round(timeout * 1000)) if timeout else 0


def strip_confidence(image: Image.Image, *, model: str, dpi: float, tessdata: Path) -> float | None:
    """Mean word confidence of a few lines read as one block (orientation test).

    Uses the page's model with its own loaded instance (single-block
    segmentation), so the test costs only the recognition of the strip.
    """
    api = _api(model, tessdata, 6)
    try:
        api.SetImage(image)
        api.SetSourceResolution(max(70, int(round(dpi))))
        if not api.Recognize():
            return None
        words = api.AllWordConfidences()
        return (sum(words) / len(words)) if words else None
    finally:
        api.Clear()


def hocr_document(page_div: str, version: str, language: str) -> str:
    """Wrap Tesseract's hOCR page in a complete hOCR (XHTML) document."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
        '    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        f'<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="{language}" lang="{language}">\n'
        " <head>\n  <title></title>\n"
        '  <meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n'
        f"  <meta name='ocr-system' content='tesseract {version}'/>\n"
        "  <meta name='ocr-capabilities' content='ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf'/>\n"
        " </head>\n <body>\n"
        f"{page_div}"
        " </body>\n</html>\n"
    )
