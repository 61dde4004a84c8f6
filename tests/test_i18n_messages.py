"""Messages the e-library's Python code gives readers, in az (default), ru and en; JSON answers stay English.

Refusals (unknown, withdrawn, restricted items), sign-in errors and the site's
name come from Python, not templates: ``elibrary.i18n.Translatable`` carries
them, error and sign-in pages translate them, the catalogs hold them
(``tests/test_i18n.py`` checks they are translated).
"""

from __future__ import annotations

import re
import warnings

import pytest

from digitize.elibrary import create_app
from digitize.elibrary.i18n import Translatable, repository_name
from digitize.settings import Settings
from digitize.storage import accounts
from digitize.storage.catalog import Catalog
from digitize.storage.local import LocalObjectStore

from helpers.catalog_data import make_registration

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PASSWORD = "a long enough password 42"


@pytest.fixture
def library(tmp_path):
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    catalog.register(make_registration(tmp_path, "tales", "Нағыллар", ["Һ. Әлизадә"], 1968, pages=["Бир."],
                                       store=store))
    staff_only = make_registration(tmp_path, "kept", "Гапалы", ["Һ. Әлизадә"], 1968, pages=["Бир."], store=store)
    catalog.register(staff_only.__class__(**{
        **staff_only.__dict__, "record": staff_only.record.__class__(**{**staff_only.record.__dict__,
                                                                         "access": "staff"})}))
    accounts.create_user(catalog, "leyla", PASSWORD, role="reviewer", display_name="Leyla")
    yield catalog, store, tmp_path
    catalog.close()


def _client(library, **web) -> TestClient:
    catalog, store, tmp_path = library
    settings = Settings(cache_dir=tmp_path / "cache", staff={"failed_login_delay": 0.0}, web=web)
    return TestClient(create_app(settings, catalog=catalog, store=store), follow_redirects=False)


def _detail(html: str) -> tuple[str, str]:
    found = re.search(r'<p class="error" id="error-detail" lang="(\w+)">([^<]*)</p>', html)
    assert found, html[:300]
    return found.group(1), found.group(2)


def test_translatable_is_english_text_with_its_values():
    said = Translatable("no item %(item)s in the e-library", item="'x'")
    assert said == "no item 'x' in the e-library" and isinstance(said, str)
    assert said.in_language("ru") == "в электронной библиотеке нет издания 'x'"
    assert said.in_language("en") == str(said)
    assert repository_name("Digitized holdings", "az") == "Rəqəmsal fondlar"
    assert repository_name("Milli Kitabxana", "ru") == "Milli Kitabxana"  # a library's own name stays


def test_error_pages_say_why_in_the_readers_language(library):
    with _client(library) as client:
        assert _detail(client.get("/items/nothing").text) == (
            "az", "elektron kitabxanada &#39;nothing&#39; nəşri yoxdur")
        assert _detail(client.get("/items/nothing", headers={"Accept-Language": "ru"}).text) == (
            "ru", "в электронной библиотеке нет издания &#39;nothing&#39;")
        assert _detail(client.get("/items/nothing?lang=en").text) == (
            "en", "no item &#39;nothing&#39; in the e-library")
        refused = client.get("/items/kept/pages/1.png?lang=ru")  # (the ?lang=en above set the cookie)
        assert refused.status_code == 403
        assert _detail(refused.text) == (
            "ru", "издание &#39;kept&#39; могут читать только сотрудники библиотеки: войдите как сотрудник")
        # JSON answers (API, IIIF) keep the English, whatever the language.
        answer = client.get("/iiif/kept/manifest.json", headers={"Accept-Language": "ru"})
        assert answer.status_code == 403
        assert answer.json() == {"detail": "item 'kept' may be read by library staff only: sign in as staff"}
        assert client.get("/api/items/nothing", headers={"Accept-Language": "az"}).json() == {
            "detail": "no item 'nothing' in the e-library"}


def test_sign_in_errors_are_translated(library):
    with _client(library) as client:
        page = client.get("/staff/login", headers={"Accept-Language": "ru"})
        token = re.search(r'name="csrf_token" value="([^"]*)"', page.text).group(1)
        wrong = client.post("/staff/login", headers={"Accept-Language": "ru"}, data={
            "csrf_token": token, "username": "leyla", "password": "not it", "next": ""})
        assert wrong.status_code == 401 and "неверное имя пользователя или пароль" in wrong.text
        token = re.search(r'name="csrf_token" value="([^"]*)"', wrong.text).group(1)
        empty = client.post("/staff/login", data={"csrf_token": token, "username": "leyla", "password": "",
                                                  "next": ""})
        assert empty.status_code == 422 and "parolu yazın" in empty.text
        stale = client.post("/staff/login", headers={"Accept-Language": "ru"}, data={
            "csrf_token": "made-up", "username": "leyla", "password": PASSWORD, "next": ""})
        assert stale.status_code == 403 and "CSRF-токен формы входа" in _detail(stale.text)[1]


def test_the_site_name_follows_the_language_unless_the_library_named_it(library):
    with _client(library) as client:
        assert "<title>Rəqəmsal fondlar</title>" in client.get("/").text
        assert "<title>Оцифрованные фонды</title>" in client.get("/?lang=ru").text
        assert "<title>Digitized holdings</title>" in client.get("/?lang=en").text
    with _client(library, repository_name="Milli Kitabxana") as client:
        assert "<title>Milli Kitabxana</title>" in client.get("/?lang=ru").text


def test_file_and_search_refusals_are_translated(library):
    with _client(library, search_max_words=3) as client:
        too_many = client.get("/", params={"q": "bir iki üç dörd", "lang": "ru"})
        assert too_many.status_code == 422
        assert _detail(too_many.text) == (
            "ru", "в запросе 4 слов; ищется не больше 3 слов: используйте меньше слов")
        missing = client.get("/items/tales/files/nothing.pdf?lang=az")
        assert missing.status_code == 404
        assert _detail(missing.text) == ("az", "&#39;tales&#39; nəşrinin &#39;nothing.pdf&#39; faylı yoxdur")
        page = client.get("/items/tales/pages/99.png?lang=ru")
        assert page.status_code == 404 and _detail(page.text)[1].startswith("у издания &#39;tales&#39; нет ")
        assert client.get("/api/items/tales/pages/99").headers["content-type"].startswith("application/json")
