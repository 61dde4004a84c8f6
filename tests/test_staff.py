"""Staff accounts and the review desk: accounts, sign-in, sessions, CSRF, the review page (issue 16).

Real SQLite catalog, real Argon2 hashes, the real app through Starlette's
test client; pages come from a generated PDF in a local store.
"""

from __future__ import annotations

import dataclasses
import json
import re
import stat
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from digitize.cli import app as cli
from digitize.elibrary import create_app
from digitize.elibrary.auth import COOKIE, SECRET_FILE, session_secret
from digitize.errors import AccountError, ConfigError
from digitize.settings import Settings
from digitize.storage import accounts
from digitize.storage.catalog import Catalog, ReviewDecision, ReviewState
from digitize.storage.catalog_tables import UserRow
from digitize.storage.local import LocalObjectStore

from helpers.catalog_data import make_registration

PASSWORD = "correct horse battery"
HELD_REASON = "page 2: too dark; mean OCR confidence 41 < 60"


@pytest.fixture
def desk(tmp_path):
    """A catalog with one public item and one held in review (page 2 flagged), a store, a reviewer."""
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    catalog.register(make_registration(tmp_path, "poems", "Şeirlər", ["Məmməd Araz"], 1990, script="Latn",
                                       pages=["Gecə."], store=store))
    held = make_registration(tmp_path, "tales", "Азәрбајҹан нағыллары", ["Һ. Әлизадә"], 1968,
                             pages=["Бир варды, бир јохду.", "Шаһ Аббас вә кечәл."], store=store)
    catalog.register(dataclasses.replace(held, review=ReviewDecision(
        ReviewState.IN_REVIEW, "digitize publish policy (review-flagged)", reason=HELD_REASON, pages=(2,),
    )))
    accounts.create_user(catalog, "leyla", PASSWORD, role="reviewer", display_name="Leyla Məmmədova")
    settings = Settings(cache_dir=tmp_path / "cache", staff={"failed_login_delay": 0.0})
    return settings, catalog, store


def _client(desk, **staff) -> TestClient:
    settings, catalog, store = desk
    if staff:
        settings = settings.model_copy(update={"staff": settings.staff.model_copy(update=staff)})
    return TestClient(create_app(settings, catalog=catalog, store=store), follow_redirects=False,
                      headers={"Accept-Language": "en"})  # the pages' English (Azerbaijani by default)


def _hidden(html: str, name: str = "csrf_token") -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name} in the page"
    return found.group(1)


def _sign_in(client: TestClient, username: str = "leyla", password: str = PASSWORD, next: str = ""):
    page = client.get("/staff/login", params={"next": next} if next else None)
    assert page.status_code == 200
    return client.post("/staff/login", data={
        "csrf_token": _hidden(page.text), "username": username, "password": password, "next": next,
    })


# -- accounts ----------------------------------------------------------------


def test_password_kept_only_as_an_argon2id_hash(desk):
    _, catalog, _ = desk
    with Session(catalog.engine) as session:
        row = session.scalars(select(UserRow).where(UserRow.username == "leyla")).one()
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash
    assert accounts.authenticate(catalog, "leyla", PASSWORD).display_name == "Leyla Məmmədova"


@pytest.mark.parametrize(("username", "password", "role", "named"), [
    ("Leyla Bad", PASSWORD, "reviewer", "username"),
    ("nigar", "short", "reviewer", "password is too short"),
    ("nigar", PASSWORD, "boss", "role 'boss'"),
    ("leyla", PASSWORD, "reviewer", "username 'leyla' is taken"),
    ("nigar", "tab\tinside password", "reviewer", "control character"),
])
def test_bad_accounts_are_refused_naming_the_field(desk, username, password, role, named):
    _, catalog, _ = desk
    before = accounts.list_users(catalog)
    with pytest.raises(AccountError, match=re.escape(named)):
        accounts.create_user(catalog, username, password, role=role)
    assert accounts.list_users(catalog) == before  # nothing made, nothing lost


def test_cli_add_list_disable_reads_the_password_from_stdin(desk, tmp_path):
    settings, catalog, _ = desk
    url = ["--catalog-url", catalog.engine.url.render_as_string(hide_password=False)]
    runner = CliRunner()
    added = runner.invoke(cli, ["staff", "add", "nigar", "--role", "admin", "--name", "Nigar", *url],
                          input="another long password\n")
    assert added.exit_code == 0, added.output
    assert "nigar (admin) added" in added.output
    assert accounts.authenticate(catalog, "nigar", "another long password").role == "admin"
    short = runner.invoke(cli, ["staff", "add", "aysel", *url], input="short\n")
    assert short.exit_code == 2 and "password is too short" in short.output
    assert "aysel" not in {u.username for u in accounts.list_users(catalog)}
    listed = runner.invoke(cli, ["staff", "list", *url])
    assert listed.exit_code == 0 and "leyla" in listed.output and "nigar" in listed.output
    disabled = runner.invoke(cli, ["staff", "disable", "nigar", *url])
    assert disabled.exit_code == 0, disabled.output
    with pytest.raises(AccountError, match="disabled"):
        accounts.authenticate(catalog, "nigar", "another long password")
    unknown = runner.invoke(cli, ["staff", "disable", "nobody", *url])
    assert unknown.exit_code == 2 and "no staff account 'nobody'" in unknown.output


# -- signing in --------------------------------------------------------------


def test_staff_pages_need_a_session(desk):
    client = _client(desk)
    queue = client.get("/staff/review")
    assert queue.status_code == 303 and queue.headers["location"] == "/staff/login?next=%2Fstaff%2Freview"
    image = client.get("/staff/items/tales/pages/2.png")
    assert image.status_code == 401 and "sign in" in image.text
    posted = client.post("/staff/review/tales/approve", data={"csrf_token": "x"})
    assert posted.status_code == 303
    assert desk[1].get("tales").review_state == "in review"


def test_sign_in_sets_a_signed_httponly_lax_cookie_and_goes_where_asked(desk):
    client = _client(desk)
    answer = _sign_in(client, next="/staff/review/tales")
    assert answer.status_code == 303 and answer.headers["location"] == "/staff/review/tales"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/staff" in cookie
    assert "Secure" not in cookie  # plain http here
    assert client.get("/staff/review").status_code == 200
    # tampering with the signed value signs you out
    value = client.cookies.get(COOKIE, path="/staff")
    client.cookies.set(COOKIE, value[:-1] + ("0" if value[-1] != "0" else "1"), path="/staff")
    assert client.get("/staff/review").status_code == 303


def test_cookie_is_secure_behind_https(desk):
    settings, catalog, store = desk
    settings = settings.model_copy(update={"web": settings.web.model_copy(update={"base_url": "https://lib.az"})})
    client = TestClient(create_app(settings, catalog=catalog, store=store), follow_redirects=False,
                        base_url="https://testserver")
    answer = _sign_in(client)
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(COOKIE + "="))
    assert "Secure" in cookie


def test_sign_in_never_redirects_off_the_staff_pages(desk):
    client = _client(desk)
    for target in ("https://evil.example/", "//evil.example/staff/", "/items/x", "/staff/\\evil"):
        assert _sign_in(client, next=target).headers["location"] == "/staff/review"
        client.cookies.clear()


def test_sign_in_form_needs_its_csrf_token(desk):
    client = _client(desk)
    answer = client.post("/staff/login", data={"username": "leyla", "password": PASSWORD})
    assert answer.status_code == 403 and "CSRF" in answer.text
    assert COOKIE not in answer.cookies


@pytest.mark.slow
def test_failed_sign_ins_wait_and_then_lock_the_account(desk):
    client = _client(desk, failed_login_delay=0.3, max_failed_logins=3, lockout_seconds=600)
    started = time.monotonic()
    wrong = _sign_in(client, password="not the password")
    assert time.monotonic() - started >= 0.3
    assert wrong.status_code == 401 and "wrong username or password" in wrong.text
    assert _sign_in(client, username="nobody", password=PASSWORD).status_code == 401  # same answer
    for _ in range(2):
        _sign_in(client, password="not the password")
    locked = _sign_in(client)  # even the right password, while locked
    assert locked.status_code == 429 and "locked after 3 failed sign-ins" in locked.text
    assert client.get("/staff/review").status_code == 303


def test_sign_out_and_disabling_end_the_session(desk):
    _, catalog, _ = desk
    client = _client(desk)
    _sign_in(client)
    page = client.get("/staff/review")
    assert client.post("/staff/logout", data={"csrf_token": "wrong"}).status_code == 403
    assert client.get("/staff/review").status_code == 200
    out = client.post("/staff/logout", data={"csrf_token": _hidden(page.text)})
    assert out.status_code == 303 and client.get("/staff/review").status_code == 303
    _sign_in(client)
    assert client.get("/staff/review").status_code == 200
    accounts.disable_user(catalog, "leyla")
    assert client.get("/staff/review").status_code == 303
    refused = _sign_in(client)
    assert refused.status_code == 401 and "disabled" in refused.text


def test_session_secret_is_made_once_and_kept_private(tmp_path):
    settings = Settings(cache_dir=tmp_path / "cache")
    first = session_secret(settings)
    path = tmp_path / "cache" / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert session_secret(settings) == first and len(first) >= 32
    with pytest.raises(ConfigError, match="staff.session_secret has 5 characters"):
        session_secret(Settings(cache_dir=tmp_path / "cache", staff={"session_secret": "short"}))


# -- the review page ---------------------------------------------------------


def test_reviewer_sees_the_flagged_page_and_approves(desk):
    _, catalog, _ = desk
    client = _client(desk)
    assert client.get("/items/tales").status_code in (403, 404, 410)  # not public yet
    assert "tales" not in {r.identifier for r in catalog.search(text="нағыллары").items}
    _sign_in(client)
    queue = client.get("/staff/review")
    assert queue.status_code == 200 and "/staff/review/tales" in queue.text and "poems" not in queue.text
    assert queue.headers["cache-control"] == "no-store"
    page = client.get("/staff/review/tales")
    assert page.status_code == 200
    assert 'id="page-2"' in page.text and "flagged for re-scanning" in page.text
    assert 'id="page-1"' not in page.text  # only the flagged page
    assert "Шаһ Аббас вә кечәл." in page.text and "Şah Abbas və keçəl." in page.text
    assert "page 2: too dark" in page.text and "mean OCR confidence 41" in page.text
    scan = client.get("/staff/items/tales/pages/2.png")
    assert scan.status_code == 200 and scan.content.startswith(b"\x89PNG")
    assert scan.headers["cache-control"] == "private, no-store"
    assert client.get("/items/tales/pages/2.png").status_code != 200  # the public route still refuses

    refused = client.post("/staff/review/tales/approve", data={"csrf_token": "forged"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert catalog.get("tales").review_state == "in review"

    done = client.post("/staff/review/tales/approve", data={"csrf_token": _hidden(page.text), "note": "fine"})
    assert done.status_code == 303
    item = catalog.get("tales")
    assert item.review_state == "published" and item.reviewed_by == "leyla"
    assert "tales" in {r.identifier for r in catalog.search(text="нағыллары").items}
    again = client.post("/staff/review/tales/approve", data={"csrf_token": _hidden(page.text)})
    assert again.status_code == 409 and "not in review" in again.text


def test_reject_refuses_bad_fields_naming_them_then_records_pages(desk):
    _, catalog, _ = desk
    client = _client(desk)
    _sign_in(client)
    token = _hidden(client.get("/staff/review/tales").text)
    for data, named in [
        ({"reason": ""}, "the field 'reason' is required"),
        ({"reason": "dark", "pages": "two"}, "the field 'pages' holds 'two'"),
        ({"reason": "dark", "pages": "9"}, "the field 'pages' names page 9"),
        ({"reason": ["a", "b"]}, "the field 'reason' was sent 2 times"),
        ({"reason": "bad\x00byte"}, "the field 'reason' holds a control character"),
    ]:
        answer = client.post("/staff/review/tales/reject", data={"csrf_token": token, **data})
        assert answer.status_code == 422, data
        assert named in answer.text.replace("&#39;", "'"), answer.text
        assert catalog.get("tales").review_state == "in review"  # nothing changed
    done = client.post("/staff/review/tales/reject",
                       data={"csrf_token": token, "reason": "rescan page 2", "rescan": "2", "pages": "1"})
    assert done.status_code == 303
    item = catalog.get("tales")
    assert item.review_state == "rejected" and item.review_reason == "rescan page 2"
    assert '"pages": [1, 2]' in catalog.events("tales")[-1].detail


def test_bad_form_bodies_are_refused_not_500(desk):
    client = _client(desk)
    _sign_in(client)
    token = _hidden(client.get("/staff/review").text)
    assert client.post("/staff/review/tales/approve", json={"csrf_token": token}).status_code == 415
    bad_utf8 = client.post("/staff/review/tales/approve", content=b"csrf_token=%ff%fe",
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert bad_utf8.status_code == 400
    assert client.post("/staff/review/tales/approve", content=b"x" * 70_000,
                       headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 413
    assert client.get("/staff/review/" + "x" * 200).status_code == 422
    assert client.get("/staff/review/nothing-here").status_code == 404
    assert client.get("/staff/items/tales/pages/0.png").status_code == 422
    assert client.get("/staff/items/tales/pages/99.png").status_code == 404
    assert desk[1].get("tales").review_state == "in review"


# -- the OCR input and metadata edits on the review page ---------------------


def _metadata_form(page_html: str, **changes: str) -> dict[str, str]:
    form = {name: value for name, value in re.findall(r'<input id="m-[a-z]+" name="([a-z_]+)"[^>]*value="([^"]*)"',
                                                      page_html)}
    form.update(authors="Һ. Әлизадә", access="public", csrf_token=_hidden(page_html))
    form.update(changes)
    return form


def test_ocr_input_is_shown_to_staff_only_never_cached(desk):
    client = _client(desk)
    assert client.get("/staff/items/tales/pages/2/ocr-input.png").status_code == 401
    _sign_in(client)
    page = client.get("/staff/review/tales")
    assert "/staff/items/tales/pages/2/ocr-input.png" in page.text
    made = client.get("/staff/items/tales/pages/2/ocr-input.png")
    assert made.status_code == 200 and made.content.startswith(b"\x89PNG")
    assert made.headers["cache-control"] == "private, no-store"
    scan = client.get("/staff/items/tales/pages/2.png")
    assert made.content != scan.content  # the cleaned image, not the scan again
    published = client.get("/staff/items/poems/pages/1/ocr-input.png")
    assert published.status_code == 404 and "in review only" in published.text
    assert client.get("/staff/items/tales/pages/9/ocr-input.png").status_code == 404


def test_metadata_edit_updates_the_catalog_and_logs_before_and_after(desk):
    _, catalog, _ = desk
    client = _client(desk)
    _sign_in(client)
    page = client.get("/staff/review/tales")
    assert 'id="metadata-form"' in page.text and "brings them back" in page.text
    done = client.post("/staff/review/tales/metadata",
                       data=_metadata_form(page.text, title="Азәрбајҹан халг нағыллары", year="1969"))
    assert done.status_code == 303, done.text
    item = catalog.get("tales")
    assert item.title == "Азәрбајҹан халг нағыллары" and item.title_latin == "Azərbaycan xalq nağılları"
    assert item.year == 1969 and item.authors_latin == ("H. Əlizadə",)
    assert item.review_state == "in review" and item.page_count == 2  # nothing else changed
    assert [t[1] for t in catalog.page_texts("tales")] == ["Бир варды, бир јохду.", "Шаһ Аббас вә кечәл."]
    event = catalog.events("tales")[-1]
    assert event.kind == "metadata edited"
    detail = json.loads(event.detail)
    assert detail["agent"] == "leyla"
    assert detail["changed"]["title"] == ["Азәрбајҹан нағыллары", "Азәрбајҹан халг нағыллары"]
    assert detail["changed"]["year"] == [1968, 1969]
    assert "saved" in client.get(done.headers["location"]).text
    approved = client.post("/staff/review/tales/approve", data={"csrf_token": _hidden(page.text)})
    assert approved.status_code == 303
    assert "tales" in {r.identifier for r in catalog.search(text="xalq").items}
    assert "tales" in {r.identifier for r in catalog.search(title="халг").items}


@pytest.mark.parametrize(("changes", "named"), [
    ({"year": "19x8"}, "the field 'year'"),
    ({"year": "3000"}, "the field 'year'"),
    ({"title": "Ş" * 1001}, "the field 'title': 1,001 characters long"),
    ({"title": "Şeir\x1blər"}, "the field 'title' holds a control character"),
    ({"collection": "a\x00b"}, "the field 'collection' holds a control character"),
    ({"access": "everyone"}, "the field 'access': access must be one of"),
    ({"embargo_until": "soon"}, "the field 'embargo_until'"),
    ({"title": ""}, "the field 'title' is required"),
])
def test_bad_metadata_is_refused_naming_the_field(desk, changes, named):
    _, catalog, _ = desk
    client = _client(desk)
    _sign_in(client)
    page = client.get("/staff/review/tales")
    before, events = catalog.get("tales"), len(catalog.events("tales"))
    answer = client.post("/staff/review/tales/metadata", data=_metadata_form(page.text, **changes))
    assert answer.status_code == 422, answer.text
    assert named in answer.text.replace("&#39;", "'"), answer.text
    assert "nothing was changed" in answer.text or "required" in answer.text
    assert catalog.get("tales") == before and len(catalog.events("tales")) == events


def test_metadata_edit_needs_csrf_and_an_item_in_review(desk):
    _, catalog, _ = desk
    client = _client(desk)
    assert client.post("/staff/review/tales/metadata", data={"title": "x"}).status_code == 303  # not signed in
    _sign_in(client)
    page = client.get("/staff/review/tales")
    form = _metadata_form(page.text, title="Forged")
    forged = client.post("/staff/review/tales/metadata", data={**form, "csrf_token": "forged"})
    assert forged.status_code == 403 and "CSRF" in forged.text
    missing = client.post("/staff/review/tales/metadata", data={k: v for k, v in form.items() if k != "csrf_token"})
    assert missing.status_code == 403
    assert catalog.get("tales").title == "Азәрбајҹан нағыллары"
    poems = catalog.get("poems")
    published = client.post("/staff/review/poems/metadata", data={**form, "title": "Changed"})
    assert published.status_code == 409 and "published, not in review" in published.text
    assert catalog.get("poems") == poems
    assert all(e.kind != "metadata edited" for e in catalog.events())
