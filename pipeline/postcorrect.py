"""OCR post-correction: systematic misreadings repaired from evidence, never guessed.

Applied to the page's hOCR right after recognition, so the text layer, plain
text, transliteration, ALTO and EPUB (all built from the hOCR) agree. Every
change is kept with its word id and the OCR reading (the ``postcorrect``
processing step, in page.json and report.json). A word is changed only by one
of these rules, each of which holds for any Azerbaijani text, not just ours:

``script``
    A word that mixes Cyrillic and Latin letters is one script misread: the
    letters only one script has decide it (``Бaкы``: Б, к and ы are Cyrillic), and
    the look-alikes of the other script take their twin (a→а, o→о, p→р ...).
    A word with telling letters of both scripts (``Bakıда``) is left alone, and
    so is a letter whose twin is not certain (Latin H is Н or Һ, y is у or ү).
    Words in one script (``Windows``, ``XIX``, ``www.az``) are never touched.
``foreign-letter``
    Azerbaijani Cyrillic items only: Serbian ћ/Ћ, which no Azerbaijani word
    has, is the Azerbaijani һ/Һ it imitates; printed next to a һ it is the
    same glyph read twice and is dropped (``Ширваншаћһлар``).
``doubled-initial``
    Azerbaijani Cyrillic items only: no Azerbaijani word starts with a doubled
    Һ, Ҝ, Ғ, Ҹ or Ј (these letters are not in Russian, so no loanword does
    either): ``Һһүндүр`` is one letter read twice. Upper case is kept at the
    start of a sentence or a paragraph, lower case elsewhere. ``кҝөстәрилир`` (к and ҝ, one
    letter read both ways) keeps the reading the lexicon knows, if only one.
``lexicon``
    Azerbaijani Cyrillic items only: к and ҝ (Latin k and g) differ by one
    small stroke and the Cyrillic model often reads ҝ as к. A word with к or ҝ
    that is not in the word list of Tesseract's Azerbaijani model
    (pipeline/wordlist.py), while exactly one way of swapping its к/ҝ is, gets
    that spelling (``кениш`` → ``ҝениш``). Two or none found: left alone.

Which rules apply follows the item's language (``language``, its BCP 47
tag) and the model: Azerbaijani items (``az``, or no language given) get the
rule set of their model, as above; an item in any other language read with a
Cyrillic model gets the generic Cyrillic profile ``Cyrl``, which is the
``script`` rule alone, with only the look-alikes every Cyrillic alphabet
shares (not Latin h, j and ə, whose twins һ, ј and ә are Azerbaijani letters):
a Komi or Russian page must not be given Azerbaijani letters.

Words Tesseract read with confidence below ``ocr.postcorrect_min_confidence``
(or without one) are never touched: there the image may be unreadable, and a
correction would be invention.
"""

from __future__ import annotations

import itertools
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from digitize.errors import DigitizeError, OutputError
from digitize.files import atomic_write_text
from digitize.pipeline.hocr import word_confidence
from digitize.pipeline.model import ProcessingStep
from digitize.transliteration import transliterate_word
from digitize.transliteration.rules import az_lower, is_cyrillic

__all__ = [
    "Correction", "Corrector", "PostCorrected", "apply", "corrector_for", "correct_word", "profile_for_model",
    "profile_for",
]

log = logging.getLogger(__name__)

# Which rules an item gets, from the Tesseract model that read it (the model
# is chosen from the item's language and script: settings.ocr.model_for).
_PROFILES = {"Cyrillic": "az-Cyrl", "aze_cyrl": "az-Cyrl", "aze": "az-Latn"}
# Models that read Cyrillic print: items in other languages read with them get the generic profile.
_CYRILLIC_MODELS = frozenset({"Cyrillic", "aze_cyrl", "rus", "kaz", "uzb_cyrl", "ukr", "bel", "bul", "srp", "mkd",
                              "kir", "tgk", "tat", "bak", "chv", "mon"})
_LEXICON_MODEL = "aze"  # its word list is modern Latin Azerbaijani; Cyrillic words are compared through transliteration

# Latin letter -> the Cyrillic letter it is drawn like, where that twin is
# certain. H (Н or Һ), y (у or ү) and Y (У or Ү) have two, so a word needing
# one of them is left alone.
LATIN_TO_CYRILLIC = {
    "a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "j": "ј", "h": "һ",
    "\u0259": "\u04d9", "\u01dd": "\u04d9",  # ə, turned e -> ә
    "A": "А", "B": "В", "E": "Е", "K": "К", "M": "М", "O": "О", "P": "Р", "T": "Т", "C": "С", "X": "Х",
    "J": "Ј", "\u018f": "\u04d8",  # Ə -> Ә
}
_LATIN_AMBIGUOUS = frozenset("HyY")
# the Latin letters whose Cyrillic twin only Azerbaijani has (һ, ј, ә)
_AZERBAIJANI_TWINS = frozenset("hjJ\u0259\u01dd\u018f")
CYRILLIC_TO_LATIN = {
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "ј": "j", "һ": "h", "у": "y",
    "\u04d9": "\u0259", "\u0456": "i", "\u0455": "s",  # ә -> ə, Ukrainian і -> i, Macedonian ѕ -> s
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "Х": "X", "Ј": "J", "Ү": "Y", "\u04d8": "\u018f", "\u0406": "I", "\u0405": "S",
}
_CYRILLIC_AMBIGUOUS = frozenset("Һ")  # H or h by size only

_FOREIGN_TWINS = {"ћ": "һ", "Ћ": "Һ"}
_NATIVE_H = frozenset("һҺ")
_NO_DOUBLED_START = frozenset("һҝғҹј")
_K_SWAP = {"к": "ҝ", "ҝ": "к", "К": "Ҝ", "Ҝ": "К"}
_MAX_SWAPS = 4  # к/ҝ letters in one word; more would be 2^n guesses
_MIN_LEXICON_LETTERS = 3

_SENTENCE_END = re.compile(r"[.!?…][»\"'”’)\]]*$")
_EDGES = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)


def _is_latin(char: str) -> bool:
    return char.isalpha() and not is_cyrillic(char) and ("A" <= char <= "z" or "\u00c0" <= char <= "\u02af")


@dataclass(frozen=True)
class Correction:
    word_id: str
    ocr: str  # what Tesseract read
    text: str  # what the page now says
    rule: str


@dataclass(frozen=True)
class PostCorrected:
    page_div: str  # Tesseract's hOCR page, corrected (unchanged text when nothing was)
    corrections: tuple[Correction, ...]
    words_checked: int


def profile_for_model(model: str) -> str | None:
    """The rule set for a Tesseract model: "az-Cyrl", "az-Latn" or None (no correction)."""
    names = [part.split("/")[-1] for part in model.split("+")]
    profiles = {_PROFILES.get(name) for name in names}
    return profiles.pop() if len(profiles) == 1 else None


def profile_for(model: str, language: str | None = None) -> str | None:
    """The rule set for an item: its model's for Azerbaijani (or no language given),
    "Cyrl" for any other language read with Cyrillic models, else None."""
    code = (language or "az").split("-")[0].split("_")[0].lower()
    if code == "az":
        return profile_for_model(model)
    names = {part.split("/")[-1] for part in model.split("+")}
    return "Cyrl" if names <= _CYRILLIC_MODELS else None


# -- rules on one word ---------------------------------------------------------

def _script_repair(core: str, profile: str) -> str:
    has_cyr = any(is_cyrillic(c) and c.isalpha() for c in core)
    has_lat = any(_is_latin(c) for c in core)
    if not (has_cyr and has_lat):
        return core
    cyr_votes = sum(1 for c in core if is_cyrillic(c) and c.isalpha()
                    and c not in CYRILLIC_TO_LATIN and c not in _CYRILLIC_AMBIGUOUS)
    lat_votes = sum(1 for c in core if _is_latin(c) and c not in LATIN_TO_CYRILLIC and c not in _LATIN_AMBIGUOUS)
    if cyr_votes and lat_votes:
        return core  # a genuinely mixed token (Bakıда): no evidence which letters are wrong
    if cyr_votes or (not lat_votes and profile in ("az-Cyrl", "Cyrl")):
        if any(_is_latin(c) and (c not in LATIN_TO_CYRILLIC or (profile == "Cyrl" and c in _AZERBAIJANI_TWINS))
               for c in core):
            return core
        return "".join(LATIN_TO_CYRILLIC.get(c, c) for c in core)
    if any(is_cyrillic(c) and c.isalpha() and c not in CYRILLIC_TO_LATIN for c in core):
        return core
    return "".join(CYRILLIC_TO_LATIN.get(c, c) for c in core)


def _foreign_letters(core: str) -> str:
    out = []
    for i, char in enumerate(core):
        if char in _FOREIGN_TWINS:
            before = core[i - 1] if i else ""
            after = core[i + 1] if i + 1 < len(core) else ""
            if before in _NATIVE_H or after in _NATIVE_H:
                continue  # the same glyph read twice
            char = _FOREIGN_TWINS[char]
        out.append(char)
    return "".join(out)


def _doubled_initial(core: str, sentence_start: bool) -> str:
    if len(core) < 3 or core[0].lower() != core[1].lower() or core[0].lower() not in _NO_DOUBLED_START:
        return core
    if not core[2].isalpha() or not core[2].islower():
        return core  # ҺҺ in capitals or a lone pair: not a word we can judge
    first = core[0].upper() if sentence_start else core[0].lower()
    return first + core[2:]


def _doubled_k(core: str, lexicon: frozenset[str], year: int | None) -> str:
    """``кҝөстәрилир``: к and ҝ read for one letter at the start; the lexicon picks which."""
    if len(core) < 4 or {core[0].lower(), core[1].lower()} != {"к", "ҝ"}:
        return core
    readings = [core[0] + core[2:], (core[1].upper() if core[0].isupper() else core[1]) + core[2:]]
    known = [word for word in readings if _latin_key(word, year) in lexicon]
    return known[0] if len(known) == 1 else core


def _latin_key(word: str, year: int | None) -> str:
    return az_lower(transliterate_word(word, year=year))


def _lexicon_part(part: str, lexicon: frozenset[str], year: int | None) -> str:
    positions = [i for i, c in enumerate(part) if c in _K_SWAP]
    if (not positions or len(positions) > _MAX_SWAPS or len(part) < _MIN_LEXICON_LETTERS
            or not all(is_cyrillic(c) and c.isalpha() for c in part)):
        return part
    if _latin_key(part, year) in lexicon:
        return part
    found = []
    for count in range(1, len(positions) + 1):
        for chosen in itertools.combinations(positions, count):
            letters = list(part)
            for i in chosen:
                letters[i] = _K_SWAP[letters[i]]
            candidate = "".join(letters)
            if _latin_key(candidate, year) in lexicon:
                found.append(candidate)
    return found[0] if len(found) == 1 else part


def correct_word(
    word: str,
    profile: str,
    *,
    lexicon: frozenset[str] | None = None,
    sentence_start: bool = False,
    year: int | None = None,
) -> tuple[str, str | None]:
    """The corrected word and the rule that changed it (the last one), or (word, None).

    ``lexicon`` holds lower-case (az_lower) modern Latin word forms.
    Punctuation around the word is kept as it is.
    """
    match = _EDGES.match(word)
    assert match is not None  # the pattern matches any string
    lead, core, trail = match.group(1), match.group(2), match.group(3)
    if not core:
        return word, None
    rule = None
    fixed = _script_repair(core, profile)
    if fixed != core:
        core, rule = fixed, "script"
    if profile == "az-Cyrl":
        fixed = _foreign_letters(core)
        if fixed != core:
            core, rule = fixed, "foreign-letter"
        fixed = _doubled_initial(core, sentence_start)
        if fixed != core:
            core, rule = fixed, "doubled-initial"
        if lexicon:
            fixed = _doubled_k(core, lexicon, year)
            if fixed != core:
                core, rule = fixed, "doubled-initial"
            fixed = "-".join(_lexicon_part(part, lexicon, year) for part in core.split("-"))
            if fixed != core:
                core, rule = fixed, "lexicon"
    return lead + core + trail, rule


# -- a page of hOCR ------------------------------------------------------------

def _text_holder(word_el: etree._Element) -> etree._Element | None:
    """The one element whose .text is the word (the span, or a <strong>/<em> inside it)."""
    holders = [el for el in word_el.iter() if (el.text or "").strip()]
    tails = [el for el in word_el.iter() if el is not word_el and (el.tail or "").strip()]
    return holders[0] if len(holders) == 1 and not tails else None


@dataclass(frozen=True)
class Corrector:
    """The rules for one item: its profile, the lexicon (if any) and the confidence floor."""

    profile: str
    lexicon: frozenset[str] | None
    min_confidence: float
    year: int | None = None

    def page(self, page_div: str) -> PostCorrected:
        """Correct one page of Tesseract hOCR (the ``ocr_page`` div)."""
        if "ocrx_word" not in page_div:
            return PostCorrected(page_div, (), 0)
        try:
            root = etree.fromstring(page_div.strip().encode("utf-8"),
                                    etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError as exc:
            raise OutputError(f"Tesseract's hOCR is not well-formed ({exc})") from exc
        corrections: list[Correction] = []
        checked = 0
        sentence_start = True
        for par in root.iter():
            if par.get("class") != "ocr_par":
                continue
            sentence_start = True
            for word_el in par.iter():
                if word_el.get("class") != "ocrx_word":
                    continue
                holder = _text_holder(word_el)
                if holder is None:
                    continue
                raw = holder.text or ""  # never empty: _text_holder chose it for its text
                text = raw.strip()
                confidence = word_confidence(word_el.get("title"))
                starts = sentence_start
                sentence_start = bool(_SENTENCE_END.search(text))
                if confidence is None or confidence < self.min_confidence:
                    continue
                checked += 1
                fixed, rule = correct_word(text, self.profile, lexicon=self.lexicon, sentence_start=starts,
                                           year=self.year)
                if rule is None or fixed == text:
                    continue
                holder.text = raw.replace(text, fixed)
                corrections.append(Correction(word_el.get("id", ""), text, fixed, rule))
        if not corrections:
            return PostCorrected(page_div, (), checked)
        return PostCorrected(etree.tostring(root, encoding="unicode") + "\n", tuple(corrections), checked)


def corrector_for(model: str, tessdata: Path, *, min_confidence: float, year: int | None = None,
                  cache_dir: Path | None = None, language: str | None = None) -> Corrector | None:
    """The corrector for pages read with ``model``, or None when no rules apply to it.

    Without the Azerbaijani model's word list (tesseract-ocr-aze not
    installed) the lexicon rule is off and the others still apply. With
    ``cache_dir``, the lexicon drawn from that list is kept there between
    runs (see :func:`_lower_lexicon`).
    """
    profile = profile_for(model, language)
    if profile is None:
        return None
    lexicon = None
    if profile == "az-Cyrl":
        lexicon = _lower_lexicon(Path(tessdata), cache_dir)
    return Corrector(profile, lexicon, min_confidence, year)


_LOWER_CACHE: dict[str, frozenset[str] | None] = {}
# Bump when the forms kept from the word list change: cached files are redone.
_LEXICON_FORMAT = "digitize-lexicon 1"


def _lower_lexicon(tessdata: Path, cache_dir: Path | None = None) -> frozenset[str] | None:
    """The lower-case forms of the ``aze`` word list that hold k or g.

    Drawing them from the model costs a worker about 0.8 s (two Tesseract
    tools and 310,000 words through Python), so they are kept per process
    and, with ``cache_dir``, in a file there named after the model file's
    size and time, which a later worker reads in a few milliseconds.
    """
    key = str(tessdata)
    if key not in _LOWER_CACHE:
        cached = _cache_file(tessdata, cache_dir)
        words = _read_lexicon(cached) if cached is not None else None
        if words is None:
            from digitize.pipeline.wordlist import model_words

            # Only forms with k or g are ever looked up (the Latin of к and ҝ;
            # a swap keeps their number): 43,000 of 183,000 forms, ~6 MB a worker.
            try:
                words = frozenset(
                    low for word in model_words(_LEXICON_MODEL, tessdata)
                    if "k" in (low := az_lower(word)) or "g" in low
                )
            except DigitizeError as exc:
                log.warning("OCR post-correction without a lexicon: %s", exc)
            if words is not None and cached is not None:
                _write_lexicon(cached, words)
        _LOWER_CACHE[key] = words
    return _LOWER_CACHE[key]


def _cache_file(tessdata: Path, cache_dir: Path | None) -> Path | None:
    if cache_dir is None:
        return None
    try:
        stat = (Path(tessdata) / f"{_LEXICON_MODEL}.traineddata").stat()
    except OSError:
        return None
    return Path(cache_dir) / f"lexicon-{_LEXICON_MODEL}-{stat.st_size}-{stat.st_mtime_ns}.txt"


def _read_lexicon(path: Path) -> frozenset[str] | None:
    """The words of a lexicon file, or None when it is missing or not whole."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError):
        return None
    header, words = lines[0], [line for line in lines[1:] if line]
    if header != f"{_LEXICON_FORMAT} {len(words)}":
        log.warning("%s: not a whole lexicon file; drawing the word list again", path)
        return None
    return frozenset(words)


def _write_lexicon(path: Path, words: frozenset[str]) -> None:
    """Write the file whole or not at all (a temporary file renamed); a
    folder that cannot be written only costs the next worker the 0.8 s."""
    body = "\n".join([f"{_LEXICON_FORMAT} {len(words)}", *sorted(words)]) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, body)
    except OSError as exc:
        log.warning("cannot keep the lexicon in %s: %s", path.parent, exc)


def apply(page_div: str, *, model: str, tessdata: Path, min_confidence: float,
          year: int | None = None, cache_dir: Path | None = None,
          language: str | None = None) -> tuple[str, ProcessingStep | None]:
    """Correct a page of Tesseract hOCR; the page and the step that records it (None: no rules for ``model``
    and ``language``)."""
    corrector = corrector_for(model, tessdata, min_confidence=min_confidence, year=year, cache_dir=cache_dir,
                              language=language)
    if corrector is None:
        return page_div, None
    result = corrector.page(page_div)
    rules: dict[str, int] = {}
    for change in result.corrections:
        rules[change.rule] = rules.get(change.rule, 0) + 1
    step = ProcessingStep(
        "postcorrect",
        "repaired systematic OCR misreadings (mixed scripts, foreign letters, doubled initials, к/ҝ by lexicon)",
        {
            "profile": corrector.profile,
            "lexicon": f"tesseract {_LEXICON_MODEL} word list" if corrector.lexicon else None,
            "min_confidence": min_confidence,
            "words_checked": result.words_checked,
            "words_changed": len(result.corrections),
            "rules": rules,
            # word id, the OCR reading, the text now in the hOCR, the rule
            "changes": [[c.word_id, c.ocr, c.text, c.rule] for c in result.corrections],
        },
    )
    return result.page_div, step
