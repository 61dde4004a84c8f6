"""Scores and art: the master stays as scanned, the access PDF holds it losslessly."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pikepdf
import pytest
import tifffile

from digitize.assembly.item import assemble_item, plan_pages
from digitize.assembly.pdfa import check_pdfa
from digitize.checksums import sha256_file
from digitize.errors import VerificationError
from digitize.pipeline.masters import pdf_image_samples, verify_masters
from digitize.pipeline.page import process_page
from digitize.scanners.batch import read_item
from digitize.settings import Settings

SRGB = Path("/usr/share/color/icc/ghostscript/srgb.icc")


def _icc() -> bytes:
    if not SRGB.exists():
        pytest.skip("ghostscript's srgb.icc not installed (apt-get install ghostscript)")
    return SRGB.read_bytes()


def _art_item(folder: Path, samples: np.ndarray, icc: bytes | None, kind: str = "art") -> Path:
    item = folder / "print-001"
    item.mkdir(parents=True)
    (item / "item.toml").write_text(
        f'title = "Gravüra <№1> & \\"Şuşa\\""\nkind = "{kind}"\nyear = 1902\n', encoding="utf-8"
    )
    photometric = "rgb" if samples.ndim == 3 else "minisblack"
    tifffile.imwrite(
        item / "plate.tif", samples, photometric=photometric, iccprofile=icc, resolution=(600, 600),
        compression="zlib",
    )
    return item


def _run(item_folder: Path, tmp_path: Path):
    settings = Settings(work_dir=tmp_path / "work", output_dir=tmp_path / "out")
    item = read_item(item_folder)
    pages = [process_page(job, settings) for job in plan_pages(item, settings)]
    return item, pages, assemble_item(item, pages, settings)


def _pdf_image(pdf_path: Path) -> tuple[np.ndarray, bytes | None]:
    with pikepdf.open(pdf_path) as pdf:
        images = list(pdf.pages[0].get_images().values()) if hasattr(pdf.pages[0], "get_images") else []
        if not images:
            images = [v for v in pdf.pages[0].Resources.XObject.values()]
        return pdf_image_samples(images[0])


def test_16bit_rgb_tiff_with_icc_profile_stays_pixel_identical(tmp_path):
    icc = _icc()
    rng = np.random.default_rng(5)
    samples = rng.integers(0, 65536, (90, 120, 3), dtype=np.uint16)  # every bit of all 16 matters
    folder = _art_item(tmp_path / "batch", samples, icc)
    before = sha256_file(folder / "plate.tif")
    item, pages, outputs = _run(folder, tmp_path)

    # The master published is the scanned file, byte for byte, with its intake digest.
    master = next(f for f in outputs.files if f.role == "master")
    assert master.path == folder / "plate.tif" and master.sha256 == before == item.files[0].sha256
    with tifffile.TiffFile(master.path) as tif:
        stored = tif.pages[0].asarray()
        assert tif.pages[0].tags["InterColorProfile"].value == icc
    assert stored.dtype == np.uint16 and np.array_equal(stored, samples)

    # The access PDF decodes to the same 16-bit samples and carries the same profile.
    decoded, profile = _pdf_image(pages[0].pdf)
    assert decoded.dtype.itemsize == 2 and np.array_equal(decoded.astype(np.uint16), samples)
    assert profile == icc
    # ... and so does the item's PDF/A, which passes the validator.
    decoded, profile = _pdf_image(outputs.pdf)
    assert np.array_equal(decoded.astype(np.uint16), samples) and profile == icc
    assert check_pdfa(outputs.pdf) == []

    # Beside the master: a JPEG access copy, labelled as such; no text from an engraving.
    roles = {f.role for f in outputs.files}
    assert "access-copy" in roles and "thumbnail" in roles
    assert not any(r.startswith("text") or r == "epub" for r in roles)
    with pikepdf.open(outputs.pdf) as pdf:
        assert b"Tj" not in pdf.pages[0].Contents.read_bytes()


def test_16bit_grey_without_profile(tmp_path):
    samples = (np.arange(64 * 80, dtype=np.uint32).reshape(64, 80) * 13 % 65536).astype(np.uint16)
    folder = _art_item(tmp_path / "batch", samples, None, kind="score")
    _, pages, _ = _run(folder, tmp_path)
    decoded, profile = _pdf_image(pages[0].pdf)
    assert profile is None and np.array_equal(decoded.astype(np.uint16), samples)


def test_fixity_check_catches_a_changed_master(tmp_path):
    path = tmp_path / "scan.tif"
    path.write_bytes(b"II*\x00 pretend scan")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert verify_masters({path: digest}) == {path: digest}
    path.write_bytes(b"II*\x00 pretend scan!")
    with pytest.raises(VerificationError):
        verify_masters({path: digest})


@pytest.mark.needs_tesseract
def test_score_titles_are_searchable_only_when_asked(tmp_path):
    import subprocess

    from digitize.samples.render import render_score_page

    rendered = render_score_page("Соната", "Үзејир Һаҹыбәјов", seed=2)
    folder = tmp_path / "batch" / "score-001"
    folder.mkdir(parents=True)
    (folder / "item.toml").write_text('title = "Соната"\nkind = "score"\n', encoding="utf-8")
    rendered.image.save(folder / "score.png", dpi=(300, 300))

    def pdf_text(score_ocr: str) -> str:
        settings = Settings(work_dir=tmp_path / f"w-{score_ocr}", output_dir=tmp_path / f"o-{score_ocr}")
        settings = settings.model_copy(update={"pdf": settings.pdf.model_copy(update={"score_ocr": score_ocr})})
        item = read_item(folder)
        pages = [process_page(job, settings) for job in plan_pages(item, settings)]
        pdf = assemble_item(item, pages, settings).pdf
        assert check_pdfa(pdf) == []
        with pikepdf.open(pdf) as doc:  # the image is still the PNG data as scanned
            image = next(iter(doc.pages[0].Resources.XObject.values()))
            assert image.Filter == pikepdf.Name.FlateDecode and int(image.BitsPerComponent) == 8
        return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout

    assert pdf_text("none").strip() == ""
    titles = pdf_text("titles")
    assert "Соната" in titles
    assert not any("a" <= ch <= "z" for ch in titles.lower())  # no transliterated layer forced on it


def test_a_text_page_worker_does_not_import_tifffile():
    """tifffile is needed for TIFF masters of scores and art only: a page worker loads it on first use."""
    code = "import sys, digitize.pipeline.page; print('tifffile' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"
