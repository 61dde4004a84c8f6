"""Azerbaijani Cyrillic -> Latin letter tables, as plain data.

The Azerbaijani Cyrillic alphabet was used from 1939 to 1991; its 1958 reform
replaced Й with Ј. Both give Latin Y, so one table serves both eras. The
Latin side is the 1992 alphabet in NFC (precomposed) form. Schwa is always
the Latin letter Ə/ə (U+018F/U+0259), never Cyrillic Ә/ә (U+04D8/U+04D9) or
the look-alike turned e (U+01DD).

Russian letters that appear in loanwords get the spelling a modern
Azerbaijani reader would use as a first approximation (цирк -> sirk). The
loanword engine that comes later refines these per word; bump RULES_VERSION
whenever any output can change, so stored Latin texts can be told apart.
"""

from __future__ import annotations

__all__ = [
    "RULES_VERSION",
    "AZERBAIJANI_LETTERS",
    "RUSSIAN_LOAN_LETTERS",
    "CYRILLIC_TO_LATIN",
    "CYRILLIC_TO_LATIN_ALL_CAPS",
    "LATIN_LOOKALIKES",
]

RULES_VERSION = "1"

# (Cyrillic upper, Cyrillic lower, Latin upper, Latin lower), in the order of
# the Azerbaijani Cyrillic alphabet (1958-1991).
AZERBAIJANI_LETTERS: tuple[tuple[str, str, str, str], ...] = (
    ("А", "а", "A", "a"),
    ("Б", "б", "B", "b"),
    ("В", "в", "V", "v"),
    ("Г", "г", "Q", "q"),
    ("Ғ", "ғ", "Ğ", "ğ"),
    ("Д", "д", "D", "d"),
    ("Е", "е", "E", "e"),
    ("\u04d8", "\u04d9", "\u018f", "\u0259"),  # Ә ә -> Ə ə (Latin schwa)
    ("Ж", "ж", "J", "j"),
    ("З", "з", "Z", "z"),
    ("И", "и", "İ", "i"),  # Azerbaijani dotted capital İ (U+0130)
    ("Ы", "ы", "I", "ı"),  # and dotless small ı (U+0131)
    ("Ј", "ј", "Y", "y"),  # U+0408/U+0458, from 1958
    ("Й", "й", "Y", "y"),  # 1939-1958 spelling of Ј; Russian й later
    ("К", "к", "K", "k"),
    ("Ҝ", "ҝ", "G", "g"),
    ("Л", "л", "L", "l"),
    ("М", "м", "M", "m"),
    ("Н", "н", "N", "n"),
    ("О", "о", "O", "o"),
    ("Ө", "ө", "Ö", "ö"),
    ("П", "п", "P", "p"),
    ("Р", "р", "R", "r"),
    ("С", "с", "S", "s"),
    ("Т", "т", "T", "t"),
    ("У", "у", "U", "u"),
    ("Ү", "ү", "Ü", "ü"),
    ("Ф", "ф", "F", "f"),
    ("Х", "х", "X", "x"),
    ("Һ", "һ", "H", "h"),
    ("Ч", "ч", "Ç", "ç"),
    ("Ҹ", "ҹ", "C", "c"),
    ("Ш", "ш", "Ş", "ş"),
)

# Letters of Russian loanwords. First approximation; the loanword engine
# will override per word (e.g. where Ц should be "ts" or Е after a vowel "ye").
RUSSIAN_LOAN_LETTERS: tuple[tuple[str, str, str, str], ...] = (
    ("Ц", "ц", "S", "s"),
    ("Щ", "щ", "Ş", "ş"),
    ("Ъ", "ъ", "", ""),
    ("Ь", "ь", "", ""),
    ("Ё", "ё", "Yo", "yo"),
    ("Ю", "ю", "Yu", "yu"),
    ("Я", "я", "Ya", "ya"),
    ("Э", "э", "E", "e"),
)

CYRILLIC_TO_LATIN: dict[str, str] = {
    cyr: lat
    for upper_cyr, lower_cyr, upper_lat, lower_lat in AZERBAIJANI_LETTERS + RUSSIAN_LOAN_LETTERS
    for cyr, lat in ((upper_cyr, upper_lat), (lower_cyr, lower_lat))
}

# In an all-caps word the second Latin letter of a digraph is upper case too
# (ЯШАР -> YAŞAR, but Юсиф -> Yusif).
CYRILLIC_TO_LATIN_ALL_CAPS: dict[str, str] = {
    "Ё": "YO",
    "Ю": "YU",
    "Я": "YA",
}

# Latin letters that OCR emits for the Cyrillic letter they imitate. Applied
# only inside words that are mostly Cyrillic.
LATIN_LOOKALIKES: dict[str, str] = {
    "a": "а",
    "e": "е",
    "o": "о",
    "p": "р",
    "c": "с",
    "x": "х",
    "y": "у",
    "j": "ј",
    "h": "һ",
    "\u0259": "\u04d9",  # Latin ə -> Cyrillic ә
    "\u01dd": "\u04d9",  # turned e ǝ -> Cyrillic ә
    "A": "А",
    "B": "В",
    "E": "Е",
    "H": "Н",  # could also be Һ; Н is far more frequent
    "K": "К",
    "M": "М",
    "O": "О",
    "P": "Р",
    "T": "Т",
    "C": "С",
    "X": "Х",
    "J": "Ј",
    "\u018f": "\u04d8",  # Latin Ə -> Cyrillic Ә
}
