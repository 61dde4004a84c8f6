"""Mirador 4 reads the e-library's IIIF in real headless Chromium: from another site, and on our own page.

The outside viewer is a static page on a second 127.0.0.1 port (another
origin: the manifest, info.json and tiles are fetched across origins, so
the CORS headers are what lets them through) that loads Mirador and points
it at the manifest URL of a published book (tiles made at publish time).
The e-library's own answers are counted as it sends them, so a tile shown
is a tile our tile route answered 200.

Screenshots go to test-artifacts/: mirador-outside.png, mirador-page.png.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from digitize.delivery.publish import publish_item
from digitize.elibrary import create_app
from digitize.settings import Settings
from digitize.storage.catalog import Catalog
from digitize.storage.local import LocalObjectStore

from helpers.browser import ARTIFACTS, wait
from helpers.live_server import serve
from helpers.reader_item import make_reader_item

pytestmark = [pytest.mark.needs_chromium, pytest.mark.needs_tesseract, pytest.mark.slow]

MIRADOR = Path(__file__).resolve().parents[1] / "elibrary" / "static" / "vendor" / "mirador.min.js"
OUTSIDE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Another library's Mirador</title>
<style>html, body { margin: 0; height: 100%; } #viewer { position: absolute; inset: 0; }</style>
<script src="mirador.min.js"></script></head>
<body><div id="viewer"></div>
<script>
window.miradorViewer = Mirador.viewer({
  id: 'viewer',
  windows: [{ manifestId: MANIFEST_URL, thumbnailNavigationPosition: 'far-bottom' }],
  workspaceControlPanel: { enabled: false },
});
</script></body></html>
"""
# Mirador's own selectors (exported by the bundle) read what its window shows.
STATE = """
const state = window.miradorViewer.store.getState();
const windowId = Object.keys(state.mirador ? state.mirador.windows : state.windows)[0];
return {
  title: Mirador.getManifestTitle(state, { windowId }),
  canvases: Mirador.getCanvases(state, { windowId }).length,
  error: Mirador.getManifestError(state, { windowId }) || null,
};"""


class Answers:
    """The e-library's app, recording each answer: method, path, status and the request's Origin."""

    def __init__(self, app) -> None:
        self.app = app
        self.seen: list[tuple[str, str, int, str | None]] = []
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = dict(scope["headers"]).get(b"origin")

        async def watched(message) -> None:
            if message["type"] == "http.response.start":
                with self._lock:
                    self.seen.append((scope["method"], scope["path"], message["status"],
                                      origin.decode() if origin else None))
            await send(message)

        await self.app(scope, receive, watched)

    def tiles(self, identifier: str, status: int = 200) -> list[str]:
        prefix = f"/iiif/{identifier}/pages/"
        with self._lock:
            return [path for method, path, code, _ in self.seen
                    if method == "GET" and code == status and path.startswith(prefix) and path.endswith("/default.jpg")]


@contextmanager
def static_site(folder: Path) -> Iterator[str]:
    """``folder`` served by Python's own HTTP server on another 127.0.0.1 port: another origin."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="outside-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    return make_reader_item(tmp_path_factory.getbasetemp() / "reader")


@pytest.fixture
def library(tmp_path, reader):
    if not MIRADOR.exists():
        pytest.fail("elibrary/static/vendor/mirador.min.js is missing: bin/setup installs it (npm ci in web/)")
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    published = publish_item(reader.item, reader.outputs, reader.pages, store, catalog, batch="b")
    assert published.tiles is not None, "publishing made no IIIF tiles"
    answers = Answers(create_app(Settings(), catalog=catalog, store=store))
    with serve(answers) as url:
        yield url, answers, reader.item.item_id
    catalog.close()


def _shot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path)) and path.stat().st_size > 1000
    return path


def _title_bar(driver) -> str:
    return driver.execute_script(
        "const h = document.querySelector('.mirador-window-top-bar h2'); return h ? h.textContent : '';")


def _wait_for_book(driver, answers: Answers, identifier: str, manifest: dict) -> None:
    labels = [value for values in manifest["label"].values() for value in values]
    wait(lambda: driver.execute_script("return !!(window.miradorViewer && window.miradorViewer.store)"), timeout=30)
    wait(lambda: driver.execute_script(STATE)["canvases"] > 0, timeout=30)
    state = driver.execute_script(STATE)
    assert state["error"] is None
    assert state["canvases"] == len(manifest["items"]) == 4
    assert state["title"] in labels
    # The title is shown in the window's top bar, and the first page's tiles came from our tile route.
    wait(lambda: _title_bar(driver) in labels, timeout=30)
    wait(lambda: len(answers.tiles(identifier)) > 0, timeout=30)
    assert answers.tiles(identifier, 404) == []


def test_mirador_elsewhere_shows_the_book(browser, library, tmp_path):
    url, answers, identifier = library
    manifest_url = f"{url}/iiif/{identifier}/manifest.json"
    manifest = httpx.get(manifest_url).json()
    site = tmp_path / "outside"
    site.mkdir()
    shutil.copy(MIRADOR, site / "mirador.min.js")
    (site / "index.html").write_text(OUTSIDE_PAGE.replace("MANIFEST_URL", repr(manifest_url)), encoding="utf-8")

    driver, _ = browser
    with static_site(site) as outside:
        assert outside.split(":")[-1] != url.split(":")[-1]
        driver.get(f"{outside}/index.html")
        _wait_for_book(driver, answers, identifier, manifest)
        # Give the first page's remaining tiles a moment to be drawn, for the screenshot.
        wait(lambda: driver.execute_script(
            "return document.querySelectorAll('.mirador-osd-container canvas').length > 0"), timeout=30)
        _tiles_settled(answers, identifier)
        shot = _shot(driver, "mirador-outside.png")
    assert shot.exists()
    # Every request reached us from the other origin (a cross-origin fetch: CORS let it through).
    fetched = [(path, origin) for method, path, _, origin in answers.seen if method == "GET"]
    assert (f"/iiif/{identifier}/manifest.json", outside) in fetched
    assert any(path.endswith("/info.json") and origin == outside for path, origin in fetched)


def _tiles_settled(answers: Answers, identifier: str, quiet: float = 1.0, timeout: float = 20) -> None:
    """Wait until no new tile has been asked for during ``quiet`` seconds (the page is drawn, for the screenshot)."""
    deadline = time.monotonic() + timeout
    seen, since = len(answers.tiles(identifier)), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = len(answers.tiles(identifier))
        if now != seen:
            seen, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


def test_mirador_page_of_the_e_library(browser, library):
    url, answers, identifier = library
    manifest = httpx.get(f"{url}/iiif/{identifier}/manifest.json").json()
    driver, _ = browser
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": (
        "window.__blocked = [];"
        "document.addEventListener('securitypolicyviolation', e => window.__blocked.push("
        "e.violatedDirective + ' ' + e.blockedURI));")})
    # The item page links to it (and to the manifest, for any other viewer).
    driver.get(f"{url}/items/{identifier}?lang=en")
    link = driver.find_element("id", "open-mirador")
    assert link.text == "Open in Mirador"
    assert driver.find_element("id", "iiif-manifest").get_attribute("href") == (
        f"{url}/iiif/{identifier}/manifest.json")
    link.click()
    wait(lambda: driver.current_url == f"{url}/items/{identifier}/mirador", timeout=10)
    _wait_for_book(driver, answers, identifier, manifest)
    # Under the site's own Content-Security-Policy: nothing refused, nothing from elsewhere.
    assert driver.execute_script("return window.__blocked") == []
    _shot(driver, "mirador-page.png")
    assert {origin for method, path, _, origin in answers.seen
            if path.startswith("/iiif/") and origin is not None} <= {url}
