"""Reflowing the layout into running text: heads and numbers out, hyphens joined, labels."""

from __future__ import annotations

import pytest

from digitize.assembly.reflow import PageSource, page_furniture, printed_labels, reflow_pages
from digitize.pipeline.hocr import parse_hocr

from helpers.reader_item import FIRST_PRINTED, make_reader_item


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return make_reader_item(tmp_path_factory.getbasetemp() / "reader")


@pytest.mark.needs_tesseract
def test_printed_numbers_are_found_in_the_foot(book):
    numbers = [page_furniture(parse_hocr(p.hocr)) for p in book.pages]
    assert numbers == [FIRST_PRINTED, FIRST_PRINTED + 1, None, FIRST_PRINTED + 3]
    assert printed_labels(numbers) == [str(FIRST_PRINTED + i) for i in range(4)]


@pytest.mark.needs_tesseract
def test_flow_of_the_original_text(book):
    flow = list(reflow_pages(PageSource(p.seq, p.hocr) for p in book.pages))
    assert [page.seq for page in flow] == [1, 2, 3, 4]
    first, second, blank, last = flow
    assert "нефтчилик" in first.paragraphs[-1].text.split()
    assert first.paragraphs[-1].text.endswith("чохлу китабхана")  # joined across the page break
    assert all("ТАРИХИ" not in par.text for page in flow for par in page.paragraphs)
    assert second.paragraphs[0].continued and second.paragraphs[0].text.startswith("вә музеј")
    assert not second.paragraphs[1].continued and second.paragraphs[1].text.startswith("Хәзәр")
    assert blank.paragraphs == () and last.paragraphs[0].text.startswith("Өлкәнин")
    assert not last.paragraphs[0].continued  # page 28 ended its sentence


@pytest.mark.needs_tesseract
def test_flow_uses_the_latin_words(book):
    flow = list(reflow_pages(PageSource(p.seq, p.hocr, p.text_latin) for p in book.pages))
    assert flow[0].paragraphs[0].text.startswith("Bakı Azərbaycanın")
    assert "neftçilik" in flow[0].paragraphs[-1].text


def test_labels_from_the_item_and_from_majority():
    assert printed_labels([None, None, None], first_page_number=5) == ["5", "6", "7"]
    # One misread number does not break the list.
    assert printed_labels([3, 4, 91, 6]) == ["3", "4", "5", "6"]
    assert printed_labels([None, None, None]) == [None, None, None]


def _one_line_page(text: str, top: int) -> bytes:
    """A minimal hOCR page of one line (a title page, a page of one caption)."""
    return (
        '<html xmlns="http://www.w3.org/1999/xhtml"><body>'
        '<div class="ocr_page" title="bbox 0 0 1000 1400">'
        f'<span class="ocr_line" title="bbox 100 {top} 900 {top + 40}">'
        f'<span class="ocrx_word" title="bbox 100 {top} 900 {top + 40}; x_wconf 95">{text}</span>'
        "</span></div></body></html>"
    ).encode()


def test_a_page_of_one_line_has_no_neighbour():
    # Was IndexError (lines[1]) on any page with a single line of text.
    assert page_furniture(parse_hocr(_one_line_page("12", 1350))) == 12
    assert page_furniture(parse_hocr(_one_line_page("Нағыллар", 700))) is None
