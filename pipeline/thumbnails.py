"""Small JPEG pictures of a page: the catalog's thumbnail and the EPUB cover.

Rendered from the page's own PDF with pdfium (so JPEG 2000, G4 and 16-bit
pages all work the same way), at just the resolution needed.
"""

from __future__ import annotations

import io
from pathlib import Path

import pypdfium2

from digitize.errors import OutputError

__all__ = ["page_jpeg"]


def page_jpeg(pdf: Path, longest_px: int, quality: int = 80) -> bytes:
    """The first page of ``pdf`` as a JPEG whose longest side is ``longest_px``."""
    try:
        document = pypdfium2.PdfDocument(str(pdf))
        try:
            page = document[0]
            width, height = page.get_size()
            scale = longest_px / max(width, height)
            image = page.render(scale=scale).to_pil().convert("RGB")
        finally:
            document.close()
    except (pypdfium2.PdfiumError, OSError, IndexError) as exc:
        raise OutputError(f"{pdf}: cannot render a picture of the first page ({exc})") from exc
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()
