"""Search inside one book: which printed words on which pages match a query, with their boxes.

The words and boxes come from the item's ALTO files (``archive.alto_words``);
the web layer turns the hits into IIIF Content Search annotations. Plain
functions on plain data: no store, no catalog, no HTTP.

Words are compared as the full-text search compares them (``storage.search``:
``plain`` form, ``Term`` matching): Cyrillic transliterated to Latin, lower
case, no diacritics, ``ə`` as ``e``, so ``seki``, ``şəki`` and ``Шәки``
find each other whatever script the book was printed in and whatever
keyboard the reader has; a query word of three letters or more matches a
printed word that *begins* with it, since Azerbaijani adds its endings to
the stem (``şəhər`` finds ``şəhərdə`` and ``Шәһәрләри``).

A query is words and quoted phrases. A page is a hit when every word and
every phrase is on it; each occurrence is one hit (a phrase: its words in
a row). Hyphenated line ends are read as one word (``нефт-``/``чилик``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from digitize.archive.alto_words import AltoBox, AltoPage, AltoWord
from digitize.errors import SearchQueryError
from digitize.storage.search import Term, plain, plain_words, query_terms

__all__ = [
    "CONTEXT_WORDS",
    "InsideHit",
    "InsideQuery",
    "find_hits",
    "page_may_match",
    "parse_query",
    "scale_box",
    "search_pages",
]

CONTEXT_WORDS = 6  # words before and after a hit in its snippet

_LINE_BREAK_HYPHEN = re.compile(r"[-\u00ad\u2010\u00ac]\s*\n\s*")


@dataclass(frozen=True)
class InsideQuery:
    """A parsed query: each entry a phrase of terms (a lone word is a phrase of one)."""

    text: str
    phrases: tuple[tuple[Term, ...], ...]

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(term.word for phrase in self.phrases for term in phrase)


def parse_query(text: str, *, max_words: int = 32) -> InsideQuery:
    """Words and ``"quoted phrases"``; refuses (``SearchQueryError``) a query with nothing to search.

    Punctuation and symbols separate words and are otherwise ignored (there
    is no query syntax to get wrong), but a quote left open is refused
    rather than guessed at.
    """
    if text.count('"') % 2:
        raise SearchQueryError('the search has an unbalanced quote ("): close the phrase or remove the quote')
    phrases: list[tuple[Term, ...]] = []
    for index, part in enumerate(text.split('"')):
        terms = tuple(term for word in plain_words(part) for term in query_terms(word))
        if index % 2:  # inside quotes
            if terms:
                phrases.append(terms)
        else:
            phrases.extend((term,) for term in terms)
    if not phrases:
        raise SearchQueryError("the search has no word to look for: type at least one letter or digit")
    count = sum(len(phrase) for phrase in phrases)
    if count > max_words:
        raise SearchQueryError(f"the search has {count} words; at most {max_words} words are searched: use fewer")
    return InsideQuery(text=text, phrases=tuple(dict.fromkeys(phrases)))


def page_may_match(query: InsideQuery, page_text: str | None) -> bool:
    """Could the page hold every word of the query? A cheap test on its text before its ALTO is read.

    Never says no to a page ``find_hits`` would find something on: the
    text is made of the same words, line-end hyphens are joined the same
    way, and a word that begins with a query word contains it.
    """
    if not page_text:
        return False
    flat = plain(_LINE_BREAK_HYPHEN.sub("", page_text))
    return all(word in flat for word in query.words)


@dataclass(frozen=True)
class InsideHit:
    """One occurrence of a query word or phrase on a page: its printed words (with boxes) and their context."""

    seq: int
    words: tuple[AltoWord, ...]
    prefix: str  # the printed words before it on the page
    suffix: str  # and after it
    page_size: tuple[float, float]  # the ALTO page's width and height, in the unit of the boxes

    @property
    def exact(self) -> str:
        return " ".join(word.text for word in self.words)


def _keys(word: AltoWord) -> tuple[str, ...]:
    """Forms a query word may match: the whole word run together, and each part of it (``Cənubi-Qafqaz``)."""
    parts = plain_words(word.text)
    if not parts:
        return ()
    whole = "".join(parts)
    return (whole, *parts) if len(parts) > 1 else (whole,)


def _matches(term: Term, keys: tuple[str, ...]) -> bool:
    return any(term.matches(key) for key in keys)


def find_hits(
    query: InsideQuery, seq: int, page: AltoPage, *, context_words: int = CONTEXT_WORDS
) -> list[InsideHit]:
    """Every occurrence of the query's words and phrases on the page, in reading order; none unless all occur."""
    keys = [_keys(word) for word in page.words]
    found: dict[tuple[Term, ...], list[int]] = {}
    for phrase in query.phrases:
        starts = [
            start for start in range(len(keys) - len(phrase) + 1)
            if all(_matches(term, keys[start + offset]) for offset, term in enumerate(phrase))
        ]
        if not starts:
            return []
        found[phrase] = starts
    spans = sorted({(start, len(phrase)) for phrase, starts in found.items() for start in starts})
    words = page.words
    return [
        InsideHit(
            seq=seq,
            words=words[start:start + length],
            prefix=" ".join(word.text for word in words[max(0, start - context_words):start]),
            suffix=" ".join(word.text for word in words[start + length:start + length + context_words]),
            page_size=(page.width, page.height),
        )
        for start, length in spans
    ]


def search_pages(query: InsideQuery, pages: Iterable[tuple[int, AltoPage]]) -> list[InsideHit]:
    """``find_hits`` over pages given as (page number, words), in the order given."""
    return [hit for seq, page in pages for hit in find_hits(query, seq, page)]


def scale_box(box: AltoBox, page_size: Sequence[float], size: Sequence[int]) -> tuple[int, int, int, int]:
    """A box on an ALTO page ``page_size`` big as ``x, y, w, h`` in an image of the page ``size`` pixels big.

    Rounded outwards, clipped to the image, at least one pixel wide and high.
    """
    width, height = size
    page_width, page_height = page_size
    sx = width / page_width if page_width > 0 else 1.0
    sy = height / page_height if page_height > 0 else sx
    x0 = max(0, min(width - 1, int(box.x * sx)))
    y0 = max(0, min(height - 1, int(box.y * sy)))
    x1 = max(x0 + 1, min(width, math.ceil((box.x + box.width) * sx)))
    y1 = max(y0 + 1, min(height, math.ceil((box.y + box.height) * sy)))
    return x0, y0, x1 - x0, y1 - y0
