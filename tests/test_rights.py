"""Rights, access and the bibliographic record: item.toml → record.json, MODS, MARC, DC, OAI, and the web."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import warnings
from dataclasses import replace
from datetime import date
from pathlib import Path

import pymarc
import pytest
from lxml import etree

from digitize.archive.marc import marc_record, write_marc
from digitize.archive.mods import MODS_NS, mods_element
from digitize.archive.records import ItemRecord, dublin_core_xml, item_record
from digitize.archive.schemas import validation_errors
from digitize.errors import MetadataError
from digitize.scanners.metadata import read_metadata
from digitize.settings import Settings
from digitize.storage.catalog import Catalog
from digitize.storage.local import LocalObjectStore

from helpers.catalog_data import make_registration

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx2
    from fastapi.testclient import TestClient

from digitize.elibrary import create_app

M = f"{{{MODS_NS}}}"
DC = "{http://purl.org/dc/elements/1.1/}"
IN_COPYRIGHT = "http://rightsstatements.org/vocab/InC/1.0/"

FULL_TOML = f"""\
title = "Азәрбајҹан нағыллары"
authors = ["Һ. Әлизадә"]
year = 1968
rights = "{IN_COPYRIGHT}"
access = "reading-room"
embargo_until = 2031-05-01
publisher = "Азәрнәшр"
place = "Бакы"
edition = "2-ҹи нәшр"
series = "Халг әдәбијјаты"
volume = "3"
subjects = ["Нағыллар", "Фолклор"]
notes = ["Титул вәрәги зәдәлидир."]
parallel_titles = ["Азербайджанские сказки"]
"""


def _full_record(tmp_path: Path) -> ItemRecord:
    toml = tmp_path / "item.toml"
    toml.write_text(FULL_TOML, encoding="utf-8")
    return item_record("tales-3", read_metadata(toml), 4)


def test_item_toml_fields_reach_record_json(tmp_path):
    record = _full_record(tmp_path)
    data = json.loads(record.to_json())
    assert data["rights"] == IN_COPYRIGHT
    assert data["access"] == "reading-room"
    assert data["embargo_until"] == "2031-05-01"
    assert data["publisher"] == "Азәрнәшр" and data["place"] == "Бакы" and data["edition"] == "2-ҹи нәшр"
    assert data["series"] == "Халг әдәбијјаты" and data["volume"] == "3"
    assert data["subjects"] == ["Нағыллар", "Фолклор"]
    assert data["notes"] == ["Титул вәрәги зәдәлидир."]
    assert data["parallel_titles"] == ["Азербайджанские сказки"]
    # Read back (record.json, the web API's registration body): nothing lost.
    assert ItemRecord.from_mapping(data) == record
    assert record.embargo_until == date(2031, 5, 1)


def test_items_without_the_fields_keep_their_outputs(tmp_path):
    """No new key, element or MARC field unless a field is set: older outputs stay byte-identical."""
    toml = tmp_path / "item.toml"
    toml.write_text('title = "Нағыллар"\nauthors = ["Һ. Әлизадә"]\nyear = 1968\ncollection = "Фонд"\n', "utf-8")
    record = item_record("plain", read_metadata(toml), 2)
    assert list(record.to_dict()) == [
        "identifier", "title", "title_latin", "authors", "authors_latin", "year", "language", "script", "kind",
        "inventory_number", "collection", "page_count", "mean_ocr_confidence", "content_hash",
    ]
    mods = etree.tostring(mods_element(record, 2))
    for tag in (b"accessCondition", b"publisher", b"place", b"edition", b"subject", b"note", b'type="series"',
                b'type="translated"'):
        assert tag not in mods, tag
    marc = marc_record(record, 2, "261207", "Library")
    assert [f.tag for f in marc.fields if f.tag in ("250", "506", "540", "650", "500")] == []
    assert [f.tag for f in marc.fields if f.tag == "490"] == ["490"]  # the collection, as before
    assert marc["264"].get_subfields("a", "b", "c") == ["1968"]
    dc = dublin_core_xml(record)
    for name in (b"dc:rights", b"dc:publisher", b"dc:subject", b"dc:description"):
        assert name not in dc


def test_mods_carries_rights_access_and_the_record_and_is_valid(tmp_path):
    record = _full_record(tmp_path)
    mods = mods_element(record, 4, url="https://elib.example.az/items/tales-3")
    assert validation_errors(etree.ElementTree(copy.deepcopy(mods)), "mods") == []
    use = mods.find(f"{M}accessCondition[@type='use and reproduction']")
    assert use is not None and use.get("{http://www.w3.org/1999/xlink}href") == IN_COPYRIGHT
    restriction = mods.find(f"{M}accessCondition[@type='restriction on access']").text
    assert "reading room" in restriction and "2031-05-01" in restriction
    origin = mods.find(f"{M}originInfo")
    assert origin.findtext(f"{M}publisher") == "Азәрнәшр"
    assert origin.findtext(f"{M}place/{M}placeTerm") == "Бакы"
    assert origin.findtext(f"{M}edition") == "2-ҹи нәшр"
    series = mods.find(f"{M}relatedItem[@type='series']/{M}titleInfo")
    assert series.findtext(f"{M}title") == "Халг әдәбијјаты" and series.findtext(f"{M}partNumber") == "3"
    assert [t.text for t in mods.findall(f"{M}subject/{M}topic")] == ["Нағыллар", "Фолклор"]
    assert [n.text for n in mods.findall(f"{M}note")] == ["Титул вәрәги зәдәлидир."]
    assert mods.findtext(f"{M}titleInfo[@type='translated']/{M}title") == "Азербайджанские сказки"


def _yaz(*args: str) -> subprocess.CompletedProcess[bytes]:
    program = shutil.which("yaz-marcdump")
    if program is None:
        pytest.fail("yaz-marcdump not found: apt-get install yaz (bin/setup --test installs it)")
    return subprocess.run([program, *args], capture_output=True, timeout=60, check=False)


def test_marc_carries_the_record_and_reads_back(tmp_path):
    record = _full_record(tmp_path)
    mrc, xml = tmp_path / "r.mrc", tmp_path / "r.xml"
    write_marc(marc_record(record, 4, "261207", "Library"), mrc, xml)
    for args in (("-f", "utf-8", str(mrc)), ("-i", "marcxml", str(xml))):
        done = _yaz(*args)
        assert done.returncode == 0 and not done.stderr.strip(), done.stderr
        assert not [line for line in done.stdout.decode().splitlines() if line.startswith("(")]
    with mrc.open("rb") as handle:
        (back,) = list(pymarc.MARCReader(handle, to_unicode=True, force_utf8=True))
    for read in (back, pymarc.parse_xml_to_array(str(xml))[0]):
        assert read["250"]["a"] == "2-ҹи нәшр"
        assert read["264"].get_subfields("a", "b", "c") == ["Бакы", "Азәрнәшр", "1968"]
        series = [f for f in read.get_fields("490") if f.get_subfields("v")]
        assert [(f["a"], f["v"]) for f in series] == [("Халг әдәбијјаты", "3")]
        assert [f["a"] for f in read.get_fields("500")] == ["Титул вәрәги зәдәлидир."]
        assert read["540"]["u"] == IN_COPYRIGHT
        assert "reading room" in read["506"]["a"] and read["506"]["g"] == "2031-05-01"
        assert [f["a"] for f in read.get_fields("650")] == ["Нағыллар", "Фолклор"]
        parallel = [f for f in read.get_fields("246") if f.indicator2 == "1"]
        assert [f["a"] for f in parallel] == ["Азербайджанские сказки"]
        tags = [f.tag for f in read.fields if f.tag not in ("100", "700")]  # names follow 041 (as before)
        assert tags == sorted(tags), tags


def test_marc_links_no_files_of_a_restricted_item(tmp_path):
    record = _full_record(tmp_path)
    files = (("https://elib.example.az/items/tales-3/files/tales-3.pdf", "application/pdf", "PDF"),)
    item_url = "https://elib.example.az/items/tales-3"
    restricted = marc_record(record, 4, "261207", "Library", item_url=item_url, file_urls=files)
    assert [f["u"] for f in restricted.get_fields("856")] == [item_url]
    public = replace(record, access="public", embargo_until=None)
    opened = marc_record(public, 4, "261207", "Library", item_url=item_url, file_urls=files)
    assert [f["u"] for f in opened.get_fields("856")] == [item_url, files[0][0]]


def test_dublin_core_carries_rights_publisher_subjects_notes(tmp_path):
    record = _full_record(tmp_path)
    root = etree.fromstring(dublin_core_xml(record))
    assert validation_errors(etree.ElementTree(root), "oai_dc") == []
    rights = [e.text for e in root.findall(f"{DC}rights")]
    assert rights[0] == IN_COPYRIGHT and any("reading room" in r for r in rights)
    assert root.findtext(f"{DC}publisher") == "Азәрнәшр"
    assert [e.text for e in root.findall(f"{DC}subject")] == ["Нағыллар", "Фолклор"]
    assert root.findtext(f"{DC}description") == "Титул вәрәги зәдәлидир."


@pytest.mark.parametrize(("line", "field", "words"), [
    ('rights = "http://rightsstatements.org/vocab/MadeUp/1.0/"', "rights", "rightsstatements.org"),
    ('rights = "https://creativecommons.org/licenses/by-xx/9.0/"', "rights", "Creative Commons"),
    ('access = "secret"', "access", "reading-room"),
    ('embargo_until = "tomorrow"', "embargo_until", "YYYY-MM-DD"),
    ("embargo_until = 1900000000", "embargo_until", "YYYY-MM-DD"),
    ('subjects = ["ok", "bad\\u0007"]', "subjects", "value 2: character 4 is U+0007, a control character"),
    (f'publisher = "{"x" * 1001}"', "publisher", "at most"),
    ("volume = 3", "volume", "without series"),
])
def test_bad_values_are_refused_with_the_field_named(tmp_path, line, field, words):
    toml = tmp_path / "item.toml"
    toml.write_text(f'title = "Kitab"\n{line}\n', encoding="utf-8")
    with pytest.raises(MetadataError) as raised:
        read_metadata(toml)
    message = str(raised.value)
    assert f"{field}:" in message and words in message, message


def test_known_rights_and_the_librarys_own_words_are_accepted(tmp_path):
    for rights in (IN_COPYRIGHT, "https://creativecommons.org/licenses/by-sa/4.0/",
                   "http://creativecommons.org/publicdomain/zero/1.0/", "Kitabxananın icazəsi ilə."):
        toml = tmp_path / "item.toml"
        toml.write_text(f'title = "Kitab"\nrights = "{rights}"\n', encoding="utf-8")
        assert read_metadata(toml).rights == rights


# -- the web ---------------------------------------------------------------


@pytest.fixture
def library(tmp_path):
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    for identifier, changes in (
        ("open", {}),
        ("room", {"access": "reading-room"}),
        ("staffonly", {"access": "staff"}),
        ("later", {"embargo_until": date(2999, 1, 1), "rights": IN_COPYRIGHT}),
    ):
        registration = make_registration(
            tmp_path, identifier, f"Kitab {identifier}", ["Һ. Әлизадә"], 1968,
            pages=[f"Mətn {identifier}."], store=store,
        )
        catalog.register(replace(registration, record=replace(registration.record, **changes)))
    yield catalog, store
    catalog.close()


def _client(library, networks: list[str] | None = None, ip: str = "127.0.0.1") -> TestClient:
    catalog, store = library
    settings = Settings(web={"reading_room_networks": networks or []})
    return TestClient(create_app(settings, catalog=catalog, store=store), client=(ip, 50000))


def test_catalog_keeps_the_fields(library):
    catalog, _ = library
    later = catalog.get("later")
    assert later.embargo_until == date(2999, 1, 1) and later.rights == IN_COPYRIGHT and later.access == "public"
    assert catalog.get("room").access == "reading-room"
    assert catalog.get("later").record().embargo_until == date(2999, 1, 1)


def test_reading_room_pdf_only_from_listed_networks(library):
    with _client(library) as client:
        refused = client.get("/items/room/files/room.pdf", headers={"Accept-Language": "en"})
        assert refused.status_code == 403 and "reading room" in refused.text
        # Without a language asked for, the reason is in the default language (az).
        assert "oxu zalında" in client.get("/items/room/files/room.pdf").text
        assert client.get("/items/room/pages/1.png").status_code == 403
        assert client.get("/items/open/files/open.pdf").status_code == 200
    with _client(library, ["127.0.0.0/8"]) as client:
        allowed = client.get("/items/room/files/room.pdf")
        assert allowed.status_code == 200 and allowed.content.startswith(b"%PDF")
    # A forwarded address counts only from a trusted proxy.
    forwarded = {"X-Forwarded-For": "10.1.2.3"}
    with _client(library, ["10.0.0.0/8"]) as client:
        assert client.get("/items/room/files/room.pdf", headers=forwarded).status_code == 403
    catalog, store = library
    settings = Settings(web={"reading_room_networks": ["10.0.0.0/8"], "trusted_proxies": ["127.0.0.1/32"]})
    with TestClient(create_app(settings, catalog=catalog, store=store), client=("127.0.0.1", 50000)) as client:
        assert client.get("/items/room/files/room.pdf", headers=forwarded).status_code == 200
        assert client.get("/items/room/files/room.pdf", headers={"X-Forwarded-For": "8.8.8.8"}).status_code == 403


def test_reading_room_networks_must_be_networks():
    with pytest.raises(ValueError, match="(?s)reading_room_networks.*not a network in CIDR"):
        Settings(web={"reading_room_networks": ["the reading room"]})


def test_staff_item_hidden_from_readers(library):
    with _client(library, ["127.0.0.0/8"]) as client:
        page = client.get("/items/staffonly")
        assert page.status_code == 200 and "Kitab staffonly" in page.text
        assert "staffonly.pdf" not in page.text and "/pages/1.png" not in page.text and "Mətn" not in page.text
        refused = client.get("/items/staffonly/files/staffonly.pdf")
        assert refused.status_code == 403 and "staff" in refused.text
        assert client.get("/api/items/staffonly/pages/1").status_code == 403
        assert "files" not in client.get("/api/items/staffonly").json() or not client.get(
            "/api/items/staffonly").json()["files"]


def test_embargoed_item_shows_metadata_not_files(library):
    with _client(library) as client:
        page = client.get("/items/later")
        assert page.status_code == 200 and "Kitab later" in page.text and "2999-01-01" in page.text
        assert "later.pdf" not in page.text and "Mətn later" not in page.text
        refused = client.get("/items/later/files/later.pdf")
        assert refused.status_code == 403 and "2999-01-01" in refused.text
        assert client.get("/items/later/thumbnail.png").status_code == 403
        search = client.get("/", params={"q": "kitab"})
        assert "Kitab later" in search.text and "/items/later/thumbnail.png" not in search.text
        assert "/items/open/thumbnail.png" in search.text
        # The open item is untouched.
        open_page = client.get("/items/open")
        assert "open.pdf" in open_page.text and "Mətn open" in open_page.text


def test_oai_record_of_a_restricted_item_has_no_file_links(library):
    with _client(library) as client:
        for identifier in ("room", "staffonly", "later"):
            answer = client.get("/oai", params={
                "verb": "GetRecord", "identifier": f"oai:elibrary.local:{identifier}", "metadataPrefix": "oai_dc",
            })
            assert answer.status_code == 200
            root = etree.fromstring(answer.content)
            dc = root.find(".//{http://www.openarchives.org/OAI/2.0/oai_dc/}dc")
            assert dc is not None and dc.findtext(f"{DC}title") == f"Kitab {identifier}"
            assert b"/files/" not in answer.content and b".pdf" not in answer.content
            assert any("restricted" in (r.text or "") or "embargo" in (r.text or "")
                       for r in dc.findall(f"{DC}rights")), identifier
