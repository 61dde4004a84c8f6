"""Tests of the synthetic page generator: text, fonts, layout, defects, batch."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from digitize.samples import batch as batch_module
from digitize.samples import render
from digitize.samples.batch import make_image_pdf, make_sample_batch, toml_document, write_ground_truth
from digitize.samples.corpus import ALPHABET_LETTERS, PARAGRAPHS, SPECIAL_LETTERS, paragraphs
from digitize.samples.render import (
    blur,
    dark_border,
    find_font,
    font_has_glyphs,
    jpeg_artifacts,
    noise,
    render_page,
    scan_like,
    skew,
    uneven_light,
    yellow_paper,
)

TESSDATA = Path("/usr/share/tesseract-ocr/5/tessdata/")


# --- corpus -----------------------------------------------------------------


def test_alphabet_has_32_letters_in_both_cases():
    assert len(ALPHABET_LETTERS) == 64 == len(set(ALPHABET_LETTERS))
    assert all("\u0400" <= letter <= "\u04ff" for letter in ALPHABET_LETTERS)
    assert set(SPECIAL_LETTERS) <= set(ALPHABET_LETTERS)


def test_corpus_uses_every_letter_upper_and_lower_case():
    text = " ".join(PARAGRAPHS)
    missing = [letter for letter in ALPHABET_LETTERS if letter not in text]
    assert missing == []
    assert len(PARAGRAPHS) >= 12


def test_corpus_has_no_latin_look_alikes():
    # A Latin J or a Russian Й instead of Ј would pass a glance but not OCR.
    letters = {char for char in " ".join(PARAGRAPHS) if char.isalpha()}
    assert letters <= set(ALPHABET_LETTERS)


def test_paragraphs_are_chosen_deterministically():
    assert paragraphs(7, 5) == paragraphs(7, 5)
    assert paragraphs(7, 5) != paragraphs(8, 5)
    assert len(set(paragraphs(7, len(PARAGRAPHS)))) == len(PARAGRAPHS)
    assert len(paragraphs(1, 40)) == 40
    assert paragraphs(1, 0) == []
    with pytest.raises(ValueError):
        paragraphs(1, -1)


# --- fonts ------------------------------------------------------------------


def test_font_has_azerbaijani_glyphs():
    font = find_font(48)
    assert font_has_glyphs(font, "ҸҹҜҝ")
    assert font_has_glyphs(font, ALPHABET_LETTERS)


def test_glyph_check_rejects_a_font_without_them():
    dejavu = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
    if not dejavu.exists():
        pytest.skip("DejaVu Serif is not installed")
    font = ImageFont.truetype(str(dejavu), 48)
    assert font_has_glyphs(font, "Әә")
    assert not font_has_glyphs(font, "Ҹ")
    assert not font_has_glyphs(font, "Ҝ")


def test_missing_fonts_name_the_debian_packages(monkeypatch, tmp_path):
    monkeypatch.setattr(render, "FONT_CANDIDATES", (tmp_path / "none.otf",))
    render.font_path.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="fonts-urw-base35"):
            find_font(20)
    finally:
        render.font_path.cache_clear()


# --- page layout ------------------------------------------------------------


@pytest.fixture(scope="module")
def page():
    return render_page(paragraphs(0, 6), seed=0)


def test_rendered_page_is_a5_grayscale_with_text(page):
    image = np.asarray(page.image)
    assert page.image.mode == "L"
    assert page.image.size == (1740, 2490)
    assert page.dpi == 300
    assert page.text == "\n".join(page.lines)
    assert len(page.lines) > 25

    half_inch = 150
    for band in (image[:half_inch], image[-half_inch:], image[:, :half_inch], image[:, -half_inch:]):
        assert band.min() > 240, "margins must be blank paper"
    text_area = image[half_inch:-half_inch, half_inch:-half_inch]
    assert 0.03 < (text_area < 128).mean() < 0.3
    assert image.max() > 240


def test_ground_truth_is_the_text_laid_out_in_order(page):
    printed = " ".join(page.lines)
    source = " ".join(paragraphs(0, 6))
    assert source.startswith(printed)
    assert len(printed) < len(source), "six paragraphs overflow one page"


def test_ink_stays_inside_the_text_block(page):
    ink = np.nonzero(np.asarray(page.image) < 128)
    assert ink[1].min() >= 0.6 * 300 and ink[1].max() <= 1740 - 0.6 * 300


# --- degradations -----------------------------------------------------------


def _line_image() -> Image.Image:
    image = Image.new("L", (1200, 800), 255)
    ImageDraw.Draw(image).rectangle((100, 399, 1100, 401), fill=0)
    return image


@pytest.mark.parametrize("angle", [2.5, -3.0, 1.2, 0.0])
def test_skew_turns_a_line_by_the_angle(angle):
    skewed = skew(_line_image(), angle)
    assert skewed.size == (1200, 800)
    ys, xs = np.nonzero(np.asarray(skewed) < 128)
    slope = np.polyfit(xs, ys, 1)[0]
    measured = -math.degrees(math.atan(slope))  # image y grows downwards
    assert measured == pytest.approx(angle, abs=0.05)


def test_skew_expand_keeps_the_whole_page():
    assert skew(_line_image(), 3.0, expand=True).size > (1200, 800)
    corner = np.asarray(skew(_line_image(), 10))[:5, :5]
    assert corner.min() == 255, "corners are filled white"


def test_noise_hits_about_the_given_share_of_pixels():
    blank = Image.new("L", (500, 400), 255)
    speckled = noise(blank, 0.01, seed=1)
    changed = (np.asarray(speckled) < 255).mean()
    assert 0.004 < changed < 0.01
    assert speckled.tobytes() == noise(blank, 0.01, seed=1).tobytes()
    assert speckled.tobytes() != noise(blank, 0.01, seed=2).tobytes()
    assert noise(blank.convert("RGB"), 0.01, seed=1).mode == "RGB"


def test_other_degradations_keep_size_and_do_what_they_say():
    line = _line_image()
    blurred = np.asarray(blur(line, 2)).astype(int)
    assert np.abs(np.diff(blurred, axis=0)).max() < 255

    lit = np.asarray(uneven_light(Image.new("L", (300, 200), 255), 0.3, seed=3))
    assert lit.max() >= 250 and 170 <= lit.min() < 200

    bordered = np.asarray(dark_border(line, 20, sides="lt"))
    assert bordered[:, :20].max() < 50 and bordered[:20, :].max() < 50
    assert bordered[-1, -1] == 255

    yellow = yellow_paper(line)
    assert yellow.mode == "RGB" and yellow.size == line.size
    red, green, blue = yellow.getpixel((5, 5))
    assert red > green > blue > 150  # paper, not white

    compressed = jpeg_artifacts(line, 20)
    assert compressed.mode == "L" and compressed.size == line.size
    assert compressed.tobytes() != line.tobytes()

    for degraded in (blur(line, 1), noise(line, 0.01), dark_border(line, 5), jpeg_artifacts(line, 50)):
        assert degraded.size == line.size and degraded is not line
    assert line.tobytes() == _line_image().tobytes(), "degradations do not touch their input"


def test_scan_like_is_deterministic(page):
    first = scan_like(page, skew_degrees=2.5, seed=4)
    assert first.size == page.image.size and first.mode == "L"
    assert first.tobytes() == scan_like(page, skew_degrees=2.5, seed=4).tobytes()


# --- batch ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_batch(tmp_path_factory):
    return make_sample_batch(tmp_path_factory.mktemp("batch") / "batch-0", seed=0)


def _digest(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _natural_key(name: str) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def test_batch_has_one_folder_per_item_with_valid_toml(sample_batch):
    folders = sorted(path.name for path in sample_batch.path.iterdir())
    assert folders == ["book-001", "book-002", "book-003", "score-001"]
    assert [item.item_id for item in sample_batch.items] == folders
    for item in sample_batch.items:
        metadata = tomllib.loads((item.path / "item.toml").read_text(encoding="utf-8"))
        assert metadata == dict(item.metadata)
        assert set(metadata) == {
            "title", "authors", "year", "language", "script", "kind", "inventory_number", "collection",
        }
        assert isinstance(metadata["title"], str) and metadata["title"]
        assert isinstance(metadata["authors"], list) and all(isinstance(a, str) for a in metadata["authors"])
        assert 1958 <= metadata["year"] <= 1991
        assert (metadata["language"], metadata["script"]) == ("az", "Cyrl")
        assert metadata["kind"] == item.kind in {"text", "score", "art"}
    assert sample_batch.item("score-001").kind == "score"


def test_batch_uses_every_page_format_at_300_dpi(sample_batch):
    seen = set()
    for item in sample_batch.items:
        for file in item.files:
            with Image.open(file) as image:
                frames = getattr(image, "n_frames", 1)
                seen.add(f"{image.format}{'-multi' if frames > 1 else ''}")
                assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
                assert image.mode in {"L", "RGB"}
                if image.format == "TIFF":
                    assert image.mode == "L"
                    assert image.info["compression"] in {"tiff_lzw", "raw"}
    assert seen == {"TIFF", "TIFF-multi", "PNG", "JPEG"}

    book = sample_batch.item("book-002")
    with Image.open(book.files[0]) as tiff:
        assert len(book.files) == 1 and tiff.n_frames == len(book.pages) == 3
    assert [page.frame for page in book.pages] == [0, 1, 2]

    with Image.open(sample_batch.item("score-001").files[0]) as score:
        assert (score.format, score.mode) == ("PNG", "L")


def test_batch_records_text_and_distinct_skews(sample_batch):
    for item_id in ("book-001", "book-002", "book-003"):
        item = sample_batch.item(item_id)
        assert len(item.texts) == len(item.skews) == 3
        assert all(len(text.splitlines()) > 20 for text in item.texts)
        assert len(set(item.skews)) == 3
        assert all(0.5 <= abs(angle) <= 3.0 for angle in item.skews)
    score = sample_batch.item("score-001")
    assert score.skews == [0.0] and "Лајла" in score.texts[0]


def test_batch_is_small(sample_batch):
    size = sum(path.stat().st_size for path in sample_batch.path.rglob("*") if path.is_file())
    assert size < 5_000_000


@pytest.mark.slow  # builds two more batches
def test_batch_bytes_depend_only_on_the_seed(sample_batch, tmp_path):
    again = make_sample_batch(tmp_path / "again", seed=0)
    assert _digest(again.path) == _digest(sample_batch.path)
    other = make_sample_batch(tmp_path / "other", seed=1, pages_per_book=1)
    assert _digest(other.path)["book-001/page-1.tif"] != _digest(sample_batch.path)["book-001/page-1.tif"]


@pytest.mark.slow
def test_page_names_need_a_natural_sort(tmp_path):
    batch = make_sample_batch(tmp_path / "long", seed=2, pages_per_book=10)
    files = batch.item("book-001").files
    names = [path.name for path in files]
    assert names == [f"page-{number}.tif" for number in range(1, 11)]
    assert sorted(names, key=_natural_key) == names != sorted(names)


def test_batch_refuses_a_folder_with_files(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(FileExistsError):
        make_sample_batch(tmp_path)


def test_ground_truth_json(sample_batch, tmp_path):
    path = write_ground_truth(sample_batch, tmp_path / "truth.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["seed"] == 0
    assert [item["id"] for item in document["items"]] == [item.item_id for item in sample_batch.items]
    first = document["items"][0]["pages"][0]
    page = sample_batch.items[0].pages[0]
    assert first == {
        "file": "book-001/page-1.tif",
        "frame": 0,
        "skew_degrees": page.skew_degrees,
        "text": page.text,
    }


def test_toml_strings_are_escaped():
    table = {
        "title": 'Китаб "адсыз" \\ C:\\path\nsecond\tline\x01',
        "authors": ["Ә. Әлијев", 'O"Neil'],
        "year": 1970,
        "ratio": 1.5,
        "rare": True,
        "empty": [],
    }
    assert tomllib.loads(toml_document(table)) == table
    with pytest.raises(TypeError):
        toml_document({"when": object()})


def test_image_pdf_has_a_page_per_image(sample_batch, tmp_path):
    images = sample_batch.item("book-001").files + sample_batch.item("book-003").files
    images += sample_batch.item("book-002").files  # three frames
    pdf_path = make_image_pdf(images, tmp_path / "scan.pdf")
    with pikepdf.open(pdf_path) as pdf:
        assert len(pdf.pages) == 3 + 3 + 3
        width, height = (float(v) for v in pdf.pages[0].mediabox[2:])
        assert (width, height) == pytest.approx((5.8 * 72, 8.3 * 72), abs=0.5)
        resources = pdf.pages[0].Resources
        assert "/XObject" in resources and "/Font" not in resources, "an image, no text layer"


def test_cli_writes_a_batch(tmp_path, capsys):
    dest = tmp_path / "cli"
    truth = tmp_path / "t.json"
    assert batch_module.main([str(dest), "--seed", "3", "--pages", "1", "--ground-truth", str(truth)]) == 0
    assert (dest / "book-001" / "page-1.tif").exists()
    assert json.loads(truth.read_text(encoding="utf-8"))["seed"] == 3
    assert "book-002" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        batch_module.main([str(dest)])
    assert stop.value.code == 2


# --- OCR --------------------------------------------------------------------


def _cyrillic_model() -> str | None:
    for lang in ("script/Cyrillic", "Cyrillic"):
        if (TESSDATA / f"{lang}.traineddata").exists():
            return lang
    return None


@pytest.mark.needs_tesseract
@pytest.mark.skipif(
    importlib.util.find_spec("tesserocr") is None or _cyrillic_model() is None,
    reason="needs tesserocr and the Tesseract Cyrillic script model (tesseract-ocr-script-cyrl)",
)
def test_tesseract_reads_a_rendered_page(page):
    import tesserocr

    from digitize.samples.metrics import cer  # needs rapidfuzz, a test extra

    with tesserocr.PyTessBaseAPI(path=str(TESSDATA) + "/", lang=_cyrillic_model()) as api:
        results = {}
        for name, image in (("clean", page.image), ("scan_like", scan_like(page, skew_degrees=1.5, seed=1))):
            api.SetImage(image)
            api.SetSourceResolution(page.dpi)
            results[name] = cer(page.text, api.GetUTF8Text())
    print(f"character error rate: {results}")
    assert results["clean"] < 0.05
    assert results["scan_like"] < 0.05
