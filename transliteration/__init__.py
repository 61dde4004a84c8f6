"""Azerbaijani Cyrillic (1939-1991) to modern Latin transliteration.

Plain Python: no pipeline or Prefect imports, so scripts and tests can call it.
"""

from digitize.transliteration.engine import (
    Transliterator,
    alphabet_for_year,
    cyrillic_ratio,
    detect_alphabet,
    transliterate_text,
    transliterate_word,
    transliterate_words,
)
from digitize.transliteration.lexicon import Lexicon, load_lexicon
from digitize.transliteration.reverse import latin_to_cyrillic
from digitize.transliteration.stream import transliterate_stream
from digitize.transliteration.table import RULES_VERSION

__all__ = [
    "RULES_VERSION",
    "Lexicon",
    "Transliterator",
    "alphabet_for_year",
    "cyrillic_ratio",
    "detect_alphabet",
    "latin_to_cyrillic",
    "load_lexicon",
    "transliterate_stream",
    "transliterate_text",
    "transliterate_word",
    "transliterate_words",
]
