"""Transliterate Azerbaijani Cyrillic text to the modern Latin alphabet.

Text is cut into tokens: URLs (left alone) and words (runs of letters,
digits and combining marks, with apostrophes inside: мә'лумат). Everything
between tokens (spaces, line ends, punctuation) is copied unchanged.

Words follow Zipf's law, so each distinct word is converted once and
cached (bounded, per alphabet). A new word needs only the letter table
(``str.translate``) unless it has a Russian letter, a Latin letter (OCR
look-alikes, or a Latin word to leave alone), an in-word apostrophe, a vowel
before -ев, or a lexicon stem; then the per-word rules of rules.py decide.

Russian quotations (a run of at least three Cyrillic words with Russian
function words and no Azerbaijani letters or words, not crossing quotation
marks or brackets) are left in Cyrillic unless ``russian="transliterate"``.
The decision looks only at the words and the punctuation between them, never
at spaces or line ends, so ``transliterate_words`` on the words of a page
and ``transliterate_text`` on the page's text agree word for word.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from digitize.transliteration.lexicon import (
    APOSTROPHES,
    MIN_STEM_CHARS,
    Lexicon,
    default_lexicon,
    lexicon_key,
    load_lexicon,
)
from digitize.transliteration.rules import ALPHABETS, is_mostly_cyrillic, transliterate_word_by_rules
from digitize.transliteration.table import AZERBAIJANI_ONLY, CYRILLIC_TO_LATIN, RUSSIAN_ONLY

__all__ = [
    "Transliterator",
    "detect_alphabet",
    "alphabet_for_year",
    "transliterate_word",
    "transliterate_text",
    "transliterate_words",
    "cyrillic_ratio",
]

_TABLE = str.maketrans(CYRILLIC_TO_LATIN)

_CYRILLIC = "\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f"
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02af\u1e00-\u1eff\u2c60-\u2c7f\ua720-\ua7ff"
# Combining marks are not \w, but belong to the letter before them.
_MARKS = "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_W = rf"[\w{_MARKS}]"
_A = f"[{APOSTROPHES}]"
_WORD_PATTERN = rf"{_W}+(?:{_A}{_W}+)*"
_URL_PATTERN = r"(?:[A-Za-z][A-Za-z0-9+.\-]*://|www\.)\S+"

_HAS_CYRILLIC = re.compile(f"[{_CYRILLIC}]")
# split() with these gives [between, token, between, token, ..., between];
# the faster one when the text cannot hold a URL.
_SPLIT = re.compile(rf"({_URL_PATTERN}|{_WORD_PATTERN})")
_SPLIT_WORDS = re.compile(f"({_WORD_PATTERN})")
_URL = re.compile(_URL_PATTERN)
_NOT_LETTER = re.compile(rf"[\W\d_{_MARKS}]+")
_NOT_CYRILLIC = re.compile(f"[^{_CYRILLIC}]+")

_RUSSIAN_LETTERS = "".join(sorted(RUSSIAN_ONLY)) + "".join(sorted(RUSSIAN_ONLY)).upper()
# What sends a word to the rules (see the module docstring), besides the lexicon.
_NEEDS_RULES = re.compile(rf"[{_RUSSIAN_LETTERS}{_LATIN}{APOSTROPHES}]|[аеиоуыАЕИОУЫ][еЕ][вВ]")

# Russian function words that are not also Azerbaijani words (о, он, от, из,
# без, да, а, или "its year", мы the question particle are both, so they do
# not count).
_RUSSIAN_FUNCTION_WORDS = frozenset(
    "и в во не на что это как с со по для к ко у его её ее их все всех всё вы они был была было были "
    "но же ли бы уже только так когда где который которая которое которые этот эта эти тот при "
    "под над до об про через между ещё еще очень себя свой нас вас вам мне меня тебя есть быть ты".split()
)
_RUSSIAN_FUNCTION_CASED = frozenset(
    form for word in _RUSSIAN_FUNCTION_WORDS for form in (word, word.capitalize(), word.upper())
)
_RUSSIAN_ENDINGS = (
    "ого", "ему", "ому", "ыми", "ими", "ться", "ется", "ются", "ает", "ают", "ость", "ости",
    "ение", "ения", "ание", "ания", "ных", "ный", "ная", "ное", "ные", "ская", "ское", "ские",
)
_AZERBAIJANI_WORDS = frozenset(
    "бу бир ки дир дыр дур иди олуб олан олар олду кими чох онун онлар биз сиз бизим сизин ики ил".split()
)
_AZERBAIJANI_ENDINGS = (
    "лар", "ларын", "лары", "ларда", "лардан", "нын", "нин", "нун", "дыр", "дир", "мыш", "миш", "муш",
)
# Quotation marks and brackets end a Russian quotation.
_RUN_BREAK = re.compile("[«»“”„\"()\\[\\]{}‹›]")
_MIN_RUSSIAN_RUN = 3

_CACHE_MAX_WORDS = 20_000
_CACHED_WORD_MAX_CHARS = 40


def _nfc(text: str) -> str:
    # normalize() returns its argument untouched after a quick check when the
    # text is already NFC, which is the common case.
    return unicodedata.normalize("NFC", text)


def alphabet_for_year(year: int | None) -> str | None:
    """The Cyrillic alphabet books of ``year`` were printed in, or None when it
    must be read from the text (unknown year, or 1958, the year of the reform)."""
    if year is None or year == 1958:
        return None
    return "1939" if year < 1958 else "1958"


def detect_alphabet(text: str) -> str:
    """"1958" or "1939": which Azerbaijani Cyrillic alphabet ``text`` is in.

    Ј is the mark of the 1958 alphabet. Without it, Й in a word that also has
    a letter only Azerbaijani uses (Азәрбайҹан, бөйүк) is the 1939 alphabet's
    native y. Anything else (no Й, or Й only in Russian words) reads the same
    in both, and gives "1958".
    """
    if "ј" in text or "Ј" in text:
        return "1958"
    if "й" not in text and "Й" not in text:
        return "1958"
    for match in _WORD_WITH_SHORT_I.finditer(text):
        if not AZERBAIJANI_ONLY.isdisjoint(match.group().lower()):
            return "1939"
    return "1958"


_WORD_WITH_SHORT_I = re.compile(rf"{_W}*[йЙ]{_W}*")


class Transliterator:
    """Options for one item (era, lexicon, Russian quotations) and a word cache.

    ``alphabet`` ("1939" or "1958") wins over ``year``; with neither, each
    call reads the alphabet from its text with ``detect_alphabet``.
    ``russian="keep"`` leaves Russian quotations in Cyrillic,
    ``"transliterate"`` spells them like loanwords. ``lexicon`` adds entries
    (paths or Lexicon objects) to the bundled lexicon; later ones win.
    """

    def __init__(
        self,
        *,
        year: int | None = None,
        alphabet: str | None = None,
        russian: str = "keep",
        lexicon: Iterable[str | Path | Lexicon] | str | Path | Lexicon | None = None,
    ) -> None:
        if alphabet is not None and alphabet not in ALPHABETS:
            raise ValueError(f"alphabet must be one of {', '.join(ALPHABETS)}, got {alphabet!r}")
        if russian not in ("keep", "transliterate"):
            raise ValueError(f"russian must be 'keep' or 'transliterate', got {russian!r}")
        self.alphabet = alphabet or alphabet_for_year(year)
        self.russian = russian
        self.lexicon = _merge_lexicons(lexicon)
        self._lexicon_words = frozenset(self.lexicon.words)
        self._stem_heads = frozenset(key[:MIN_STEM_CHARS] for key in self.lexicon.stems)
        self._cache: dict[str, dict[str, str]] = {name: {} for name in ALPHABETS}
        self._classes: dict[str, str] = {}

    # -- public API ---------------------------------------------------------

    def alphabet_of(self, text: str) -> str:
        """The alphabet used for ``text``: the fixed one, else detected."""
        return self.alphabet or detect_alphabet(text)

    def text(self, text: str) -> str:
        """Return ``text`` in Latin script; only words change (see transliterate_text)."""
        text = _nfc(text)
        if not _HAS_CYRILLIC.search(text):
            return text
        parts = _split(text)
        parts[1::2] = self._latin_tokens(parts, self.alphabet_of(text))
        return "".join(parts)

    def words(self, words: Sequence[str]) -> list[str]:
        """One Latin string per word, same order: the mapping the OCR layers need.

        The words are read as one text (joined by spaces), so the alphabet and
        Russian quotations are decided as for the page's text.
        """
        if isinstance(words, str):
            raise TypeError("words() takes a sequence of words, not a str")
        words = [_nfc(word) for word in words]
        joined = " ".join(words)
        if not _HAS_CYRILLIC.search(joined):
            return words
        # Tokens never span whitespace, so the tokens of the joined text are
        # those of each word in turn.
        latin = iter(self._latin_tokens(_split(joined), self.alphabet_of(joined)))
        out = []
        for word in words:
            parts = _split(word)
            parts[1::2] = [next(latin) for _ in range(len(parts) // 2)]
            out.append("".join(parts))
        return out

    def word(self, word: str) -> str:
        """One word, e.g. the text of an OCR word box; attached punctuation is kept."""
        return self.words([word])[0]

    # -- internals ----------------------------------------------------------

    def _latin_tokens(self, parts: list[str], alphabet: str) -> list[str]:
        """Latin of each token of ``parts`` (the result of _split(text))."""
        tokens = parts[1::2]
        get = self._cache[alphabet].get
        miss = self._miss
        out = [latin if (latin := get(token)) is not None else miss(token, alphabet) for token in tokens]
        if self.russian == "keep" and not _RUSSIAN_FUNCTION_CASED.isdisjoint(tokens):
            for index in self._russian_token_indexes(parts):
                out[index] = tokens[index]
        return out

    def _miss(self, token: str, alphabet: str) -> str:
        if not _HAS_CYRILLIC.search(token) or _URL.match(token):
            latin = token
        elif _NEEDS_RULES.search(token) or self._in_lexicon(token):
            latin = transliterate_word_by_rules(token, alphabet, self.lexicon)
        else:
            latin = token.translate(_TABLE)
        if len(token) <= _CACHED_WORD_MAX_CHARS:
            cache = self._cache[alphabet]
            if len(cache) >= _CACHE_MAX_WORDS:
                cache.clear()  # bounded memory whatever the input
            cache[token] = latin
        return latin

    def _in_lexicon(self, token: str) -> bool:
        key = lexicon_key(token)
        return key in self._lexicon_words or key[:MIN_STEM_CHARS] in self._stem_heads

    def _russian_token_indexes(self, parts: list[str]) -> list[int]:
        """Indexes (into the token list) of the words of Russian quotations.

        A run grows from each Russian function word to both sides over words
        that are not Azerbaijani or Latin, up to quotation marks or brackets.
        """
        tokens = parts[1::2]
        get = self._classes.get
        class_of = self._class_of
        classes = [get(token) or class_of(token) for token in tokens]

        def joins(index: int) -> bool:  # may token ``index`` join the run of ``index - 1``?
            between = parts[2 * index]
            return classes[index] not in ("A", "L") and (between == " " or not _RUN_BREAK.search(between))

        kept: list[int] = []
        done = -1
        index = -1
        while True:
            try:
                index = classes.index("F", index + 1)  # a scan in C
            except ValueError:
                return kept
            if index <= done:
                continue
            left = right = index
            while left > 0 and joins(left):
                left -= 1
            while right + 1 < len(classes) and joins(right + 1):
                right += 1
            if left < index and classes[left] in ("A", "L"):
                left += 1
            done = right
            run = [i for i in range(left, right + 1) if classes[i] != "N"]
            counts = {"F": 0, "R": 0, "C": 0}
            for i in run:
                counts[classes[i]] += 1
            russian = counts["F"] + counts["R"]
            if len(run) >= _MIN_RUSSIAN_RUN and russian >= 2 and 2 * russian >= len(run):
                kept.extend(run)

    def _class_of(self, word: str) -> str:
        """A: Azerbaijani, L: not Cyrillic, N: no letters, F: Russian function
        word, R: Russian by its letters or ending, C: Cyrillic, could be either."""
        cls = self._classes.get(word)
        if cls is not None:
            return cls
        low = word.lower()
        if _URL.match(word):
            cls = "L"
        elif not _HAS_CYRILLIC.search(word):
            cls = "L" if any(char.isalpha() for char in word) else "N"
        elif not is_mostly_cyrillic(word):
            cls = "L"
        elif not AZERBAIJANI_ONLY.isdisjoint(low) or any(char in APOSTROPHES for char in low):
            cls = "A"
        elif low in _AZERBAIJANI_WORDS or low.endswith(_AZERBAIJANI_ENDINGS):
            cls = "A"
        elif low in _RUSSIAN_FUNCTION_WORDS:
            cls = "F"
        elif not RUSSIAN_ONLY.isdisjoint(low) or low.endswith(_RUSSIAN_ENDINGS):
            cls = "R"
        else:
            cls = "C"
        if len(self._classes) >= _CACHE_MAX_WORDS:
            self._classes.clear()
        self._classes[word] = cls
        return cls


def _split(text: str) -> list[str]:
    if "://" in text or "www." in text:
        return _SPLIT.split(text)
    return _SPLIT_WORDS.split(text)


def _merge_lexicons(extra: Iterable[str | Path | Lexicon] | str | Path | Lexicon | None) -> Lexicon:
    lexicon = default_lexicon()
    if extra is None:
        return lexicon
    if isinstance(extra, (str, Path, Lexicon)):
        extra = [extra]
    for item in extra:
        lexicon = lexicon.merged(item if isinstance(item, Lexicon) else load_lexicon(item))
    return lexicon


@lru_cache(maxsize=8)
def _default(alphabet: str | None) -> Transliterator:
    return Transliterator(alphabet=alphabet)


def _for(year: int | None, alphabet: str | None) -> Transliterator:
    if alphabet is not None and alphabet not in ALPHABETS:
        raise ValueError(f"alphabet must be one of {', '.join(ALPHABETS)}, got {alphabet!r}")
    return _default(alphabet or alphabet_for_year(year))


def transliterate_text(text: str, *, year: int | None = None, alphabet: str | None = None) -> str:
    """Return ``text`` in Latin script; only words change.

    Input is normalised to NFC first (so "и" + U+0306 is "й"). Whitespace,
    line ends and punctuation are kept exactly; wholly Latin words, numbers,
    URLs and Russian quotations are returned as they are.

    ``year`` is the publication year, ``alphabet`` ("1939" or "1958") the
    Cyrillic alphabet if known; with neither, it is detected from ``text``.
    """
    return _for(year, alphabet).text(text)


def transliterate_word(word: str, *, year: int | None = None, alphabet: str | None = None) -> str:
    """Transliterate one word, e.g. the text of an OCR word box.

    Punctuation attached to the word ("Бакы,") is kept. The result always
    equals ``transliterate_text(word)``.
    """
    return _for(year, alphabet).word(word)


def transliterate_words(
    words: Sequence[str], *, year: int | None = None, alphabet: str | None = None
) -> list[str]:
    """One Latin string per input word, same order, so OCR word boxes keep
    their positions. The words are read together (alphabet detection,
    Russian quotations), as ``transliterate_text`` reads the page."""
    if isinstance(words, str):
        raise TypeError("transliterate_words() takes a sequence of words, not a str")
    return _for(year, alphabet).words(words)


def cyrillic_ratio(text: str) -> float:
    """Share of letters in ``text`` that are Cyrillic, from 0.0 to 1.0.

    Digits, punctuation and marks do not count; 0.0 when there are no
    letters. Useful to tell a Cyrillic page from a Latin one before choosing
    an OCR model or deciding to transliterate.
    """
    letters = _NOT_LETTER.sub("", text)
    if not letters:
        return 0.0
    return len(_NOT_CYRILLIC.sub("", letters)) / len(letters)
