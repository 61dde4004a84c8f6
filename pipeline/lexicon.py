"""Language knowledge for choosing between OCR readings: a lexicon and a character n-gram model.

One :class:`LanguageModel` per language (the item's language tag, ``kv-Cyrl``
→ ``kv``), read from a word-frequency list shipped under
``pipeline/data/lexicon/<code>.tsv.gz`` (``word<TAB>count``, lower case, NFC;
where each list comes from and under which licence: the README there). The
model answers two questions about a candidate word: is it a known word form
(and how common), and how plausible is its spelling letter by letter
(interpolated Witten-Bell character n-grams trained on the same counts, so
an inflected form the list lacks still scores as the language's). It never
decides on its own: pipeline/reread.py weighs it against Tesseract's own
scores, and only for words Tesseract was unsure of.

Build a list from plain text, one file or several (what was done for ``kv``
and ``az``, see the README); ``model-words`` writes out a Tesseract model's
own word list in the language's spelling::

    .venv/bin/python -m digitize.pipeline.lexicon build kv corpus.txt pipeline/data/lexicon/kv.tsv.gz
    .venv/bin/python -m digitize.pipeline.lexicon model-words aze_cyrl aze_cyrl-words.txt
"""

from __future__ import annotations

import gzip
import itertools
import logging
import math
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = ["LanguageModel", "model_for_language", "language_code", "words_of", "normal_form"]

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "data" / "lexicon"
ORDER = 5  # characters of context + 1
_BOUNDARY = "\x02"  # word start/end in the n-gram model
_OPEN = "\x03"  # a word cut by a line-end hyphen: no end

# Latin look-alikes some Cyrillic corpora use for Cyrillic letters (Komi
# Wikipedia writes і and ӧ as Latin i and ö in older articles).
_LATIN_IN_CYRILLIC = str.maketrans({"i": "і", "I": "І", "ö": "ӧ", "Ö": "Ӧ"})
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def language_code(tag: str) -> str:
    """``kv-Cyrl`` → ``kv``; ``az`` → ``az``."""
    return tag.split("-")[0].split("_")[0].lower()


def normal_form(word: str) -> str:
    """A word as the lexicon keeps it: NFC, lower case, Latin look-alikes in Cyrillic words made Cyrillic."""
    word = unicodedata.normalize("NFC", word).lower()
    if any("\u0400" <= c <= "\u04ff" for c in word):
        word = word.translate(_LATIN_IN_CYRILLIC)
    return word


def words_of(text: str) -> list[str]:
    """The word forms of a text, in the lexicon's normal form."""
    return [normal_form(w) for w in _WORD.findall(unicodedata.normalize("NFC", text))]


@dataclass
class LanguageModel:
    """Word counts and a character n-gram model drawn from them."""

    counts: dict[str, int]
    order: int = ORDER
    # n-gram (context + the letter that follows it) -> weighted count; context -> total, -> letters seen after it
    _grams: dict[str, int] = field(default_factory=dict, repr=False)
    _types: dict[str, int] = field(default_factory=dict, repr=False)
    _totals: dict[str, int] = field(default_factory=dict, repr=False)
    _alphabet: int = 1
    alphabet: set[str] = field(default_factory=set)  # lower-case letters of the language (in 0.1 % of forms or more)

    def __post_init__(self) -> None:
        forms = Counter(itertools.chain.from_iterable(map(set, self.counts)))  # letter -> forms holding it
        by_weight: dict[int, list[str]] = {}
        for word, count in self.counts.items():
            weight = 1 + int(math.log(count + 1))  # common forms count more, without drowning the rest
            by_weight.setdefault(weight, []).append(_BOUNDARY * (self.order - 1) + word + _BOUNDARY)
        windows: Counter[str] = Counter()
        start = self.order - 1
        for weight, padded in by_weight.items():
            # the ``order`` letters ending at each position of each word (counted in C by Counter) ...
            found = Counter(word[i - start:i + 1] for word in padded for i in range(start, len(word)))
            windows.update(found if weight == 1 else {window: n * weight for window, n in found.items()})
        grams: Counter[str] = Counter()
        for window, n in windows.items():  # ... and the n-grams there, n = 1 .. order: the window's ends
            for length in range(1, self.order + 1):
                grams[window[-length:]] += n
        totals: Counter[str] = Counter()
        types: Counter[str] = Counter()
        for gram, n in grams.items():
            totals[gram[:-1]] += n
            types[gram[:-1]] += 1
        self._grams, self._totals, self._types = dict(grams), dict(totals), dict(types)
        self._alphabet = len(forms) + 1
        self.alphabet = {c for c, n in forms.items() if c.isalpha() and n >= max(2, len(self.counts) // 1000)}

    def frequency(self, word: str) -> int:
        """How often the corpus has this form (0: unknown)."""
        return self.counts.get(normal_form(word), 0)

    def known(self, word: str) -> bool:
        form = normal_form(word)
        return form in self.counts or all(part in self.counts for part in form.split("-") if part) and "-" in form

    def _prob(self, context: str, char: str) -> float:
        """Interpolated Witten-Bell: P(char | context), backing off to shorter contexts."""
        prob = 1.0 / self._alphabet
        for n in range(0, len(context) + 1):
            ctx = context[len(context) - n:] if n else ""
            total = self._totals.get(ctx)
            if not total:
                continue
            lam = total / (total + self._types[ctx])
            prob = lam * self._grams.get(ctx + char, 0) / total + (1 - lam) * prob
        return prob

    def log_prob(self, word: str, *, starts: bool = True, ends: bool = True) -> float:
        """log P of a word's letters (natural log); ``starts``/``ends`` False: a part cut at a line end."""
        form = normal_form(word)
        if not form:
            return 0.0
        padded = (_BOUNDARY * (self.order - 1) if starts else _OPEN * (self.order - 1)) + form
        total = 0.0
        for i in range(self.order - 1, len(padded)):
            total += math.log(self._prob(padded[i - self.order + 1:i], padded[i]))
        if ends:
            total += math.log(self._prob(padded[len(padded) - self.order + 1:], _BOUNDARY))
        return total


def _read_counts(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            word, _, count = line.rstrip("\n").partition("\t")
            if word and not word.startswith("#"):
                counts[word] = int(count or 1)
    return counts


@lru_cache(maxsize=4)
def model_for_language(tag: str) -> LanguageModel | None:
    """The shipped model of an item's language, or None when there is none.

    Loaded once per process (about 0.5 s for 60,000 forms).
    """
    path = DATA / f"{language_code(tag)}.tsv.gz"
    if not path.is_file():
        return None
    try:
        return LanguageModel(_read_counts(path))
    except (OSError, ValueError, EOFError) as exc:
        log.warning("%s: cannot read the word list (%s); choosing OCR readings without it", path, exc)
        return None


def _script(letter: str) -> str:
    """A letter's script, by its Unicode name's first word (``CYRILLIC``, ``LATIN``, ``GREEK`` ...)."""
    return unicodedata.name(letter, "?").split(" ")[0]


def build(text: str, *, min_count: int = 1) -> Counter[str]:
    """Word-form counts of a plain text, in the lexicon's normal form.

    Only forms written wholly in the text's main script are kept: a Latin
    name in a Cyrillic text, or a word whose ``c`` or ``o`` is a Latin
    look-alike (a typing slip in the corpus), would teach the language
    letters it does not have.
    """
    counts = Counter(words_of(text))
    scripts: Counter[str] = Counter()
    for word, n in counts.items():
        scripts.update({_script(c): n * len(word) for c in word if c.isalpha()})
    main = scripts.most_common(1)[0][0] if scripts else ""
    return Counter({w: n for w, n in counts.items() if n >= min_count and len(w) <= 40
                    and all(_script(c) == main for c in w if c.isalpha())})


# Tesseract's aze_cyrl word list (tesstrain langdata) was made by spelling a
# Latin Azerbaijani web crawl letter for letter in Cyrillic look-alikes, not in
# the Cyrillic alphabet of 1958-1991 that books were printed in: its unicharset
# has ӧ ӱ for ө ү, с̧ ҹ̧ ҝ̆ for ш ч ғ (a letter and a combining cedilla or
# breve) and Ы̇ for the capital of и. Those are put right before counting.
MODEL_SPELLINGS: dict[str, dict[str, str]] = {
    "aze_cyrl": {"с\u0327": "ш", "С\u0327": "Ш", "ҹ\u0327": "ч", "Ҹ\u0327": "Ч", "ҝ\u0306": "ғ", "Ҝ\u0306": "Ғ",
                 "Ы\u0307": "И", "ы\u0307": "и", "ӱ": "ү", "Ӱ": "Ү", "ӧ": "ө", "Ӧ": "Ө"},
}


def model_word_list(model: str, tessdata: Path) -> list[str]:
    """The word list inside a Tesseract model (pipeline/wordlist.py), in the language's own spelling."""
    from digitize.pipeline.wordlist import model_words

    fixes = MODEL_SPELLINGS.get(model, {})
    words = []
    for word in model_words(model, tessdata):
        for wrong, right in fixes.items():
            word = word.replace(wrong, right)
        words.append(unicodedata.normalize("NFC", word))
    return words


_USAGE = """usage: python -m digitize.pipeline.lexicon build <code> <corpus.txt>... <out.tsv.gz>
       python -m digitize.pipeline.lexicon model-words <tesseract model> <out.txt>"""


def _main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "model-words":
        from digitize.pipeline.tesseract import find_tessdata

        words = model_word_list(argv[1], find_tessdata())
        Path(argv[2]).write_text("".join(w + "\n" for w in words), encoding="utf-8")
        print(f"{argv[2]}: {len(words)} words of {argv[1]}")
        return 0
    if len(argv) < 4 or argv[0] != "build":
        print(_USAGE, file=sys.stderr)
        return 2
    code, corpora, out = argv[1], argv[2:-1], argv[-1]
    counts = build("\n".join(Path(corpus).read_text(encoding="utf-8") for corpus in corpora))
    with gzip.GzipFile(out, "wb", mtime=0) as raw:  # mtime 0: the same text gives the same bytes
        names = " + ".join(Path(corpus).name for corpus in corpora)
        body = f"# {code}: {len(counts)} forms from {names}\n" + "".join(
            f"{w}\t{n}\n" for w, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))
        raw.write(body.encode("utf-8"))
    print(f"{out}: {len(counts)} forms")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
