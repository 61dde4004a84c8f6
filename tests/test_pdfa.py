"""The item's PDF is PDF/A-2b: validated, with XMP, output intent, embedded fonts, labels, text."""

from __future__ import annotations

import re
import subprocess

import pikepdf
import pytest

from digitize.assembly.pdfa import check_pdfa, jpx_problems, page_label_ranges

from helpers.reader_item import FIRST_PRINTED, HEADER, TITLE, make_reader_item

pytestmark = pytest.mark.needs_tesseract


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return make_reader_item(tmp_path_factory.getbasetemp() / "reader")


def test_pikepdf_validator_passes_the_item_pdf(book):
    assert check_pdfa(book.outputs.pdf) == []


def test_qpdf_check_finds_no_problem(book):
    job = pikepdf.Job(["qpdf", "--check", str(book.outputs.pdf)])
    job.run()
    assert job.exit_code == 0 and not job.has_warnings


def test_pdfa_structure(book):
    with pikepdf.open(book.outputs.pdf) as pdf:
        assert not pdf.is_encrypted and "/Encrypt" not in pdf.trailer
        assert len(pdf.trailer.ID) == 2
        meta = pdf.open_metadata()
        assert meta["pdfaid:part"] == "2" and meta["pdfaid:conformance"] == "B"
        assert meta["dc:title"] == TITLE  # XML-special, RTL and combining characters survive
        assert list(meta["dc:creator"]) == ["Һ. Әлизадә"]
        assert list(meta["dc:language"]) == ["az-Cyrl"] and list(meta["dc:date"]) == ["1968"]
        assert str(pdf.docinfo.Title) == TITLE
        intents = pdf.Root.OutputIntents
        assert len(intents) == 1 and intents[0].S == "/GTS_PDFA1"
        profile = intents[0].DestOutputProfile.read_bytes()
        assert profile[36:40] == b"acsp" and profile[16:20] == b"RGB "
        assert "/Names" not in pdf.Root or "/JavaScript" not in pdf.Root.Names
        assert "/OpenAction" not in pdf.Root and "/AA" not in pdf.Root
        fonts = 0
        for page in pdf.pages:
            assert "/Group" not in page.obj  # no transparency group
            for font in page.Resources.get("/Font", {}).values():
                fonts += 1
                for descendant in font.DescendantFonts:
                    descriptor = descendant.FontDescriptor
                    assert "/FontFile2" in descriptor  # embedded
                assert "/ToUnicode" in font
            for image in page.Resources.XObject.values():
                assert image.Filter in (pikepdf.Name.JPXDecode, pikepdf.Name.DCTDecode, pikepdf.Name.CCITTFaxDecode)
                if image.Filter == pikepdf.Name.JPXDecode:
                    assert jpx_problems(image.read_raw_bytes()) == []
        assert fonts == 3  # the blank page has no text layer


def test_page_labels_follow_the_printed_numbers(book):
    with pikepdf.open(book.outputs.pdf) as pdf:
        labels = [page.label for page in pdf.pages]
    assert labels == [str(FIRST_PRINTED + i) for i in range(4)]


def test_pdftotext_reads_the_words_in_order(book):
    text = subprocess.run(["pdftotext", str(book.outputs.pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = text.split("\f")
    assert HEADER in pages[0]
    first = re.sub(r"\s+", " ", pages[0])
    # The lines come in reading order, words within them too.
    assert first.index("Бакы") < first.index("шәһәридир") < first.index("саһилиндә") < first.index("мәркәзидир")
    assert pages[2].strip() == ""  # the empty page
    assert "дағлары" in pages[3]


def test_same_pages_give_the_same_pdf_bytes(book, tmp_path):
    from digitize.assembly.item import assemble_item

    before = book.outputs.pdf.read_bytes()
    assemble_item(book.item, book.pages, book.settings)
    assert book.outputs.pdf.read_bytes() == before


def test_both_scripts_layer(tmp_path_factory):
    both = make_reader_item(tmp_path_factory.getbasetemp() / "reader", text_layer="both")
    assert check_pdfa(both.outputs.pdf) == []
    raw = subprocess.run(["pdftotext", "-raw", str(both.outputs.pdf), "-"], capture_output=True, text=True,
                         check=True).stdout
    lines = [line for line in raw.split("\f")[0].splitlines() if line.strip()]
    # Each printed line, then its Latin transliteration.
    assert lines[0] == HEADER and lines[1] == "AZƏRBAYCAN TARİXİ"
    assert lines[2].startswith("Бакы") and lines[3].startswith("Bakı")


def test_page_label_ranges():
    assert page_label_ranges(["5", "6", "7"]) == [(0, {"S": "/D", "St": 5})]
    assert page_label_ranges([None, None]) == [(0, {"S": "/D", "St": 1})]
    assert page_label_ranges(["i", "ii", "1", "2"]) == [(0, {"P": "i"}), (1, {"P": "ii"}), (2, {"S": "/D", "St": 1})]


def test_jpx_checks_reject_a_bare_codestream():
    assert jpx_problems(b"\xff\x4f\xff\x51" + b"\0" * 40)


def test_validation_in_chunks_and_a_failing_file(book, tmp_path):
    assert check_pdfa(book.outputs.pdf, chunk_pages=2) == []
    broken = tmp_path / "broken.pdf"
    with pikepdf.open(book.outputs.pdf) as pdf:
        del pdf.Root.OutputIntents
        pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)"))
        pdf.save(broken)
    assert check_pdfa(broken)
    assert check_pdfa(broken, chunk_pages=2)
