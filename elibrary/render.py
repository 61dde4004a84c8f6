"""Page images for the item page: rendered from the item's PDF on demand.

The PDF is fetched from the store once into a cache folder (named by its
SHA-256, so a re-published PDF is fetched again), and pages are rendered
with pdfium. Pdfium is not thread-safe: one render at a time per process.
"""

from __future__ import annotations

import io
import logging
import shutil
import threading
from collections import OrderedDict
from pathlib import Path

from digitize.errors import StorageError
from digitize.files import atomic_output
from digitize.storage.objects import ObjectStore

__all__ = ["PageRenderer"]

log = logging.getLogger(__name__)

THUMBNAIL_WIDTH = 180
PAGE_WIDTH = 900


class PageRenderer:
    """Renders pages of stored PDFs to PNG, keeping the last few in memory."""

    def __init__(self, store: ObjectStore, cache_dir: Path, keep: int = 256) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self._lock = threading.Lock()
        self._images: OrderedDict[tuple[str, str, int, int], bytes] = OrderedDict()
        self._keep = keep

    def render(self, key: str, sha256: str, page_index: int, width: int) -> bytes | None:
        """PNG bytes of one page (0-based), ``width`` pixels wide; None if no such page."""
        cache_key = (key, sha256, page_index, width)
        with self._lock:
            if cache_key in self._images:
                self._images.move_to_end(cache_key)
                return self._images[cache_key]
            path = self._fetch(key, sha256)
            png = _render_page(path, page_index, width)
            if png is not None:
                self._images[cache_key] = png
                while len(self._images) > self._keep:
                    self._images.popitem(last=False)
            return png

    def _fetch(self, key: str, sha256: str) -> Path:
        path = self.cache_dir / f"{sha256}.pdf"
        if not path.exists():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            with self.store.open_read(key) as source, atomic_output(path) as target:
                shutil.copyfileobj(source, target, 1 << 20)
        return path


def _render_page(path: Path, page_index: int, width: int) -> bytes | None:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        raise StorageError(f"cannot open the stored PDF for rendering: {exc}") from exc
    try:
        if not 0 <= page_index < len(pdf):
            return None
        page = pdf[page_index]
        scale = width / page.get_width()
        image = page.render(scale=scale, grayscale=False).to_pil()
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=False)
        return buffer.getvalue()
    finally:
        pdf.close()
