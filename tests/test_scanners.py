"""Scanner input: metadata, page order, frames, and every kind of bad file."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import img2pdf
import numpy as np
import pytest
from PIL import Image

from digitize.errors import EmptyItemError, MetadataError, PageReadError, UnsupportedFileError
from digitize.scanners.batch import read_batch, read_item
from digitize.scanners.images import count_frames, load_page
from digitize.scanners.metadata import ItemKind, read_metadata

GOOD_TOML = 'title = "Китаб"\nauthors = ["Һ. Әлизадә"]\nyear = 1968\nkind = "text"\n'


def _item(folder: Path, toml: str = GOOD_TOML, pages: dict[str, Image.Image] | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "item.toml").write_text(toml, encoding="utf-8")
    for name, image in (pages or {}).items():
        image.save(folder / name, dpi=(300, 300))
    return folder


def _page(value: int = 128, size=(40, 30)) -> Image.Image:
    return Image.new("L", size, value)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a huge size but holds no pixel data (a bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_metadata_is_read_and_validated(tmp_path):
    path = tmp_path / "item.toml"
    path.write_text(GOOD_TOML, encoding="utf-8")
    meta = read_metadata(path)
    assert meta.title == "Китаб"
    assert meta.authors == ("Һ. Әлизадә",)
    assert meta.kind is ItemKind.TEXT
    assert meta.language == "az" and meta.script == "Cyrl"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('title = "x"\nkind = "sculpture"\n', "kind"),
        ('title = "x"\nyaer = 1968\n', "yaer"),
        ('authors = ["a"]\n', "title"),
        ('title = "unterminated\n', "not valid TOML"),
        ('title = "  "\n', "title"),
    ],
)
def test_broken_metadata_names_file_and_problem(tmp_path, text, fragment):
    path = tmp_path / "item.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MetadataError) as info:
        read_metadata(path)
    assert str(path) in info.value.message
    assert fragment in info.value.message


def test_missing_metadata(tmp_path):
    with pytest.raises(MetadataError, match="missing"):
        read_metadata(tmp_path / "item.toml")


def test_pages_in_natural_order_with_frames(tmp_path):
    folder = _item(tmp_path / "book", pages={"page-10.png": _page(10), "page-2.png": _page(2), "page-1.png": _page(1)})
    frames = [_page(v) for v in (100, 101, 102)]
    frames[0].save(folder / "page-3.tif", save_all=True, append_images=frames[1:])
    item = read_item(folder)
    assert [(p.path.name, p.frame) for p in item.pages] == [
        ("page-1.png", 0),
        ("page-2.png", 0),
        ("page-3.tif", 0),
        ("page-3.tif", 1),
        ("page-3.tif", 2),
        ("page-10.png", 0),
    ]
    assert [p.seq for p in item.pages] == [1, 2, 3, 4, 5, 6]
    assert item.item_id == "book"
    assert len(item.files) == 4 and all(len(f.sha256) == 64 for f in item.files)


def test_non_image_file_fails_item_naming_it(tmp_path):
    folder = _item(tmp_path / "book", pages={"p1.png": _page()})
    (folder / "notes.docx").write_bytes(b"PK")
    (folder / "Thumbs.db").write_bytes(b"junk")  # ignored, as scanners leave it
    with pytest.raises(UnsupportedFileError, match="notes.docx"):
        read_item(folder)


def test_empty_item_folder(tmp_path):
    folder = _item(tmp_path / "book")
    with pytest.raises(EmptyItemError, match="no page images"):
        read_item(folder)


def test_folder_name_that_cannot_be_an_identifier(tmp_path):
    folder = _item(tmp_path / "Китаб 1", pages={"p1.png": _page()})
    with pytest.raises(MetadataError, match="identifier"):
        read_item(folder)
    (folder / "item.toml").write_text(GOOD_TOML + 'identifier = "kitab-1"\n', encoding="utf-8")
    assert read_item(folder).item_id == "kitab-1"


def test_zero_byte_page(tmp_path):
    path = tmp_path / "p.tif"
    path.write_bytes(b"")
    with pytest.raises(PageReadError, match="empty"):
        count_frames(path)


def test_text_file_named_tif(tmp_path):
    path = tmp_path / "p.tif"
    path.write_text("this is not a scan\n")
    with pytest.raises(PageReadError, match="not an image"):
        count_frames(path)


def test_truncated_tiff(tmp_path):
    path = tmp_path / "p.tif"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (300, 200), dtype=np.uint8)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(PageReadError) as info:
        load_page(path)
    assert str(path) in info.value.message


def test_truncated_jpeg(tmp_path):
    path = tmp_path / "p.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (300, 200), dtype=np.uint8)).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(PageReadError, match="damaged or truncated"):
        load_page(path)


def test_decompression_bomb_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(100_000, 100_000))
    with pytest.raises(PageReadError, match="decompression bomb|too large"):
        count_frames(path, max_image_pixels=250_000_000)
    with pytest.raises(PageReadError):
        load_page(path, max_image_pixels=250_000_000)


def test_one_pixel_image_is_refused_clearly(tmp_path):
    path = tmp_path / "p.png"
    Image.new("L", (1, 1)).save(path)
    with pytest.raises(PageReadError, match="1×1 pixels, too small"):
        count_frames(path)


def test_pixel_limit_setting(tmp_path):
    path = tmp_path / "p.png"
    _page(size=(200, 100)).save(path)
    assert count_frames(path, max_image_pixels=20_000) == 1
    with pytest.raises(PageReadError, match="exceeds the limit"):
        count_frames(path, max_image_pixels=19_999)


def test_image_pdf_pages_extracted_losslessly(tmp_path):
    pixels = np.random.default_rng(3).integers(0, 255, (120, 90), dtype=np.uint8)
    png = tmp_path / "a.png"
    Image.fromarray(pixels).save(png, dpi=(300, 300))
    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(img2pdf.convert([str(png), str(png)]))  # as scanners write them
    assert count_frames(pdf) == 2
    loaded = load_page(pdf, 1)
    assert np.array_equal(np.asarray(loaded.image.convert("L")), pixels)
    assert loaded.dpi == pytest.approx(300, abs=1)


def test_one_bad_item_does_not_stop_the_batch(tmp_path):
    batch = tmp_path / "batch"
    _item(batch / "good", pages={"p1.png": _page()})
    _item(batch / "broken", toml="title = [", pages={"p1.png": _page()})
    _item(batch / "empty")
    _item(batch / "dup", toml=GOOD_TOML + 'identifier = "good"\n', pages={"p1.png": _page()})
    result = read_batch(batch)
    assert [i.item_id for i in result.items] == ["good"]
    problems = {p.item_id: p.message for p in result.problems}
    assert set(problems) == {"broken", "empty", "good"}
    assert "item.toml" in problems["broken"]
    assert "already used" in problems["good"]


@pytest.mark.parametrize("suffix", [".jp2", ".jpg", ".png", ".tif"])
def test_every_accepted_format_loads_with_its_resolution(tmp_path, suffix):
    pixels = np.random.default_rng(4).integers(0, 255, (64, 48), dtype=np.uint8)
    path = tmp_path / f"page{suffix}"
    options = {"irreversible": False} if suffix == ".jp2" else {}
    Image.fromarray(pixels).save(path, dpi=(400, 400), **options)
    loaded = load_page(path)
    assert loaded.image.size == (48, 64)
    if suffix in (".png", ".tif", ".jp2"):  # lossless formats give back the scan exactly
        assert np.array_equal(np.asarray(loaded.image), pixels)
    if suffix != ".jp2":  # Pillow writes no resolution box into JPEG 2000
        assert loaded.dpi == pytest.approx(400, abs=1)


def test_content_hash_counts_what_item_toml_says_not_the_defaults(tmp_path):
    from digitize.samples.batch import toml_document
    from digitize.scanners.batch import read_item

    def item(name, meta):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "item.toml").write_text(toml_document(meta), encoding="utf-8")
        Image.new("L", (40, 60), 255).save(folder / "1.png")
        return read_item(folder)

    plain = item("a", {"title": "Т", "kind": "text"})
    spelled_out = item("b", {"title": "Т", "kind": "text", "spreads": "auto"})
    other = item("c", {"title": "Т", "kind": "text", "spreads": False})
    assert plain.content_hash == spelled_out.content_hash  # a default spelled out is the same item
    assert plain.content_hash != other.content_hash
    renamed = item("d", {"title": "Т2", "kind": "text"})
    assert renamed.content_hash != plain.content_hash
