"""Search forms: how the catalog finds a text in either script.

Titles, authors and page texts are kept a second time in a *search form*
(``fold``: transliterated to Latin, lower case, the four Azerbaijani i's
made one), and queries are folded the same way, so ``Азәрбајҹан`` and
``azərbaycan`` find the same items.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from digitize.errors import SearchQueryError

__all__ = [
    "AUTHORS_FIELD",
    "MAX_TERMS",
    "PAGE_SEPARATOR",
    "TITLE_FIELD",
    "Snippet",
    "Term",
    "field_pattern",
    "fold",
    "index_text",
    "like_pattern",
    "make_snippet",
    "meta_search",
    "page_hits",
    "page_index_text",
    "plain",
    "plain_words",
    "query_terms",
    "title_sort_key",
]

_I_FOLD = str.maketrans({"İ": "i", "I": "i", "ı": "i"})

# ``meta_search`` holds these fields in this order, joined by _FIELD_SEP.
_META_FIELDS = ("title", "authors", "collection", "inventory_number", "identifier")
TITLE_FIELD, AUTHORS_FIELD = 0, 1
_FIELD_SEP = "\x1f"  # str.split() treats it as whitespace, so ``fold`` never produces it


def fold(value: str | None) -> str:
    """The search form of a text: Latin script, lower case, one kind of i.

    Cyrillic is transliterated (Latin passes through unchanged), then
    Azerbaijani dotted/dotless I/i are folded together (``str.lower`` knows
    nothing of Turkic casing, and OCR and readers mix them up), whitespace
    is collapsed.
    """
    if not value:
        return ""
    from digitize.transliteration import transliterate_text

    latin = transliterate_text(unicodedata.normalize("NFC", value))
    return " ".join(latin.translate(_I_FOLD).lower().split())


def like_pattern(word: str) -> str:
    """A LIKE pattern (escape character ``\\``) matching ``word`` anywhere."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def field_pattern(word: str, field: int) -> str:
    """A LIKE pattern matching ``word`` inside one field of ``meta_search``:
    exactly ``field`` separators before it and the rest after it."""
    before = f"%{_FIELD_SEP}" * field
    after = f"%{_FIELD_SEP}" * (len(_META_FIELDS) - 1 - field)
    return f"{before}{like_pattern(word)}{after}%"


def meta_search(
    title: str, authors: Sequence[str], collection: str | None, inventory_number: str | None, identifier: str
) -> str:
    """Title, authors, collection and identifiers in search form.

    Fields are separated by a character ``fold`` never produces, so a
    phrase cannot match across two fields and ``field_pattern`` can
    search one field.
    """
    parts = [
        fold(title),
        fold(" ; ".join(authors)),
        fold(collection),
        fold(inventory_number),
        identifier.lower(),
    ]
    return _FIELD_SEP.join(parts)


# -- the full-text index's form (accent-free) and what a query asks for -------------------------------

# ə has no decomposition in Unicode; the other Azerbaijani letters (ç ğ ö ş ü) lose their marks by NFD.
_PLAIN_FOLD = str.maketrans({"ə": "e", "ı": "i", "ß": "ss", "ø": "o", "đ": "d", "ł": "l", "æ": "ae", "œ": "oe"})
# A word of the index: letters and digits (what FTS5's unicode61 tokenizer and PostgreSQL's
# parser both keep whole once the text is plain); everything else separates words.
_WORD = re.compile(r"[^\W_]+")
_SPACES = re.compile(r"\s+")
# Pages are separated by this in an item's index text (both engines treat it as a space).
PAGE_SEPARATOR = "\f"
# Longest word kept in the index and in queries (PostgreSQL refuses lexemes over 2 KB; no word is this long).
_MAX_WORD = 60
# Most words a query may hold; more is answered with a SearchQueryError.
MAX_TERMS = 32


@lru_cache(maxsize=1)
def _collator() -> Any:
    import icu  # PyICU

    return icu.Collator.createInstance(icu.Locale("az"))


def title_sort_key(title: str | None) -> bytes:
    """The ICU sort key of a title in Azerbaijani order (``Ç`` after ``C``, ``Ə`` after ``E``, ``I`` before ``İ``).

    Stored beside the title, so both databases sort by comparing bytes
    and neither needs a collation of its own.
    """
    key: bytes = _collator().getSortKey(unicodedata.normalize("NFC", title or ""))
    return key


def plain(value: str | None) -> str:
    """The accent-free search form: ``fold`` (Latin, lower case, one kind of i), then without diacritics.

    ``şəki``, ``шәки`` and ``seki`` are all ``seki``; ``Azərbaycan`` is
    ``azerbaycan``. The full-text index holds this form and queries are made
    plain the same way, so a reader without Azerbaijani letters on the
    keyboard finds what they meant.
    """
    if not value:
        return ""
    from digitize.transliteration import transliterate_text

    return _plain_latin(transliterate_text(unicodedata.normalize("NFC", value)))


def _plain_latin(latin: str) -> str:
    """``plain`` of a text already transliterated (what ``fold`` does after transliterating, then unmarked)."""
    folded = " ".join(latin.translate(_I_FOLD).lower().split()).translate(_PLAIN_FOLD)
    decomposed = unicodedata.normalize("NFD", folded)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def plain_words(value: str | None) -> list[str]:
    """The words of ``value`` as the index holds them (``plain``, split into letters and digits)."""
    return [word[:_MAX_WORD] for word in _WORD.findall(plain(value))]


def index_text(value: str | None) -> str:
    """``value`` in the index's form: its plain words joined by single spaces."""
    return " ".join(plain_words(value))


def page_index_text(original: str, latin: str) -> str:
    """One page in the index's form: both scripts, the Latin only when it adds words.

    The Cyrillic original made plain is the Latin transliteration made
    plain in nearly every case; where the stored Latin text differs (post-
    corrected, or a mixed-script page), its words are indexed too.
    """
    words = plain_words(original)
    if latin and latin != original:
        seen = set(words)
        extra = [w for w in plain_words(latin) if w not in seen]
        words += extra
    return " ".join(words)


@dataclass(frozen=True)
class Term:
    """One word of a query in the index's form; ``prefix``: it also matches longer words (``kitab``, ``kitablar``).

    A quoted phrase is one term of several words (``word`` holds them
    separated by single spaces, never a prefix): they must follow each
    other in that order.
    """

    word: str
    prefix: bool

    @property
    def is_phrase(self) -> bool:
        return " " in self.word

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.word.split(" "))

    def matches(self, word: str) -> bool:
        """Does one word of a text match (for a phrase: is it one of the phrase's words)."""
        if self.is_phrase:
            return word in self.words
        return word.startswith(self.word) if self.prefix else word == self.word

    def pattern(self) -> re.Pattern[str]:
        """Finds the term in a text in the index's form (plain words separated by single spaces)."""
        return _term_pattern(self.word, self.prefix)


@lru_cache(maxsize=1024)
def _term_pattern(word: str, prefix: bool) -> re.Pattern[str]:
    return re.compile(r"(?:^|\s)" + re.escape(word) + ("" if prefix else r"(?=\s|$)"))


_QUOTED = re.compile(r'"([^"]*)"')


def query_terms(text: str | None) -> tuple[Term, ...]:
    """The words a reader's query looks for; never anything an engine would read as syntax.

    The query is made plain and split into letters and digits, so quotes,
    ``*``, ``-``, parentheses and ``NEAR``/``AND``/``OR`` are plain words or
    separators (each engine is then given the words quoted). Words of three
    letters or more match as prefixes, since Azerbaijani adds its endings to
    the word (``kitab``, ``kitablar``, ``kitabların``); numbers and shorter
    words match whole (``100`` must not find ``1000``). Words in double
    quotes match as they are written: one word whole (no endings), several
    as a phrase (``"şəki xanı"``: the two words one after the other). Repeated
    words count once. More than ``MAX_TERMS`` words: SearchQueryError.
    """
    terms: dict[str, Term] = {}

    def add_words(part: str) -> None:
        for word in plain_words(part):
            terms.setdefault(word, Term(word, prefix=len(word) >= 3 and not word.isdigit()))

    position = 0
    for quoted in _QUOTED.finditer(text or ""):
        add_words((text or "")[position:quoted.start()])
        position = quoted.end()
        words = plain_words(quoted.group(1))
        if words:
            phrase = " ".join(words)
            if terms.get(phrase, Term(phrase, True)).prefix:  # the exact form replaces the prefix one
                terms.pop(phrase, None)
                terms[phrase] = Term(phrase, prefix=False)
    add_words((text or "")[position:])
    if len(terms) > MAX_TERMS:
        raise SearchQueryError(
            f"the search has {len(terms)} different words; at most {MAX_TERMS} are searched: use fewer"
        )
    if sum(len(term.words) for term in terms.values()) > 4 * MAX_TERMS:
        raise SearchQueryError(f"the search's phrases hold too many words; at most {4 * MAX_TERMS} are searched")
    return tuple(terms.values())


def page_hits(index: str, terms: Sequence[Term]) -> tuple[list[int], list[int]]:
    """Positions (0-based, in page order) of the pages holding every query word, and of those holding some.

    ``index`` is an item's pages in the index's form separated by ``PAGE_SEPARATOR``.
    """
    every: list[int] = []
    some: list[int] = []
    if not terms:
        return every, some
    # The index's form is words joined by single spaces: a term is " word " in the page with a space
    # before and after it (" word" for a prefix), which ``in`` finds at memchr speed (``term.pattern()``
    # says the same but scans each page in the regex engine: ~30 µs a page, 6 ms for the 20 items shown).
    needles = [" " + term.word + ("" if term.prefix else " ") for term in terms]
    for position, page in enumerate(index.split(PAGE_SEPARATOR)):
        padded = " " + page + " "
        found = sum(1 for needle in needles if needle in padded)
        if found == len(terms):
            every.append(position)
        elif found:
            some.append(position)
    return every, some


@dataclass(frozen=True)
class Snippet:
    """A passage of a page with the query's words marked: text parts, each a hit or not.

    Kept as parts so that every page template escapes the text itself
    (``html`` does the same for the JSON API: escape the text, then mark).
    """

    seq: int
    parts: tuple[tuple[str, bool], ...]

    def html(self) -> str:
        return "".join(f"<mark>{html.escape(t)}</mark>" if hit else html.escape(t) for t, hit in self.parts)

    def text(self) -> str:
        return "".join(t for t, _ in self.parts)


@lru_cache(maxsize=65536)
def _plain_word(word: str) -> tuple[str, ...]:
    return tuple(plain_words(word))


def _plain_forms(words: list[str]) -> list[tuple[str, ...]]:
    """Each word's ``plain_words``, transliterated in one call (one call per word costs ~0.1 ms each)."""
    from digitize.transliteration import transliterate_text

    if not words:
        return []
    latin = transliterate_text(unicodedata.normalize("NFC", "\n".join(words)))
    folded = unicodedata.normalize("NFD", latin.translate(_I_FOLD).lower().translate(_PLAIN_FOLD))
    lines = "".join(ch for ch in folded if not unicodedata.combining(ch)).split("\n")
    if len(lines) != len(words):  # the transliteration joined or split lines: word by word
        return [_plain_word(word) for word in words]
    return [tuple(w[:_MAX_WORD] for w in _WORD.findall(line)) for line in lines]


def _hit_positions(text: str, spans: list[tuple[int, int]], terms: Sequence[Term]) -> list[int]:
    forms = _plain_forms([text[a:b] for a, b in spans])
    return [i for i, plains in enumerate(forms) if any(t.matches(w) for t in terms for w in plains)]


def make_snippet(
    seq: int, text: str, terms: Sequence[Term], words: int = 32, index_page: str | None = None
) -> Snippet | None:
    """About ``words`` words of ``text`` around its first hits, the hits marked (None: no hit on it).

    ``index_page``: the page in the index's form (plain words, in the
    order of ``text``'s words), which says where the hits are, so only
    they are made plain (a page's ~300 words cost ~1 ms to make plain).
    """
    if not terms or not text:
        return None
    spans = [m.span() for m in _WORD.finditer(text)]
    hits: list[int] = []
    if index_page is not None:
        # The index's page is the page's words made plain, in order (then the Latin text's extra words):
        # its n-th word is nearly always the n-th word of ``text``. Each hit found so is checked on the
        # word itself (made plain alone, cached); a page where they disagree is read word by word.
        # The index's page is words joined by single spaces (see ``page_hits``): a hit's word number is the
        # count of spaces before it, found with ``str`` methods instead of a list of every word's start.
        padded = " " + index_page + " "
        found: set[int] = set()
        for term in terms:
            needle = " " + term.word + ("" if term.prefix else " ")
            at = padded.find(needle)
            while at >= 0:
                first = padded.count(" ", 0, at + 1) - 1
                found.update(range(first, first + len(term.words)))
                # on after the word (not into it), as the pattern's matches do not overlap
                at = padded.find(needle, at + 1 + len(term.word))
        hits = sorted(i for i in found if i < len(spans))
        if not all(any(t.matches(w) for t in terms for w in _plain_word(text[slice(*spans[i])])) for i in hits):
            hits = []
    if not hits:
        hits = _hit_positions(text, spans, terms)
    if not hits:
        return None
    # The window that starts a few words before the first hit and holds the most hits.
    best_start, best_count = 0, -1
    for hit in hits:
        start = max(0, hit - 6)
        count = sum(1 for h in hits if start <= h < start + words)
        if count > best_count:
            best_start, best_count = start, count
    end = min(len(spans), best_start + words)
    chosen = set(hits)
    parts: list[tuple[str, bool]] = [("… ", False)] if best_start > 0 else []
    cursor = spans[best_start][0]
    for i in range(best_start, end):
        a, b = spans[i]
        if i in chosen:
            if a > cursor:
                parts.append((_SPACES.sub(" ", text[cursor:a]), False))
            parts.append((text[a:b], True))
            cursor = b
    finish = len(text.rstrip()) if end == len(spans) else spans[end - 1][1]  # the last word's full stop too
    if finish > cursor:
        parts.append((_SPACES.sub(" ", text[cursor:finish]), False))
    if end < len(spans):
        parts.append((" …", False))
    return Snippet(seq, tuple(parts))

