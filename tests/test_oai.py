"""OAI-PMH 2.0, harvested with the sickle client from a real server on 127.0.0.1."""

from __future__ import annotations

import httpx
import pytest
from lxml import etree
from sickle import Sickle
from sickle.oaiexceptions import (
    BadArgument,
    BadResumptionToken,
    CannotDisseminateFormat,
    IdDoesNotExist,
    NoRecordsMatch,
)

from digitize.elibrary import create_app
from digitize.settings import Settings
from digitize.storage.catalog import Catalog

from helpers.catalog_data import make_registration
from helpers.live_server import serve

NS = {"oai": "http://www.openarchives.org/OAI/2.0/", "dc": "http://purl.org/dc/elements/1.1/"}
ITEMS = 23  # with pages of 5: five requests per full list


@pytest.fixture(scope="module")
def harvest_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("oai")
    catalog = Catalog(f"sqlite:///{folder / 'catalog.sqlite3'}")
    for n in range(ITEMS):
        catalog.register(make_registration(
            folder, f"item-{n:02d}", f"Китаб {n}", ["Һ. Әлизадә"], 1950 + n,
            kind="score" if n % 5 == 0 else "text",
            collection="Kollec kitabxanası" if n % 2 else "Əlyazmalar <&>",
        ))
    catalog.withdraw("item-07")
    settings = Settings(web={"oai_page_size": 5, "oai_repository_id": "elib.test", "admin_email": "a@elib.test"})
    with serve(create_app(settings, catalog=catalog)) as url:
        yield url, catalog
    catalog.close()


def _sickle(url: str) -> Sickle:
    return Sickle(url + "/oai", max_retries=1, timeout=10)


def test_identify(harvest_server):
    url, _ = harvest_server
    identify = _sickle(url).Identify()
    assert identify.protocolVersion == "2.0"
    assert identify.baseURL == url + "/oai"
    assert identify.deletedRecord == "persistent"
    assert identify.granularity == "YYYY-MM-DDThh:mm:ssZ"
    assert identify.adminEmail == "a@elib.test"


def test_formats_and_sets(harvest_server):
    url, _ = harvest_server
    sickle = _sickle(url)
    assert [f.metadataPrefix for f in sickle.ListMetadataFormats()] == ["oai_dc"]
    assert [f.metadataPrefix for f in sickle.ListMetadataFormats(identifier="oai:elib.test:item-01")] == ["oai_dc"]
    specs = {s.setSpec: s.setName for s in sickle.ListSets()}
    assert specs["kind:score"] == "Kind: score"
    assert specs["collection:kollec-kitabxanasi"] == "Collection: Kollec kitabxanası"
    assert specs["collection:elyazmalar"] == "Collection: Əlyazmalar <&>"


def test_list_records_pages_through_every_item_once(harvest_server):
    url, _ = harvest_server
    records = list(_sickle(url).ListRecords(metadataPrefix="oai_dc"))
    identifiers = [r.header.identifier for r in records]
    assert len(identifiers) == ITEMS == len(set(identifiers))
    deleted = [r for r in records if r.header.deleted]
    assert [r.header.identifier for r in deleted] == ["oai:elib.test:item-07"]
    live = next(r for r in records if r.header.identifier == "oai:elib.test:item-03")
    assert "Китаб 3" in live.metadata["title"] and "Kitab 3" in live.metadata["title"]
    assert live.metadata["creator"] == ["Һ. Әлизадә", "H. Əlizadə"]
    assert f"{url}/items/item-03" in live.metadata["identifier"]
    headers = list(_sickle(url).ListIdentifiers(metadataPrefix="oai_dc", set="kind:score"))
    assert [h.identifier for h in headers] == [f"oai:elib.test:item-{n:02d}" for n in (0, 5, 10, 15, 20)]
    odd = list(_sickle(url).ListIdentifiers(metadataPrefix="oai_dc", set="collection:kollec-kitabxanasi"))
    assert len(odd) == 11


def test_resumption_tokens_carry_list_size_and_cursor(harvest_server):
    url, _ = harvest_server
    first = etree.fromstring(
        httpx.get(url + "/oai", params={"verb": "ListIdentifiers", "metadataPrefix": "oai_dc"}).content
    )
    token = first.find(".//oai:resumptionToken", NS)
    assert token.get("completeListSize") == str(ITEMS) and token.get("cursor") == "0" and token.text
    second = etree.fromstring(
        httpx.get(url + "/oai", params={"verb": "ListIdentifiers", "resumptionToken": token.text}).content
    )
    assert second.find(".//oai:resumptionToken", NS).get("cursor") == "5"
    assert len(second.findall(".//oai:header", NS)) == 5


def test_get_record_and_selective_harvest(harvest_server):
    url, catalog = harvest_server
    sickle = _sickle(url)
    record = sickle.GetRecord(identifier="oai:elib.test:item-04", metadataPrefix="oai_dc")
    assert record.metadata["date"] == ["1954"]
    gone = sickle.GetRecord(identifier="oai:elib.test:item-07", metadataPrefix="oai_dc")
    assert gone.header.deleted and "<metadata" not in gone.raw
    stamp = catalog.get("item-07").updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    changed = [h.identifier for h in sickle.ListIdentifiers(metadataPrefix="oai_dc", **{"from": stamp})]
    assert "oai:elib.test:item-07" in changed
    day = stamp[:10]
    assert len(list(sickle.ListIdentifiers(metadataPrefix="oai_dc", **{"from": day, "until": day}))) == ITEMS
    with pytest.raises(NoRecordsMatch):
        list(sickle.ListIdentifiers(metadataPrefix="oai_dc", until="2000-01-01"))


def test_error_codes(harvest_server):
    url, _ = harvest_server
    sickle = _sickle(url)
    assert 'code="badVerb"' in sickle.harvest(verb="Dance").raw
    with pytest.raises(IdDoesNotExist):
        sickle.GetRecord(identifier="oai:elib.test:nope", metadataPrefix="oai_dc")
    with pytest.raises(IdDoesNotExist):
        sickle.GetRecord(identifier="oai:other.repo:item-01", metadataPrefix="oai_dc")
    with pytest.raises(CannotDisseminateFormat):
        sickle.GetRecord(identifier="oai:elib.test:item-01", metadataPrefix="marc21")
    with pytest.raises(CannotDisseminateFormat):
        sickle.ListRecords(metadataPrefix="marc21")
    with pytest.raises(BadArgument):
        sickle.ListRecords(metadataPrefix="oai_dc", **{"from": "2024-13-45"})
    with pytest.raises(BadArgument):
        sickle.ListRecords(metadataPrefix="oai_dc", **{"from": "2024-01-01", "until": "2024-01-02T00:00:00Z"})
    with pytest.raises(BadArgument):
        sickle.ListRecords(metadataPrefix="oai_dc", **{"from": "2025-01-02", "until": "2025-01-01"})
    with pytest.raises(BadArgument):
        sickle.ListIdentifiers()  # no metadataPrefix
    with pytest.raises(BadResumptionToken):
        sickle.ListRecords(resumptionToken="not-a-token")
    with pytest.raises(NoRecordsMatch):
        sickle.ListRecords(metadataPrefix="oai_dc", set="collection:nothing-here")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "badVerb"),
        ({"verb": ["Identify", "Identify"]}, "badVerb"),
        ({"verb": "Identify", "extra": "1"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": ["oai_dc", "oai_dc"]}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "resumptionToken": "x"}, "badArgument"),
        ({"verb": "ListSets", "resumptionToken": "x"}, "badResumptionToken"),
    ],
)
def test_request_errors_on_the_wire(harvest_server, params, code):
    url, _ = harvest_server
    response = httpx.get(url + "/oai", params=params)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    doc = etree.fromstring(response.content)
    assert doc.find("oai:error", NS).get("code") == code
    request = doc.find("oai:request", NS)
    if code in ("badVerb", "badArgument"):
        assert dict(request.attrib) == {}  # the spec: no attributes echoed for these


def test_post_requests_work_too(harvest_server):
    url, _ = harvest_server
    response = httpx.post(url + "/oai", data={"verb": "Identify"})
    assert etree.fromstring(response.content).find("oai:Identify/oai:protocolVersion", NS).text == "2.0"
