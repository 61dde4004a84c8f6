"""The reviewer's path in a real browser: sign in → queue → flagged page and its text → approve → public.

Debian's headless chromium through selenium and chromium-driver, as in
``test_browser.py`` (whose fixture and helpers this reuses); the app is
served by a real uvicorn. A screenshot of the review page is saved as
``test-artifacts/browser-review.png``.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from digitize.elibrary import create_app
from digitize.settings import Settings
from digitize.storage import accounts
from digitize.storage.catalog import Catalog, ReviewDecision, ReviewState
from digitize.storage.local import LocalObjectStore

from helpers.browser import ARTIFACTS, wait
from helpers.catalog_data import make_registration
from helpers.live_server import serve

pytestmark = [pytest.mark.needs_chromium, pytest.mark.slow]

PASSWORD = "correct horse battery"


def test_reviewer_signs_in_and_approves_a_held_item(browser, tmp_path):
    from selenium.webdriver.common.by import By

    driver, _ = browser
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    held = make_registration(tmp_path, "tales", "Азәрбајҹан нағыллары", ["Һ. Әлизадә"], 1968,
                             pages=["Бир варды, бир јохду.", "Шаһ Аббас вә кечәл."], store=store)
    catalog.register(dataclasses.replace(held, review=ReviewDecision(
        ReviewState.IN_REVIEW, "digitize publish policy (review-flagged)", reason="page 2: too dark", pages=(2,),
    )))
    accounts.create_user(catalog, "leyla", PASSWORD, role="reviewer", display_name="Leyla")
    settings = Settings(cache_dir=tmp_path / "cache", staff={"failed_login_delay": 0.0})
    with serve(create_app(settings, catalog=catalog, store=store)) as url:
        driver.get(url + "/?q=nağılları")  # not public yet: readers do not find it
        assert "tales" not in driver.page_source
        assert "idDoesNotExist" in _oai_record(url, "tales")  # nor harvesters

        driver.get(url + "/staff/review")  # sends a stranger to the sign-in page
        assert "/staff/login" in driver.current_url
        driver.find_element(By.ID, "username").send_keys("leyla")
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        _click_until(driver, driver.find_element(By.ID, "sign-in"), "staff-user")
        assert driver.current_url.endswith("/staff/review")
        assert driver.find_element(By.ID, "staff-user").text == "Leyla"

        _click_until(driver, driver.find_element(By.CSS_SELECTOR, "a.review-link"), "review-item")
        page = driver.find_element(By.ID, "page-2")
        assert "flagged for re-scanning" in page.text
        assert "Шаһ Аббас вә кечәл." in page.find_element(By.CSS_SELECTOR, "pre.page-original").text
        assert "Şah Abbas və keçəl." in page.find_element(By.CSS_SELECTOR, "pre.page-latin").text
        assert "page 2: too dark" in driver.find_element(By.ID, "reasons").text
        scan = page.find_element(By.CSS_SELECTOR, "img.scan")
        wait(lambda: driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", scan))
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "browser-review.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 1000

        _click_until(driver, driver.find_element(By.ID, "approve"), "decision-notice")
        assert "tales: approved" in driver.find_element(By.ID, "decision-notice").text
        assert driver.find_elements(By.ID, "queue-empty")

        driver.get(url + "/?q=nağılları")
        assert re.search(r"1 item", driver.find_element(By.ID, "count").text)
        assert driver.find_element(By.CSS_SELECTOR, "a.title").text == "Азәрбајҹан нағыллары"
        record = _oai_record(url, "tales")  # and harvesters get the record
        assert "idDoesNotExist" not in record and "Азәрбајҹан нағыллары" in record
    item = catalog.get("tales")
    assert item is not None and item.review_state == "published" and item.reviewed_by == "leyla"
    catalog.close()


def _click_until(driver, element, element_id: str) -> None:
    """Click, then wait until the next page shows ``element_id`` (an id the current page does not have).

    Waiting for the old page to go stale races with chromium under load
    ("Node with given id does not belong to the document"); waiting for the
    new page's own element does not.
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    assert not driver.find_elements(By.ID, element_id)
    element.click()

    def arrived() -> bool:
        try:
            return bool(driver.find_elements(By.ID, element_id)) and driver.execute_script(
                "return document.readyState") == "complete"
        except WebDriverException:  # the page is being replaced
            return False

    wait(arrived, timeout=20)


def _oai_record(url: str, identifier: str) -> str:
    """The OAI-PMH GetRecord answer for one item (oai_dc), as text."""
    from urllib.parse import quote
    from urllib.request import urlopen

    settings = Settings()
    oai_id = f"oai:{settings.web.oai_repository_id}:{identifier}"
    with urlopen(f"{url}/oai?verb=GetRecord&metadataPrefix=oai_dc&identifier={quote(oai_id)}", timeout=10) as answer:
        return answer.read().decode("utf-8")
