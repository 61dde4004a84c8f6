"""The reader's path in a real browser: search → open item → download.

Debian's headless chromium, driven by selenium through Debian's
chromium-driver (never a downloaded browser or driver). A screenshot of the
item page is saved as ``test-artifacts/browser-item.png``.
"""

from __future__ import annotations

import hashlib

import pytest

from digitize.elibrary import create_app
from digitize.settings import Settings
from digitize.storage.catalog import Catalog
from digitize.storage.local import LocalObjectStore

from helpers.browser import ARTIFACTS, wait
from helpers.catalog_data import make_registration
from helpers.live_server import serve

pytestmark = [pytest.mark.needs_chromium, pytest.mark.slow]

def test_search_open_item_download(browser, tmp_path):
    from selenium.webdriver.common.by import By

    driver, downloads = browser
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    catalog.register(make_registration(
        tmp_path, "tales", "Азәрбајҹан нағыллары", ["Һ. Әлизадә"], 1968,
        pages=["Бир варды, бир јохду.", "Шаһ Аббас вә кечәл."], store=store,
    ))
    catalog.register(make_registration(tmp_path, "poems", "Şeirlər", ["Məmməd Araz"], 1990,
                                       script="Latn", pages=["Gecə."], store=store))
    with serve(create_app(Settings(), catalog=catalog, store=store)) as url:
        driver.get(url + "/")
        box = driver.find_element(By.ID, "q")
        box.send_keys("azərbaycan nağılları")  # Latin query, Cyrillic book
        _click_andwait(driver, driver.find_element(By.ID, "search-button"))
        assert "1 item found" in driver.find_element(By.ID, "count").text
        _click_andwait(driver, driver.find_element(By.CSS_SELECTOR, "a.title"))

        assert driver.find_element(By.ID, "title").text == "Азәрбајҹан нағыллары"
        assert driver.find_element(By.ID, "title-latin").text == "Azərbaycan nağılları"
        # The page viewer (tests/test_browser_viewer.py tries it in full): next page, its text beside it.
        wait(lambda: driver.execute_script("return document.getElementById('book-viewer').dataset.firstImage"))
        driver.find_element(By.ID, "viewer-next").click()
        wait(lambda: driver.current_url.endswith("#page=2"))
        wait(lambda: "Шаһ Аббас" in driver.find_element(By.ID, "viewer-page-text").text)

        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "browser-item.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 1000

        # The PDF opens in the browser (Content-Disposition: inline); the archival files are downloads.
        assert driver.find_element(By.ID, "read-pdf").get_attribute("href").endswith("/items/tales/files/tales.pdf")
        group = driver.find_element(By.ID, "files-texts")
        group.find_element(By.TAG_NAME, "summary").click()
        group.find_element(By.CSS_SELECTOR, "a.download.text-latin").click()
        text = downloads / "tales.latin.txt"
        wait(lambda: text.exists() and not list(downloads.glob("*.crdownload")), timeout=20)
        expected = next(f for f in catalog.files("tales") if f.role == "text-latin")
        assert hashlib.sha256(text.read_bytes()).hexdigest() == expected.sha256
    catalog.close()


def _click_andwait(driver, element) -> None:
    """Click a link or button and wait until the next page has replaced this one."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = driver.find_element("tag name", "html")
    element.click()
    WebDriverWait(driver, 20).until(expected_conditions.staleness_of(page))
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")
