"""IIIF level-0 tiles: making them per page, their bytes, and storing them (local folder and SeaweedFS).

Pages: A5 at 300 dpi (samples.render), each a scan-like text page whose
reading image is made as pipeline/page.py makes it (scaled to 200 dpi,
JPEG 2000 1:18) and embedded in a PDF as assembly does. Then, side by side
in one run:

* ours (assembly.tiles: decode once, halve level by level, crop,
  jpegsave to memory, pages on ``TILE_THREADS`` threads; the layout the web
  serves) at 256, 512 (the default) and 1024 px tiles: seconds, files and
  bytes per page; at 512 px also two pages at a time;
* the earlier loop (tiler 1: lanczos3 from the full image for each level,
  a folder per path segment, files hashed after writing, quality 80, one
  page at a time), for before/after in one run;
* libvips' ``dzsave --layout iiif3`` (the peer) on the same decoded images,
  same tile size and JPEG quality as ours;
* storing our 512 px tiles with ``delivery.tiles.publish_tiles`` into a
  local folder store and into SeaweedFS on 127.0.0.1: seconds and objects
  per page, then the unchanged re-run.

    .venv/bin/python -m bench.iiif_tiles --pages 8
"""

from __future__ import annotations

import argparse
import io
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import img2pdf
import pikepdf
from PIL import Image

from digitize.assembly import tiles as tiles_module
from digitize.assembly.tiles import _page_image, make_item_tiles
from digitize.delivery.tiles import publish_tiles
from digitize.samples.corpus import paragraphs
from digitize.samples.render import render_page, scan_like
from digitize.storage.catalog import Catalog
from digitize.storage.local import LocalObjectStore
from digitize.storage.s3 import S3ObjectStore
from tests.helpers.catalog_data import make_registration
from tests.helpers.seaweed import start_seaweed


def make_pdf(folder: Path, pages: int) -> Path:
    """A PDF of ``pages`` A5 300 dpi text pages, reading images at 200 dpi JPEG 2000 (the pipeline's defaults)."""
    images = []
    for seed in range(pages):
        scan = scan_like(render_page(paragraphs(seed=seed, n=6), dpi=300, seed=seed), skew_degrees=0.0, seed=seed)
        grey = scan.convert("L")
        small = grey.resize((round(grey.width * 2 / 3), round(grey.height * 2 / 3)), Image.Resampling.BOX)
        buffer = io.BytesIO()
        small.save(buffer, format="JPEG2000", quality_mode="rates", quality_layers=[18.0], irreversible=True,
                   no_jp2=False)
        images.append(buffer.getvalue())
    path = folder / "item.pdf"
    path.write_bytes(img2pdf.convert(images, layout_fun=img2pdf.get_fixed_dpi_layout_fun((200, 200))))
    return path


def _jp2_bytes(pdf: Path) -> int:
    with pikepdf.open(pdf) as document:
        return sum(len(pikepdf.PdfImage(image).obj.read_raw_bytes())
                   for page in document.pages for image in page.get_images(recursive=False).values())


def ours(pdf: Path, folder: Path, tile: int, threads: int = tiles_module.TILE_THREADS) -> tuple[float, int, int]:
    """Seconds, files and bytes of our tiles for the whole PDF at ``tile`` px."""
    clock = time.perf_counter()
    index = make_item_tiles("bench", pdf, folder, tile=tile, threads=threads)
    seconds = time.perf_counter() - clock
    files = [f for page in index.pages for f in page.files]
    return seconds, len(files), sum(f.size for f in files)


def earlier(pdf: Path, folder: Path, tile: int) -> tuple[float, int, int]:
    """The earlier loop (tiler 1, before this bench's change), kept here to measure against."""
    from digitize.checksums import sha256_file

    def save(image, dest: Path) -> None:  # noqa: ANN001 - pyvips is untyped
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(image.jpegsave_buffer(Q=80, optimize_coding=True, strip=True))

    def scaled(image, width: int, height: int):  # noqa: ANN001, ANN202
        return image if (width, height) == (image.width, image.height) else image.resize(
            width / image.width, vscale=height / image.height)

    clock = time.perf_counter()
    total = count = 0
    with pikepdf.open(pdf) as document:
        for index, page in enumerate(document.pages):
            image = tiles_module._eight_bit(_page_image(page, pdf, index)).copy_memory()
            width, height = image.width, image.height
            out = folder / str(index + 1)
            factors, whole, _ = tiles_module._levels(width, height, tile)
            written = []
            for scale in factors:
                lw, lh = math.ceil(width / scale), math.ceil(height / scale)
                level = scaled(image, lw, lh)
                for top in range(0, lh, tile):
                    for left in range(0, lw, tile):
                        tw, th = min(tile, lw - left), min(tile, lh - top)
                        x, y = left * scale, top * scale
                        region = f"{x},{y},{min(tile * scale, width - x)},{min(tile * scale, height - y)}"
                        path = out / region / f"{tw},{th}/0/default.jpg"
                        save(level.crop(left, top, tw, th), path)
                        written.append(path)
            small = out / f"full/{whole[0]},{whole[1]}/0/default.jpg"
            save(scaled(image, *whole), small)
            (out / "info.json").write_text("{}")
            for path in [*written, small, out / "info.json"]:
                sha256_file(path)
                total += path.stat().st_size
                count += 1
    return time.perf_counter() - clock, count, total


def dzsave(pdf: Path, folder: Path, tile: int) -> tuple[float, int, int]:
    """The peer: libvips dzsave, layout iiif3, on the same page images (decoding included, as in ours)."""
    clock = time.perf_counter()
    with pikepdf.open(pdf) as document:
        for index, page in enumerate(document.pages):
            image = _page_image(page, pdf, index)
            image.dzsave(str(folder / str(index + 1)), layout="iiif3", tile_size=tile, overlap=0,
                         suffix=f".jpg[Q={tiles_module.TILE_QUALITY},optimize_coding,strip]")
    seconds = time.perf_counter() - clock
    files = [p for p in folder.rglob("*") if p.is_file()]
    return seconds, len(files), sum(p.stat().st_size for p in files)


def store_tiles(store, catalog: Catalog, pdf: Path, folder: Path, threads: int) -> tuple[float, float, int, int]:
    """Seconds of the first publish and the unchanged re-run (tiles already made), objects sent each time."""
    first = publish_tiles(store, catalog, "bench", pdf, folder, threads=threads)
    again = publish_tiles(store, catalog, "bench", pdf, folder, threads=threads)
    return first.seconds_uploading, again.seconds_uploading, first.uploaded, again.uploaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--threads", type=int, default=8, help="upload threads (delivery.tiles.UPLOAD_THREADS)")
    parser.add_argument("--no-seaweed", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-iiif-") as work:
        root = Path(work)
        pdf = make_pdf(root, args.pages)
        n = args.pages
        print(f"{n} pages, A5 at 300 dpi, reading images 200 dpi JPEG 2000 (1165x1654 px), PDF {pdf.stat().st_size} B")
        print(f"JPEG quality {tiles_module.TILE_QUALITY} (ours and the peer), JPEG 2000 in the PDF: "
              f"{_jp2_bytes(pdf) / n / 1024:.1f} KB/page")
        print(f"{'maker':<22}{'tile':>6}{'s/page':>9}{'files/page':>12}{'KB/page':>10}")
        seconds, files, size = earlier(pdf, root / "earlier-512", 512)
        print(f"{'earlier loop (q80)':<22}{512:>6}{seconds / n:>9.3f}{files / n:>12.1f}{size / n / 1024:>10.1f}")
        seconds, files, size = ours(pdf, root / "ours-512-2", 512, threads=2)
        print(f"{'ours, 2 threads':<22}{512:>6}{seconds / n:>9.3f}{files / n:>12.1f}{size / n / 1024:>10.1f}")
        for tile in (256, 512, 1024):
            seconds, files, size = ours(pdf, root / f"ours-{tile}", tile)
            label = f"ours, {tiles_module.TILE_THREADS} thread(s)"
            print(f"{label:<22}{tile:>6}{seconds / n:>9.3f}{files / n:>12.1f}{size / n / 1024:>10.1f}")
            folder = root / f"dz-{tile}"
            folder.mkdir()
            seconds, files, size = dzsave(pdf, folder, tile)
            print(f"{'dzsave iiif3 (peer)':<22}{tile:>6}{seconds / n:>9.3f}{files / n:>12.1f}{size / n / 1024:>10.1f}")

        stores: list[tuple[str, object]] = [("local folder", LocalObjectStore(root / "store"))]
        server = None
        if not args.no_seaweed:
            server = start_seaweed(root / "seaweed")
            stores.append(("SeaweedFS (S3)", S3ObjectStore(server.storage_settings(prefix="bench/"))))
        try:
            print(f"\nstoring the 512 px tiles, {args.threads} threads (+ the index)")
            print(f"{'store':<18}{'s/page':>9}{'objects/page':>14}{'re-run s/page':>15}{'re-run objects':>16}")
            for name, store in stores:
                catalog = Catalog(f"sqlite:///{root / (name.split()[0] + '.sqlite3')}")
                catalog.register(make_registration(root / "reg", "bench", "Bench", [], 2000, pages=["x"]))
                first, again, sent, resent = store_tiles(store, catalog, pdf, root / "ours-512", args.threads)
                print(f"{name:<18}{first / n:>9.3f}{sent / n:>14.1f}{again / n:>15.4f}{resent:>16d}")
                catalog.close()
            timings = []
            for name, store in stores:  # one thread, for the record: what the threads buy
                catalog = Catalog(f"sqlite:///{root / (name.split()[0] + '-1.sqlite3')}")
                catalog.register(make_registration(root / "reg1", "bench", "Bench", [], 2000, pages=["x"]))
                clean = root / f"one-{name.split()[0]}"
                store_root = getattr(store, "root", None)
                if store_root is not None:
                    store = LocalObjectStore(clean)
                else:
                    store = S3ObjectStore(server.storage_settings(prefix="bench-1/"))  # type: ignore[union-attr]
                first, _, sent, _ = store_tiles(store, catalog, pdf, root / "ours-512", 1)
                timings.append(first / n)
                print(f"{name + ', 1 thread':<30}{first / n:>9.3f} s/page ({sent / n:.1f} objects/page)")
                catalog.close()
            print(f"median of those: {statistics.median(timings):.3f} s/page")
        finally:
            if server is not None:
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
