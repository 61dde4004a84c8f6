"""Tests for transliteration/: table, casing, OCR look-alikes, the stream."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tracemalloc

import pytest

from digitize import transliteration
from digitize.errors import TransliterationError
from digitize.transliteration import (
    RULES_VERSION,
    cyrillic_ratio,
    transliterate_stream,
    transliterate_text,
    transliterate_word,
    transliterate_words,
)

# Written out here, not imported from table.py, so a wrong table fails.
# (Cyrillic upper, Cyrillic lower, Latin upper, Latin lower)
LETTERS = [
    ("А", "а", "A", "a"),
    ("Б", "б", "B", "b"),
    ("В", "в", "V", "v"),
    ("Г", "г", "Q", "q"),
    ("Ғ", "ғ", "\u011e", "\u011f"),
    ("Д", "д", "D", "d"),
    ("Е", "е", "E", "e"),
    ("\u04d8", "\u04d9", "\u018f", "\u0259"),
    ("Ж", "ж", "J", "j"),
    ("З", "з", "Z", "z"),
    ("И", "и", "\u0130", "i"),
    ("Ы", "ы", "I", "\u0131"),
    ("\u0408", "\u0458", "Y", "y"),
    ("К", "к", "K", "k"),
    ("\u049c", "\u049d", "G", "g"),
    ("Л", "л", "L", "l"),
    ("М", "м", "M", "m"),
    ("Н", "н", "N", "n"),
    ("О", "о", "O", "o"),
    ("\u04e8", "\u04e9", "\u00d6", "\u00f6"),
    ("П", "п", "P", "p"),
    ("Р", "р", "R", "r"),
    ("С", "с", "S", "s"),
    ("Т", "т", "T", "t"),
    ("У", "у", "U", "u"),
    ("\u04ae", "\u04af", "\u00dc", "\u00fc"),
    ("Ф", "ф", "F", "f"),
    ("Х", "х", "X", "x"),
    ("\u04ba", "\u04bb", "H", "h"),
    ("Ч", "ч", "\u00c7", "\u00e7"),
    ("\u04b8", "\u04b9", "C", "c"),
    ("Ш", "ш", "\u015e", "\u015f"),
    # Russian loan letters
    ("Ц", "ц", "S", "s"),
    ("Щ", "щ", "\u015e", "\u015f"),
    ("Ъ", "ъ", "", ""),
    ("Ь", "ь", "", ""),
    ("Ё", "ё", "Yo", "yo"),
    ("Ю", "ю", "Yu", "yu"),
    ("Я", "я", "Ya", "ya"),
    ("Э", "э", "E", "e"),
    ("Й", "й", "Y", "y"),
]


@pytest.mark.parametrize(("cyr_upper", "cyr_lower", "lat_upper", "lat_lower"), LETTERS)
def test_every_letter_both_cases(cyr_upper, cyr_lower, lat_upper, lat_lower):
    assert transliterate_word(cyr_upper) == lat_upper
    assert transliterate_word(cyr_lower) == lat_lower
    # Between two letters of a lower-case word, so one-letter rules don't hide
    # anything.
    assert transliterate_word(f"б{cyr_lower}б") == f"b{lat_lower}b"


def test_core_letters_agree_with_icu_bgn():
    """An independent oracle: ICU's Azerbaijani-Latin/BGN agrees on the 1958
    alphabet (its Й and Russian loan letters differ, so they are left out)."""
    icu = pytest.importorskip("icu")
    bgn = icu.Transliterator.createInstance("Azerbaijani-Latin/BGN")
    core = LETTERS[:32]  # А ... Ш, the Azerbaijani alphabet proper
    text = " ".join(f"{upper}{lower}{lower} {lower}{lower} {upper}{upper}" for upper, lower, _, _ in core)
    assert transliterate_text(text) == bgn.transliterate(text)


def test_schwa_is_latin_schwa():
    out = transliterate_text("Әә")
    assert [hex(ord(c)) for c in out] == ["0x18f", "0x259"]


def test_rules_version_and_public_api():
    assert RULES_VERSION == "2"
    assert sorted(transliteration.__all__) == [
        "Lexicon",
        "RULES_VERSION",
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


@pytest.mark.parametrize(
    ("cyrillic", "latin"),
    [
        ("Азәрбајҹан Республикасы", "Azərbaycan Respublikası"),
        ("Бакы шәһәри", "Bakı şəhəri"),
        ("Низами Ҝәнҹәви", "Nizami Gəncəvi"),
        ("Үзејир Һаҹыбәјов", "Üzeyir Hacıbəyov"),
        ("ЧАЈ", "ÇAY"),
        ("ШУША", "ŞUŞA"),
        ("ИСМАЈЫЛЛЫ", "İSMAYILLI"),
        ("цирк", "sirk"),
        ("Ҹәфәр Ҹаббарлы", "Cəfər Cabbarlı"),
        ("Газах, Шәки вә Ләнкәран", "Qazax, Şəki və Lənkəran"),
        ("Ғарабағ", "Ğarabağ"),
        # 1939-1958 spelling with Й
        ("Азәрбайҹан", "Azərbaycan"),
    ],
)
def test_sentences(cyrillic, latin):
    assert transliterate_text(cyrillic) == latin


@pytest.mark.parametrize(
    ("cyrillic", "latin"),
    [
        ("И", "İ"),
        ("ИЫ", "İI"),
        ("ЈАШЫЛ", "YAŞIL"),
        ("ЯШАР", "YAŞAR"),
        ("ЮРИЙ", "YURİ"),  # the example: -ИЙ is İ, and Ю is YU in caps
        ("ЁЛКА", "YOLKA"),
        ("Юсиф", "Yusif"),
        ("Ялта", "Yalta"),
        ("Я", "Ya"),
        ("Ю", "Yu"),
        ("ЮР", "YUR"),
        ("Яь", "Ya"),  # ь is a cased letter, so not all caps
        ("ЯЬ", "YA"),
        ("Я-ЯЯ", "Ya-YAYA"),  # decided per word
    ],
)
def test_casing(cyrillic, latin):
    assert transliterate_text(cyrillic) == latin


@pytest.mark.parametrize(
    ("ocr", "latin"),
    [
        ("Бaкы", "Bakı"),  # Latin a
        ("Бакo", "Bako"),  # Latin o
        ("Азəрбајҹан", "Azərbaycan"),  # Latin ə
        ("Азǝрбајҹан", "Azərbaycan"),  # turned e U+01DD
        ("Азәрбаjҹан", "Azərbaycan"),  # Latin j
        ("Pеспублика", "Respublika"),  # Latin P is Р
        ("cирк", "sirk"),  # Latin c is с
        ("Hизами", "Nizami"),  # Latin H is Н
        ("Bаһид", "Vahid"),  # Latin B is В
        ("тyт", "tut"),  # Latin y is у
        ("pəсм", "rəsm"),  # look-alikes don't vote: 2 Cyrillic vs 0 Latin
        ("ЯШAР", "YAŞAR"),
        ("Шуşа", "Şuşa"),  # a real Latin letter stays
        ("Pеşә", "Reşə"),  # 2 Cyrillic vs 1 Latin (ş): mostly Cyrillic
    ],
)
def test_ocr_lookalikes_inside_cyrillic_words(ocr, latin):
    assert transliterate_word(ocr) == latin


@pytest.mark.parametrize(
    "text",
    [
        "Bakı şəhəri",
        "cap HOTEL poxy",  # all look-alikes, but no Cyrillic letter
        "1958 3.14 1-2",
        "https://example.org/a?b=c&d=e",
        "«,.;:!?—…()[]» \t",
        "ivan@mail.ru",
        "",
    ],
)
def test_non_cyrillic_text_unchanged(text):
    assert transliterate_text(text) == text


def test_word_not_mostly_cyrillic_keeps_lookalikes():
    # 1 Cyrillic (е) vs 1 Latin (ş): a tie is not "mostly", so P stays P;
    # the Cyrillic е is still transliterated.
    assert transliterate_word("Pеş") == "Peş"


def test_latin_word_next_to_cyrillic_word_keeps_its_letters():
    assert transliterate_text("Bakı-Шуша") == "Bakı-Şuşa"
    assert transliterate_text("Bakı Бакы") == "Bakı Bakı"


def test_url_with_cyrillic_unchanged():
    text = "Бах: https://президент.аз/Бакы, www.сайт.аз вә Бакы"
    assert transliterate_text(text) == "Bax: https://президент.аз/Бакы, www.сайт.аз və Bakı"


def test_whitespace_and_punctuation_kept_exactly():
    text = "  «Бакы»,\tШуша —\u00a0Ҝәнҹә…\r\n\nЧАЈ!  "
    assert transliterate_text(text) == "  «Bakı»,\tŞuşa —\u00a0Gəncə…\r\n\nÇAY!  "


def test_nfc_first():
    # и + combining breve is й; е + combining diaeresis is ё
    assert transliterate_text("и\u0306ох") == "yox"
    assert transliterate_text("Е\u0308ЛКА") == "YOLKA"


def test_transliterate_word_keeps_attached_punctuation():
    assert transliterate_word("(Бакы),") == "(Bakı),"
    assert transliterate_word("Бакы-Шуша") == transliterate_text("Бакы-Шуша") == "Bakı-Şuşa"


def test_transliterate_words_keeps_count_and_order():
    words = ["Бакы", "", "Bakı", "ЯШАР,", "1958", "Я", "https://e.az"]
    assert transliterate_words(words) == ["Bakı", "", "Bakı", "YAŞAR,", "1958", "Ya", "https://e.az"]
    assert transliterate_words(()) == []
    with pytest.raises(TypeError):
        transliterate_words("Бакы")


def test_both_eras_spell_azerbaijan_alike():
    assert transliterate_text("Азәрбайҹан", year=1950) == transliterate_text("Азәрбајҹан", year=1980) == "Azərbaycan"


def test_cyrillic_ratio():
    assert cyrillic_ratio("") == 0.0
    assert cyrillic_ratio("1958, —") == 0.0
    assert cyrillic_ratio("Бакы") == 1.0
    assert cyrillic_ratio("Бакы Baku 123") == 0.5
    assert cyrillic_ratio("Bakı") == 0.0


def test_core_does_not_import_prefect():
    code = "import sys, transliteration; assert 'prefect' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- stream -----------------------------------------------------------------


def _run_stream(data: bytes, **kwargs) -> bytes:
    out = io.BytesIO()
    transliterate_stream(io.BytesIO(data), out, **kwargs)
    return out.getvalue()


@pytest.mark.parametrize("block_size", [1, 2, 3, 7, 1 << 16])
def test_stream_line_endings_and_split_characters(block_size):
    # Small blocks split two-byte letters, \r\n pairs and words across reads.
    data = "ЯШАР\r\nБакы шәһәри\n\nhttps://e.az/Бакы\r\nЧАЈ".encode()
    expected = "YAŞAR\r\nBakı şəhəri\n\nhttps://e.az/Бакы\r\nÇAY".encode()
    assert _run_stream(data, block_size=block_size) == expected


def test_stream_keeps_final_newline():
    assert _run_stream("Бакы\n".encode()) == b"Bak\xc4\xb1\n"
    assert _run_stream("Бакы\r\n".encode()) == b"Bak\xc4\xb1\r\n"


def test_stream_empty_input():
    assert _run_stream(b"") == b""
    text_out = io.StringIO()
    transliterate_stream(io.BytesIO(b""), text_out)
    assert text_out.getvalue() == ""


def test_stream_to_text_destination():
    out = io.StringIO(newline="")
    transliterate_stream(io.BytesIO("Шуша\r\nЈАЈ".encode()), out)
    assert out.getvalue() == "Şuşa\r\nYAY"


def test_stream_rejects_text_source():
    with pytest.raises(TypeError):
        transliterate_stream(io.StringIO("Бакы"), io.StringIO())


@pytest.mark.parametrize("block_size", [1, 5, 1 << 16])
def test_stream_invalid_start_byte_offset(block_size):
    prefix = "Бакы шәһәри\n".encode() * 100  # 2200 bytes
    assert len(prefix) == 2200
    with pytest.raises(TransliterationError) as info:
        _run_stream(prefix + b"\xff tail\n", block_size=block_size)
    assert str(info.value) == "input is not valid UTF-8: invalid start byte at byte offset 2200"
    assert info.value.stage == "transliteration"


@pytest.mark.parametrize("block_size", [1, 4, 1 << 16])
def test_stream_broken_sequence_offset(block_size):
    # "аб" is 4 bytes; \xd3 starts a two-byte letter but "(" does not continue it.
    with pytest.raises(TransliterationError) as info:
        _run_stream("аб".encode() + b"\xd3(", block_size=block_size)
    assert str(info.value) == "input is not valid UTF-8: invalid continuation byte at byte offset 4"


def test_stream_truncated_at_end():
    with pytest.raises(TransliterationError) as info:
        _run_stream(b"abc\xd3")
    assert str(info.value) == "input is not valid UTF-8: unexpected end of data at byte offset 3"


class _RepeatedBytes(io.RawIOBase):
    """``unit`` repeated ``count`` times, generated as it is read."""

    def __init__(self, unit: bytes, count: int) -> None:
        self._unit = unit
        self._pos = 0
        self._size = len(unit) * count

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self._size - self._pos)
        start = self._pos % len(self._unit)
        repeats = (start + n) // len(self._unit) + 1
        buffer[:n] = (self._unit * repeats)[start : start + n]
        self._pos += n
        return n


class _HashingSink(io.RawIOBase):
    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return len(data)


def _stream_with_peak(unit: bytes, count: int) -> tuple[_HashingSink, int]:
    sink = _HashingSink()
    tracemalloc.start()
    try:
        transliterate_stream(_RepeatedBytes(unit, count), sink)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return sink, peak


@pytest.mark.slow
def test_stream_20_mb_bounded_memory():
    unit = "Азәрбајҹан Республикасы, ЯШАР Юсиф «цирк» Bakı\r\nБакы шәһәри 1958\n".encode()
    count = 20_000_000 // len(unit) + 1
    sink, peak = _stream_with_peak(unit, count)

    expected_unit = transliterate_text(unit.decode()).encode()
    assert expected_unit == "Azərbaycan Respublikası, YAŞAR Yusif «sirk» Bakı\r\nBakı şəhəri 1958\n".encode()
    expected = hashlib.sha256()
    for _ in range(count):
        expected.update(expected_unit)
    assert sink.size == len(expected_unit) * count
    assert sink.sha256.hexdigest() == expected.hexdigest()
    assert peak < 3_000_000, f"peak {peak} bytes"


def test_stream_long_line_without_newline_bounded_memory():
    # 4 MB on one line, and then a 2 MB "word" with no space at all.
    sink, peak = _stream_with_peak("Бакы ".encode(), 400_000)
    assert sink.size == len("Bakı ".encode()) * 400_000
    assert peak < 3_000_000, f"peak {peak} bytes"

    sink, peak = _stream_with_peak("а".encode(), 1_000_000)
    assert sink.size == 1_000_000
    assert sink.sha256.hexdigest() == hashlib.sha256(b"a" * 1_000_000).hexdigest()
    assert peak < 3_000_000, f"peak {peak} bytes"
