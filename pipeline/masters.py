"""Scores and art prints: the master as scanned, a lossless access PDF, fixity.

The master file is never changed: it is published byte for byte (role
"master") and its SHA-256, taken at intake, is checked again right before
it is stored (``verify_masters``) and by the store on upload.

The access PDF embeds the pixels without loss. img2pdf does that for
8-bit JPEG/PNG data, but it cannot carry a 16-bit TIFF (Pillow has no
16-bit RGB mode), so TIFF masters go through ``tiff_page_pdf``: the
samples are read with tifffile and written as a Flate-compressed image
XObject with the same bit depth (PDF allows /BitsPerComponent 16) and the
TIFF's embedded ICC profile as an /ICCBased colour space. Decoding the
PDF's image gives back exactly the master's samples (tests/test_masters.py).
"""

from __future__ import annotations

import hashlib
import io
import logging
import zlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pikepdf
from PIL import Image

from digitize.checksums import sha256_file
from digitize.errors import OutputError, VerificationError
from digitize.files import atomic_path, atomic_write_text
from digitize.scanners.images import pixel_limit

if TYPE_CHECKING:
    import tifffile

__all__ = [
    "add_title_layer", "tiff_page_pdf", "can_embed_tiff", "verify_masters", "access_copy_jpeg", "pdf_image_samples",
]

log = logging.getLogger(__name__)

_TIFF = {".tif", ".tiff"}


def _tifffile() -> ModuleType:
    """tifffile, imported when a TIFF master is first read: a text page's worker never needs it (46 ms)."""
    import tifffile

    return tifffile


def _tiff_page(source: Path, frame: int) -> tuple[tifffile.TiffFile, tifffile.TiffPage]:
    tifffile = _tifffile()
    tif = tifffile.TiffFile(source)
    page = tif.pages[frame]
    # tifffile hands out a lighter TiffFrame only when asked to (useframes); never here.
    return tif, page if isinstance(page, tifffile.TiffPage) else page.aspage()


def can_embed_tiff(source: Path, frame: int) -> bool:
    """True if the TIFF frame is grey or RGB with 8 or 16 bits per sample (what PDF holds directly)."""
    if source.suffix.lower() not in _TIFF:
        return False
    tifffile = _tifffile()
    try:
        tif, page = _tiff_page(source, frame)
    except (tifffile.TiffFileError, OSError, IndexError, ValueError):
        return False
    with tif:
        photometric = int(page.photometric)
        return (
            page.bitspersample in (8, 16)
            and page.dtype is not None
            and page.dtype.kind == "u"
            and page.extrasamples == ()
            and (
                (photometric == 2 and page.samplesperpixel == 3)  # RGB
                or (photometric == 1 and page.samplesperpixel == 1)  # min-is-black
            )
            and page.planarconfig in (1, 2)
        )


def tiff_page_pdf(source: Path, frame: int, dpi: float, out: Path) -> dict[str, str | None]:
    """A one-page PDF holding TIFF frame ``frame`` exactly, at its bit depth and with its ICC profile.

    Returns what was embedded (for the page's processing steps).
    """
    tifffile = _tifffile()
    try:
        tif, page = _tiff_page(source, frame)
        with tif:
            samples = page.asarray()
            icc = page.tags.get("InterColorProfile")
            icc_bytes = bytes(icc.value) if icc is not None else None
            photometric = int(page.photometric)
    except (tifffile.TiffFileError, OSError, ValueError) as exc:
        raise OutputError(f"{source}: cannot read frame {frame} of the TIFF ({exc})") from exc
    if samples.ndim == 3 and samples.shape[0] == 3 and photometric == 2 and samples.shape[-1] != 3:
        samples = np.moveaxis(samples, 0, -1)  # planar RGB
    height, width = samples.shape[:2]
    channels = 1 if samples.ndim == 2 else samples.shape[2]
    bits = samples.dtype.itemsize * 8
    data = np.ascontiguousarray(samples.astype(samples.dtype.newbyteorder(">"), copy=False)).tobytes()
    pdf = pikepdf.new()
    colour_space: pikepdf.Array | pikepdf.Name
    if icc_bytes:
        profile = pikepdf.Stream(pdf, icc_bytes)
        profile.N = channels
        profile.Alternate = pikepdf.Name.DeviceRGB if channels == 3 else pikepdf.Name.DeviceGray
        colour_space = pikepdf.Array([pikepdf.Name.ICCBased, profile])
    else:
        colour_space = pikepdf.Name.DeviceRGB if channels == 3 else pikepdf.Name.DeviceGray
    image = pikepdf.Stream(pdf, zlib.compress(data, 6))
    image.Type = pikepdf.Name.XObject
    image.Subtype = pikepdf.Name.Image
    image.Width, image.Height = width, height
    image.BitsPerComponent = bits
    image.ColorSpace = colour_space
    image.Filter = pikepdf.Name.FlateDecode
    w_pt, h_pt = width * 72.0 / dpi, height * 72.0 / dpi
    content = f"q {w_pt:.4f} 0 0 {h_pt:.4f} 0 0 cm /Im0 Do Q\n".encode()
    pdf.add_blank_page(page_size=(w_pt, h_pt))
    pdf_page = pdf.pages[0]
    pdf_page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
    pdf_page.Contents = pikepdf.Stream(pdf, content)
    with atomic_path(out) as tmp:
        pdf.save(tmp, deterministic_id=True)
    return {
        "embedded": f"TIFF samples, {bits}-bit, {channels} channel(s), Flate (lossless)",
        "icc_profile_sha256": hashlib.sha256(icc_bytes).hexdigest() if icc_bytes else None,
    }


def pdf_image_samples(image: pikepdf.Object) -> tuple[np.ndarray, bytes | None]:
    """The samples of a Flate image XObject (as written above) and its ICC profile: for checks."""
    width, height, bits = int(image.Width), int(image.Height), int(image.BitsPerComponent)
    space = image.ColorSpace
    icc = None
    if isinstance(space, pikepdf.Array) and space[0] == pikepdf.Name.ICCBased:
        icc = space[1].read_bytes()
        channels = int(space[1].N)
    else:
        channels = 3 if space == pikepdf.Name.DeviceRGB else 1
    dtype = np.dtype(">u2") if bits == 16 else np.uint8
    samples = np.frombuffer(image.read_bytes(), dtype=dtype)
    shape = (height, width, channels) if channels > 1 else (height, width)
    return samples.reshape(shape), icc


def verify_masters(files: dict[Path, str]) -> dict[Path, str]:
    """Check each master's SHA-256 against the one taken at intake; return the digests.

    Raised as a VerificationError: a master that changed between intake
    and storage must not be stored under its old checksum.
    """
    for path, expected in files.items():
        found = sha256_file(path)
        if found != expected:
            raise VerificationError(f"{path}: the master changed since intake (SHA-256 {found}, at intake {expected})")
    return dict(files)


def access_copy_jpeg(source: Path, frame: int, longest_px: int, max_pixels: int | None = None) -> bytes:
    """A lossy JPEG beside the master for fast viewing (8-bit sRGB-ish, scaled down)."""
    if source.suffix.lower() in _TIFF and can_embed_tiff(source, frame):
        with _tifffile().TiffFile(source) as tif:
            samples = tif.pages[frame].asarray()
        if samples.dtype.itemsize == 2:
            samples = (samples >> 8).astype(np.uint8)
        image = Image.fromarray(samples)
    else:
        with pixel_limit(max_pixels), Image.open(source) as opened:  # image.max_image_pixels, not Pillow's 89 MP
            opened.seek(frame)
            image = opened.convert("RGB")
    image.thumbnail((longest_px, longest_px), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85, optimize=True)
    return buffer.getvalue()


# A word of a score's printed text is kept only if Tesseract is this sure of
# it: staves and note heads otherwise turn into strings of junk letters.
_TITLE_CONFIDENCE = 80.0


def add_title_layer(
    pdf_path: Path, image: Image.Image, dpi: float, model: str, tessdata: Path | None, work_dir: Path,
    *, language: str = "az",
) -> tuple[Path, int]:
    """OCR a score page's printed text and lay it invisibly over the (untouched) image.

    Only lines whose every word is read with confidence >= 80 and which hold
    a real word (three letters or more) are kept; the words stay in the
    printed script. Returns the filtered hOCR-derived text file and the
    number of words laid.
    """
    from digitize.pipeline import tesseract
    from digitize.pipeline.hocr import OcrPage, page_text, parse_hocr
    from digitize.pipeline.textlayer import add_text_layer

    info = tesseract.probe(tessdata)
    grey = image.convert("L") if image.mode not in ("L", "I;16", "I;16B", "I;16L") else image
    if grey.mode != "L":
        grey = Image.fromarray((np.asarray(grey, dtype=np.uint16) >> 8).astype(np.uint8))
    page_div, _ = tesseract.recognize_hocr(grey, model=model, dpi=dpi, tessdata=info.tessdata)
    hocr_path = work_dir / "titles.hocr"
    atomic_write_text(hocr_path, tesseract.hocr_document(page_div, info.version, language))
    ocr = parse_hocr(hocr_path)
    lines = tuple(
        line
        for line in ocr.lines
        if all((w.confidence or 0) >= _TITLE_CONFIDENCE for w in line.words)
        and any(sum(ch.isalpha() for ch in w.text) >= 3 for w in line.words)
    )
    kept = OcrPage(ocr.width, ocr.height, lines)
    words = [w.text for w in kept.words]
    text_path = work_dir / "titles.txt"
    atomic_write_text(text_path, page_text(kept))
    if words:
        with atomic_path(pdf_path) as tmp, pikepdf.open(pdf_path) as pdf:
            add_text_layer(pdf, pdf.pages[0], kept, words, dpi, info.tessdata)
            pdf.save(tmp, deterministic_id=True)
    return text_path, len(words)
