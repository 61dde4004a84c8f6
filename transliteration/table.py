"""Azerbaijani Cyrillic -> Latin letter tables, as plain data.

The Azerbaijani Cyrillic alphabet was used from 1939 to 1991; its 1958 reform
replaced Й with Ј and dropped the Russian letters (Ц Щ Ъ Ь Э Ю Я Ё) from
the alphabet, though Russian loanwords kept printing them. Both Й and Ј give
Latin Y, so one letter table serves both eras; what differs by era (e.g. -ий
endings) is decided per word in rules.py. The Latin side is the 1992
alphabet in NFC (precomposed) form. Schwa is always
the Latin letter Ə/ə (U+018F/U+0259), never Cyrillic Ә/ә (U+04D8/U+04D9) or
the look-alike turned e (U+01DD).

Russian letters that appear in loanwords get here the spelling they have
with no context (цирк -> sirk); rules.py refines them per word (ё after ч is
o, -ий is i, ъ before е is y ...). Bump RULES_VERSION whenever any output can
change, so stored Latin texts can be told apart.
"""

from __future__ import annotations

__all__ = [
    "RULES_VERSION",
    "AZERBAIJANI_LETTERS",
    "RUSSIAN_LOAN_LETTERS",
    "CYRILLIC_TO_LATIN",
    "CYRILLIC_TO_LATIN_ALL_CAPS",
    "VARIANT_LETTERS",
    "AZERBAIJANI_ONLY",
    "RUSSIAN_ONLY",
    "LATIN_LOOKALIKES",
]

RULES_VERSION = "2"

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

# Glyphs some 1939-1958 printings (and the Wikipedia table of that alphabet)
# use for Ҝ and Ҹ: Қ (ka with descender) and Ҷ (che with descender). Nothing
# else in Azerbaijani uses them, so they are read as Ҝ and Ҹ in every era.
VARIANT_LETTERS: dict[str, str] = {
    "\u049a": "\u049c",  # Қ -> Ҝ
    "\u049b": "\u049d",  # қ -> ҝ
    "\u04b6": "\u04b8",  # Ҷ -> Ҹ
    "\u04b7": "\u04b9",  # ҷ -> ҹ
}

# Lower-case letters only Azerbaijani has (a word with one is not Russian),
# and the Russian letters the 1958 alphabet lacks (a word with one is a loan).
AZERBAIJANI_ONLY = frozenset("\u04d9\u04e9\u04af\u0493\u049d\u04b9\u04bb\u0458\u049b\u04b7")  # ә ө ү ғ ҝ ҹ һ ј қ ҷ
RUSSIAN_ONLY = frozenset("ьъщцёэюяй")

CYRILLIC_TO_LATIN: dict[str, str] = {
    cyr: lat
    for upper_cyr, lower_cyr, upper_lat, lower_lat in AZERBAIJANI_LETTERS + RUSSIAN_LOAN_LETTERS
    for cyr, lat in ((upper_cyr, upper_lat), (lower_cyr, lower_lat))
}
CYRILLIC_TO_LATIN.update({variant: CYRILLIC_TO_LATIN[letter] for variant, letter in VARIANT_LETTERS.items()})

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
