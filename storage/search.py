"""Search forms: how the catalog finds a text in either script.

Titles, authors and page texts are kept a second time in a *search form*
(``fold``: transliterated to Latin, lower case, the four Azerbaijani i's
made one), and queries are folded the same way, so ``Азәрбајҹан`` and
``azərbaycan`` find the same items.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

__all__ = ["fold", "like_pattern", "field_pattern", "meta_search", "TITLE_FIELD", "AUTHORS_FIELD"]

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
