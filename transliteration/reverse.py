"""Modern Latin back to the 1958-1991 Cyrillic alphabet, for searching.

The e-library should index the Latin text and run a Cyrillic query through
``transliterate_text`` before searching: that one direction covers loanwords
and both eras. This reverse table serves the other need, showing or
highlighting a Latin query in the Cyrillic of the scanned pages. It is one
letter for one letter, exact for native words; loanwords come back in their
Azerbaijani spelling (sirk -> сирк), not in the Russian one printed (цирк).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["latin_to_cyrillic"]

_LETTERS = {
    "a": "а", "b": "б", "c": "ҹ", "ç": "ч", "d": "д", "e": "е", "ə": "ә", "f": "ф",
    "g": "ҝ", "ğ": "ғ", "h": "һ", "x": "х", "ı": "ы", "i": "и", "j": "ж", "k": "к",
    "q": "г", "l": "л", "m": "м", "n": "н", "o": "о", "ö": "ө", "p": "п", "r": "р",
    "s": "с", "ş": "ш", "t": "т", "u": "у", "ü": "ү", "v": "в", "y": "ј", "z": "з",
}  # fmt: skip
_TABLE = str.maketrans(
    {
        **_LETTERS,
        **{latin.upper(): cyrillic.upper() for latin, cyrillic in _LETTERS.items() if latin not in "iı"},
        "\u0130": "И",
        "I": "Ы",
    }
)
_URL_OR_WORD = re.compile(r"(?P<url>(?:[A-Za-z][A-Za-z0-9+.\-]*://|www\.)\S+)|(?P<word>\w+)")


def latin_to_cyrillic(text: str) -> str:
    """Azerbaijani Latin words in ``text`` to 1958 Cyrillic; URLs and other text unchanged."""
    text = unicodedata.normalize("NFC", text)

    def replace(match: re.Match[str]) -> str:
        if match.lastgroup == "url":
            return match.group()
        return match.group().translate(_TABLE)

    return _URL_OR_WORD.sub(replace, text)
