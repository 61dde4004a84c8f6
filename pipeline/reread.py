"""Second thoughts on doubtful words: Tesseract's own alternatives, rescored with the language.

Tesseract's LSTM keeps, for every letter it reads, the other letters it
considered (``lstm_choice_mode``; pipeline/tesseract.py
:func:`~digitize.pipeline.tesseract.recognize_with_alternatives` returns them
with the page, from the same recognition). For a word Tesseract was unsure
of (word confidence below ``ocr.reread_below_confidence``), this module
builds the readings those alternatives allow, plus the few a worn letter
is known to produce (a letter with diacritics whose dots broke off or
merged: ``ӧ`` read as ``о``, ``б``, ``ё``, ``д``, or as two letters ``бӧ``),
and scores each by

* Tesseract: the log of each letter's confidence (a letter the LSTM did not
  offer pays a fixed price),
* the language (pipeline/lexicon.py): character n-gram log probability, a
  bonus for a form the lexicon knows, more for a common one,

and keeps the best reading when it beats Tesseract's by a margin. Confident
words are never touched, nor is anything when the item's language has no
model. Each change is recorded (word id, OCR reading, chosen reading) in the
``reread`` processing step.

The weights were tuned on the tuning half of the real dev set
(bench/real_print.py); the check half and the generated pages were not
used to choose them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from lxml import etree
from PIL import Image as PILImage

from digitize.errors import OutputError
from digitize.pipeline import tesseract
from digitize.pipeline.hocr import word_confidence
from digitize.pipeline.lexicon import LanguageModel, language_code, model_for_language
from digitize.pipeline.model import ProcessingStep
from digitize.pipeline.tesseract import Recognition, WordReading

__all__ = ["Weights", "Change", "Rescored", "candidates", "choose", "rescore_page", "language_model", "recognize",
           "apply"]

_EDGES = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)
_BBOX = re.compile(r"bbox (\d+) (\d+) (\d+) (\d+)")

# Letters with diacritics, and what a worn or badly inked copy of each is
# read as (the dots lost, merged into an accent, or read as a letter of
# their own). Only letters the item's lexicon uses are ever proposed.
WORN_LETTERS: dict[str, tuple[str, ...]] = {
    "ӧ": ("о", "б", "ё", "д", "6", "ф"),
    "Ӧ": ("О", "Б", "Ё", "Д", "0"),
    "ө": ("о", "е", "б"),
    "ә": ("э", "е", "а"),
    "і": ("i", "1", "l", "ї", "й", "л"),
    "ё": ("е",),
    "й": ("и",),
    "ҝ": ("к",),
    "ү": ("у",),
    "ғ": ("г",),
    "ҹ": ("ч",),
    "һ": ("ћ", "h"),
}
# Letters of other Cyrillic alphabets the script model reads for a plain
# letter (a descender, hook or tail that is a blot): in an item whose language
# lacks them, their plain twin is proposed, and a word holding one is rescored
# whatever its confidence (the language itself says it is misread).
FOREIGN_TWINS: dict[str, str] = {
    "ғ": "г", "қ": "к", "ҝ": "к", "ң": "н", "ҳ": "х", "ҷ": "ч", "ҹ": "ч", "ӈ": "н", "ұ": "у", "ү": "у",
    "ә": "э", "ө": "о", "ђ": "ӧ", "ћ": "һ", "ї": "і", "є": "с", "ѓ": "г", "ќ": "к", "ў": "у", "ӯ": "у",
}
# two letters read for one worn letter (its dots read as a letter next to it)
_SPLIT_LETTERS: dict[str, tuple[str, ...]] = {
    "ӧ": ("бӧ", "дӧ", "оӧ", "ӧо", "ӧб", "ӧд", "бо", "до", "ёо"),
}


@dataclass(frozen=True)
class Weights:
    """How Tesseract's scores and the language's are weighed (natural logs)."""

    language: float = 0.6  # times the character n-gram log probability
    known: float = 3.0  # bonus for a form the lexicon has
    common: float = 0.5  # times log(1 + corpus count)
    worn: float = -4.0  # a worn-letter reading the LSTM did not offer
    foreign: float = -1.0  # the plain twin of a letter the language does not have
    floor: float = 0.02  # lowest letter probability from Tesseract
    alternative_min: float = 10.0  # LSTM choices below this confidence are ignored
    mixed_case: float = -4.0  # a capital inside a lower-case word
    margin: float = 1.0  # a new reading must beat Tesseract's by this much
    # a second reading of the line (the picture as scanned, before dust removal took dots and accents
    # for dust) is preferred unless the first scores better by more than this
    second_margin: float = -1.0
    beam: int = 24


@dataclass(frozen=True)
class Change:
    word_id: str
    ocr: str
    text: str
    confidence: float | None


@dataclass(frozen=True)
class Rescored:
    page_div: str
    changes: tuple[Change, ...]
    words_checked: int
    lines_read: int = 0  # lines read a second time


def _case_penalty(word: str, weights: Weights) -> float:
    letters = [c for c in word if c.isalpha()]
    if len(letters) < 2:
        return 0.0
    rest = letters[1:]
    if all(c.islower() for c in rest) or all(c.isupper() for c in letters):
        return 0.0
    return weights.mixed_case


def candidates(reading: WordReading, core_start: int, core_end: int, alphabet: set[str],
               weights: Weights) -> dict[str, float]:
    """Readings of the word's core (letters ``core_start:core_end``) and Tesseract's log score of each."""
    letters = reading.letters[core_start:core_end]
    beam: list[tuple[str, float]] = [("", 0.0)]
    for options in letters:
        best, best_conf = options[0]
        choices: dict[str, float] = {best: math.log(max(best_conf / 100.0, weights.floor))}
        for text, conf in options[1:]:
            if conf >= weights.alternative_min and text and text not in choices and text.strip():
                choices[text] = math.log(max(conf / 100.0, weights.floor))
        low = best.lower()
        if low in FOREIGN_TWINS and low not in alphabet and FOREIGN_TWINS[low] in alphabet:
            twin = FOREIGN_TWINS[low] if best == low else FOREIGN_TWINS[low].upper()
            choices.setdefault(twin, choices[best] + weights.foreign)
        for target, looks in WORN_LETTERS.items():
            if best in looks and target.lower() in alphabet and target not in choices:
                choices[target] = choices[best] + weights.worn
        beam = sorted(((text + c, score + s) for text, score in beam for c, s in choices.items()),
                      key=lambda item: -item[1])[:weights.beam]
    found = dict(beam)
    for text, score in list(found.items()):
        for target, pairs in _SPLIT_LETTERS.items():
            if target not in alphabet:
                continue
            for pair in pairs:
                start = text.find(pair)
                while start >= 0:
                    merged = text[:start] + target + text[start + 2:]
                    found.setdefault(merged, score + weights.worn)
                    start = text.find(pair, start + 1)
    return found


def _letters_score(letters: Sequence[tuple[tuple[str, float], ...]], weights: Weights) -> float:
    return sum(math.log(max(options[0][1] / 100.0, weights.floor)) for options in letters)


def best_reading(reading: WordReading, lm: LanguageModel, weights: Weights, *, starts: bool = True,
                 ends: bool = True) -> tuple[str, float]:
    """The reading of a whole word (punctuation kept) that scores best, and its score.

    Tesseract's own reading unless another beats it by ``weights.margin``.
    """
    text = reading.text
    match = _EDGES.match(text)
    assert match is not None
    lead, core, trail = match.group(1), match.group(2), match.group(3)
    ends = ends and not trail.endswith("-")
    start, end = len(lead), len(lead) + len(core)
    lined_up = len(reading.letters) == len(text)  # else a ligature or a combining mark: keep the text
    scored = candidates(reading, start, end, lm.alphabet, weights) if lined_up else {}
    original = scored.get(core, _letters_score(reading.letters[start:end] if lined_up else reading.letters,
                                               weights))

    def total(word: str, ocr: float) -> float:
        if not word or not all(c.isalpha() or c in "-'" for c in word):
            return ocr - 1e3 if word != core else ocr + weights.language * -8.0 * max(1, len(word))
        score = ocr + weights.language * lm.log_prob(word, starts=starts, ends=ends)
        if ends and lm.known(word):
            score += weights.known + weights.common * math.log1p(lm.frequency(word))
        return score + _case_penalty(word, weights)

    base = total(core, original)
    if len(core) < 2 or not any(c.isalpha() for c in core):
        return text, base
    best, best_score = core, base
    for word, ocr in scored.items():
        if word == core:
            continue
        score = total(word, ocr)
        if score > best_score:
            best, best_score = word, score
    if best != core and best_score - base >= weights.margin:
        return lead + best + trail, best_score
    return text, base


def choose(reading: WordReading, lm: LanguageModel, weights: Weights, *, starts: bool = True,
           ends: bool = True) -> str:
    """The reading of a whole word that scores best (see :func:`best_reading`)."""
    return best_reading(reading, lm, weights, starts=starts, ends=ends)[0]


def _foreign(text: str, alphabet: set[str]) -> bool:
    """Whether a word holds a letter of another Cyrillic alphabet than the language's."""
    return any(c.lower() in FOREIGN_TWINS and c.lower() not in alphabet for c in text)


def _box(title: str | None) -> tuple[int, int, int, int] | None:
    match = _BBOX.search(title or "")
    return tuple(int(v) for v in match.groups()) if match else None  # type: ignore[return-value]


LineReader = Callable[[tuple[int, int, int, int]], Sequence[WordReading]]


def line_reader(image: np.ndarray, *, model: str, dpi: float, tessdata: Path, scale: float = 1.0) -> LineReader:
    """Read one line of ``image`` again (single-line segmentation), optionally scaled; boxes in page pixels."""
    height, width = image.shape[:2]

    def read(box: tuple[int, int, int, int]) -> Sequence[WordReading]:
        x0, y0, x1, y1 = box
        pad = max(4, (y1 - y0) // 4)
        left, top = max(0, x0 - pad), max(0, y0 - pad)
        crop = image[top:min(height, y1 + pad), left:min(width, x1 + pad)]
        if crop.size == 0:
            return ()
        picture = PILImage.fromarray(crop)
        if scale != 1.0:
            picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                                     PILImage.Resampling.LANCZOS)
        found = tesseract.recognize_with_alternatives(picture, model=model, dpi=dpi * scale, tessdata=tessdata,
                                                      psm=7)
        return tuple(
            WordReading(w.text, w.confidence,
                        (left + round(w.bbox[0] / scale), top + round(w.bbox[1] / scale),
                         left + round(w.bbox[2] / scale), top + round(w.bbox[3] / scale)), w.letters)
            for w in found.words
        )

    return read


def _pairs(words: Sequence[tuple[int, int, int, int]], others: Sequence[WordReading]) -> dict[int, WordReading]:
    """Word i of a line and the one word of a second reading that covers it, and only it."""
    def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
        shared = min(a[2], b[2]) - max(a[0], b[0])
        return shared / max(1, min(a[2] - a[0], b[2] - b[0]))

    matches = {i: [j for j, other in enumerate(others) if overlap(box, other.bbox) > 0.5]
               for i, box in enumerate(words)}
    used: dict[int, int] = {}
    for found in matches.values():
        for j in found:
            used[j] = used.get(j, 0) + 1
    return {i: others[found[0]] for i, found in matches.items() if len(found) == 1 and used[found[0]] == 1}


def rescore_page(page_div: str, readings: Sequence[WordReading], lm: LanguageModel, *,
                 below_confidence: float, weights: Weights | None = None,
                 second: LineReader | None = None, line_below: float = 0.0) -> Rescored:
    """Rescore the doubtful words of a page of Tesseract hOCR (the ``ocr_page`` div).

    With ``second``, a line holding a word below ``line_below`` is read again
    by it (another image of the page); a doubtful word then takes the second
    reading when that scores better by ``weights.second_margin``.
    """
    weights = weights or Weights()
    if "ocrx_word" not in page_div or not readings:
        return Rescored(page_div, (), 0)
    try:
        root = etree.fromstring(page_div.strip().encode("utf-8"),
                                etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise OutputError(f"Tesseract's hOCR is not well-formed ({exc})") from exc
    by_box = {reading.bbox: reading for reading in readings}
    changes: list[Change] = []
    checked = 0
    lines_read = 0
    continued = False  # the line before ended with a hyphen: this line's first word goes on a word
    for line in root.iter():
        if line.get("class") not in ("ocr_line", "ocr_textfloat", "ocr_header", "ocr_caption"):
            continue
        words = [el for el in line.iter() if el.get("class") == "ocrx_word"]
        seconds: dict[int, WordReading] = {}
        confidences = [word_confidence(el.get("title")) for el in words]
        if second is not None and words and min((c if c is not None else 0.0) for c in confidences) < line_below:
            line_box = _box(line.get("title"))
            if line_box is not None:
                lines_read += 1
                seconds = _pairs([_box(el.get("title")) or (0, 0, 0, 0) for el in words], second(line_box))
        for position, word_el in enumerate(words):
            holder = word_el if len(word_el) == 0 else None
            raw = (holder.text or "") if holder is not None else ""
            text = raw.strip()
            confidence = word_confidence(word_el.get("title"))
            starts = not (position == 0 and continued)
            if holder is None or not text or confidence is None:
                continue
            if confidence >= below_confidence and not _foreign(text, lm.alphabet):
                continue
            reading = by_box.get(_box(word_el.get("title")) or (-1, -1, -1, -1))
            if reading is None or reading.text.strip() != text:
                continue
            checked += 1
            ends = position < len(words) - 1 or not text.endswith("-")
            chosen, score = best_reading(reading, lm, weights, starts=starts, ends=ends)
            other = seconds.get(position)
            if other is not None and other.text.strip():
                alternative, other_score = best_reading(other, lm, weights, starts=starts, ends=ends)
                if other_score > score + weights.second_margin:
                    chosen = alternative.strip()
            if chosen != text:
                holder.text = raw.replace(text, chosen)
                changes.append(Change(word_el.get("id", ""), text, chosen, confidence))
        last = "".join(words[-1].itertext()).strip() if words else ""
        continued = last.endswith("-")
    if not changes:
        return Rescored(page_div, (), checked, lines_read)
    return Rescored(etree.tostring(root, encoding="unicode") + "\n", tuple(changes), checked, lines_read)


# -- a page ------------------------------------------------------------------------

def language_model(language: str, enabled: bool) -> LanguageModel | None:
    """The item language's model when rescoring is on and the language has one; else None (nothing is done)."""
    return model_for_language(language) if enabled else None


def recognize(image: PILImage.Image, *, model: str, dpi: float, tessdata: Path, psm: int, timeout: float | None,
              lm: LanguageModel | None) -> Recognition:
    """Read a page; with the letters' alternatives only when they will be used (``lm``)."""
    if lm is None:
        page_div, confidence = tesseract.recognize_hocr(image, model=model, dpi=dpi, tessdata=tessdata, psm=psm,
                                                        timeout=timeout)
        return Recognition(page_div, confidence, ())
    return tesseract.recognize_with_alternatives(image, model=model, dpi=dpi, tessdata=tessdata, psm=psm,
                                                 timeout=timeout)


def apply(recognition: Recognition, lm: LanguageModel | None, *, language: str, below_confidence: float,
          second: LineReader | None = None, line_below: float = 0.0) -> tuple[str, ProcessingStep | None]:
    """Rescore a recognised page's doubtful words, reading doubtful lines again with ``second``;
    the page and the step that records it (None: not done)."""
    if lm is None:
        return recognition.page_div, None
    result = rescore_page(recognition.page_div, recognition.words, lm, below_confidence=below_confidence,
                          second=second, line_below=line_below)
    step = ProcessingStep(
        "reread",
        "rescored doubtful words: Tesseract's letter alternatives and worn-letter readings, weighed with the "
        "language's lexicon and character n-grams",
        {
            "language": language_code(language),
            "below_confidence": below_confidence,
            "words_checked": result.words_checked,
            "line_below_confidence": line_below if second is not None else None,
            "lines_reread": result.lines_read,
            "words_changed": len(result.changes),
            # word id, the OCR reading, the text now in the hOCR, Tesseract's word confidence
            "changes": [[c.word_id, c.ocr, c.text, c.confidence] for c in result.changes],
        },
    )
    return result.page_div, step


def picture_reader(picture: np.ndarray, *, model: str, dpi: float, tessdata: Path) -> LineReader:
    """A second reader of lines: the page's picture (upright, straight, tones as scanned), in grey."""
    grey = picture if picture.ndim == 2 else cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)
    return line_reader(grey, model=model, dpi=dpi, tessdata=tessdata)
