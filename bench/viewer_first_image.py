"""Time to the first page image of a 300-page book on loopback: the new viewer against the old page view, one run.

Builds a ``--pages``-page book (a PDF of printed pages, its processing
report and its IIIF tiles, made by ``delivery.tiles`` as publishing makes
them), serves the e-library with uvicorn on 127.0.0.1, and opens the item
page in Debian's headless Chromium with the browser cache cleared before
each load:

* **viewer** (this release): OpenSeadragon over the level-0 tiles; the time
  is the page's ``viewer:first-image`` mark (the first tile loaded and a
  frame drawn), and the first tile's ``responseEnd``, both from the
  Performance API, in ms from the start of navigation;
* **page view** (the previous release's, still the no-JavaScript view):
  the item page with scripts off (``Emulation.setScriptExecutionDisabled``),
  whose ``<img>`` is the page rendered from the PDF to PNG on request; the
  time is that PNG's ``responseEnd`` (scripts are turned back on to read it).

Each load opens a different page (``#page=N`` / ``?page=N``), so no page is
served from the server's memory either. Prints median and max of each.

    .venv/bin/python -m bench.viewer_first_image --pages 300 --runs 7
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from digitize.archive.records import ItemRecord
from digitize.elibrary import create_app
from digitize.settings import Settings
from digitize.storage.catalog import Catalog, CatalogFile, CatalogPage, Registration
from digitize.storage.local import LocalObjectStore

IDENTIFIER = "bench-book"


def _book(folder: Path, store: LocalObjectStore, catalog: Catalog, pages: int) -> None:
    import img2pdf
    from PIL import Image, ImageDraw

    from digitize.delivery.tiles import tiles_for_stored_item
    from digitize.samples.render import find_font

    size = (1654, 2339)  # A4 at 200 dpi: a reading image as pipeline/page.py makes it
    font = find_font(40)
    images = []
    for seq in range(1, pages + 1):
        image = Image.new("L", size, 250)
        draw = ImageDraw.Draw(image)
        for line in range(30):
            draw.text((150, 200 + line * 62), f"Сәһифә {seq}, сәтир {line + 1}: Азәрбајҹан нағыллары вә дастанлары",
                      font=font, fill=20)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85, dpi=(200, 200))
        images.append(buffer.getvalue())
    prefix = f"items/{IDENTIFIER}/"
    pdf = folder / "book.pdf"
    pdf.write_bytes(img2pdf.convert(images))
    report = folder / "report.json"
    report.write_text(json.dumps({"pages": [{"seq": s, "width": size[0], "height": size[1]}
                                            for s in range(1, pages + 1)]}))
    files = []
    for path, key, role, ctype in ((pdf, "book.pdf", "pdf", "application/pdf"),
                                   (report, "report.json", "report", "application/json")):
        stored = store.put_file(prefix + key, path, content_type=ctype)
        files.append(CatalogFile(stored.key, role, stored.size, stored.sha256, ctype))
    files.append(CatalogFile(prefix + "manifest.json", "manifest", 1, "1" * 64, "application/json"))
    record = ItemRecord(identifier=IDENTIFIER, title="Азәрбајҹан нағыллары", title_latin="Azərbaycan nağılları",
                        authors=("Һ. Әлизадә",), authors_latin=("H. Əlizadə",), year=1968, language="az",
                        script="Cyrl", kind="text", inventory_number="INV-1", collection="Bench",
                        page_count=pages, content_hash="bench")
    catalog.register(Registration(
        identifier=IDENTIFIER, record=record, files=tuple(files),
        pages=tuple(CatalogPage(s, None, None, 90.0, 0.0, original_text=f"Сәһифә {s}", latin_text=f"Səhifə {s}")
                    for s in range(1, pages + 1)),
        manifest_key=prefix + "manifest.json", pdf_key=prefix + "book.pdf", store=store.describe(),
    ))
    clock = time.monotonic()
    tiles_for_stored_item(store, catalog, IDENTIFIER, folder / "work")
    print(f"book: {pages} pages, tiles made in {time.monotonic() - clock:.1f} s")


def _serve(app: Any) -> tuple[str, Any, threading.Thread]:
    import socket

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def _browser(profile: Path) -> Any:
    os.environ["SE_OFFLINE"] = "true"
    os.environ["SE_AVOID_STATS"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1280,1000"):
        options.add_argument(flag)
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)


def _wait(condition: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError("the page did not show its image in time")


def _fresh(driver: Any) -> None:
    driver.get("about:blank")
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})


def viewer_load(driver: Any, url: str, seq: int) -> tuple[float, float]:
    _fresh(driver)
    driver.get(f"{url}/items/{IDENTIFIER}#page={seq}")
    mark = _wait(lambda: driver.execute_script(
        "const m = performance.getEntriesByName('viewer:first-image'); return m.length ? m[0].startTime : null"))
    tile = driver.execute_script(
        "const r = performance.getEntriesByType('resource').filter(e => /default\\.jpg|pages\\/\\d+\\.png/"
        ".test(e.name)); return r.length ? Math.min(...r.map(e => e.responseEnd)) : null")
    return float(mark), float(tile or 0)


def page_view_load(driver: Any, url: str, seq: int) -> float:
    _fresh(driver)
    driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        driver.get(f"{url}/items/{IDENTIFIER}?page={seq}")
    finally:
        driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
    png = _wait(lambda: driver.execute_script(
        "const r = performance.getEntriesByType('resource').filter(e => /\\/pages\\/\\d+\\.png/.test(e.name) "
        "&& e.responseEnd > 0); return r.length ? r[0].responseEnd : null"))
    return float(png)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-viewer-") as tmp:
        folder = Path(tmp)
        store = LocalObjectStore(folder / "store")
        catalog = Catalog(f"sqlite:///{folder / 'catalog.sqlite3'}")
        _book(folder, store, catalog, args.pages)
        url, server, thread = _serve(create_app(Settings(), catalog=catalog, store=store))
        driver = _browser(folder / "profile")
        try:
            viewer_load(driver, url, 1)  # warm-up: the browser's own start, the app's first request
            pages = [2 + (k * 37) % (args.pages - 1) for k in range(args.runs)]
            marks, tiles, pngs = [], [], []
            for seq in pages:
                mark, tile = viewer_load(driver, url, seq)
                marks.append(mark)
                tiles.append(tile)
                pngs.append(page_view_load(driver, url, seq + 1 if seq < args.pages else seq - 1))
        finally:
            driver.quit()
            server.should_exit = True
            thread.join(10)
            catalog.close()
    print(f"time to first page image, {args.pages}-page book, loopback, {args.runs} cold loads each (ms):")
    for name, values in (("viewer (OpenSeadragon, IIIF tiles): first tile drawn", marks),
                         ("viewer: first tile's responseEnd", tiles),
                         ("page view (PNG rendered from the PDF): responseEnd", pngs)):
        print(f"  {name:55s} median {statistics.median(values):7.0f}  max {max(values):7.0f}")


if __name__ == "__main__":
    main()
