"""ALTO 4 from hOCR: valid against the official XSD, word for word the same as the hOCR."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from digitize.archive.alto import ALTO_NS, AltoSource, write_alto
from digitize.archive.schemas import validate, validation_errors
from digitize.assembly.item import plan_pages
from digitize.pipeline.hocr import parse_hocr
from digitize.pipeline.page import process_page
from digitize.samples.corpus import paragraphs
from digitize.samples.render import render_page, scan_like
from digitize.scanners.batch import read_item
from digitize.settings import Settings

A = f"{{{ALTO_NS}}}"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """One real page: rendered, scanned crooked, deskewed and read by Tesseract."""
    root = tmp_path_factory.mktemp("alto")
    folder = root / "item"
    folder.mkdir()
    (folder / "item.toml").write_text('title = "Нағыллар"\nyear = 1968\n', encoding="utf-8")
    rendered = render_page(paragraphs(seed=3, n=3), dpi=200, seed=3)
    scan_like(rendered, skew_degrees=2.0, seed=3).save(folder / "p1.png", dpi=(200, 200))
    settings = Settings(work_dir=root / "work", output_dir=root / "out")
    item = read_item(folder)
    return process_page(plan_pages(item, settings)[0], settings)


def _source(seq: int = 1) -> AltoSource:
    return AltoSource(seq, "p1.png", "az", "tesseract", "5.3.0", "Cyrillic", "page segmentation mode 3",
                      "2026-01-02T03:04:05Z")


@pytest.mark.needs_tesseract
def test_alto_is_valid_and_matches_the_hocr_word_for_word(page, tmp_path):
    dest = tmp_path / "0001.xml"
    words = write_alto(page.hocr, dest, _source())
    assert validation_errors(dest, "alto") == []

    ocr = parse_hocr(page.hocr)
    assert words == len(ocr.words) == page.word_count > 20
    root = etree.parse(str(dest)).getroot()
    strings = root.findall(f".//{A}String")
    assert [s.get("CONTENT") for s in strings] == [w.text for w in ocr.words]
    for string, word in zip(strings, ocr.words, strict=True):
        x0, y0, x1, y1 = word.bbox
        assert (float(string.get("HPOS")), float(string.get("VPOS"))) == (x0, y0)
        assert (float(string.get("WIDTH")), float(string.get("HEIGHT"))) == (x1 - x0, y1 - y0)
        assert float(string.get("WC")) == pytest.approx(word.confidence / 100, abs=0.006)
    assert len(root.findall(f".//{A}TextLine")) == len(ocr.lines)
    blocks = root.findall(f".//{A}TextBlock")
    assert len(blocks) == len({line.paragraph for line in ocr.lines}) >= 2
    assert root.findtext(f"{A}Description/{A}MeasurementUnit") == "pixel"
    assert root.findtext(f".//{A}processingSoftware/{A}softwareName") == "tesseract"
    assert root.findtext(f".//{A}processingSoftware/{A}softwareVersion") == "5.3.0"
    page_el = root.find(f".//{A}Page")
    assert (page_el.get("WIDTH"), page_el.get("HEIGHT"), page_el.get("PHYSICAL_IMG_NR")) == (
        str(ocr.width), str(ocr.height), "1")


@pytest.mark.needs_tesseract
def test_alto_is_deterministic(page, tmp_path):
    write_alto(page.hocr, tmp_path / "a.xml", _source())
    write_alto(page.hocr, tmp_path / "b.xml", _source())
    assert (tmp_path / "a.xml").read_bytes() == (tmp_path / "b.xml").read_bytes()


_EMPTY_HOCR = b"""<?xml version="1.0" encoding="UTF-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title></title></head><body>
<div class="ocr_page" id="page_1" title="image &quot;p.png&quot;; bbox 0 0 1200 1700; ppageno 0"></div>
</body></html>"""


def test_empty_ocr_page_gives_valid_alto_without_words(tmp_path):
    hocr = tmp_path / "empty.hocr"
    hocr.write_bytes(_EMPTY_HOCR)
    dest = tmp_path / "empty.xml"
    assert write_alto(hocr, dest, _source(7)) == 0
    validate(dest, "alto")
    root = etree.parse(str(dest)).getroot()
    assert root.findall(f".//{A}String") == []
    assert root.find(f".//{A}Page").get("PHYSICAL_IMG_NR") == "7"


def test_awkward_characters_survive_in_content(tmp_path):
    """XML-special, right-to-left and combining characters come out exactly as OCR gave them."""
    words = ['<&>"\'', "كتاب", "e\u0301\u0328", "Ә\u200f"]
    spans = "".join(
        f'<span class="ocrx_word" title="bbox {10 + 60 * i} 10 {60 + 60 * i} 40; x_wconf {90 - i}">'
        f"{_escape(w)}</span> "
        for i, w in enumerate(words)
    )
    hocr = (
        '<?xml version="1.0" encoding="UTF-8"?><html xmlns="http://www.w3.org/1999/xhtml"><body>'
        '<div class="ocr_page" title="bbox 0 0 400 100"><p class="ocr_par">'
        f'<span class="ocr_line" title="bbox 10 10 300 40; baseline 0 -5">{spans}</span></p></div></body></html>'
    )
    path = tmp_path / "odd.hocr"
    path.write_text(hocr, encoding="utf-8")
    dest = tmp_path / "odd.xml"
    assert write_alto(path, dest, _source()) == 4
    validate(dest, "alto")
    strings = etree.parse(str(dest)).getroot().findall(f".//{A}String")
    assert [s.get("CONTENT") for s in strings] == words
    assert [s.get("WC") for s in strings] == ["0.9", "0.89", "0.88", "0.87"]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_invalid_alto_is_refused_by_the_schema(tmp_path):
    """The validator is real: a String without CONTENT fails."""
    hocr = tmp_path / "empty.hocr"
    hocr.write_bytes(_EMPTY_HOCR)
    dest = tmp_path / "x.xml"
    write_alto(hocr, dest, _source())
    tree = etree.parse(str(dest))
    space = tree.getroot().find(f".//{A}PrintSpace")
    block = etree.SubElement(space, f"{A}TextBlock", ID="B1")
    line = etree.SubElement(block, f"{A}TextLine")
    etree.SubElement(line, f"{A}String")
    assert any("CONTENT" in e for e in validation_errors(tree, "alto"))


def test_schema_files_are_loaded_offline():
    """Every shipped schema compiles with network access off (imports answered locally)."""
    from digitize.archive.schemas import SCHEMA_DIR, SCHEMAS, schema

    for name in SCHEMAS:
        schema(name)
    assert (SCHEMA_DIR / "README.md").is_file()
    assert isinstance(Path(SCHEMA_DIR / SCHEMAS["alto"][0]).read_bytes(), bytes)
