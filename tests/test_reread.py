"""Rescoring doubtful words (pipeline/reread.py) and the language models it uses (pipeline/lexicon.py).

Unit tests on hand-made readings, then the real Tesseract on a few real 1939
newspaper lines (the shared dev set, when present) and on a generated page.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from digitize.pipeline import postcorrect, quality, reread, tesseract
from digitize.pipeline.hocr import parse_hocr
from digitize.pipeline.lexicon import LanguageModel, language_code, model_for_language, normal_form, words_of
from digitize.pipeline.model import PageJob
from digitize.pipeline.page import process_page
from digitize.pipeline.tesseract import WordReading
from digitize.samples.metrics import cer
from digitize.settings import QualitySettings, Settings

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "realscans" / "kpv_1939_newspaper_page1"


def _reading(text: str, confidence: float = 60.0, bbox=(100, 10, 190, 40), alternatives=None) -> WordReading:
    """A word as Tesseract would give it: each letter at 95 %, with optional alternatives per position."""
    alternatives = alternatives or {}
    letters = tuple(((c, 95.0), *alternatives.get(i, ())) for i, c in enumerate(text))
    return WordReading(text, confidence, bbox, letters)


@pytest.fixture(scope="module")
def kv() -> LanguageModel:
    model = model_for_language("kv-Cyrl")
    assert model is not None, "pipeline/data/lexicon/kv.tsv.gz is missing"
    return model


# -- the language model ----------------------------------------------------------

def test_language_codes_and_normal_forms():
    assert language_code("kv-Cyrl") == "kv" and language_code("az") == "az"
    # Komi Wikipedia writes і and ӧ as Latin i and ö in Cyrillic words: made Cyrillic
    assert normal_form("Сiйö") == "сійӧ"
    assert normal_form("Windows") == "windows"
    assert words_of("Тайӧ кывъясыс, 1939 во.") == ["тайӧ", "кывъясыс", "во"]


def test_the_komi_model_knows_komi_and_prefers_its_spelling(kv):
    assert kv.known("вылӧ") and kv.frequency("вылӧ") > 10
    assert not kv.known("вылб")
    assert {"ӧ", "і"} <= kv.alphabet and "ә" not in kv.alphabet
    # an unknown inflected form still scores as Komi above its misreading
    assert kv.log_prob("нагрузкаӧн") > kv.log_prob("нагрузкадн")
    assert kv.log_prob("сьӧм") > kv.log_prob("сьбм") + 5


def test_no_model_for_a_language_without_a_list():
    assert model_for_language("xx") is None
    assert reread.language_model("xx-Cyrl", True) is None
    assert reread.language_model("kv-Cyrl", False) is None


# -- choosing a reading ------------------------------------------------------------

def test_a_worn_letter_is_read_as_the_language_spells_it(kv):
    weights = reread.Weights()
    assert reread.choose(_reading("сьбм"), kv, weights) == "сьӧм"
    assert reread.choose(_reading("вылбӧ."), kv, weights) == "вылӧ."  # two letters for one, full stop kept
    # an LSTM alternative that the language prefers wins
    assert reread.choose(_reading("коло", alternatives={3: (("ӧ", 52.0),)}), kv, weights) == "колӧ"


def test_a_letter_of_another_alphabet_takes_its_plain_twin(kv):
    assert reread.choose(_reading("ағент"), kv, reread.Weights()) == "агент"


def test_a_good_reading_stays(kv):
    weights = reread.Weights()
    for word in ("вылӧ", "колхозъясса", "председательяс,", "1939", "—"):
        assert reread.choose(_reading(word), kv, weights) == word


def _page(words: list[tuple[str, int]]) -> str:
    spans = "".join(
        f"<span class='ocrx_word' id='word_1_{n}' title='bbox {n * 100} 10 {n * 100 + 90} 40; x_wconf {conf}'>"
        f"{text}</span> " for n, (text, conf) in enumerate(words, 1)
    )
    return (
        "<div class='ocr_page' id='page_1' title='bbox 0 0 2000 100'><div class='ocr_carea' id='block_1_1' "
        "title='bbox 0 0 2000 100'><p class='ocr_par' id='par_1_1' title='bbox 0 0 2000 100'>"
        f"<span class='ocr_line' id='line_1_1' title='bbox 0 0 2000 50'>{spans}</span></p></div></div>\n"
    )


def test_only_doubtful_words_of_the_page_are_rescored_and_each_change_is_kept(kv):
    words = [("сьбм", 60), ("вылб", 97), ("колӧ", 40)]
    readings = [_reading(t, c, (n * 100, 10, n * 100 + 90, 40)) for n, (t, c) in enumerate(words, 1)]
    result = reread.rescore_page(_page(words), readings, kv, below_confidence=93)
    assert [w.text for w in parse_hocr(result.page_div).words] == ["сьӧм", "вылб", "колӧ"]  # 97 %: untouched
    assert [(c.word_id, c.ocr, c.text) for c in result.changes] == [("word_1_1", "сьбм", "сьӧм")]
    assert result.words_checked == 2
    assert [w.confidence for w in parse_hocr(result.page_div).words] == [60, 97, 40]


def test_a_second_reading_of_a_doubtful_line_is_taken_where_it_scores_better(kv):
    words = [("тайб", 30), ("вылӧ", 96)]
    readings = [_reading(t, c, (n * 100, 10, n * 100 + 90, 40)) for n, (t, c) in enumerate(words, 1)]
    asked: list[tuple[int, int, int, int]] = []

    def second(box):
        asked.append(box)
        return [_reading("тайӧ", 80, (102, 11, 188, 40)), _reading("вылӧ", 96, (200, 10, 290, 40))]

    result = reread.rescore_page(_page(words), readings, kv, below_confidence=93, second=second, line_below=50,
                                 weights=reread.Weights(worn=-40.0))  # no worn-letter guess: the second reading
    assert asked == [(0, 0, 2000, 50)]
    assert [w.text for w in parse_hocr(result.page_div).words] == ["тайӧ", "вылӧ"]
    assert result.lines_read == 1
    # a clean line is never read again
    clean = reread.rescore_page(_page([("вылӧ", 96)]), readings[1:], kv, below_confidence=93, second=second,
                                line_below=50)
    assert clean.lines_read == 0 and len(asked) == 1


def _boxed_page(words: list[tuple[str, int, tuple[int, int, int, int]]], baseline: str = "0 -10") -> str:
    spans = "".join(
        f"<span class='ocrx_word' id='word_1_{n}' title='bbox {b[0]} {b[1]} {b[2]} {b[3]}; x_wconf {conf}'>"
        f"{text}</span> " for n, (text, conf, b) in enumerate(words, 1)
    )
    return (
        "<div class='ocr_page' id='page_1' title='bbox 0 0 2000 100'><div class='ocr_carea' id='block_1_1' "
        "title='bbox 0 0 2000 100'><p class='ocr_par' id='par_1_1' title='bbox 0 0 2000 100'>"
        f"<span class='ocr_line' id='line_1_1' title='bbox 0 0 2000 60; baseline {baseline}'>{spans}</span>"
        "</p></div></div>\n"
    )


def test_capitals_no_taller_than_the_small_letters_beside_them_are_small(kv):
    # x-line at y 20, baseline at 50 (x-height 30): capitals would start near y 8
    words = [("ым", 70, (0, 20, 60, 50)), ("ВЫЛО", 92, (100, 19, 230, 50)), ("Эз", 95, (260, 20, 310, 50)),
             ("Сійӧ", 95, (340, 8, 450, 50))]
    readings = [_reading(t, c, b) for t, c, b in words]
    result = reread.rescore_page(_boxed_page(words), readings, kv, below_confidence=93)
    # ВЫЛО and Эз stand as low as ым: small letters; Сійӧ is a capital's height: kept
    assert [w.text for w in parse_hocr(result.page_div).words] == ["ым", "выло", "эз", "Сійӧ"]
    assert [(c.ocr, c.text) for c in result.changes] == [("ВЫЛО", "выло"), ("Эз", "эз")]


def test_case_is_left_alone_without_small_letters_to_measure_by_or_a_known_word(kv):
    alone = [("ЛИН", 72, (0, 20, 100, 50))]  # a line of one word: nothing tells its case
    assert reread.rescore_page(_boxed_page(alone), [_reading(*alone[0])], kv, below_confidence=93).changes == ()
    # one capital, as low as the small letters, but the small-letter word is unknown: kept
    words = [("ым", 70, (0, 20, 60, 50)), ("Кщыр", 95, (100, 20, 200, 50))]
    readings = [_reading(t, c, b) for t, c, b in words]
    assert reread.rescore_page(_boxed_page(words), readings, kv, below_confidence=93).changes == ()
    # a capital not drawn like its small letter (Б, Д, Р ...) is never lowered
    assert reread.small_letters("Бур", (0, 20, 90, 50), (20.0, 30.0), reread.Weights()) is None


def test_a_capitals_height_is_measured_on_the_image():
    image = np.full((60, 400), 255, np.uint8)
    image[20:50, 5:55] = 0  # "ым": x-height letters from y 20
    image[8:50, 100:130] = 0  # a capital from y 8 ...
    image[20:50, 135:190] = 0  # ... then small letters
    line = reread.x_line([("ым", (5, 20, 55, 50), 90.0)], baseline=50.0, image=image)
    assert line == (20.0, 30.0)
    assert reread.small_letters("Ин", (100, 8, 190, 50), line, reread.Weights(), image) is None
    image[8:20, 100:130] = 255  # the same word all in small letters
    assert reread.small_letters("Ин", (100, 8, 190, 50), line, reread.Weights(), image) == "ин"


def test_a_confident_unknown_word_gets_back_the_dots_of_the_one_known_form(kv):
    assert reread.lost_marks("сьом", kv) == "сьӧм"  # сьом unknown, сьӧм known
    assert reread.lost_marks("Сьом", kv) == "Сьӧм"
    assert reread.lost_marks("тайо", kv) is None  # a known form (however rare) is never overwritten
    assert reread.lost_marks("колхозом", kv) is None  # neither form known: left alone (n-grams off by default)
    words = [("сьом", 97), ("вылб", 97)]
    readings = [_reading(t, c, (n * 100, 10, n * 100 + 90, 40)) for n, (t, c) in enumerate(words, 1)]
    result = reread.rescore_page(_page(words), readings, kv, below_confidence=93)
    assert [w.text for w in parse_hocr(result.page_div).words] == ["сьӧм", "вылб"]
    assert reread.rescore_page(_page(words), readings, kv, below_confidence=93, marks=False).changes == ()


def test_the_azerbaijani_list_is_in_the_printed_alphabet():
    az = model_for_language("az-Cyrl")
    assert az is not None, "pipeline/data/lexicon/az.tsv.gz is missing"
    assert {"ә", "ғ", "ҝ", "ҹ", "һ", "ј", "ө", "ү", "ш", "ч"} <= az.alphabet
    assert not {"ӧ", "ӱ", "і"} & az.alphabet  # Tesseract's list spells ө ү as ӧ ӱ: put right
    assert az.known("азәрбајҹан") and az.known("шәһәр") and az.known("ҝүнәш")
    assert reread.language_model("az-Cyrl", True) is az
    assert reread.language_model("az-Latn", True) is None  # a Latin page is not rescored with it


def test_azerbaijani_words_keep_their_apostrophe_and_lose_a_letter_read_twice():
    az = model_for_language("az-Cyrl")
    assert az is not None
    weights = reread.Weights()
    # the LSTM offers г for the apostrophe; the word lists cannot judge a word with one: left alone
    word = _reading("мә'луматы", 37.0, alternatives={2: (("г", 40.0),), 1: (("д", 30.0),)})
    assert reread.choose(word, az, weights) == "мә'луматы"
    # Serbian ћ printed next to һ is the one letter read twice: dropped, not doubled
    assert reread.choose(_reading("мәшћһурдур.", 52.0), az, weights) == "мәшһурдур."
    # no alternative brings in a capital Tesseract did not read
    assert reread.choose(_reading("ћазырлашырлар", 40.0, alternatives={0: (("Һ", 60.0),)}), az,
                         weights) == "һазырлашырлар"


@pytest.mark.needs_tesseract
def test_tesseracts_azerbaijani_word_list_is_respelled():
    from digitize.pipeline.lexicon import model_word_list

    words = model_word_list("aze_cyrl", tesseract.find_tessdata())
    assert len(words) > 100_000
    assert not any("\u0300" <= c <= "\u036f" for w in words[:20000] for c in w)  # no combining cedilla or breve
    assert "шәһәр" in set(words)


# -- post-correction by language ---------------------------------------------------

def test_postcorrect_follows_the_items_language():
    assert postcorrect.profile_for("Cyrillic", "az-Cyrl") == "az-Cyrl"
    assert postcorrect.profile_for("Cyrillic", None) == "az-Cyrl"
    assert postcorrect.profile_for("Cyrillic", "kv-Cyrl") == "Cyrl"
    assert postcorrect.profile_for("rus", "ru") == "Cyrl"
    assert postcorrect.profile_for("eng", "en") is None
    # a Komi word with a Latin look-alike gets its Cyrillic twin, never an Azerbaijani letter
    assert postcorrect.correct_word("кoлхоз", "Cyrl")[0] == "колхоз"
    assert postcorrect.correct_word("кениш", "Cyrl")[0] == "кениш"
    assert postcorrect.correct_word("шәhәр", "Cyrl")[0] == "шәhәр"  # h has no Cyrillic twin outside Azerbaijani


# -- quality ------------------------------------------------------------------------

def test_a_page_with_many_doubtful_words_is_flagged():
    measures = quality.ImageMeasures(contrast=200.0, focus=5000.0, ink_share=0.1)
    kwargs = dict(dpi=400, skew_degrees=0.0, turned_degrees=0, confidence=80.0, words=40, thresholds=QualitySettings())
    good = quality.assess(measures, word_confidences=[90.0] * 36 + [40.0] * 4, **kwargs)
    bad = quality.assess(measures, word_confidences=[90.0] * 33 + [40.0] * 7, **kwargs)
    assert not good.rescan
    assert bad.rescan and "18% of the words read below confidence 50" in bad.reasons[0]
    assert quality.doubtful_share([10.0] * 5, 50) is None  # too few words to tell


# -- the real Tesseract --------------------------------------------------------------

@pytest.mark.needs_tesseract
def test_letter_alternatives_come_with_the_same_recognition_and_leave_the_hocr_alone():
    image = Image.new("L", (900, 120), 255)
    font = ImageFont.truetype("DejaVuSans.ttf", 48)
    ImageDraw.Draw(image).text((20, 30), "Тайӧ вылӧ колхоз", font=font, fill=0)
    tessdata = tesseract.probe().tessdata
    plain, _ = tesseract.recognize_hocr(image, model="Cyrillic", dpi=300, tessdata=tessdata)
    found = tesseract.recognize_with_alternatives(image, model="Cyrillic", dpi=300, tessdata=tessdata)
    assert found.page_div == plain  # no choice spans in the hOCR
    assert [w.text for w in found.words] == [w.text for w in parse_hocr(plain).words]
    assert all(len(w.letters) == len(w.text) for w in found.words)
    assert [w.bbox for w in found.words] == [w.bbox for w in parse_hocr(plain).words]


def _real_lines(count: int) -> list[tuple[Path, str]]:
    lines = sorted(REAL.glob("*.tif"))[:count]
    return [(p, p.with_suffix(".txt").read_text(encoding="utf-8").strip()) for p in lines]


@pytest.mark.needs_tesseract
@pytest.mark.slow
@pytest.mark.skipif(not REAL.is_dir(), reason="the shared real dev set is not on this machine")
def test_real_komi_lines_read_better_with_rescoring(tmp_path):
    lines = _real_lines(24)
    images = [np.asarray(Image.open(p).convert("L")) for p, _ in lines]
    width = max(i.shape[1] for i in images) + 200
    page = np.full((sum(i.shape[0] + 16 for i in images) + 200, width), 255, np.uint8)
    y = 100
    for image in images:
        page[y:y + image.shape[0], 100:100 + image.shape[1]] = image
        y += image.shape[0] + 16
    source = tmp_path / "page.png"
    Image.fromarray(page).save(source, dpi=(400, 400))
    truth = "\n".join(text for _, text in lines)
    texts = {}
    for name, on in (("plain", False), ("reread", True)):
        settings = Settings.model_validate({"work_dir": tmp_path / "w", "output_dir": tmp_path / "o",
                                            "ocr": {"reread": on}})
        job = PageJob("item", "text", 1, source, 0, 1, hashlib.sha256(source.read_bytes()).hexdigest(),
                      tmp_path / name, "Cyrillic", year=1939, language="kv-Cyrl")
        result = process_page(job, settings)
        texts[name] = result.text.read_text(encoding="utf-8") if result.text else ""
        if on:
            step = next(s for s in result.steps if s.name == "reread")
            assert step.settings["words_changed"] > 0 and step.settings["language"] == "kv"
    assert cer(truth, texts["reread"]) < cer(truth, texts["plain"]) * 0.8


@pytest.mark.needs_tesseract
def test_an_azerbaijani_page_is_rescored_with_the_azerbaijani_list(tmp_path):
    image = Image.new("L", (1200, 300), 255)
    ImageDraw.Draw(image).text((40, 100), "Азәрбајҹан нағыллары", font=ImageFont.truetype("DejaVuSans.ttf", 56),
                               fill=0)
    source = tmp_path / "az.png"
    image.save(source, dpi=(300, 300))
    settings = Settings.model_validate({"work_dir": tmp_path / "w", "output_dir": tmp_path / "o"})
    job = PageJob("item", "text", 1, source, 0, 1, hashlib.sha256(source.read_bytes()).hexdigest(),
                  tmp_path / "p", "Cyrillic", language="az-Cyrl")
    result = process_page(job, settings)
    step = next(s for s in result.steps if s.name == "reread")
    assert step.settings["language"] == "az"
    assert result.word_count >= 2


# -- issue 17, second round: dashes, specks, a line with nothing to measure, the word list -----------

def _lines_page(lines: list[list[tuple[str, int, tuple[int, int, int, int]]]]) -> str:
    """A page of several lines (baseline 10 px above each line box's bottom)."""
    body = ""
    n = 0
    for k, words in enumerate(lines, 1):
        spans = ""
        for text, conf, b in words:
            n += 1
            spans += (f"<span class='ocrx_word' id='word_1_{n}' title='bbox {b[0]} {b[1]} {b[2]} {b[3]}; "
                      f"x_wconf {conf}'>{text}</span> ")
        top, bottom = min(b[1] for _, _, b in words), max(b[3] for _, _, b in words) + 10
        body += (f"<span class='ocr_line' id='line_1_{k}' title='bbox 0 {top} 2000 {bottom}; baseline 0 -10'>"
                 f"{spans}</span>")
    return ("<div class='ocr_page' id='page_1' title='bbox 0 0 2000 1000'><div class='ocr_carea' id='block_1_1' "
            f"title='bbox 0 0 2000 1000'><p class='ocr_par' id='par_1_1' title='bbox 0 0 2000 1000'>{body}"
            "</p></div></div>\n")


def test_a_dash_read_as_two_hyphens_becomes_a_spaced_em_dash():
    assert reread.dash_parts("пиыс--Степан") == ["пиыс", "—", "Степан"]
    assert reread.dash_parts("соглашение-—") == ["соглашение", "—"]
    assert reread.dash_parts("зательство—сетны") == ["зательство", "—", "сетны"]
    for kept in ("ССР-са", "5-ӧд", "аг-", "5—6", "вылӧ"):
        assert reread.dash_parts(kept) is None


def test_a_dash_word_is_split_in_the_hocr_with_boxes_and_confidences_of_its_own(kv):
    # Tesseract's letters: the two hyphens at 30 %, the letters at 95 % -> word confidence 50
    text = "пиыс--Степан"
    letters = tuple(((c, 30.0 if c == "-" else 95.0),) for c in text)
    words = [("ым", 90, (0, 20, 60, 50)), (text, 50, (100, 8, 220, 50))]  # С stands a capital's height
    readings = [_reading("ым", 90, (0, 20, 60, 50)), WordReading(text, 50, (100, 8, 220, 50), letters)]
    result = reread.rescore_page(_boxed_page(words), readings, kv, below_confidence=93)
    page = parse_hocr(result.page_div)
    assert [w.text for w in page.words] == ["ым", "пиыс", "—", "Степан"]
    assert [w.bbox for w in page.words][1:] == [(100, 8, 140, 50), (140, 8, 160, 50), (160, 8, 220, 50)]
    assert [w.confidence for w in page.words][1:] == [95, 30, 95]  # the dash no longer drags the words down
    assert [(c.ocr, c.text) for c in result.changes] == [(text, "пиыс — Степан")]


def test_specks_read_as_marks_at_a_line_end_hyphen_or_as_a_grave_accent_go(kv):
    words = [("ым", 90, (0, 20, 60, 50)), ("`донъ-", 75, (100, 20, 200, 50))]
    result = reread.rescore_page(_boxed_page(words), [_reading(t, c, b) for t, c, b in words], kv,
                                 below_confidence=93)
    assert [w.text for w in parse_hocr(result.page_div).words] == ["ым", "донъ-"]
    words = [("ым", 90, (0, 20, 60, 50)), ("аг-.", 91, (100, 20, 200, 50))]
    result = reread.rescore_page(_boxed_page(words), [_reading(t, c, b) for t, c, b in words], kv,
                                 below_confidence=93)
    assert [w.text for w in parse_hocr(result.page_div).words] == ["ым", "аг-"]


def test_a_line_without_small_letters_to_measure_takes_the_pages_x_height(kv):
    # three lines with x-height words (x-line 30 px above the baseline), then "1939 Во" whose В stands
    # no taller than those small letters
    lines = [[("ым", 90, (0, 100 * k + 20, 60, 100 * k + 50)), ("вылӧ", 95, (100, 100 * k + 8, 200, 100 * k + 50))]
             for k in range(3)]
    lines.append([("1939", 95, (0, 308, 80, 350)), ("Во", 95, (100, 320, 160, 350))])
    readings = [_reading(t, c, b) for line in lines for t, c, b in line]
    result = reread.rescore_page(_lines_page(lines), readings, kv, below_confidence=93)
    assert [w.text for w in parse_hocr(result.page_div).words][-2:] == ["1939", "во"]
    # a capital's height (top 12 px above the x-line) stays
    lines[-1][1] = ("Во", 95, (100, 308, 160, 350))
    readings = [_reading(t, c, b) for line in lines for t, c, b in line]
    result = reread.rescore_page(_lines_page(lines), readings, kv, below_confidence=93)
    assert [w.text for w in parse_hocr(result.page_div).words][-1] == "Во"


def test_a_known_part_of_a_compound_counts(kv):
    # "массӧвӧй" is known, "агитационно" is not: the compound still leans to the known spelling
    word = "агитационно-массовой"
    alternatives = {word.index("ово") + i: (("ӧ", 60.0),) for i in (0, 2)}
    chosen = reread.choose(_reading(word, 60, alternatives=alternatives), kv, reread.Weights())
    assert chosen == "агитационно-массӧвӧй"


def test_the_word_list_keeps_the_texts_main_script_only_and_the_model_is_a_distribution():
    from digitize.pipeline.lexicon import build

    counts = build("Сійӧ вылӧ мунӧ. Windows да cьӧд вылӧ")  # a Latin word, and a Latin c inside a Komi word
    assert counts == {"сійӧ": 1, "вылӧ": 2, "мунӧ": 1, "да": 1}
    lm = LanguageModel(dict(counts))
    letters = sorted({c for w in counts for c in w})
    for context in ("", "вы", "\x02\x02\x02\x02"):
        total = sum(lm._prob(context, c) for c in [*letters, "\x02"])
        assert 0.97 < total <= 1.0 + 1e-9  # the rest goes to letters never seen (1 / alphabet)
