"""One page through the real stages: Tesseract, the text layer, the page PDF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pikepdf
import pypdfium2
import pytest
from PIL import Image

from digitize.errors import PageReadError
from digitize.pipeline.hocr import parse_hocr
from digitize.pipeline.model import PageJob, PageResult
from digitize.pipeline.page import process_page
from digitize.samples.corpus import paragraphs
from digitize.samples.metrics import cer
from digitize.samples.render import render_page, scan_like
from digitize.settings import Settings
from digitize.transliteration import transliterate_text

pytestmark = pytest.mark.needs_tesseract


def _job(tmp_path: Path, source: Path, kind: str = "text", frame: int = 0, frames: int = 1) -> PageJob:
    return PageJob("item-1", kind, 1, source, frame, frames, "0" * 64, tmp_path / "work" / "000001", "Cyrillic")


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """A skewed, specked A5 page at 300 dpi and its ground truth."""
    folder = tmp_path_factory.mktemp("page")
    rendered = render_page(paragraphs(seed=7, n=3), seed=7)
    path = folder / "page.tif"
    scan_like(rendered, skew_degrees=2.5, seed=7).save(path, dpi=(300, 300), compression="tiff_lzw")
    settings = Settings(work_dir=folder / "work", output_dir=folder / "out")
    result = process_page(_job(folder, path), settings)
    return folder, path, rendered, settings, result


def _pdf_text(path: Path) -> str:
    document = pypdfium2.PdfDocument(str(path))
    try:
        return "".join(page.get_textpage().get_text_bounded() for page in document)
    finally:
        document.close()


def test_text_page_reads_well_and_is_straightened(scanned):
    _, _, rendered, _, result = scanned
    assert result.skew_degrees == pytest.approx(2.5, abs=0.1)
    assert cer(rendered.text, result.text.read_text(encoding="utf-8")) < 0.03
    assert result.mean_confidence and result.mean_confidence > 80
    assert result.word_count > 100


def test_latin_text_is_the_transliteration_word_for_word(scanned):
    _, _, _, _, result = scanned
    original = result.text.read_text(encoding="utf-8")
    latin = result.text_latin.read_text(encoding="utf-8")
    assert latin == transliterate_text(original)
    assert "ə" in latin and not any("\u0400" <= ch <= "\u04ff" for ch in latin)


def test_pdf_has_the_text_layer(scanned):
    _, _, rendered, _, result = scanned
    with pikepdf.open(result.pdf) as pdf:
        assert len(pdf.pages) == 1
    assert cer(rendered.text, _pdf_text(result.pdf)) < 0.05


def test_text_layer_words_sit_on_their_printed_words(scanned):
    """The PDF's characters for a word lie inside that word's OCR box."""
    _, _, _, _, result = scanned
    ocr = parse_hocr(result.hocr)
    scale = 72.0 / result.dpi
    document = pypdfium2.PdfDocument(str(result.pdf))
    try:
        page = document[0]
        height = page.get_height()
        textpage = page.get_textpage()
        text = textpage.get_text_range()
        checked, cursor = 0, 0
        for number, word in enumerate(ocr.words[:80]):
            index = text.find(word.text, cursor)  # words come in reading order
            assert index >= 0, word.text
            cursor = index + len(word.text)
            if number % 7:
                continue
            left, bottom, right, top = textpage.get_charbox(index)
            x0, y0, x1, y1 = word.bbox
            assert left == pytest.approx(x0 * scale, abs=3)
            assert height - bottom == pytest.approx(y1 * scale, abs=6)
            assert height - top >= y0 * scale - 8
            checked += 1
        assert checked >= 5
    finally:
        document.close()


def test_result_is_reused_on_rerun(scanned):
    folder, path, _, settings, result = scanned
    mtime = result.pdf.stat().st_mtime_ns
    again = process_page(_job(folder, path), settings)
    assert again == result
    assert result.pdf.stat().st_mtime_ns == mtime
    assert PageResult.from_json(result.to_json()) == result


def test_original_is_not_modified(scanned):
    folder, path, _, _, _ = scanned
    before = path.read_bytes()
    process_page(_job(folder / "other", path), Settings(work_dir=folder / "w2", output_dir=folder / "o2"))
    assert path.read_bytes() == before


def test_blank_page_is_an_empty_result_not_an_error(tmp_path):
    path = tmp_path / "blank.png"
    Image.new("L", (1200, 1700), 250).save(path, dpi=(300, 300))
    result = process_page(_job(tmp_path, path), Settings(work_dir=tmp_path / "w", output_dir=tmp_path / "o"))
    assert result.word_count == 0 and result.mean_confidence is None
    assert result.text.read_text() == ""
    with pikepdf.open(result.pdf) as pdf:
        assert len(pdf.pages) == 1


def test_score_page_is_embedded_losslessly(tmp_path):
    pixels = np.random.default_rng(5).integers(0, 255, (300, 200, 3), dtype=np.uint8)
    path = tmp_path / "score.png"
    Image.fromarray(pixels).save(path, dpi=(300, 300))
    settings = Settings(work_dir=tmp_path / "w", output_dir=tmp_path / "o")
    result = process_page(_job(tmp_path, path, kind="score"), settings)
    assert result.hocr is None and result.text is None
    with pikepdf.open(result.pdf) as pdf:
        (image,) = pdf.pages[0].get_images().values()
        extracted = pikepdf.PdfImage(image).as_pil_image()
    assert np.array_equal(np.asarray(extracted), pixels)


def test_unreadable_page_raises_page_read_error(tmp_path):
    path = tmp_path / "bad.tif"
    path.write_text("not an image")
    with pytest.raises(PageReadError, match="bad.tif"):
        process_page(_job(tmp_path, path), Settings(work_dir=tmp_path / "w", output_dir=tmp_path / "o"))


def _modes():
    base = render_page(paragraphs(seed=3, n=1), dpi=150, seed=3).image
    return {
        "grey16.tif": Image.fromarray(np.asarray(base).astype(np.uint16) * 257),
        "cmyk.jpg": base.convert("RGB").convert("CMYK"),
        "palette.png": base.convert("P"),
        "alpha.png": base.convert("RGBA"),
        "bilevel.tif": base.convert("1"),
    }


@pytest.mark.parametrize("name", sorted(_modes()))
def test_every_image_mode_is_read(tmp_path, name):
    path = tmp_path / name
    _modes()[name].save(path, dpi=(150, 150))
    settings = Settings(work_dir=tmp_path / "w", output_dir=tmp_path / "o")
    result = process_page(_job(tmp_path, path), settings)
    assert result.word_count > 20, name
    with pikepdf.open(result.pdf) as pdf:
        assert len(pdf.pages) == 1


def test_access_image_is_scaled_to_max_dpi_and_the_page_keeps_its_size(scanned):
    """A 300 dpi grey scan goes into the PDF at pdf.max_dpi (200), JPEG 2000;
    the page keeps the paper's size, so the text layer still fits."""
    _, path, _, settings, result = scanned
    with Image.open(path) as scan:
        width_px, height_px = scan.size
    with pikepdf.open(result.pdf) as pdf:
        page = pdf.pages[0]
        (image,) = page.get_images().values()
        assert image.Filter == pikepdf.Name.JPXDecode
        assert int(image.Width) == round(width_px * settings.pdf.max_dpi / 300)
        _, _, width_pt, height_pt = (float(v) for v in page.MediaBox)
    assert width_pt == pytest.approx(width_px * 72 / 300, abs=1)
    assert height_pt == pytest.approx(height_px * 72 / 300, abs=1)


def test_hocr_names_the_items_language_and_script(tmp_path):
    rendered = render_page(paragraphs(seed=3, n=1), seed=3, dpi=200)
    path = tmp_path / "page.png"
    rendered.image.save(path, dpi=(200, 200))
    job = PageJob("item-1", "text", 1, path, 0, 1, "1" * 64, tmp_path / "work" / "000001", "Cyrillic",
                  language="ru-Cyrl")
    result = process_page(job, Settings(work_dir=tmp_path / "work", output_dir=tmp_path / "out"))
    head = result.hocr.read_text(encoding="utf-8")[:600]
    assert 'xml:lang="ru-Cyrl" lang="ru-Cyrl"' in head


def test_planned_pages_carry_the_items_language_tag(tmp_path):
    from digitize.assembly.item import plan_pages
    from digitize.samples.batch import toml_document
    from digitize.scanners.batch import read_item

    folder = tmp_path / "item"
    folder.mkdir()
    meta = {"title": "Т", "kind": "text", "language": "ru", "script": "Cyrl", "spreads": False}
    (folder / "item.toml").write_text(toml_document(meta), encoding="utf-8")
    Image.new("L", (40, 60), 255).save(folder / "1.png")
    (job,) = plan_pages(read_item(folder), Settings(work_dir=tmp_path / "w"))
    assert job.language == "ru-Cyrl"
