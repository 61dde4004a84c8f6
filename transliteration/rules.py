"""Per-word rules: one Azerbaijani Cyrillic word in, its modern Latin spelling out.

The engine sends here only words the plain letter table cannot do (words
with a Russian letter, a Latin look-alike, an in-word apostrophe, a lexicon
stem, or a vowel before -ев); every other word is one ``str.translate``.

Russian loanwords were printed in Russian spelling in Azerbaijani Cyrillic
books of both eras. Modern Azerbaijani respells them by sound, and these
rules follow the forms of the Azerbaijani orthographic dictionary:

==============  ======================================  =====================
letter          rule                                    example
==============  ======================================  =====================
Ц               s                                       цирк sirk, станция stansiya
Щ               şş between vowels, else ş               Хрущёв Xruşşov, борщ borş
Ъ, Ь            dropped; y before е, о                  объект obyekt, бульон bulyon,
                                                        Ильич İliç
Ё               o after ж ч ш щ, else yo                актёр aktyor, Горбачёв Qorbaçov
Ю               ü after ж ш, else yu                    жюри jüri, революция revolyusiya
Я               ya                                      Ялта Yalta
Э               e                                       поэма poema
Е               ye after a vowel, ъ or ь, and first in  Достоевский Dostoyevski,
                a Russian word; vowel + ев is yev       Алиев Aliyev
-ий, -ый        i, ı at the end of a Russian word       Горький Qorki, Грозный Qroznı
Й               y elsewhere                             район rayon
Г               g before е и я ю ё э ь in a Russian     Сергей Sergey, Горький Qorki
                word, else q
==============  ======================================  =====================

A word counts as Russian when it has a Russian-only letter (Ц Щ Ъ Ь Ё Э Ю Я,
and Й in the 1958 alphabet, where native words write Ј) and no letter only
Azerbaijani has (Ә Ө Ү Ғ Ҝ Ҹ Һ Ј). In the 1939-1958 alphabet Й, Ю and Я were
native letters too (Азәрбайҹан), so there only Ц Щ Ъ Ь Ё Э and the -ский,
-цкий, -ия endings mark a Russian word.

The apostrophe of 1958-1991 spelling (мә'лумат) is dropped, as the modern
orthography does: məlumat.
"""

from __future__ import annotations

from digitize.transliteration.lexicon import APOSTROPHES, Lexicon, lexicon_key
from digitize.transliteration.table import (
    AZERBAIJANI_ONLY,
    CYRILLIC_TO_LATIN,
    LATIN_LOOKALIKES,
    RUSSIAN_ONLY,
    VARIANT_LETTERS,
)

__all__ = ["ALPHABETS", "az_upper", "az_lower", "az_capitalize", "transliterate_word_by_rules"]

ALPHABETS = ("1939", "1958")

_LOOKALIKE_TABLE = str.maketrans(LATIN_LOOKALIKES)
_VARIANT_TABLE = str.maketrans(VARIANT_LETTERS)
_LOWER_LATIN = {cyr: lat for cyr, lat in CYRILLIC_TO_LATIN.items() if cyr.islower()}

_VOWELS = frozenset("аеәиыоөуүэюяё")
_HUSHING = frozenset("жчшщ")
_SOFT_AFTER_G = frozenset("еияюёэь")
_RUSSIAN_1939 = frozenset("ьъщцёэ")
_YERS = frozenset("ъь")


def az_upper(text: str) -> str:
    """Upper case with Azerbaijani i -> İ (ı -> I is what str.upper does)."""
    return text.replace("i", "\u0130").upper()


def az_lower(text: str) -> str:
    """Lower case with Azerbaijani I -> ı and İ -> i."""
    return text.replace("I", "\u0131").replace("\u0130", "i").lower()


def az_capitalize(text: str) -> str:
    """First letter upper case (Azerbaijani İ), the rest as it is: Юсиф -> Yusif."""
    return az_upper(text[:1]) + text[1:] if text else text


def is_cyrillic(char: str) -> bool:
    return "\u0400" <= char <= "\u052f"


def is_mostly_cyrillic(word: str) -> bool:
    """More Cyrillic letters than Latin letters that are not look-alikes.

    Look-alikes do not vote: "pəсм" (Latin p, ə) is a Cyrillic word with two
    OCR slips, while in "Bakıда" (k and ı have no Cyrillic twin; 2 against 2)
    the Latin B stays B.
    """
    cyrillic = latin = 0
    for char in word:
        if is_cyrillic(char):
            cyrillic += char.isalpha()
        elif char not in LATIN_LOOKALIKES and char.isalpha():
            latin += 1
    return cyrillic > latin


def is_all_caps(word: str) -> bool:
    """All cased letters upper case, and at least two of them (so Я -> Ya)."""
    if not word.isupper():
        return False
    return sum(1 for char in word if char.isupper()) >= 2


def _lower_cyrillic(word: str) -> str:
    # Per character, so the lower-case word lines up with the printed one
    # (str.lower turns İ into two characters).
    return "".join(char.lower() if is_cyrillic(char) else char for char in word)


def _is_russian(low: str, alphabet: str) -> bool:
    if not AZERBAIJANI_ONLY.isdisjoint(low):
        return False
    if alphabet == "1939":
        return not _RUSSIAN_1939.isdisjoint(low) or low.endswith(("ский", "цкий", "ия"))
    return not RUSSIAN_ONLY.isdisjoint(low)


def _letter(low: str, i: int, russian: bool, native: bool, alphabet: str) -> str:
    """Latin for the lower-case letter ``low[i]``, in the context of the word."""
    char = low[i]
    prev = low[i - 1] if i else ""
    nxt = low[i + 1] if i + 1 < len(low) else ""
    if char == "е":
        if prev in _YERS and prev:
            return "ye"
        if i == 0:
            return "ye" if russian else "e"
        if prev in _VOWELS and (russian or nxt == "в"):
            return "ye"
        return "e"
    if char == "ё":
        return "o" if prev in _HUSHING and prev else "yo"
    if char == "ю":
        return "ü" if prev in "жш" and prev else "yu"
    if char in _YERS:
        return "y" if nxt == "о" else ""
    if char == "й":
        if i == len(low) - 1 and prev in ("и", "ы") and i > 1 and not native:
            if alphabet == "1958" or russian:
                return ""
        return "y"
    if char == "щ":
        return "şş" if prev in _VOWELS and nxt in _VOWELS and prev and nxt else "ş"
    if char == "г" and russian and nxt in _SOFT_AFTER_G and nxt:
        return "g"
    if char in APOSTROPHES:
        return ""
    return _LOWER_LATIN.get(char, char)


def transliterate_word_by_rules(word: str, alphabet: str, lexicon: Lexicon) -> str:
    """Latin spelling of one NFC word token (letters, digits, marks, in-word apostrophes)."""
    if not any(is_cyrillic(char) for char in word):
        return word
    if not word.isascii() and any(char in LATIN_LOOKALIKES for char in word) and is_mostly_cyrillic(word):
        word = word.translate(_LOOKALIKE_TABLE)
    word = word.translate(_VARIANT_TABLE)
    low = _lower_cyrillic(word)
    all_caps = is_all_caps(word)

    start, stem_latin = _lexicon_stem(low, lexicon)
    native = not AZERBAIJANI_ONLY.isdisjoint(low)
    russian = _is_russian(low, alphabet)
    pieces = []
    if stem_latin is not None:
        if all_caps:
            stem_latin = az_upper(stem_latin)
        elif word[0].isupper():
            stem_latin = az_capitalize(stem_latin)
        elif stem_latin[1:] == az_lower(stem_latin[1:]):  # not an abbreviation
            stem_latin = az_lower(stem_latin[:1]) + stem_latin[1:]
        pieces.append(stem_latin)
    for i in range(start, len(low)):
        if not is_cyrillic(low[i]) and low[i] not in APOSTROPHES:
            pieces.append(word[i])  # a digit or a real Latin letter stays as printed
            continue
        latin = _letter(low, i, russian, native, alphabet)
        if not all_caps and word[i] != low[i]:
            latin = az_capitalize(latin)
        pieces.append(latin)
    out = "".join(pieces)
    return az_upper(out) if all_caps else out


def _lexicon_stem(low: str, lexicon: Lexicon) -> tuple[int, str | None]:
    """(length of the printed stem, its Latin) for the longest lexicon match, else (0, None)."""
    key = lexicon_key(low)
    whole = lexicon.words.get(key) or lexicon.stems.get(key)
    if whole is not None:
        return len(low), whole
    for length in range(min(len(key) - 1, lexicon.max_stem_chars), 3, -1):
        latin = lexicon.stems.get(key[:length])
        if latin is not None and RUSSIAN_ONLY.isdisjoint(key[length:]):
            return length, latin
    return 0, None
