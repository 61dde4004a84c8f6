"""The invisible text layer: one script or both, word by word at the printed words."""

from __future__ import annotations

import pypdfium2
import pytest

from digitize.pipeline.hocr import parse_hocr
from digitize.pipeline.textlayer import layers_for, text_layer_content

from helpers.reader_item import make_reader_item


def test_layers_for_setting():
    assert layers_for("original", ["а"], ["a"]) == [["а"]]
    assert layers_for("latin", ["а"], ["a"]) == [["a"]]
    assert layers_for("both", ["а"], ["a"]) == [["а"], ["a"]]
    with pytest.raises(ValueError):
        layers_for("greek", ["а"], ["a"])


@pytest.mark.needs_tesseract
def test_words_count_must_match(tmp_path_factory):
    book = make_reader_item(tmp_path_factory.getbasetemp() / "reader")
    ocr = parse_hocr(book.pages[0].hocr)
    with pytest.raises(ValueError):
        text_layer_content(ocr, ["x"], 300, 500, "/F")
    assert text_layer_content(parse_hocr(book.pages[2].hocr), [], 300, 500, "/F") == b"BT\n3 Tr\nET\n"


@pytest.mark.needs_tesseract
def test_both_layers_lie_over_their_printed_words(tmp_path_factory):
    """Original characters in the upper band of their word box, Latin ones in the lower band."""
    book = make_reader_item(tmp_path_factory.getbasetemp() / "reader", text_layer="both")
    page_result = book.pages[0]
    ocr = parse_hocr(page_result.hocr)
    scale = 72.0 / page_result.dpi
    document = pypdfium2.PdfDocument(str(page_result.pdf))
    try:
        page = document[0]
        height = page.get_height()
        textpage = page.get_textpage()
        text = textpage.get_text_range()
        word = ocr.lines[1].words[0]  # first word of the first body line
        x0, y0, x1, y1 = word.bbox
        cyrillic, latin = [], []
        for index in range(textpage.count_chars()):
            char = text[index]
            left, bottom, right, top = textpage.get_charbox(index)
            cx, cy = (left + right) / 2 / scale, (height - (bottom + top) / 2) / scale
            if x0 <= cx <= x1 and y0 - (y1 - y0) <= cy <= y1 + 2 and char.strip():
                (cyrillic if "\u0400" <= char <= "\u04ff" else latin).append((cy, char))
    finally:
        document.close()
    assert "".join(c for _, c in cyrillic) == word.text
    assert "".join(c for _, c in latin) == "Bakı"
    # Both over the printed word, the original above the Latin.
    assert max(y for y, _ in cyrillic) < min(y for y, _ in latin)
