"""The exceptions lexicon: words the rules cannot decide, as plain data.

A lexicon file is UTF-8 text, one entry a line: the Cyrillic word, a tab,
its Latin spelling, and optionally a tab and ``word`` (match the whole word
only, never as a stem). Blank lines and lines starting with ``#`` are
ignored. The bundled ``lexicon.tsv`` is read once; users add their own files,
whose entries win.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from digitize.errors import TransliterationError

__all__ = ["Lexicon", "load_lexicon", "default_lexicon"]

# Apostrophes OCR and typesetters use inside words (мә'лумат, мә’лумат).
APOSTROPHES = "'\u2019\u02bc"
_TO_ASCII_APOSTROPHE = str.maketrans({"\u2019": "'", "\u02bc": "'"})

# A stem shorter than this matches whole words only (сша must not match шаир...).
MIN_STEM_CHARS = 4


def lexicon_key(word: str) -> str:
    """How a printed word is looked up: lower case, one apostrophe form."""
    return word.lower().translate(_TO_ASCII_APOSTROPHE)


@dataclass(frozen=True)
class Lexicon:
    """Lexicon entries: ``words`` match whole words, ``stems`` also start longer words."""

    words: Mapping[str, str] = field(default_factory=dict)
    stems: Mapping[str, str] = field(default_factory=dict)

    @property
    def max_stem_chars(self) -> int:
        return max(map(len, self.stems), default=0)

    def merged(self, other: Lexicon) -> Lexicon:
        """This lexicon with ``other``'s entries added; ``other`` wins."""
        words = {**self.words, **other.words}
        stems = {key: value for key, value in self.stems.items() if key not in other.words}
        stems.update(other.stems)
        for key in other.stems:
            words.pop(key, None)
        return Lexicon(words, stems)

    def __len__(self) -> int:
        return len(self.words) + len(self.stems)


def parse_lexicon(lines: Iterable[str], source: str = "<lexicon>") -> Lexicon:
    words: dict[str, str] = {}
    stems: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        columns = line.split("\t")
        if len(columns) not in (2, 3) or not columns[0].strip() or not columns[1].strip():
            raise TransliterationError(
                f"{source}, line {number}: expected 'cyrillic<TAB>latin' with an optional '<TAB>word', got {line!r}"
            )
        key, value = lexicon_key(columns[0].strip()), columns[1].strip()
        flag = columns[2].strip() if len(columns) == 3 else ""
        if flag not in ("", "word"):
            raise TransliterationError(f"{source}, line {number}: third column must be 'word' or empty, got {flag!r}")
        if flag == "word" or len(key) < MIN_STEM_CHARS:
            words[key] = value
        else:
            stems[key] = value
    return Lexicon(words, stems)


def load_lexicon(path: str | Path) -> Lexicon:
    """Read a lexicon file (see the module docstring for the format)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TransliterationError(f"cannot read lexicon {path}: {exc}") from exc
    return parse_lexicon(text.splitlines(), str(path))


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The lexicon shipped with the package (transliteration/lexicon.tsv)."""
    text = resources.files("digitize.transliteration").joinpath("lexicon.tsv").read_text(encoding="utf-8")
    return parse_lexicon(text.splitlines(), "transliteration/lexicon.tsv")
