"""OCR post-correction: each rule, what it must leave alone, and a real page through it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pypdfium2
import pytest

from digitize.pipeline import postcorrect
from digitize.pipeline.hocr import page_text, parse_hocr
from digitize.pipeline.model import PageJob
from digitize.pipeline.page import process_page
from digitize.pipeline.postcorrect import Corrector, correct_word, profile_for_model
from digitize.pipeline.tesseract import find_tessdata
from digitize.pipeline.wordlist import model_words
from digitize.samples.degrade import degrade
from digitize.samples.metrics import cer
from digitize.settings import Settings


@pytest.fixture(scope="module")
def lexicon() -> frozenset[str]:
    """The real one: the word list of Debian's Tesseract Azerbaijani model, lower case."""
    corrector = postcorrect.corrector_for("Cyrillic", find_tessdata(), min_confidence=30)
    assert corrector is not None and corrector.lexicon, "tesseract-ocr-aze's word list could not be read"
    return corrector.lexicon


def _fix(word: str, profile: str = "az-Cyrl", **kwargs) -> str:
    return correct_word(word, profile, **kwargs)[0]


# -- the word list ---------------------------------------------------------------

def test_the_tesseract_word_list_is_read_from_the_installed_model():
    words = set(model_words("aze", find_tessdata()))
    assert len(words) > 100_000
    assert {"geniş", "göstərilir", "kitab", "Azərbaycan"} <= words


# -- script: mixed-script words ------------------------------------------------------

@pytest.mark.parametrize(
    ("ocr", "fixed"),
    [
        ("Бaкы", "Бакы"),  # Latin a
        ("pәсм", "рәсм"),  # Latin p
        ("Азəрбајҹан", "Азәрбајҹан"),  # Latin schwa
        ("шәhәр,", "шәһәр,"),  # Latin h; the comma stays
        ("«Xәзәр»", "«Хәзәр»"),
        ("ХIХ", "XIX"),  # Cyrillic Х around a Latin I: a Roman numeral
        ("Windоws", "Windows"),  # a Cyrillic о in a Latin word
    ],
)
def test_a_mixed_script_word_takes_the_script_its_own_letters_show(ocr, fixed):
    assert correct_word(ocr, "az-Cyrl") == (fixed, "script")


@pytest.mark.parametrize(
    "word",
    [
        "Windows", "XIX", "www.azerbaijan.az", "H2O", "x+y=2", "ibid.", "Bakı",  # one script: never touched
        "Bakıда",  # letters only Latin has and letters only Cyrillic has: a real mix
        "Hәр",  # H is Н or Һ: no certain twin
        "yнәр",  # y is у or ү
        "Бакы", "1923-ҹү",
    ],
)
def test_words_in_one_script_and_undecidable_mixes_stay(word):
    assert correct_word(word, "az-Cyrl") == (word, None)


def test_latin_items_get_latin_letters():
    assert _fix("Bаkı", "az-Latn") == "Bakı"  # Cyrillic а
    assert _fix("Ѕəhifə", "az-Latn") == "Səhifə"  # Macedonian Ѕ
    assert _fix("Bakı", "az-Latn") == "Bakı"


def test_a_mix_of_look_alikes_only_takes_the_items_script():
    assert _fix("Сaр", "az-Cyrl") == "Сар"
    assert _fix("Сaр", "az-Latn") == "Cap"


# -- foreign-letter ---------------------------------------------------------------

def test_serbian_tshe_is_the_azerbaijani_shha_it_imitates():
    assert correct_word("ћазырлашырлар.", "az-Cyrl") == ("һазырлашырлар.", "foreign-letter")
    assert _fix("Ћаҹы") == "Һаҹы"


def test_tshe_beside_shha_is_one_glyph_read_twice():
    assert _fix("Ширваншаћһлар") == "Ширваншаһлар"
    assert _fix("мәшһћур") == "мәшһур"


def test_foreign_letters_stay_in_other_profiles():
    assert _fix("ћазыр", "az-Latn") == "ћазыр"


# -- doubled-initial ----------------------------------------------------------------

def test_a_doubled_azerbaijani_initial_is_one_letter():
    assert correct_word("Һһүндүр", "az-Cyrl") == ("һүндүр", "doubled-initial")
    assert _fix("Һһүндүр", sentence_start=True) == "Һүндүр"
    assert _fix("ҝҝөзәл") == "ҝөзәл"


def test_ka_and_ge_read_for_one_letter_keep_the_known_reading(lexicon):
    assert correct_word("кҝөстәрилир.", "az-Cyrl", lexicon=lexicon) == ("ҝөстәрилир.", "doubled-initial")
    assert _fix("кҝөстәрилир.") == "кҝөстәрилир."  # no lexicon: no way to choose


@pytest.mark.parametrize("word", ["Аарон", "ссуда", "ҺҺҮНДҮР", "Һһ", "Ооо", "ккк"])
def test_doubled_letters_that_can_begin_a_word_stay(word):
    assert _fix(word) == word


# -- lexicon: к / ҝ ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("ocr", "fixed"),
    [("кениш", "ҝениш"), ("көстәрилир.", "ҝөстәрилир."), ("Кәнҹә", "Ҝәнҹә"), ("зәнкин", "зәнҝин")],
)
def test_ka_read_for_ge_is_repaired_by_the_lexicon(lexicon, ocr, fixed):
    assert correct_word(ocr, "az-Cyrl", lexicon=lexicon) == (fixed, "lexicon")


@pytest.mark.parametrize(
    "word",
    [
        "китаб", "ҝениш", "кәнд",  # known words
        "карточкасына", "Китабханасыдыр",  # in no list, and neither is a к/ҝ swap: nothing to go on
        "ССРИ", "к",
    ],
)
def test_known_words_and_words_without_a_single_reading_stay(lexicon, word):
    assert _fix(word, lexicon=lexicon) == word


def test_two_readings_in_the_lexicon_is_ambiguous():
    both = frozenset({"keniş", "geniş"})
    assert _fix("кениш", lexicon=frozenset({"geniş"})) == "ҝениш"
    assert _fix("кенис", lexicon=both) == "кенис"  # neither swap gives a word
    assert _fix("кекиш", lexicon=frozenset({"gekiş", "kegiş"})) == "кекиш"  # two swaps give words


def test_no_lexicon_change_without_a_lexicon():
    assert _fix("кениш") == "кениш"


# -- an hOCR page ----------------------------------------------------------------------

def _hocr(words: list[tuple[str, int]]) -> str:
    spans = "".join(
        f"<span class='ocrx_word' id='word_1_{n}' "
        f"title='bbox {n * 100} 10 {n * 100 + 90} 40; x_wconf {conf}'>{text}</span> "
        for n, (text, conf) in enumerate(words, 1)
    )
    return (
        "  <div class='ocr_page' id='page_1' title='image \"\"; bbox 0 0 2000 100; ppageno 0'>\n"
        "   <div class='ocr_carea' id='block_1_1' title=\"bbox 0 0 2000 100\">\n"
        "    <p class='ocr_par' id='par_1_1' lang='Cyrillic' title=\"bbox 0 0 2000 100\">\n"
        "     <span class='ocr_line' id='line_1_1' title=\"bbox 0 0 2000 50; baseline 0 -5; x_size 30\">"
        f"{spans}</span>\n    </p>\n   </div>\n  </div>\n"
    )


def test_the_hocr_page_is_corrected_word_by_word_and_keeps_the_ocr_reading(lexicon):
    div = _hocr([("Бу", 95), ("кениш", 89), ("шәhәрдир.", 90), ("Һһүндүр", 37), ("кениш", 12), ("бина", 96)])
    result = Corrector("az-Cyrl", lexicon, 30).page(div)
    page = parse_hocr(result.page_div)
    assert [w.text for w in page.words] == ["Бу", "ҝениш", "шәһәрдир.", "Һүндүр", "кениш", "бина"]
    assert [(c.word_id, c.ocr, c.text, c.rule) for c in result.corrections] == [
        ("word_1_2", "кениш", "ҝениш", "lexicon"),
        ("word_1_3", "шәhәрдир.", "шәһәрдир.", "script"),
        ("word_1_4", "Һһүндүр", "Һүндүр", "doubled-initial"),  # after a full stop: upper case
    ]
    assert [w.bbox for w in page.words] == [w.bbox for w in parse_hocr(div).words]
    assert [w.confidence for w in page.words] == [95, 89, 90, 37, 12, 96]
    assert result.words_checked == 5  # the word read at 12 % is never looked at


def test_a_page_with_nothing_to_correct_is_returned_as_it_was(lexicon):
    div = _hocr([("Бу", 95), ("ҝениш", 89), ("Windows", 90)])
    result = Corrector("az-Cyrl", lexicon, 30).page(div)
    assert result.page_div is div and result.corrections == ()


def test_a_word_inside_strong_or_em_is_corrected_in_place(lexicon):
    div = _hocr([("<strong>кениш</strong>", 90), ("Бу", 95)])
    result = Corrector("az-Cyrl", lexicon, 30).page(div)
    assert [w.text for w in parse_hocr(result.page_div).words] == ["ҝениш", "Бу"]
    assert "<strong>ҝениш</strong>" in result.page_div


def test_the_lexicon_is_kept_in_the_cache_folder_and_read_back(tmp_path, monkeypatch, lexicon):
    """A later worker reads the lexicon from the cache instead of drawing the
    word list again; a file that is not whole is redone, never trusted."""
    tessdata = tmp_path / "tessdata"
    tessdata.mkdir()
    for name in ("Cyrillic", "aze"):
        (tessdata / f"{name}.traineddata").symlink_to(find_tessdata() / f"{name}.traineddata")
    cache = tmp_path / "cache"
    monkeypatch.setattr(postcorrect, "_LOWER_CACHE", {})
    first = postcorrect.corrector_for("Cyrillic", tessdata, min_confidence=30, cache_dir=cache)
    assert first is not None and first.lexicon == lexicon
    [kept] = cache.glob("lexicon-aze-*.txt")
    assert kept.read_text(encoding="utf-8").startswith(f"digitize-lexicon 1 {len(lexicon)}\n")

    from digitize.pipeline import wordlist

    def no_drawing(*args, **kwargs):
        raise AssertionError("the word list was drawn again despite the cache")

    monkeypatch.setattr(wordlist, "model_words", no_drawing)
    monkeypatch.setattr(postcorrect, "_LOWER_CACHE", {})  # a new worker
    again = postcorrect.corrector_for("Cyrillic", tessdata, min_confidence=30, cache_dir=cache)
    assert again is not None and again.lexicon == lexicon

    monkeypatch.undo()
    monkeypatch.setattr(postcorrect, "_LOWER_CACHE", {})
    kept.write_text(kept.read_text(encoding="utf-8")[:5000], encoding="utf-8")  # cut short
    redone = postcorrect.corrector_for("Cyrillic", tessdata, min_confidence=30, cache_dir=cache)
    assert redone is not None and redone.lexicon == lexicon
    assert kept.read_text(encoding="utf-8").count("\n") == len(lexicon) + 1


def test_without_the_azerbaijani_model_the_other_rules_still_apply(tmp_path, caplog):
    (tmp_path / "Cyrillic.traineddata").symlink_to(find_tessdata() / "Cyrillic.traineddata")
    corrector = postcorrect.corrector_for("Cyrillic", tmp_path, min_confidence=30)
    assert corrector is not None and corrector.lexicon is None
    assert "tesseract-ocr-aze" in caplog.text
    result = corrector.page(_hocr([("кениш", 90), ("Бaкы", 90)]))
    assert [w.text for w in parse_hocr(result.page_div).words] == ["кениш", "Бакы"]


def test_profiles_follow_the_model():
    assert profile_for_model("Cyrillic") == "az-Cyrl"
    assert profile_for_model("script/Cyrillic") == "az-Cyrl"
    assert profile_for_model("aze_cyrl") == "az-Cyrl"
    assert profile_for_model("aze") == "az-Latn"
    assert profile_for_model("rus") is None
    assert profile_for_model("Cyrillic+rus") is None
    div = _hocr([("Бaкы", 95)])
    assert postcorrect.apply(div, model="rus", tessdata=find_tessdata(), min_confidence=30) == (div, None)


# -- a real page ---------------------------------------------------------------------------

def _run(tmp_path: Path, name: str, postcorrect_on: bool):
    page = degrade("clean", seed=1)
    source = tmp_path / "scan.png"
    if not source.exists():
        page.image.save(source, dpi=(page.dpi, page.dpi))
    # rescoring (pipeline/reread.py, with the shipped Azerbaijani word list) off: post-correction alone
    settings = Settings.model_validate(
        {"work_dir": tmp_path / "work", "output_dir": tmp_path / "out",
         "ocr": {"postcorrect": postcorrect_on, "reread": False}}
    )
    job = PageJob("item", "text", 1, source, 0, 1, hashlib.sha256(source.read_bytes()).hexdigest(),
                  tmp_path / name, "Cyrillic")
    return page.text, process_page(job, settings)


@pytest.mark.needs_tesseract
def test_a_real_page_is_corrected_and_everything_built_from_its_hocr_follows(tmp_path):
    truth, plain = _run(tmp_path, "off", False)
    _, fixed = _run(tmp_path, "on", True)
    assert not any(step.name == "postcorrect" for step in plain.steps)
    step = next(step for step in fixed.steps if step.name == "postcorrect")
    changes = step.settings["changes"]
    # Tesseract 5's Cyrillic model reads this page's ҝениш as кениш and doubles
    # the Һ of һүндүр; both come back.
    assert ["кениш", "ҝениш", "lexicon"] in [c[1:] for c in changes]
    assert step.settings["words_changed"] == len(changes) >= 2

    before = {w_id: w for w_id, w in _word_ids(plain.hocr).items()}
    after = _word_ids(fixed.hocr)
    for word_id, ocr, text, _ in changes:
        assert before[word_id] == ocr and after[word_id] == text
    assert {k: v for k, v in after.items() if k not in {c[0] for c in changes}} == {
        k: v for k, v in before.items() if k not in {c[0] for c in changes}
    }
    text = fixed.text.read_text(encoding="utf-8")
    assert text == page_text(parse_hocr(fixed.hocr))
    assert "ҝениш" in text and "geniş" in fixed.text_latin.read_text(encoding="utf-8")
    document = pypdfium2.PdfDocument(str(fixed.pdf))
    try:
        layer = document[0].get_textpage().get_text_range()
    finally:
        document.close()
    assert "ҝениш" in layer
    assert cer(truth, text) < cer(truth, plain.text.read_text(encoding="utf-8"))


def _word_ids(hocr: Path) -> dict[str, str]:
    from lxml import etree

    root = etree.parse(str(hocr)).getroot()
    return {el.get("id"): "".join(el.itertext()).strip() for el in root.iter() if el.get("class") == "ocrx_word"}
