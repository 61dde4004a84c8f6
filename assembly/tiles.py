"""IIIF Image API 3 level-0 tiles of an item's pages, made from the reading images in its PDF.

A level-0 image service is a set of static files whose names are the Image
API's own URLs (``{region}/{size}/0/default.jpg``), so the e-library serves
them straight from the object store, with no image server. Per page:

* tiles of ``TILE_SIZE`` px at scale factors 1, 2, 4, … as long as the
  scaled page is at least one tile wide or high (the levels OpenSeadragon,
  and so Mirador and Universal Viewer, ask for); region ``x,y,w,h`` in full
  image pixels, size ``ceil(w/s),ceil(h/s)`` as the Image API's tile
  algorithm gives it; a tile covering the whole image is named ``full``;
* one small whole page (``full/{w},{h}/0/default.jpg``, the first level that
  fits in one tile), listed in ``info.json``'s ``sizes``: the canvas
  thumbnail;
* ``info.json`` with a placeholder ``id`` (the base URL is not known here;
  the web rewrites it).

The source is the page's image as the item's PDF holds it (the access image
of ``pipeline/page.py``: JPEG 2000, JPEG, G4, or a score's lossless scan),
taken out of the PDF without re-rendering where it can be. The same code
makes tiles at publish time from the assembled PDF and later, for items
published before tiles existed, from the stored PDF (``digitize tiles``).

The tiles are written with our own loop over pyvips (decode once, halve
level by level, crop, ``jpegsave`` to memory, hash the bytes there)
rather than ``dzsave``: dzsave 8.14's ``iiif3`` layout also writes
``vips-properties.xml`` (with the time, so never the same bytes twice; its
``properties=False`` does not stop it) and an unlisted whole-image level
under a region name that no client asks for. What the time goes to is
decoding the JPEG 2000 (most of it), which libvips spreads over the
cores; publishing makes the tiles in the background while it stores the
item's files (``delivery.tiles.start_tiles``). bench/iiif_tiles.py measures ours, the earlier loop and dzsave side
by side.

Everything here is deterministic: the same PDF gives the same bytes, so a
re-run uploads nothing (``delivery.tiles``).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import shutil
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pikepdf

from digitize.archive.iiif import ImageService
from digitize.checksums import sha256_file
from digitize.errors import OutputError
from digitize.files import atomic_write_text

if TYPE_CHECKING:
    import pyvips

__all__ = [
    "INDEX_NAME",
    "TILE_QUALITY",
    "TILE_SIZE",
    "TILE_THREADS",
    "TILER_VERSION",
    "PageTiles",
    "TileFile",
    "TilesIndex",
    "iter_files",
    "make_item_tiles",
    "page_tiles",
    "read_info",
    "work_file",
]

log = logging.getLogger(__name__)

# 512 px: the tile most IIIF servers offer; 256 doubles the objects to
# store (and requests to upload) for ~10 % fewer bytes, 1024 makes the
# first screen of a zoomed page wait for 4x the pixels it shows
# (bench/iiif_tiles.py gives the figures).
TILE_SIZE = 512
# JPEG quality of tiles (colour ones 4:2:0, libvips' default below 90; grey
# ones one band): text at 70 looks as it does at 80 side by side at 2x zoom,
# for 17 % fewer bytes, most of which go to the paper's grain
TILE_QUALITY = 70
TILER_VERSION = "2"  # bump when the tiles' bytes (or the work folder's layout) change for the same PDF
# pages tiled at once (libvips works without the GIL). One: libvips already
# decodes a JPEG 2000 on every core, and a second page at once showed no
# gain on a loaded 2-core machine (bench/iiif_tiles.py, 5 runs) for ~30 MB
# more at peak
TILE_THREADS = 1
INDEX_NAME = "index.json"
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()
PLACEHOLDER_ID = "iiif:page"  # info.json's id as stored; the web puts the page's service URL there


@dataclass(frozen=True)
class TileFile:
    """One stored file of a page's image service: its path under the page's folder, size, SHA-256."""

    path: str  # e.g. "0,0,1024,1024/512,512/0/default.jpg" or "info.json"
    size: int
    sha256: str


@dataclass(frozen=True)
class PageTiles:
    """A page's image service: the canvas (the page's pixel size as OCR saw it) and the tiled image."""

    seq: int
    label: str | None  # the printed page label the PDF carries (None: none)
    canvas_width: int
    canvas_height: int
    service: ImageService
    files: tuple[TileFile, ...]

    def file(self, path: str) -> TileFile | None:
        return next((f for f in self.files if f.path == path), None)


@dataclass(frozen=True)
class TilesIndex:
    """Every page's tiles of one item: what ``items/<id>/iiif/index.json`` says.

    ``source_sha256`` is the SHA-256 of the PDF the tiles were made from;
    with ``tiler`` it tells whether the tiles in a work folder can be reused.
    """

    identifier: str
    source_sha256: str
    tiler: str
    pages: tuple[PageTiles, ...] = field(default_factory=tuple)

    def page(self, seq: int) -> PageTiles | None:
        return next((p for p in self.pages if p.seq == seq), None)

    def to_json(self) -> str:
        data = asdict(self)
        for page in data["pages"]:
            service = page["service"]
            service["scale_factors"] = list(service["scale_factors"])
            service["sizes"] = [list(size) for size in service["sizes"]]
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> TilesIndex:
        """Read an index; ValueError when it is not one."""
        try:
            data = json.loads(text)
            pages = tuple(
                PageTiles(
                    seq=int(page["seq"]),
                    label=None if page.get("label") is None else str(page["label"]),
                    canvas_width=int(page["canvas_width"]),
                    canvas_height=int(page["canvas_height"]),
                    service=ImageService(
                        width=int(page["service"]["width"]),
                        height=int(page["service"]["height"]),
                        tile_size=int(page["service"]["tile_size"]),
                        scale_factors=tuple(int(s) for s in page["service"]["scale_factors"]),
                        sizes=tuple((int(w), int(h)) for w, h in page["service"]["sizes"]),
                    ),
                    files=tuple(
                        TileFile(str(f["path"]), int(f["size"]), str(f["sha256"]).lower()) for f in page["files"]
                    ),
                )
                for page in data["pages"]
            )
            return cls(str(data["identifier"]), str(data["source_sha256"]), str(data["tiler"]), pages)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a tiles index: {exc}") from exc


def _vips() -> Any:
    """pyvips, or an OutputError naming the Debian package (libvips is loaded when pyvips is imported)."""
    try:
        import pyvips
    except (ImportError, OSError) as exc:
        raise OutputError(
            f"IIIF tiles need libvips: install the Debian package libvips42 (bin/setup does) ({exc})"
        ) from exc
    # libvips keeps up to 100 MB of finished operations for reuse; no tiling
    # operation is ever repeated, so the cache only held memory (this is the
    # process's one user of libvips)
    pyvips.cache_set_max(0)
    return pyvips


def _from_pil(image: Any) -> pyvips.Image:
    vips = _vips()
    if image.mode == "1" or image.mode == "P" or image.mode == "LA":
        image = image.convert("L")
    elif image.mode in ("CMYK", "RGBA", "YCbCr", "PA"):
        image = image.convert("RGB")
    elif image.mode not in ("L", "RGB"):
        raise ValueError(f"image mode {image.mode}")
    bands = 1 if image.mode == "L" else 3
    return vips.Image.new_from_memory(image.tobytes(), image.width, image.height, bands, "uchar")


def _render(page: pikepdf.Page, pdf: Path, index: int, width: int | None) -> pyvips.Image:
    """The page rendered by pdfium: ``width`` px wide (the embedded image's), or at 200 dpi."""
    import pypdfium2

    document = pypdfium2.PdfDocument(str(pdf))
    try:
        rendered = document[index]
        scale = (width / rendered.get_width()) if width else 200 / 72
        image = rendered.render(scale=scale).to_pil().convert("RGB")
    finally:
        document.close()
    return _from_pil(image)


def _page_image(page: pikepdf.Page, pdf: Path, index: int) -> pyvips.Image:
    """The page's reading image, as the PDF holds it (not yet decoded when it is JPEG or JPEG 2000).

    One image on an unrotated page (every page our pipeline makes): its
    JPEG or JPEG 2000 bytes straight to libvips, which reads only their
    header here and decodes them when a tiling thread asks for the pixels;
    anything else (G4, Flate) decoded by pikepdf. Otherwise, or when that
    fails (16-bit samples), the page rendered by pdfium at the image's own
    width. pikepdf and pdfium are not thread-safe, libvips is: this runs in
    the thread that holds the PDF.
    """
    vips = _vips()
    images = list(page.get_images(recursive=False).values())
    width = None
    if len(images) == 1 and int(page.obj.get("/Rotate", 0)) % 360 == 0:
        picture = pikepdf.PdfImage(cast(pikepdf.Stream, images[0]))
        width = picture.width
        try:
            filters = [str(f) for f in picture.filters]
            if filters in (["/DCTDecode"], ["/JPXDecode"]):
                return vips.Image.new_from_buffer(picture.obj.read_raw_bytes(), "")
            return _from_pil(picture.as_pil_image())
        except (vips.Error, pikepdf.PdfError, NotImplementedError, ValueError, OSError) as exc:
            log.debug("%s page %d: image not taken out of the PDF (%s); rendering it", pdf.name, index + 1, exc)
    return _render(page, pdf, index, width)


def _eight_bit(image: pyvips.Image) -> pyvips.Image:
    """Grey or sRGB, 8 bits, no alpha: what a JPEG tile holds (a grey page stays one band)."""
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    if image.bands >= 3:
        if image.interpretation != "srgb" or image.format != "uchar":
            image = image.colourspace("srgb")
        return image.extract_band(0, n=3) if image.bands > 3 else image
    if image.format != "uchar":
        image = image.colourspace("b-w")
    return image.cast("uchar")


def _levels(width: int, height: int, tile: int) -> tuple[list[int], tuple[int, int], int]:
    """Scale factors of the tiled levels, and the whole-page size with its factor (the first level within one tile)."""
    factors: list[int] = []
    scale = 1
    while True:
        w, h = math.ceil(width / scale), math.ceil(height / scale)
        if w <= tile and h <= tile:
            return factors or [1], (w, h), scale
        factors.append(scale)
        scale *= 2


def _half(image: pyvips.Image) -> pyvips.Image:
    """The image at half size, ``ceil(w/2) x ceil(h/2)`` as the Image API's sizes are, in memory.

    Each level is made from the one above it (not from the full image),
    with lanczos3: a linear kernel saved ~4 ms a page but left text at half
    size visibly softer (test-artifacts/iiif-tiles-before-after.png). The
    size is made exact (libvips rounds).
    """
    width, height = math.ceil(image.width / 2), math.ceil(image.height / 2)
    half = image.resize(width / image.width, vscale=height / image.height, kernel="lanczos3")
    if (half.width, half.height) != (width, height):
        half = half.embed(0, 0, width, height, extend="copy")
    return half.copy_memory()


def work_file(folder: Path, seq: int, path: str) -> Path:
    """Where a page's tile (``path``: its Image API path, e.g. ``full/max/0/default.jpg``) is in the work folder.

    Flat, one folder per page (``folder/<seq>/full_max_0_default.jpg``): a
    folder per path segment cost three mkdirs per tile, and as many rmdirs
    on a re-run, which on this machine's file system took longer than the
    tiles themselves. Image API path segments never hold ``_``.
    """
    return folder / str(seq) / path.replace("/", "_")


def _jpeg(image: pyvips.Image, quality: int) -> bytes:
    data: bytes = image.jpegsave_buffer(Q=quality, optimize_coding=True, strip=True)
    return data


def page_tiles(
    image: pyvips.Image, folder: Path, seq: int, *, tile: int = TILE_SIZE, quality: int = TILE_QUALITY
) -> tuple[ImageService, tuple[TileFile, ...]]:
    """Write one page's tiles and info.json in ``folder/<seq>/`` (see ``work_file``); the service and its files.

    Anything else in the page's folder (an earlier PDF's tiles) is removed.
    """
    image = _eight_bit(image).copy_memory()  # decoded once: each tile would otherwise decode its region again
    width, height = image.width, image.height
    factors, whole, whole_factor = _levels(width, height, tile)
    made: dict[str, bytes] = {}
    level, scale = image, 1
    while True:
        if scale in factors:
            lw, lh = level.width, level.height
            for top in range(0, lh, tile):
                for left in range(0, lw, tile):
                    tw, th = min(tile, lw - left), min(tile, lh - top)
                    x, y = left * scale, top * scale
                    rw, rh = min(tile * scale, width - x), min(tile * scale, height - y)
                    region = "full" if (x, y, rw, rh) == (0, 0, width, height) else f"{x},{y},{rw},{rh}"
                    size = "max" if (tw, th) == (width, height) else f"{tw},{th}"
                    made[f"{region}/{size}/0/default.jpg"] = _jpeg(level.crop(left, top, tw, th), quality)
        if scale == whole_factor:
            small = f"full/{whole[0]},{whole[1]}/0/default.jpg"
            if small not in made:  # at scale 1 (a page smaller than a tile) the one tile is full/max
                made[small] = _jpeg(level, quality)
            break
        level, scale = _half(level), scale * 2
    service = ImageService(width, height, tile, tuple(factors), (whole,))
    info = {
        "@context": "http://iiif.io/api/image/3/context.json",
        "id": PLACEHOLDER_ID,
        "type": "ImageService3",
        "protocol": "http://iiif.io/api/image",
        "profile": "level0",
        "width": width,
        "height": height,
        "tiles": [{"width": tile, "scaleFactors": list(factors)}],
        "sizes": [{"width": whole[0], "height": whole[1]}],
    }
    made["info.json"] = json.dumps(info, indent=1).encode("utf-8")
    page_folder = folder / str(seq)
    page_folder.mkdir(parents=True, exist_ok=True)
    names = {work_file(folder, seq, path).name for path in made}
    for old in page_folder.iterdir():
        if old.name not in names:
            if old.is_dir():
                shutil.rmtree(old)
            else:
                old.unlink()
    files = []
    for path, data in made.items():
        # not fsynced: the index, written atomically after every page, is what makes them count
        work_file(folder, seq, path).write_bytes(data)
        files.append(TileFile(path, len(data), hashlib.sha256(data).hexdigest()))
    log.debug("tiles of %dx%d: %d files (whole page at 1/%d)", width, height, len(files), whole_factor)
    return service, tuple(files)


def _index_of(folder: Path, identifier: str, source_sha256: str, tiler: str) -> TilesIndex | None:
    """The work folder's index when it was made from this PDF by this tiler and its files are all there."""
    path = folder / INDEX_NAME
    try:
        index = TilesIndex.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (index.identifier, index.source_sha256, index.tiler) != (identifier, source_sha256, tiler):
        return None
    for page in index.pages:
        for f in page.files:
            try:
                if work_file(folder, page.seq, f.path).stat().st_size != f.size:
                    return None
            except OSError:
                return None
    return index


def _tiler(tile: int, quality: int) -> str:
    return f"{TILER_VERSION}/{tile}/q{quality}"


def _tile_page(
    image: pyvips.Image, seq: int, label: str | None, folder: Path, canvases: dict[int, tuple[int, int]], tile: int,
    quality: int,
) -> PageTiles:
    """One page's tiles (runs in a tiling thread: libvips lets go of the GIL while it decodes and encodes)."""
    service, files = page_tiles(image, folder, seq, tile=tile, quality=quality)
    canvas = canvases.get(seq, (service.width, service.height))
    return PageTiles(seq, label, canvas[0], canvas[1], service, files)


def make_item_tiles(
    identifier: str,
    pdf: Path,
    folder: Path,
    canvases: dict[int, tuple[int, int]] | None = None,
    *,
    tile: int = TILE_SIZE,
    quality: int = TILE_QUALITY,
    threads: int = TILE_THREADS,
) -> TilesIndex:
    """Tiles of every page of ``pdf`` under ``folder/<seq>/``, and ``folder/index.json`` listing them.

    ``canvases``: each page's canvas size (seq → width, height), the pixel
    size of the page as OCR saw it (``report.json``), so that ALTO word
    boxes are canvas coordinates; a page missing from it gets its image's
    size. Tiles already in ``folder`` from the same PDF are reused.
    ``threads`` pages are decoded and tiled at once (the PDF is read in
    this thread); at most twice as many pages' images wait in memory, so
    memory stays flat in the book's length.
    Raises OutputError when the PDF cannot be read or libvips is missing.
    """
    with _lock(folder):  # one maker per folder: a publish retried while the last one's tiles are still being made
        return _make_item_tiles(identifier, pdf, folder, dict(canvases or {}), tile, quality, threads)


def _lock(folder: Path) -> threading.Lock:
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(str(folder.resolve()), threading.Lock())


def _make_item_tiles(
    identifier: str, pdf: Path, folder: Path, sizes: dict[int, tuple[int, int]], tile: int, quality: int,
    threads: int,
) -> TilesIndex:
    source_sha256 = sha256_file(pdf)
    folder.mkdir(parents=True, exist_ok=True)
    tiler = _tiler(tile, quality)
    reused = _index_of(folder, identifier, source_sha256, tiler)
    if reused is not None:
        log.debug("%s: tiles in %s reused", identifier, folder)
        return reused
    (folder / INDEX_NAME).unlink(missing_ok=True)  # an interrupted run must not leave an index naming half-made tiles
    vips = _vips()
    pages: list[PageTiles] = []
    try:
        with pikepdf.open(pdf) as document, ThreadPoolExecutor(
            max_workers=max(1, threads), thread_name_prefix="tiles"
        ) as pool:
            pending: deque[Future[PageTiles]] = deque()
            for index, page in enumerate(document.pages):
                image = _page_image(page, pdf, index)
                pending.append(pool.submit(_tile_page, image, index + 1, _label(page), folder, sizes, tile, quality))
                while len(pending) > 2 * max(1, threads):
                    pages.append(pending.popleft().result())
            while pending:
                pages.append(pending.popleft().result())
    except (pikepdf.PdfError, vips.Error, OSError) as exc:
        raise OutputError(f"{pdf}: cannot make the IIIF tiles of {identifier} ({exc})") from exc
    result = TilesIndex(identifier, source_sha256, tiler, tuple(pages))
    for stale in folder.iterdir():  # pages the PDF no longer has
        if stale.is_dir() and stale.name.isdigit() and result.page(int(stale.name)) is None:
            shutil.rmtree(stale)
    atomic_write_text(folder / INDEX_NAME, result.to_json())
    return result


def _label(page: pikepdf.Page) -> str | None:
    """The page's label from the PDF's /PageLabels (pikepdf gives the page number when there are none)."""
    try:
        label = str(page.label)
    except (pikepdf.PdfError, ValueError, AttributeError):
        return None
    return label or None


def read_info(data: bytes, service_id: str) -> bytes:
    """A stored info.json with its ``id`` set to the service's URL (the web's base URL is known only then)."""
    info = json.loads(data)
    info["id"] = service_id
    out = io.StringIO()
    json.dump(info, out, indent=1)
    return out.getvalue().encode("utf-8")


def iter_files(index: TilesIndex) -> Iterator[tuple[PageTiles, TileFile]]:
    """Every file of every page, in page order."""
    for page in index.pages:
        for f in page.files:
            yield page, f
