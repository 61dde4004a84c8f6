"""Azerbaijani Cyrillic (1939-1991) to Latin transliteration.

Plain Python: no pipeline or Prefect imports, so scripts and tests can call it.
"""

from transliteration.engine import (
    cyrillic_ratio,
    transliterate_text,
    transliterate_word,
    transliterate_words,
)
from transliteration.stream import transliterate_stream
from transliteration.table import RULES_VERSION

__all__ = [
    "RULES_VERSION",
    "cyrillic_ratio",
    "transliterate_stream",
    "transliterate_text",
    "transliterate_word",
    "transliterate_words",
]
