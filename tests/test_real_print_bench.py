"""The scoring helpers of bench/real_print.py: word alignment, AUC and the calibration table."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.real_print import Page, auc, calibrated, calibration_table, scored_words  # noqa: E402


def _hocr(words: list[tuple[str, int]]) -> str:
    return "".join(f"<span class='ocrx_word' id='w{n}' title='bbox 0 0 1 1; x_wconf {c}'>{t}</span> "
                   for n, (t, c) in enumerate(words))


def test_words_are_right_where_they_match_the_transcription_under_its_conventions():
    page = Page(0, "tune", Path("p.png"), ["пиыс - Степан аг-", "ентъяс & вылӧ"])
    found = [("пиыс", 90), ("—", 40), ("Степан", 92), ("аг-", 88), ("ентъяс", 80), ("&amp;", 70), ("выло", 95)]
    scored = scored_words(page, _hocr(found))
    # the em dash is the set's " - "; a line-end hyphen is part of its word; выло is wrong
    assert [ok for _, ok, _ in scored] == [True, True, True, True, True, True, False]
    assert [c for c, _, _ in scored] == [90, 40, 92, 88, 80, 70, 95]


def test_auc_and_a_monotone_calibration_table():
    assert auc([(90.0, True), (80.0, True), (40.0, False), (30.0, False)]) == 1.0
    assert auc([(90.0, False), (80.0, False), (40.0, True), (30.0, True)]) == 0.0
    assert auc([(50.0, True), (50.0, False)]) == 0.5
    # 20-30: 1 of 2 right, 50-70: 0 of 2 right -> pooled into one bin, P(right) rises with confidence
    scored = [(25.0, True), (25.0, False), (60.0, False), (60.0, False), (96.0, True), (97.0, True)]
    table = calibration_table(scored)
    assert [p for _, _, p in table] == sorted(p for _, _, p in table)
    assert calibrated(table, 25.0) == calibrated(table, 60.0) == 0.25 and calibrated(table, 99.0) == 1.0
