"""A realistic text corpus for the search bench: Zipfian word frequencies over tens of thousands of word forms.

The sample corpus (``samples.corpus``) has ~600 distinct words, so every
query word is on nearly every page — no library's text is like that. Here
the most frequent words are the sample corpus's own words (``вә``, ``бу``,
``илә`` …, in their order of frequency), followed by generated
Azerbaijani-like word forms (stems of Azerbaijani syllables with the
language's endings, ``-лар``/``-ләр``, ``-ын``/``-ин``, ``-да``/``-дә`` …),
``vocabulary`` forms in all. Word ``r`` (1-based rank) is drawn with
probability proportional to ``1 / r ** exponent`` (Zipf's law, exponent ≈ 1
in natural-language text), so a few words are on every page, most are rare,
and a typical content word is on some of the items.

Pages are ``words`` words in sentences (capitalised, full stops), printed in
Cyrillic; the Latin text is the project's own transliteration of each word
form (computed once per form) and the index text the project's plain form.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from digitize.samples.corpus import PARAGRAPHS
from digitize.storage.search import index_text
from digitize.transliteration import transliterate_text

__all__ = ["Corpus", "Page"]

_CONSONANTS = "бвгғдҹжзјкҝлмнпрсштфхһчз"
_VOWELS = "аәеиыоөуү"
_FRONT = set("әеиөү")
_ENDINGS_BACK = ["", "лар", "ын", "ы", "да", "дан", "а", "ла", "дыр", "ларын", "ларда", "лары", "сы", "мыш"]
_ENDINGS_FRONT = ["", "ләр", "ин", "и", "дә", "дән", "ә", "лә", "дир", "ләрин", "ләрдә", "ләри", "си", "миш"]


@dataclass(frozen=True)
class Page:
    """One generated page: its Cyrillic text, the Latin transliteration and the index's plain form."""

    original: str
    latin: str
    plain: str


class Corpus:
    """Word forms in three spellings and a Zipfian sampler of pages (deterministic for a seed)."""

    def __init__(self, vocabulary: int = 60_000, exponent: float = 1.0, words: int = 300, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.words_per_page = words
        counts = collections.Counter(
            w.strip(".,;:()«»—!?\"'").lower() for p in PARAGRAPHS for w in p.split()
        )
        real = [w for w, _ in counts.most_common() if w and w.isalpha()]
        forms: dict[str, None] = dict.fromkeys(real)
        stems = self._stems(vocabulary)
        for stem in stems:
            endings = _ENDINGS_FRONT if self._front(stem) else _ENDINGS_BACK
            for ending in endings:
                forms.setdefault(stem + ending, None)
                if len(forms) >= vocabulary:
                    break
            if len(forms) >= vocabulary:
                break
        cyrillic = list(forms)[:vocabulary]
        # Generated forms are shuffled among themselves so a stem's endings are not neighbours in rank.
        generated = cyrillic[len(real):]
        self.rng.shuffle(generated)  # type: ignore[arg-type]
        cyrillic = cyrillic[:len(real)] + generated
        self.cyrillic = np.array(cyrillic, dtype=object)
        self.cyrillic_capital = np.array([w[:1].upper() + w[1:] for w in cyrillic], dtype=object)
        latin = [transliterate_text(w) for w in cyrillic]
        self.latin = np.array(latin, dtype=object)
        self.latin_capital = np.array([transliterate_text(w) for w in self.cyrillic_capital], dtype=object)
        self.plain = np.array([index_text(w) for w in cyrillic], dtype=object)
        ranks = np.arange(1, len(cyrillic) + 1, dtype=np.float64)
        weights = 1.0 / ranks**exponent
        self.cumulative = np.cumsum(weights / weights.sum())

    def _stems(self, count: int) -> list[str]:
        rng = self.rng
        stems: dict[str, None] = {}
        while len(stems) < count // 4:
            syllables = int(rng.integers(1, 4))
            stem = "".join(
                (_CONSONANTS[int(rng.integers(len(_CONSONANTS)))] if rng.random() < 0.85 else "")
                + _VOWELS[int(rng.integers(len(_VOWELS)))]
                + (_CONSONANTS[int(rng.integers(len(_CONSONANTS)))] if rng.random() < 0.4 else "")
                for _ in range(syllables)
            )
            if len(stem) >= 3:
                stems.setdefault(stem, None)
        return list(stems)

    @staticmethod
    def _front(stem: str) -> bool:
        vowels = [c for c in stem if c in _VOWELS]
        return bool(vowels) and vowels[-1] in _FRONT

    def ranks(self, count: int) -> np.ndarray:
        """``count`` word ranks (0-based) drawn by Zipf's law."""
        found: np.ndarray = np.searchsorted(self.cumulative, self.rng.random(count), side="right")
        return np.minimum(found, len(self.cumulative) - 1)

    def pages(self, count: int) -> Iterator[Page]:
        """``count`` pages of ``words`` words each, in sentences of 6–18 words."""
        n = self.words_per_page
        drawn = self.ranks(count * n).reshape(count, n)
        starts = self.rng.random((count, n)) < 1 / 12  # a sentence starts here
        starts[:, 0] = True
        for row, start in zip(drawn, starts, strict=True):
            cyrillic = np.where(start, self.cyrillic_capital[row], self.cyrillic[row])
            latin = np.where(start, self.latin_capital[row], self.latin[row])
            ends = np.roll(start, -1)
            ends[-1] = True
            original = " ".join(w + "." if e else w for w, e in zip(cyrillic.tolist(), ends.tolist(), strict=True))
            latin_text = " ".join(w + "." if e else w for w, e in zip(latin.tolist(), ends.tolist(), strict=True))
            yield Page(original, latin_text, " ".join(self.plain[row].tolist()))

    def word(self, rank: int) -> str:
        """The Cyrillic form of the word of this rank (0-based)."""
        return str(self.cyrillic[rank])
