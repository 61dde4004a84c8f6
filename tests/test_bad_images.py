"""Bad input through the whole text-page stages: processed correctly, or refused
with a reason that names the file, never an unexpected exception.

Loading alone (empty, truncated, bomb, 1×1 headers) is pinned in
test_scanners.py and image modes in test_page.py; here the same files go
through ``process_page`` (crop, orientation, deskew, normalisation, QC).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitize.errors import DigitizeError, PageReadError
from digitize.pipeline.model import PageJob
from digitize.pipeline.page import process_page
from digitize.samples.degrade import degrade
from digitize.settings import Settings

pytestmark = pytest.mark.needs_tesseract


def _run(tmp_path: Path, path: Path):
    job = PageJob("item", "text", 1, path, 0, 1, "0" * 64, tmp_path / "work", "Cyrillic")
    return process_page(job, Settings(work_dir=tmp_path, output_dir=tmp_path / "o"))


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))


def test_one_pixel_page_is_refused_with_reason(tmp_path):
    path = tmp_path / "dot.png"
    Image.new("L", (1, 1), 0).save(path)
    with pytest.raises(DigitizeError, match="dot.png"):
        _run(tmp_path, path)


def test_declared_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(100_000, 100_000))
    with pytest.raises(PageReadError, match="bomb.png"):
        _run(tmp_path, path)


def test_jpeg_with_broken_tail_is_refused(tmp_path):
    path = tmp_path / "cut.jpg"
    degrade("clean", seed=1, dpi=100).image.save(path, quality=85)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(PageReadError, match="cut.jpg"):
        _run(tmp_path, path)


@pytest.mark.parametrize(
    "name,make",
    [
        ("grey16.png", lambda a: Image.fromarray(a.astype(np.uint16) * 257)),
        ("cmyk.tif", lambda a: Image.fromarray(a).convert("RGB").convert("CMYK")),
        ("palette.png", lambda a: Image.fromarray(a).convert("P")),
        ("alpha.png", lambda a: Image.fromarray(a).convert("RGBA")),
    ],
)
def test_unusual_modes_on_a_damaged_page(tmp_path, name, make):
    """Every mode goes through the new stages too: a page on the scanner bed,
    upside down, with uneven light."""
    page = degrade("uneven_light", seed=3, dpi=150)
    grey = np.asarray(page.image.convert("L"))
    bed = np.full((grey.shape[0] + 60, grey.shape[1] + 60), 25, dtype=np.uint8)
    bed[30:-30, 30:-30] = grey
    path = tmp_path / name
    make(np.ascontiguousarray(np.rot90(bed, 2))).save(path, dpi=(150, 150))
    result = _run(tmp_path, path)
    assert result.orientation_degrees == 180
    assert result.word_count > 50
    assert grey.shape[1] - 20 <= result.width <= grey.shape[1]  # the bed is gone, the page kept


@pytest.mark.parametrize("size,fill", [((16, 16), 0), ((4000, 20), 128), ((300, 400), 0), ((300, 400), 255)])
def test_degenerate_pages_give_empty_results(tmp_path, size, fill):
    path = tmp_path / "odd.png"
    Image.new("L", size, fill).save(path, dpi=(300, 300))
    result = _run(tmp_path, path)
    assert result.pdf.exists() and result.quality  # processed, QC recorded
