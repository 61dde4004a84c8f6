"""The interface in Azerbaijani (default), Russian and English: negotiation, the switch, complete catalogs."""

from __future__ import annotations

import re
import warnings

import pytest
from babel.messages.pofile import read_po

from digitize.elibrary import create_app
from digitize.elibrary.i18n import (
    COOKIE,
    LOCALE_DIR,
    LOCALES,
    extract_messages,
    human_size,
    negotiate,
    translations,
)
from digitize.settings import Settings
from digitize.storage.catalog import Catalog
from digitize.storage.local import LocalObjectStore

from helpers.catalog_data import make_registration

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TRANSLATED = [locale for locale in LOCALES if locale != "en"]  # English is the source text


@pytest.fixture
def client(tmp_path):
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    catalog.register(make_registration(
        tmp_path, "tales", "Азәрбајҹан нағыллары", ["Һ. Әлизадә"], 1968,
        pages=["Бир варды, бир јохду.", "Шаһ Аббас вә кечәл."], store=store,
    ))
    with TestClient(create_app(Settings(), catalog=catalog, store=store)) as test_client:
        yield test_client
    catalog.close()


def _html_lang(page: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', page)
    assert match, page[:200]
    return match.group(1)


def test_negotiation_order_query_cookie_browser_default():
    assert negotiate() == "az"
    assert negotiate(accept_language="ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7") == "ru"
    assert negotiate(accept_language="en-GB,en;q=0.9") == "en"
    assert negotiate(accept_language="az-Latn-AZ") == "az"
    assert negotiate(accept_language="az-Cyrl") == "az"
    assert negotiate(accept_language="tr-TR,tr;q=0.9") == "az"  # none we speak: the default
    assert negotiate(accept_language="de;q=0.9, ru;q=0.5, en;q=0.8") == "en"  # by quality, not order
    assert negotiate(accept_language="en;q=0, ru") == "ru"  # q=0 means "not this"
    assert negotiate(accept_language="*") == "az"
    assert negotiate(accept_language="en;q=abc, ru;q=0.1") == "ru"  # a broken weight is no weight
    assert negotiate(cookie="ru", accept_language="en") == "ru"
    assert negotiate(query="en", cookie="ru", accept_language="ru") == "en"
    assert negotiate(query="xx", cookie="ru") == "ru"  # an unknown choice is ignored
    assert negotiate(accept_language=",;;=,q=," * 1000) == "az"


def test_default_is_azerbaijani_and_the_browser_can_ask_for_russian(client):
    page = client.get("/items/tales")
    assert page.status_code == 200
    assert _html_lang(page.text) == "az"
    assert "Biblioqrafik təsvir" in page.text and ">Axtar<" in page.text
    assert "azərbaycan (kiril)" in page.text  # the item's language and script named by CLDR, not as codes
    assert page.headers["content-language"] == "az" and "Accept-Language" in page.headers["vary"]

    russian = client.get("/items/tales", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert _html_lang(russian.text) == "ru"
    assert "Библиографическое описание" in russian.text and ">Найти<" in russian.text
    assert "2 страницы" in russian.text  # Russian plural forms (2 → страницы)
    assert "азербайджанский (кириллица)" in russian.text
    assert COOKIE + "=" not in russian.headers.get("set-cookie", "")  # only the switch sets the cookie

    english = client.get("/items/tales", headers={"Accept-Language": "en"})
    assert _html_lang(english.text) == "en" and "Bibliographic record" in english.text and "2 pages" in english.text


def test_switch_sets_a_cookie_that_later_pages_keep(client):
    chosen = client.get("/items/tales", params={"lang": "ru"}, headers={"Accept-Language": "en"})
    assert _html_lang(chosen.text) == "ru"
    cookie = chosen.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=ru;") and "Path=/" in cookie and "SameSite=Lax" in cookie
    # The client keeps the cookie: the next page (no lang=, browser says English) stays Russian.
    later = client.get("/", headers={"Accept-Language": "en"})
    assert _html_lang(later.text) == "ru"
    # The switch's links lead to this page in each language, keeping the query.
    links = dict(re.findall(r'<a lang="(\w\w)" hreflang="\w\w" href="([^"]+)"', later.text))
    assert set(links) == {"az", "en"}  # the current language is shown, not linked
    item = client.get("/items/tales", params={"page": 2})
    switch = dict(re.findall(r'<a lang="(\w\w)" hreflang="\w\w" href="([^"]+)"', item.text))
    assert switch["en"] == "/items/tales?page=2&amp;lang=en"
    english = client.get("/items/tales?page=2&lang=en")
    assert _html_lang(english.text) == "en" and english.headers["set-cookie"].startswith(f"{COOKIE}=en;")
    assert client.get("/items/tales", params={"lang": "xx"}).status_code == 200  # unknown: ignored, no error


def test_error_pages_and_staff_pages_are_translated(client):
    missing = client.get("/items/nope", headers={"Accept-Language": "ru"})
    assert missing.status_code == 404 and "Не найдено" in missing.text and _html_lang(missing.text) == "ru"
    assert "Tapılmadı" in client.get("/items/nope").text
    login = client.get("/staff/login", headers={"Accept-Language": "ru"})
    assert "Вход для сотрудников" in login.text and "Пароль" in login.text
    assert "Əməkdaşların girişi" in client.get("/staff/login").text


def test_sizes_numbers_and_dates_follow_the_language(client):
    assert human_size(532, "az") == "532 bayt" and human_size(532, "en") == "532 bytes"
    assert human_size(1_234_567, "ru") == "1,2 МБ" and human_size(1_234_567, "en") == "1.2 MB"
    assert human_size(12_345, "az") == "12,3 kB"
    assert human_size(250_000_000, "en") == "250 MB" and human_size(3_400_000_000, "en") == "3.4 GB"
    page = client.get("/items/tales", headers={"Accept-Language": "ru"})
    assert "КБ" in page.text or "кБ" in page.text  # the PDF's size in Russian units


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_template_message_is_translated(locale):
    """Babel extracts every _() / ngettext() of the templates; each must have a translation in az and ru.

    After changing a template run ``python -m digitize.elibrary.i18n`` (updates messages.pot and the .po
    files), then translate the new entries.
    """
    wanted = {message.id if isinstance(message.id, str) else tuple(message.id): message
              for message in extract_messages() if message.id}
    assert len(wanted) > 100
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as source:
        catalog = read_po(source, locale=locale)
    have = {message.id if isinstance(message.id, str) else tuple(message.id): message
            for message in catalog if message.id}
    missing = sorted(str(key) for key in wanted if key not in have)
    assert not missing, f"{locale}: not in the catalog (run python -m digitize.elibrary.i18n): {missing}"
    untranslated = sorted(
        str(key) for key, message in have.items()
        if key in wanted and (message.fuzzy or not all(
            message.string if isinstance(message.string, tuple) else [message.string]))
    )
    assert not untranslated, f"{locale}: untranslated or fuzzy: {untranslated}"
    for key, message in have.items():
        if key not in wanted:
            continue
        source_ids = key if isinstance(key, tuple) else (key,)
        placeholders = set(re.findall(r"%\(\w+\)[sd]", " ".join(source_ids)))
        for text in message.string if isinstance(message.string, tuple) else (message.string,):
            assert set(re.findall(r"%\(\w+\)[sd]", text)) == placeholders, (locale, key, text)
    assert translations(locale).gettext("Search") != "Search"
