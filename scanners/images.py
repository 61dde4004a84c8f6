"""Opening scanned page files safely.

Every way a file can be bad ends in a :class:`PageReadError` that names the
file: empty, truncated, not an image, an image whose declared size would
exhaust memory (a decompression bomb), an encrypted PDF. The file itself is
only ever opened for reading.

The pixel limit is ``image.max_image_pixels`` (250 million by default: A0 at
600 dpi), passed in by the caller. Pillow has its own limit, a module global
(``Image.MAX_IMAGE_PIXELS``, 89 million: a warning above it, an error above
twice that), which would refuse an A2 scan at 600 dpi (139 million pixels)
that our limit allows. So while a page is opened and decoded here, Pillow's
limit is set to ours and then put back (:func:`pixel_limit`): importing this
module changes nothing, and a worker process, which gets the settings with
its job, applies the same limit as the process that read the batch.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PIL import Image, ImageFile, UnidentifiedImageError

from digitize.errors import PageReadError

if TYPE_CHECKING:
    import pikepdf

__all__ = ["PAGE_SUFFIXES", "DEFAULT_MAX_PIXELS", "LoadedPage", "count_frames", "load_page", "pixel_limit"]

PAGE_SUFFIXES = frozenset({".tif", ".tiff", ".jpg", ".jpeg", ".png", ".jp2", ".j2k", ".jpx", ".pdf"})
DEFAULT_MAX_PIXELS = 250_000_000
# Smaller than this cannot be a page (and cannot become a valid PDF page).
MIN_SIDE_PIXELS = 16

# Never accept a truncated file as a page: a scan with its bottom missing
# must be re-scanned, not published.
ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass
class LoadedPage:
    """A decoded page image (stays inside a stage; never passed between tasks)."""

    image: Image.Image
    dpi: float | None  # None when the file does not say


# Pillow's limit is one global for the process: pages opened in threads at
# once take turns setting it.
_PIXEL_LIMIT_LOCK = threading.RLock()


@contextmanager
def pixel_limit(max_image_pixels: int | None) -> Iterator[int]:
    """Pillow's decompression-bomb limit set to ``image.max_image_pixels`` (or the default) while inside.

    Pillow warns above its limit and refuses above twice it; the warning is
    made an error by the callers here, so the limit is exactly ours. Yields
    the limit in force. Use it around any ``Image.open`` of a scanned page.
    """
    limit = max_image_pixels or DEFAULT_MAX_PIXELS
    with _PIXEL_LIMIT_LOCK:
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = limit
        try:
            yield limit
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def count_frames(path: Path, max_image_pixels: int | None = None) -> int:
    """Number of pages in a file, read from its header (nothing decoded)."""
    _check_not_empty(path)
    if path.suffix.lower() == ".pdf":
        with _open_pdf(path) as pdf:
            return len(pdf.pages)
    with pixel_limit(max_image_pixels) as limit, _open_image(path, limit) as image:
        _check_pixels(path, image.size, limit)
        return getattr(image, "n_frames", 1)


def load_page(path: Path, frame: int = 0, max_image_pixels: int | None = None) -> LoadedPage:
    """Decode one page (one frame of a file) fully, or raise PageReadError."""
    _check_not_empty(path)
    with pixel_limit(max_image_pixels) as limit:
        if path.suffix.lower() == ".pdf":
            return _load_pdf_page(path, frame, limit)
        with _open_image(path, limit) as image:
            try:
                image.seek(frame)
            except EOFError as exc:
                raise PageReadError(f"{path}: has no frame {frame + 1}") from exc
            _check_pixels(path, image.size, limit)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    image.load()
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
                raise PageReadError(f"{path}: image data is damaged or truncated ({exc})") from exc
            dpi = _dpi_of(image)
            # copy() detaches the pixels from the open file handle.
            return LoadedPage(image.copy(), dpi)


def _check_not_empty(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise PageReadError(f"{path}: cannot be read ({exc.strerror})") from exc
    if size == 0:
        raise PageReadError(f"{path}: file is empty (0 bytes); copy it from the scanner again")


def _open_image(path: Path, limit: int) -> Image.Image:
    """Open (header only) under :func:`pixel_limit`; Pillow's warning above the limit is a refusal."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    except UnidentifiedImageError as exc:
        raise PageReadError(f"{path}: not an image file, although named {path.suffix}") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PageReadError(
            f"{path}: declared image size exceeds the limit of {limit:,} pixels (image.max_image_pixels); "
            f"refusing a possible decompression bomb ({exc})"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise PageReadError(f"{path}: cannot be opened as an image ({exc})") from exc


def _check_pixels(path: Path, size: tuple[int, int], limit: int) -> None:
    width, height = size
    if width < MIN_SIDE_PIXELS or height < MIN_SIDE_PIXELS:
        raise PageReadError(
            f"{path}: image is {width}×{height} pixels, too small to be a scanned page "
            f"(at least {MIN_SIDE_PIXELS} pixels a side)"
        )
    if width * height > limit:
        raise PageReadError(
            f"{path}: declared size {width}×{height} ({width * height:,} pixels) exceeds the "
            f"limit of {limit:,} pixels (image.max_image_pixels); refusing a possible decompression bomb"
        )


def _dpi_of(image: Image.Image) -> float | None:
    dpi = image.info.get("dpi")
    if dpi and dpi[0] and float(dpi[0]) > 1:
        return float(dpi[0])
    return None


def _open_pdf(path: Path) -> pikepdf.Pdf:
    import pikepdf

    try:
        return pikepdf.open(path)
    except pikepdf.PasswordError as exc:
        raise PageReadError(f"{path}: PDF is encrypted; decrypt it first (qpdf --decrypt in.pdf out.pdf)") from exc
    except pikepdf.PdfError as exc:
        raise PageReadError(f"{path}: not a readable PDF ({exc})") from exc


def _load_pdf_page(path: Path, frame: int, limit: int) -> LoadedPage:
    """A scanner PDF page: its one embedded image, extracted without loss.

    Pages that are not a single image (vector content, several strips) are
    rendered at 300 dpi instead.
    """
    from pikepdf import PdfError, PdfImage

    with _open_pdf(path) as pdf:
        if frame >= len(pdf.pages):
            raise PageReadError(f"{path}: has no page {frame + 1}")
        page = pdf.pages[frame]
        images = list(page.get_images(recursive=False).values())
        width_pt = float(page.mediabox[2]) - float(page.mediabox[0])
        if len(images) == 1:
            pdf_image = PdfImage(cast("pikepdf.Stream", images[0]))  # an image XObject is a stream
            _check_pixels(path, (pdf_image.width, pdf_image.height), limit)
            try:
                pil = pdf_image.as_pil_image()
                pil.load()
            except (PdfError, OSError, ValueError, NotImplementedError):
                pil = None  # unusual encodings: fall back to rendering
            if pil is not None:
                dpi = pdf_image.width / (width_pt / 72.0) if width_pt > 0 else None
                return LoadedPage(pil, round(dpi, 1) if dpi else None)
        height_pt = float(page.mediabox[3]) - float(page.mediabox[1])
    return _render_pdf_page(path, frame, limit, width_pt, height_pt)


def _render_pdf_page(path: Path, frame: int, limit: int, width_pt: float, height_pt: float) -> LoadedPage:
    import pypdfium2

    dpi = 300.0
    _check_pixels(path, (int(width_pt / 72 * dpi), int(height_pt / 72 * dpi)), limit)
    try:
        document = pypdfium2.PdfDocument(str(path))
        try:
            bitmap = document[frame].render(scale=dpi / 72.0, grayscale=False)
            image = bitmap.to_pil()
            image.load()
        finally:
            document.close()
    except pypdfium2.PdfiumError as exc:
        raise PageReadError(f"{path}: page {frame + 1} cannot be rendered ({exc})") from exc
    return LoadedPage(image, dpi)
