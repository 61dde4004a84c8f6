"""The page viewer in real headless Chromium: page image, zoom, turning pages, deep links, search inside.

Screenshots go to test-artifacts/: viewer-page.png, viewer-zoomed.png, viewer-two-up.png,
viewer-thumbnails.png, viewer-search-hit.png, viewer-390.png.
"""

from __future__ import annotations

import pytest

from digitize.elibrary import create_app
from digitize.settings import Settings
from digitize.storage.catalog import Catalog
from digitize.storage.local import LocalObjectStore

from helpers.alto_item import register_alto_item
from helpers.browser import ARTIFACTS, wait
from helpers.live_server import serve

pytestmark = [pytest.mark.needs_chromium, pytest.mark.slow]

PAGES = [
    ["Бакы Азәрбајҹанын пајтахтыдыр вә", "бөјүк шәһәридир."],
    ["Шәки шәһәри дағлар арасында", "јерләшир. Бурада нефт-", "чилик мәркәзи јохдур."],
    ["Ләнкәран шәһәри"],
    ["Шәки вә Бакы шәһәрләри"],
    ["Сон сәһифә."],
]
# Records what the page's policy blocks, and script errors, from before the page's own scripts run.
WATCH = (
    "window.__blocked = []; window.__errors = [];"
    "document.addEventListener('securitypolicyviolation', e => window.__blocked.push(e.violatedDirective + ' ' + "
    "e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber));"
    "window.addEventListener('error', e => window.__errors.push(String(e.message)));"
)


@pytest.fixture
def site(tmp_path):
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    register_alto_item(tmp_path, catalog, store, "book", "Шәки китабы", PAGES)
    with serve(create_app(Settings(), catalog=catalog, store=store)) as url:
        yield url
    catalog.close()


def _js(driver, script: str, *args):
    return driver.execute_script(script, *args)


def _viewer(driver, expression: str):
    return _js(driver, f"const v = document.getElementById('book-viewer').bookViewer; return {expression};")


def _open(driver, url: str) -> None:
    driver.get("about:blank")
    driver.get(url)
    wait(lambda: _js(driver, "const r = document.getElementById('book-viewer'); return r && !r.hidden && "
                             "r.dataset.firstImage === '1'"), timeout=30)
    wait(lambda: _viewer(driver, "v.osd.world.getItemCount() > 0 && v.osd.world.getItemAt(0).getFullyLoaded()"),
         timeout=30)


def _ink_on_stage(driver) -> int:
    """Dark pixels on the viewer's canvas: the page's printed words drawn (the canvas is same-origin, so readable)."""
    return _js(driver, """
        const canvas = document.querySelector('#viewer-stage canvas');
        const ctx = canvas.getContext('2d');
        const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        let dark = 0;
        for (let i = 0; i < pixels.length; i += 16) { if (pixels[i] < 90 && pixels[i + 3] > 0) dark++; }
        return dark;""")


def _shot(driver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path)) and path.stat().st_size > 1000


def test_read_zoom_turn_pages_and_search_inside(browser, site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver, _ = browser
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH})
    _open(driver, site + "/items/book")
    # The page image is on the stage (printed words in dark pixels), page 1 of 5, with its text beside it.
    assert _ink_on_stage(driver) > 50
    assert _viewer(driver, "v.state.page") == 1
    assert "1" in driver.find_element(By.ID, "viewer-caption").text
    wait(lambda: "Бакы" in driver.find_element(By.ID, "viewer-page-text").text)
    driver.find_element(By.ID, "viewer-script-latin").click()
    wait(lambda: "Bakı" in driver.find_element(By.ID, "viewer-page-text").text)
    _shot(driver, "viewer-page.png")

    # Zoom in (button), the page stays the same.
    home = _viewer(driver, "v.osd.viewport.getHomeZoom()")
    driver.find_element(By.ID, "viewer-zoom-in").click()
    driver.find_element(By.ID, "viewer-zoom-in").click()
    wait(lambda: _viewer(driver, "v.osd.viewport.getZoom()") > home * 1.5)
    _shot(driver, "viewer-zoomed.png")

    # Turn pages: the button, then the keyboard; the address follows (#page=N).
    driver.find_element(By.ID, "viewer-next").click()
    wait(lambda: _viewer(driver, "v.state.page") == 2 and driver.current_url.endswith("#page=2"))
    wait(lambda: "нефт" in driver.find_element(By.ID, "viewer-page-text").text.lower()
         or "neft" in driver.find_element(By.ID, "viewer-page-text").text.lower())
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
    wait(lambda: _viewer(driver, "v.state.page") == 3 and driver.current_url.endswith("#page=3"))
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
    wait(lambda: _viewer(driver, "v.state.page") == 2)
    driver.find_element(By.TAG_NAME, "body").send_keys("+")
    wait(lambda: _viewer(driver, "v.osd.viewport.getZoom() > v.osd.viewport.getHomeZoom() * 1.2"))

    # Two pages side by side (2-3), then the thumbnails, from which page 5 opens.
    driver.find_element(By.ID, "viewer-two-up").click()
    wait(lambda: _viewer(driver, "v.osd.world.getItemCount()") == 2 and _viewer(driver, "v.state.shown") == [2, 3])
    _shot(driver, "viewer-two-up.png")
    driver.find_element(By.ID, "viewer-thumbs").click()
    wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#viewer-thumbs-grid button")) == len(PAGES))
    _shot(driver, "viewer-thumbnails.png")
    driver.find_elements(By.CSS_SELECTOR, "#viewer-thumbs-grid button")[4].click()
    wait(lambda: _viewer(driver, "v.state.page") == 5 and _viewer(driver, "v.state.mode") == "one")

    # Search inside, without Azerbaijani letters: two hits listed, and the first drawn over its word on page 2.
    box = driver.find_element(By.ID, "viewer-search-q")
    box.clear()
    box.send_keys("seki")
    driver.find_element(By.ID, "viewer-search-button").click()
    wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#viewer-hits li")) == 2)
    assert [li.get_attribute("data-page") for li in driver.find_elements(By.CSS_SELECTOR, "#viewer-hits li")] == [
        "2", "4"]
    driver.find_elements(By.CSS_SELECTOR, "#viewer-hits button")[0].click()
    wait(lambda: _viewer(driver, "v.state.page") == 2)
    wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#viewer-stage .viewer-highlight")) == 1)
    highlight = driver.find_element(By.CSS_SELECTOR, "#viewer-stage .viewer-highlight")
    wait(lambda: highlight.size["width"] > 10 and highlight.size["height"] > 5)
    stage = driver.find_element(By.ID, "viewer-stage").rect
    mark = highlight.rect
    assert stage["x"] <= mark["x"] and mark["x"] + mark["width"] <= stage["x"] + stage["width"]
    assert stage["y"] <= mark["y"] and mark["y"] + mark["height"] <= stage["y"] + stage["height"]
    _shot(driver, "viewer-search-hit.png")

    # Full screen, and back.
    driver.find_element(By.ID, "viewer-fullscreen").click()
    wait(lambda: _js(driver, "return document.fullscreenElement && document.fullscreenElement.id") == "book-viewer")
    driver.find_element(By.ID, "viewer-fullscreen").click()
    wait(lambda: _js(driver, "return document.fullscreenElement") is None)

    assert _js(driver, "return window.__blocked") == []  # nothing refused by the page's security policy
    assert _js(driver, "return window.__errors") == []


def test_a_deep_link_opens_its_page(browser, site):
    driver, _ = browser
    _open(driver, site + "/items/book#page=4")
    assert _viewer(driver, "v.state.page") == 4
    assert _js(driver, "return document.getElementById('viewer-page-select').value") == "4"
    # A search handed over from the results page (?q=) runs at once and draws its hit on the page shown.
    _open(driver, site + "/items/book?q=" + "Шәки" + "#page=4")
    wait(lambda: len(driver.find_elements("css selector", "#viewer-stage .viewer-highlight")) == 1)


def test_phone_width_has_no_sideways_scroll(browser, site):
    driver, _ = browser
    driver.set_window_size(390, 844)
    _open(driver, site + "/items/book#page=2")
    inner = _js(driver, "return window.innerWidth")
    viewer = _js(driver, "const r = document.getElementById('book-viewer').getBoundingClientRect(); "
                         "return [r.left, r.right]")
    assert viewer[0] >= 0 and viewer[1] <= inner
    assert _js(driver, "const r = document.getElementById('book-viewer'); return r.scrollWidth <= r.clientWidth")
    _shot(driver, "viewer-390.png")
