"""Transliterate Azerbaijani Cyrillic text to the Latin alphabet.

Text is split into tokens: URLs (left alone) and words (runs of letters,
digits and combining marks). Everything between tokens (spaces, line ends,
punctuation) is copied unchanged. Only words that contain a Cyrillic letter
get per-word work, in ``_transliterate_uncached``, the one place the later
era/loanword rules will plug into.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from transliteration.table import (
    CYRILLIC_TO_LATIN,
    CYRILLIC_TO_LATIN_ALL_CAPS,
    LATIN_LOOKALIKES,
)

__all__ = [
    "transliterate_word",
    "transliterate_text",
    "transliterate_words",
    "cyrillic_ratio",
]

_TABLE = str.maketrans(CYRILLIC_TO_LATIN)
_ALL_CAPS_TABLE = str.maketrans({**CYRILLIC_TO_LATIN, **CYRILLIC_TO_LATIN_ALL_CAPS})
_LOOKALIKE_TABLE = str.maketrans(LATIN_LOOKALIKES)
_CASE_SENSITIVE = frozenset(CYRILLIC_TO_LATIN_ALL_CAPS)

_CYRILLIC = "\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f"
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02af\u1e00-\u1eff\u2c60-\u2c7f\ua720-\ua7ff"
# Combining marks are not \w, but belong to the letter before them.
_MARKS = "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"

_HAS_CYRILLIC = re.compile(f"[{_CYRILLIC}]")
_HAS_LATIN = re.compile(f"[{_LATIN}]")
_WORD = re.compile(rf"[\w{_MARKS}]+")
_TOKEN = re.compile(
    r"(?P<url>(?:[A-Za-z][A-Za-z0-9+.\-]*://|www\.)\S+)"
    rf"|(?P<word>[\w{_MARKS}]+)"
)
_NOT_LETTER = re.compile(rf"[\W\d_{_MARKS}]+")
_NOT_CYRILLIC = re.compile(f"[^{_CYRILLIC}]+")


def _nfc(text: str) -> str:
    # normalize() returns its argument untouched after a quick check when the
    # text is already NFC, which is the common case.
    return unicodedata.normalize("NFC", text)


def _is_mostly_cyrillic(word: str) -> bool:
    """More Cyrillic letters than Latin letters that are not look-alikes.

    Look-alikes do not vote: "pəсм" (Latin p, ə) is a Cyrillic word with two
    OCR slips, while in "Bakıда" (k and ı have no Cyrillic twin; 2 against 2)
    the Latin B stays B.
    """
    cyrillic = latin = 0
    for char in word:
        if _HAS_CYRILLIC.match(char):
            cyrillic += char.isalpha()
        elif char not in LATIN_LOOKALIKES and _HAS_LATIN.match(char):
            latin += 1
    return cyrillic > latin


def _is_all_caps(word: str) -> bool:
    """All cased letters upper case, and at least two of them (so Я -> Ya)."""
    if not word.isupper():
        return False
    cased = 0
    for char in word:
        if char.isupper():
            cased += 1
            if cased == 2:
                return True
    return False


def _transliterate_uncached(word: str, year: int | None) -> str:
    """Transliterate one NFC word token (no spaces, no punctuation).

    The era/loanword rules of later versions go here. ``year`` is already
    part of the cache key for them; version 1 rules ignore it.
    """
    if not _HAS_CYRILLIC.search(word):
        return word
    if _HAS_LATIN.search(word) and _is_mostly_cyrillic(word):
        word = word.translate(_LOOKALIKE_TABLE)
    if not _CASE_SENSITIVE.isdisjoint(word) and _is_all_caps(word):
        return word.translate(_ALL_CAPS_TABLE)
    return word.translate(_TABLE)


# Words follow Zipf's law, so a small cache gets most hits. It is bounded in
# entries and in word length (well under 1 MB), so memory does not grow with
# the input.
_CACHED_WORD_MAX_CHARS = 40
_transliterate_cached = lru_cache(maxsize=4096)(_transliterate_uncached)


def _transliterate_token(word: str, year: int | None) -> str:
    if len(word) <= _CACHED_WORD_MAX_CHARS:
        return _transliterate_cached(word, year)
    return _transliterate_uncached(word, year)


def transliterate_text(text: str, *, year: int | None = None) -> str:
    """Return ``text`` in Latin script; only words change.

    Input is normalised to NFC first (so "и" + U+0306 is "й"). Whitespace,
    line ends and punctuation are kept exactly; wholly Latin words, numbers
    and URLs are returned as they are.

    ``year`` is the publication year of the book, for the era-aware rules to
    come. Version 1 rules read 1939-1958 (Й) and 1958-1991 (Ј) spellings
    alike, so it does not change the output yet.
    """
    text = _nfc(text)
    if not _HAS_CYRILLIC.search(text):
        return text

    def replace(match: re.Match[str]) -> str:
        word = match.group("word")
        if word is None:  # a URL
            return match.group()
        return _transliterate_token(word, year)

    return _TOKEN.sub(replace, text)


def transliterate_word(word: str, *, year: int | None = None) -> str:
    """Transliterate one word, e.g. the text of an OCR word box.

    Punctuation attached to the word ("Бакы,") is kept. A string that is more
    than one word is split as running text is, so the result always equals
    ``transliterate_text(word)``.
    """
    word = _nfc(word)
    if _WORD.fullmatch(word):
        return _transliterate_token(word, year)
    return transliterate_text(word, year=year)


def transliterate_words(words: Sequence[str], *, year: int | None = None) -> list[str]:
    """One Latin string per input word, same order, so OCR word boxes keep
    their positions."""
    if isinstance(words, str):
        raise TypeError("transliterate_words() takes a sequence of words, not a str")
    return [transliterate_word(word, year=year) for word in words]


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
