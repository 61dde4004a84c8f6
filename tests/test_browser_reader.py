"""The reader's pages in real headless Chromium: language switch, phone width (390 px), screenshots.

Screenshots go to test-artifacts/ (kept by CI): reader-item-390-az.png (and -full.png, the whole page),
reader-item-390-ru.png, reader-search-390.png, reader-staff-390.png, reader-item-desktop-en.png,
reader-pdf-inline.png, reader-staff-queue-390.png, reader-staff-review-390.png.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from digitize.elibrary import create_app
from digitize.settings import Settings
from digitize.storage.catalog import Catalog, CatalogFile
from digitize.storage.local import LocalObjectStore

from helpers.browser import ARTIFACTS, wait
from helpers.catalog_data import make_registration
from helpers.live_server import serve

pytestmark = [pytest.mark.needs_chromium, pytest.mark.slow]

PHONE = 390
# A long unbroken title and identifier: the kind of thing that pushes a phone page sideways.
LONG_TITLE = "Азәрбајҹан халг нағыллары: " + "Шаһ-Аббас-вә-кечәл-" * 6
LONG_ID = "tales-of-the-azerbaijani-people-volume-one-1968"


def _library(tmp_path: Path) -> tuple[Catalog, LocalObjectStore]:
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    registration = make_registration(
        tmp_path, LONG_ID, LONG_TITLE, ["Һ. Әлизадә", "М. Ҹәфәров"], 1968,
        pages=["Бир варды, бир јохду.", "Шаһ Аббас вә кечәл.", "Үчүнҹү сәһифә."], store=store,
    )
    extra = []
    thumbnail = tmp_path / "thumbnail.jpg"
    Image.new("RGB", (180, 256), (190, 170, 140)).save(thumbnail, format="JPEG")
    epub = tmp_path / "book.epub"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip")
    epub.write_bytes(buffer.getvalue())
    mets = tmp_path / "mets.xml"
    mets.write_text("<mets/>" + " " * 40_000, encoding="utf-8")
    for path, name, role, ctype in (
        (thumbnail, "thumbnail.jpg", "thumbnail", "image/jpeg"),
        (epub, f"{LONG_ID}.epub", "epub", "application/epub+zip"),
        (mets, "mets.xml", "mets", "application/xml"),
    ):
        stored = store.put_file(f"items/{LONG_ID}/{name}", path, content_type=ctype)
        extra.append(CatalogFile(stored.key, role, stored.size, stored.sha256, ctype))
    catalog.register(dataclasses.replace(registration, files=(*registration.files, *extra)))
    return catalog, store


def _phone(driver, width: int = PHONE) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": 844, "deviceScaleFactor": 1, "mobile": True,
    })


def _open(driver, url: str) -> None:
    driver.get(url)
    wait(lambda: driver.execute_script("return document.readyState") == "complete")


def _overflow(driver) -> int:
    """How far the page reaches past the viewport's right edge (0: it fits)."""
    return int(driver.execute_script(
        "return Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth"
    ))


def _shot(driver, name: str, *, full: bool = False) -> Path:
    """The viewport (or, ``full``, the whole page's length) as a PNG in test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    if full:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(shot["data"]))
    else:
        assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 1000
    return path


def test_phone_width_and_language_switch(browser, tmp_path):
    from selenium.webdriver.common.by import By

    driver, _ = browser
    catalog, store = _library(tmp_path)
    with serve(create_app(Settings(), catalog=catalog, store=store)) as url:
        _phone(driver)
        # A browser set to Russian first, then English (its Accept-Language header) ...
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setUserAgentOverride", {
            "userAgent": driver.execute_script("return navigator.userAgent"),
            "acceptLanguage": "ru-RU,ru;q=0.9,en;q=0.5",
        })
        item_url = f"{url}/items/{LONG_ID}"
        _open(driver, item_url)
        assert driver.execute_script("return window.innerWidth") == PHONE
        # ... gets the page in Russian ...
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ru"
        assert driver.find_element(By.ID, "record-heading").text == "Библиографическое описание"
        assert _overflow(driver) == 0
        # ... until the reader picks Azerbaijani in the switch.
        driver.find_element(By.ID, "lang-az").click()
        wait(lambda: driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "az")
        assert driver.find_element(By.ID, "record-heading").text == "Biblioqrafik təsvir"
        assert driver.execute_script("return document.documentElement.scrollWidth") <= PHONE
        assert _overflow(driver) == 0
        # Reading first: the PDF and EPUB buttons come before the record and the archival files.
        order = driver.execute_script(
            "return ['read-buttons', 'record', 'archival-files'].map("
            "id => document.getElementById(id).getBoundingClientRect().top)"
        )
        assert order == sorted(order), order
        archival = driver.find_element(By.ID, "files-records")
        assert archival.get_attribute("open") is None  # collapsed until asked
        assert "kB" in archival.text  # the METS file's size, in words a person reads
        _shot(driver, "reader-item-390-az.png")
        archival.find_element(By.TAG_NAME, "summary").click()
        wait(lambda: archival.get_attribute("open") is not None)
        assert _overflow(driver) == 0
        _shot(driver, "reader-item-390-az-full.png", full=True)

        # The switch: Russian, kept by a cookie on the next pages.
        page = driver.find_element(By.TAG_NAME, "html")
        driver.find_element(By.ID, "lang-ru").click()
        wait(lambda: driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ru")
        assert page.id != driver.find_element(By.TAG_NAME, "html").id
        assert driver.find_element(By.ID, "record-heading").text == "Библиографическое описание"
        assert "Открыть PDF" in driver.find_element(By.ID, "read-pdf").text
        assert _overflow(driver) == 0
        _shot(driver, "reader-item-390-ru.png")

        _open(driver, f"{url}/?q=nağıl")
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ru"
        assert _overflow(driver) == 0
        _shot(driver, "reader-search-390.png")
        _open(driver, f"{url}/")  # the front page: everything, with its facets
        assert _overflow(driver) == 0
        _open(driver, f"{url}/?q=" + "çox-uzun-sözlərdən-ibarət-sorğu" * 3)  # nothing found, a long query echoed
        assert _overflow(driver) == 0

        _open(driver, f"{url}/staff/login")
        assert _overflow(driver) == 0
        assert driver.find_element(By.TAG_NAME, "h1").text == "Вход для сотрудников"
        _shot(driver, "reader-staff-390.png")

        _open(driver, f"{url}/items/nope")
        assert _overflow(driver) == 0 and "Не найдено" in driver.find_element(By.TAG_NAME, "h1").text

        # Back to English by the switch, on a desktop-wide window.
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.execute_cdp_cmd("Network.setUserAgentOverride", {
            "userAgent": driver.execute_script("return navigator.userAgent"), "acceptLanguage": "en-US,en",
        })
        _open(driver, item_url)
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ru"  # the cookie, not the browser
        driver.find_element(By.ID, "lang-en").click()
        wait(lambda: driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en")
        assert driver.find_element(By.ID, "record-heading").text == "Bibliographic record"
        _shot(driver, "reader-item-desktop-en.png")
    catalog.close()


def test_pdf_opens_inline_and_epub_downloads(browser, tmp_path):
    """The PDF button opens the PDF in the browser (no download); the EPUB button saves the file."""
    from selenium.webdriver.common.by import By

    driver, downloads = browser
    catalog, store = _library(tmp_path)
    with serve(create_app(Settings(), catalog=catalog, store=store)) as url:
        _open(driver, f"{url}/items/{LONG_ID}?lang=en")
        pdf_href = driver.find_element(By.ID, "read-pdf").get_attribute("href")
        answer = driver.execute_script(
            "const r = await fetch(arguments[0], {method: 'HEAD'});"
            "return [r.status, r.headers.get('content-disposition'), r.headers.get('accept-ranges')];", pdf_href,
        )
        assert answer[0] == 200 and answer[1].startswith("inline") and answer[2] == "bytes"
        part = driver.execute_script(
            "const r = await fetch(arguments[0], {headers: {Range: 'bytes=0-4'}});"
            "return [r.status, await r.text()];", pdf_href,
        )
        assert part == [206, "%PDF-"]
        # Clicked, the PDF opens in Chromium's own reader (which reads it by ranges), not as a download.
        driver.find_element(By.ID, "read-pdf").click()
        wait(lambda: driver.execute_script("return document.contentType") == "application/pdf", timeout=20)
        assert not list(downloads.iterdir())
        _shot(driver, "reader-pdf-inline.png")
        driver.back()
        wait(lambda: bool(driver.find_elements(By.ID, "download-epub")), timeout=20)
        driver.find_element(By.ID, "download-epub").click()
        epub = downloads / f"{LONG_ID}.epub"
        wait(lambda: epub.exists() and not list(downloads.glob("*.crdownload")), timeout=20)
        assert zipfile.is_zipfile(epub)
    catalog.close()


def test_staff_pages_fit_a_phone(browser, tmp_path):
    """The review desk at 390 px: queue table, review page with scans and forms, in Azerbaijani."""
    from selenium.webdriver.common.by import By

    from digitize.storage import accounts
    from digitize.storage.catalog import ReviewDecision, ReviewState

    driver, _ = browser
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    held = make_registration(tmp_path, LONG_ID, LONG_TITLE, ["Һ. Әлизадә"], 1968,
                             pages=["Бир варды, бир јохду.", "Шаһ Аббас вә кечәл."], store=store)
    catalog.register(dataclasses.replace(held, review=ReviewDecision(
        ReviewState.IN_REVIEW, "digitize publish policy (review-flagged)",
        reason="page 2: too dark; mean OCR confidence 41 is below 60", pages=(2,),
    )))
    password = "correct horse battery"
    accounts.create_user(catalog, "leyla", password, role="reviewer", display_name="Leyla")
    settings = Settings(cache_dir=tmp_path / "cache", staff={"failed_login_delay": 0.0})
    with serve(create_app(settings, catalog=catalog, store=store)) as url:
        _phone(driver)
        _open(driver, f"{url}/staff/login?lang=az")
        assert driver.find_element(By.TAG_NAME, "h1").text == "Əməkdaşların girişi"
        driver.find_element(By.ID, "username").send_keys("leyla")
        driver.find_element(By.ID, "password").send_keys(password)
        driver.find_element(By.ID, "sign-in").click()
        wait(lambda: bool(driver.find_elements(By.ID, "staff-user")))
        _open(driver, f"{url}/staff/review")
        assert driver.find_element(By.TAG_NAME, "h1").text == "Yoxlama növbəsi"
        assert _overflow(driver) == 0
        _shot(driver, "reader-staff-queue-390.png")
        _open(driver, f"{url}/staff/review/{LONG_ID}")
        assert "təkrar skan üçün qeyd olunub" in driver.find_element(By.ID, "page-2").text
        scan = driver.find_element(By.CSS_SELECTOR, "#page-2 img.scan")
        wait(lambda: driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", scan))
        assert _overflow(driver) == 0
        _shot(driver, "reader-staff-review-390.png", full=True)
    catalog.close()
