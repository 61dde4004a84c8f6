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
words are left alone but for two rules that need no guess at the letters:

* capitals read for small letters (``ВЫЛО эз`` for ``выло эз``, ``Ло-``):
  a capital drawn like its small letter (в/В, л/Л, и/И, к/К, о/О ...) is
  told only by its height, so a word whose capitals stand no taller than
  the line's small letters (measured on the page's picture, against the
  words of the same line set in small letters only) is put in small
  letters, if the language knows it, it has several capitals, or it is
  part of a word cut at a line end (:func:`small_letters`);
* a word the lexicon does not know while exactly one spelling with a
  diacritic put back is known (``сьом`` → ``сьӧм``, :func:`lost_marks`).

Whatever the confidence, two typographic repairs: a dash between words
read as ``--`` or glued to them (``пиыс--Степан``) becomes its own word,
``—``, as print sets it (:func:`dash_parts`), and specks read as marks (a
grave accent, a full stop after a line-end hyphen) are dropped.

Nothing is done when the item's language has no model. Each change is
recorded (word id, OCR reading, chosen reading) in the ``reread`` processing
step.

The weights were tuned on the tuning half of the real dev set
(bench/real_print.py); the check half and the generated pages were not
used to choose them.
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
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

_APOSTROPHES = "'\u2019\u02bc"
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
    # not a diacritic: the opening of a worn or filled-in с closes into the bar of an е
    "с": ("е",),
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


# Capitals drawn as a larger copy of their small letter: read alone, the
# glyph does not tell its case, only its height in the line does.
CASE_TWINS = frozenset("ВГЖЗИЙКЛМНОПСТХЦЧШЩЪЫЬЭЮЯӦӨҸҶҢҚҒҮҰ")
# Small letters whose top is the line's x-height (no ascender, dot or accent above).
_X_TOP = frozenset("авгежзиклмнопрстухцчшщъыьэюяәөүұҹҷңқғҗ")  # not д: a tall top in some faces
_DESCENDING = frozenset("друщцфҹҷқңҗ")


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
    # a confident word unknown to the lexicon takes a diacritic back (о → ӧ) when no known form
    # decides and the character n-grams find the marked spelling likelier by this much (None: never)
    marks_margin: float | None = None
    # a word whose top is within this share of the x-height of the line's x-line is in small letters
    x_line_tolerance: float = 0.15
    # a second reading of the line (the picture as scanned, before dust removal took dots and accents
    # for dust) is preferred unless the first scores better by more than this
    second_margin: float = -1.0
    beam: int = 128


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
    for position, options in enumerate(letters):
        best, best_conf = options[0]
        choices: dict[str, float] = {best: math.log(max(best_conf / 100.0, weights.floor))}
        if best in _APOSTROPHES:  # мә'лумат: part of the spelling, never a letter misread
            beam = [(text + best, score + choices[best]) for text, score in beam]
            continue
        for text, conf in options[1:]:
            # the lexicon does not know case: no alternative brings in a capital Tesseract did not read
            text = text.lower() if best.islower() else text
            if conf >= weights.alternative_min and text and text not in choices and text.strip():
                choices[text] = math.log(max(conf / 100.0, weights.floor))
        low = best.lower()
        if low in FOREIGN_TWINS and low not in alphabet and FOREIGN_TWINS[low] in alphabet:
            twin = FOREIGN_TWINS[low] if best == low else FOREIGN_TWINS[low].upper()
            beside = {letters[i][0][0].lower() for i in (position - 1, position + 1) if 0 <= i < len(letters)}
            # printed next to its twin (мәшћһур), it is that letter read twice: drop it
            choices.setdefault("" if twin.lower() in beside else twin, choices[best] + weights.foreign)
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


def _column_tops(image: np.ndarray | None, box: tuple[int, int, int, int]) -> np.ndarray | None:
    """For each column of a word's box that holds ink, the y of its topmost ink (Otsu on the box)."""
    if image is None:
        return None
    x0, y0, x1, y1 = box
    crop = image[max(0, y0):max(0, y1), max(0, x0):max(0, x1)]
    if crop.size < 4 or int(crop.max()) - int(crop.min()) < 40:
        return None
    _, ink = cv2.threshold(crop, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    inked = ink.any(axis=0)
    if not inked.any():
        return None
    tops: np.ndarray = np.argmax(ink[:, inked] > 0, axis=0) + max(0, y0)
    return tops


def word_top(image: np.ndarray | None, box: tuple[int, int, int, int], share: float = 50.0) -> float:
    """Where a word's letters start: the ``share`` percentile of its columns' tops (dots and
    accents, a few columns, do not count), or its box's top without an image."""
    tops = _column_tops(image, box)
    return float(box[1]) if tops is None else float(np.percentile(tops, share))


def capitals_top(text: str, box: tuple[int, int, int, int], image: np.ndarray | None) -> float:
    """Where the word's capitals start: the upper quarter of the column tops in the share of the box
    each capital takes (letters taken as equally wide), or the box's top without an image."""
    tops = _column_tops(image, box)
    if tops is None or image is None:
        return float(box[1])
    x0, _, x1, _ = box
    crop = image[max(0, box[1]):max(0, box[3]), max(0, x0):max(0, x1)]
    _, ink = cv2.threshold(crop, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    columns = np.nonzero(ink.any(axis=0))[0]  # the x (in the box) of each entry of ``tops``
    width = max(1, x1 - x0)
    chosen = np.zeros(len(columns), bool)
    for i, c in enumerate(text):
        if c.isupper():
            chosen |= (columns >= i * width / len(text)) & (columns < (i + 1) * width / len(text))
    return float(np.percentile(tops[chosen], 25.0)) if chosen.any() else float(box[1])


def x_line(words: Sequence[tuple[str, tuple[int, int, int, int], float | None]],
           baseline: float | None = None, image: np.ndarray | None = None) -> tuple[float, float] | None:
    """The top of the small letters of a line and their height (pixels), from its words (text, box, confidence).

    Measured on the words read in small letters whose every letter reaches
    only the x-height (``ым``, ``шеп``): the median top of their columns on
    ``image`` (the box's top without one: then the lowest of them, as a word
    read without its diacritic still has the dots in its box), and the
    x-height is the line's ``baseline`` (y at the words, from Tesseract's
    line) less that, or else the height of those words without a descender.
    None when the line has none of them (a line of one word, a heading in
    capitals) or the height cannot be had.
    """
    tops: list[float] = []
    heights: list[float] = []
    for text, box, confidence in words:
        core = _EDGES.match(text)
        letters = core.group(2) if core else text
        if len(letters) < 2 or (confidence or 0.0) < 50 or not all(c in _X_TOP for c in letters):
            continue
        top = word_top(image, box)
        tops.append(top)
        if not any(c in _DESCENDING for c in letters) and not text.endswith((",", ";")):
            heights.append(box[3] - top)
    if not tops:
        return None
    x_top = float(np.median(tops)) if image is not None else max(tops)
    if baseline is not None and baseline - x_top > 3:
        return x_top, baseline - x_top
    if heights:
        return x_top, float(np.median(heights))
    return None


def _baseline(title: str | None) -> float | None:
    """The y of a line's baseline at its middle, from its hOCR title (``bbox …; baseline slope offset``)."""
    box = _box(title)
    match = re.search(r"baseline (-?[\d.]+) (-?[\d.]+)", title or "")
    if box is None or match is None:
        return None
    slope, offset = float(match.group(1)), float(match.group(2))
    return box[3] + offset + slope * (box[2] - box[0]) / 2.0


def small_letters(text: str, box: tuple[int, int, int, int], line: tuple[float, float] | None,
                  weights: Weights, image: np.ndarray | None = None) -> str | None:
    """The word in small letters when its capitals are a misreading, else None.

    Every capital in it must be drawn like its small letter (CASE_TWINS), the
    small-letter form must reach only the x-height, and the word's top must
    sit on the line's x-line (:func:`x_line`), where a capital would stand
    taller by a third of the x-height or more.
    """
    if line is None:
        return None
    match = _EDGES.match(text)
    core = match.group(2) if match else text
    if not any(c.isupper() for c in core) or not all(c in CASE_TWINS for c in core if c.isupper()):
        return None
    lower = core.lower()
    if not all(c in _X_TOP for c in lower if c.isalpha()) or not any(c.isalpha() for c in lower):
        return None
    top, height = line
    if capitals_top(text, box, image) < top - weights.x_line_tolerance * height:
        return None
    return text.replace(core, lower)


def _marked_twins(alphabet: set[str]) -> dict[str, tuple[str, ...]]:
    """Letter → the language's letters that are it plus a diacritic (Unicode decomposition: о → ӧ, е → ё)."""
    twins: dict[str, list[str]] = {}
    for letter in sorted(alphabet):
        parts = unicodedata.normalize("NFD", letter)
        if len(parts) > 1 and parts[0] != letter:
            twins.setdefault(parts[0], []).append(letter)
            twins.setdefault(parts[0].upper(), []).append(letter.upper())
    return {base: tuple(marked) for base, marked in twins.items()}


def lost_marks(core: str, lm: LanguageModel, *, margin: float | None = None, most: int = 4) -> str | None:
    """A word the language does not know, read for one it knows but for lost diacritics.

    ``вылo`` → ``вылӧ`` when ``вылӧ`` is a known form and ``вылo`` is not: the
    dots of a worn ӧ are the part of the letter that breaks off first, and
    Tesseract then reads a confident о. Taken when exactly one way of putting
    the marks back gives a known form (at most ``most`` letters tried); when
    none does and ``margin`` is given, the spelling whose letters the
    character n-grams find likelier by ``margin`` (natural log) or more.
    """
    if len(core) < 3 or lm.known(core) or not core.isalpha():
        return None
    twins = _marked_twins(lm.alphabet)
    places = [i for i, c in enumerate(core) if c in twins][:most]
    if not places:
        return None
    found: set[str] = set()
    spellings = []
    options = [(core[i],) + twins[core[i]] for i in places]
    for choice in itertools.product(*options):
        letters = list(core)
        for i, letter in zip(places, choice, strict=True):
            letters[i] = letter
        word = "".join(letters)
        if word != core:
            spellings.append(word)
            if lm.known(word):
                found.add(word)
    if found or margin is None:
        return found.pop() if len(found) == 1 else None
    base = lm.log_prob(core)
    best = max(spellings, key=lm.log_prob)
    return best if lm.log_prob(best) - base >= margin else None


def _lowered(reading: WordReading, text: str) -> WordReading:
    """A reading with the letters of ``text`` (the same word in small letters) and their small alternatives."""
    letters = tuple(tuple((option.lower(), conf) for option, conf in options) for options in reading.letters)
    return WordReading(text, reading.confidence, reading.bbox, letters)


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
        elif ends and "-" in word.strip("-"):  # a compound (агитационно-массӧвӧй): its known parts, in part
            parts = [part for part in word.split("-") if part]
            score += sum(weights.known + weights.common * math.log1p(lm.frequency(part))
                         for part in parts if lm.known(part)) / len(parts)
        return score + _case_penalty(word, weights)

    base = total(core, original)
    if len(core) < 2 or not any(c.isalpha() for c in core) or any(c in _APOSTROPHES for c in core):
        return text, base  # (the word lists split words at apostrophes: мә'лумат is beyond them)
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


@dataclass(frozen=True)
class ImageLines:
    """Reads one line of ``image`` again (single-line segmentation), optionally scaled; boxes in page pixels.

    Also lends the image to :func:`rescore_page`, which measures letter heights on it.
    """

    image: np.ndarray
    model: str
    dpi: float
    tessdata: Path
    scale: float = 1.0

    def __call__(self, box: tuple[int, int, int, int]) -> Sequence[WordReading]:
        height, width = self.image.shape[:2]
        scale = self.scale
        x0, y0, x1, y1 = box
        pad = max(4, (y1 - y0) // 4)
        left, top = max(0, x0 - pad), max(0, y0 - pad)
        crop = self.image[top:min(height, y1 + pad), left:min(width, x1 + pad)]
        if crop.size == 0:
            return ()
        picture = PILImage.fromarray(crop)
        if scale != 1.0:
            picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                                     PILImage.Resampling.LANCZOS)
        found = tesseract.recognize_with_alternatives(picture, model=self.model, dpi=self.dpi * scale,
                                                      tessdata=self.tessdata, psm=7)
        return tuple(
            WordReading(w.text, w.confidence,
                        (left + round(w.bbox[0] / scale), top + round(w.bbox[1] / scale),
                         left + round(w.bbox[2] / scale), top + round(w.bbox[3] / scale)), w.letters)
            for w in found.words
        )


def line_reader(image: np.ndarray, *, model: str, dpi: float, tessdata: Path, scale: float = 1.0) -> LineReader:
    """Read one line of ``image`` again (single-line segmentation), optionally scaled; boxes in page pixels."""
    return ImageLines(image, model, dpi, tessdata, scale)


# a dash Tesseract read as two (``--``, ``-—``) or an em dash glued to a word (``пиыс--Степан``)
_DASH_RUN = re.compile(r"[-‐‑‒–—―]{2,}|(?<=[^\W\d_])—|—(?=[^\W\d_])|(?<=\w)—$|^—(?=\w)")
# specks read as marks: a grave accent (no Cyrillic text uses one), a mark after a line-end hyphen (``аг-.``)
_SPECKS = re.compile(r"^`+|`+$|(?<=[^\W\d_]-)[.,'`‘’]+$")


def _dash_spans(text: str) -> list[tuple[int, int, str]]:
    """The words and dashes of ``text`` (see :func:`dash_parts`): (start, end, text), a dash as ``—``."""
    spans: list[tuple[int, int, str]] = []
    position = 0
    for match in _DASH_RUN.finditer(text):
        if text[position:match.start()]:
            spans.append((position, match.start(), text[position:match.start()]))
        spans.append((match.start(), match.end(), "—"))
        position = match.end()
    if text[position:]:
        spans.append((position, len(text), text[position:]))
    return spans


def dash_parts(text: str) -> list[str] | None:
    """A word that holds a dash between words, cut into its words and ``—``; None if it holds none.

    Cyrillic print sets the dash between words as an em dash with a space
    on either side (``пиыс — Степан``); Tesseract often reads it as two
    hyphens and joins it to its neighbours (``пиыс--Степан``,
    ``соглашение-—``). A single hyphen (``ССР-са``, ``5-ӧд``, a line-end
    ``аг-``) and a dash between figures (``5—6``) are left alone.
    """
    parts = [part for _, _, part in _dash_spans(text)]
    return parts if len(parts) >= 2 else None


def _split_word(word_el: etree._Element, spans: Sequence[tuple[int, int, str]],
                confidences: Sequence[float] | None = None) -> None:
    """Make the hOCR word ``word_el`` several words, one for each of ``spans`` (start, end, text: the
    letters of the word's text each stands for), its box shared by those letters; each with its
    confidence from ``confidences`` (else the word's)."""
    box = _box(word_el.get("title")) or (0, 0, 0, 0)
    title = word_el.get("title") or ""
    total = max(1, spans[-1][1] - spans[0][0])
    x0, y0, x1, y1 = box
    left = x0
    element = word_el
    for index, (_start, end, part) in enumerate(spans):
        right = x1 if index == len(spans) - 1 else x0 + round((x1 - x0) * (end - spans[0][0]) / total)
        part_title = _BBOX.sub(f"bbox {left} {y0} {max(left, right)} {y1}", title)
        if confidences is not None:
            part_title = re.sub(r"x_wconf [\d.]+", f"x_wconf {round(confidences[index])}", part_title)
        if index == 0:
            word_el.text = part
            word_el.set("title", part_title)
        else:
            new = etree.Element(word_el.tag, dict(word_el.attrib))
            new.set("id", f"{word_el.get('id', 'word')}_{index + 1}")
            new.set("title", part_title)
            new.text = part
            new.tail = element.tail
            element.tail = " "
            element.addnext(new)
            element = new
        left = right


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


def _line_metrics(line: etree._Element, image: np.ndarray | None) -> tuple[float, float] | None:
    """:func:`x_line` of an hOCR line."""
    words = [el for el in line.iter() if el.get("class") == "ocrx_word"]
    return x_line([("".join(el.itertext()).strip(), _box(el.get("title")) or (0, 0, 0, 0),
                    word_confidence(el.get("title"))) for el in words], _baseline(line.get("title")), image)


def rescore_page(page_div: str, readings: Sequence[WordReading], lm: LanguageModel, *,
                 below_confidence: float, weights: Weights | None = None,
                 second: LineReader | None = None, line_below: float = 0.0, marks: bool = True) -> Rescored:
    """Rescore the doubtful words of a page of Tesseract hOCR (the ``ocr_page`` div).

    With ``second``, a line holding a word below ``line_below`` is read again
    by it (another image of the page); a doubtful word then takes the second
    reading when that scores better by ``weights.second_margin``.
    """
    weights = weights or Weights()
    image = second.image if isinstance(second, ImageLines) else None
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
    lines = [el for el in root.iter() if el.get("class") in ("ocr_line", "ocr_textfloat", "ocr_header",
                                                              "ocr_caption")]
    metrics = [_line_metrics(line, image) for line in lines]
    heights = [m[1] for m in metrics if m is not None]
    for line, line_metrics in zip(lines, metrics, strict=True):
        words = [el for el in line.iter() if el.get("class") == "ocrx_word"]
        seconds: dict[int, WordReading] = {}
        confidences = [word_confidence(el.get("title")) for el in words]
        boxes = [_box(el.get("title")) or (0, 0, 0, 0) for el in words]
        baseline = _baseline(line.get("title"))
        if line_metrics is None and baseline is not None and len(heights) >= 3:
            # a line with no word in small letters to measure (``1939 во``): the page's x-height above
            # its baseline, as the type of a page is mostly of one size
            height = float(np.median(heights))
            line_metrics = (baseline - height, height)
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
            if holder is None or not text or confidence is None or not _in_alphabet(text, lm.alphabet):
                continue
            ends = position < len(words) - 1 or not text.endswith("-")
            reading = by_box.get(boxes[position])
            small = small_letters(text, boxes[position], line_metrics, weights, image)
            if small is not None and reading is not None and reading.text.strip() == text:
                # capitals that stand no taller than small letters: the small-letter word, if the
                # language knows it (after rescoring) or it is the part of a word cut at a line end
                chosen, _ = best_reading(_lowered(reading, small), lm, weights, starts=starts, ends=ends)
                cut = not starts or text.endswith("-")
                capitals = sum(1 for c in text if c.isupper())
                if chosen != text and (cut or capitals > 1 or lm.known(_EDGES.sub(r"\2", chosen))):
                    checked += 1
                    holder.text = raw.replace(text, chosen)
                    changes.append(Change(word_el.get("id", ""), text, chosen, confidence))
                    continue
            if confidence >= below_confidence and not _foreign(text, lm.alphabet):
                match = _EDGES.match(text)
                marked = None
                if match and marks and starts and not text.endswith("-"):
                    parts = match.group(2).split("-")
                    found = [lost_marks(part, lm, margin=weights.marks_margin) for part in parts]
                    if any(found):
                        marked = "-".join(f or part for f, part in zip(found, parts, strict=True))
                if match and marked is not None:
                    checked += 1
                    chosen = match.group(1) + marked + match.group(3)
                    holder.text = raw.replace(text, chosen)
                    changes.append(Change(word_el.get("id", ""), text, chosen, confidence))
                continue
            if reading is None or reading.text.strip() != text:
                continue
            checked += 1
            chosen, score = best_reading(reading, lm, weights, starts=starts, ends=ends)
            other = seconds.get(position)
            if other is not None and other.text.strip():
                alternative, other_score = best_reading(other, lm, weights, starts=starts, ends=ends)
                if other_score > score + weights.second_margin:
                    chosen = alternative.strip()
                    first, again = _EDGES.match(text), _EDGES.match(chosen)
                    if first and again and first.group(2) and again.group(2):
                        # punctuation the second reading drops goes (a speck read as ' or ‘); where it
                        # reads other punctuation, the first reading's stays (the line was cut anew)
                        lead = again.group(1) if not again.group(1) else first.group(1)
                        trail = again.group(3) if not again.group(3) else first.group(3)
                        chosen = lead + again.group(2) + trail
            if chosen != text:
                holder.text = raw.replace(text, chosen)
                changes.append(Change(word_el.get("id", ""), text, chosen, confidence))
        last = "".join(words[-1].itertext()).strip() if words else ""
        continued = last.endswith("-")
    changes = _dashes(root, changes, lm.alphabet, by_box)
    if not changes:
        return Rescored(page_div, (), checked, lines_read)
    return Rescored(etree.tostring(root, encoding="unicode") + "\n", tuple(changes), checked, lines_read)


def _dashes(root: etree._Element, changes: list[Change], alphabet: set[str],
            by_box: dict[tuple[int, int, int, int], WordReading]) -> list[Change]:
    """The page's words that hold a dash between words (:func:`dash_parts`) made several words, each
    with the mean confidence of its letters where Tesseract's letters still line up with it (a dash
    read as ``--`` draws the whole word's confidence down), and specks read as marks dropped;
    ``changes`` with each such word's change (its earlier change, if rescored, then ends in the parts)."""
    by_id = {change.word_id: i for i, change in enumerate(changes)}
    for word_el in [el for el in root.iter() if el.get("class") == "ocrx_word" and len(el) == 0]:
        text = (word_el.text or "").strip()
        cleaned = _SPECKS.sub("", text) if text and _in_alphabet(text, alphabet) else text
        if cleaned != text and cleaned.strip("-"):
            word_id = word_el.get("id", "")
            word_el.text = (word_el.text or "").replace(text, cleaned)
            if word_id in by_id:
                earlier = changes[by_id[word_id]]
                changes[by_id[word_id]] = Change(word_id, earlier.ocr, cleaned, earlier.confidence)
            else:
                by_id[word_id] = len(changes)
                changes.append(Change(word_id, text, cleaned, word_confidence(word_el.get("title"))))
            text = cleaned
        parts = dash_parts(text) if text and _in_alphabet(text, alphabet) else None
        if parts is None:
            continue
        word_id = word_el.get("id", "")
        reading = by_box.get(_box(word_el.get("title")) or (0, 0, 0, 0))
        spans = _dash_spans(text)
        confidences = None
        if reading is not None and len(reading.letters) == len(text) and all(reading.letters):
            confidences = [sum(reading.letters[i][0][1] for i in range(start, end)) / (end - start)
                           for start, end, _ in spans]
        _split_word(word_el, spans, confidences)
        if word_id in by_id:
            earlier = changes[by_id[word_id]]
            changes[by_id[word_id]] = Change(word_id, earlier.ocr, " ".join(parts), earlier.confidence)
        else:
            changes.append(Change(word_id, text, " ".join(parts), word_confidence(word_el.get("title"))))
    return changes


# -- a page ------------------------------------------------------------------------

def _script(alphabet: set[str]) -> str:
    cyrillic = sum(1 for c in alphabet if "\u0400" <= c <= "\u04ff")
    return "Cyrl" if cyrillic * 2 > len(alphabet) else "Latn"


def language_model(language: str, enabled: bool) -> LanguageModel | None:
    """The item language's model when rescoring is on and the language has one in the item's script
    (``az-Latn`` is not rescored with the Cyrillic ``az`` list); else None (nothing is done)."""
    lm = model_for_language(language) if enabled else None
    subtags = [part for part in language.replace("_", "-").split("-")[1:] if len(part) == 4]
    if lm is not None and subtags and subtags[0].title() != _script(lm.alphabet):
        return None
    return lm


def _in_alphabet(text: str, alphabet: set[str]) -> bool:
    """Whether most of a word's letters are the language's (not a Latin word on a Cyrillic page)."""
    letters = [c.lower() for c in text if c.isalpha()]
    return not letters or sum(1 for c in letters if c in alphabet or c in FOREIGN_TWINS) * 2 > len(letters)


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
