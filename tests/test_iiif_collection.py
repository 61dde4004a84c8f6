"""The IIIF collection stays bounded: over ``_PART_SIZE`` published items it lists parts, each a collection.

The part size is made 2 here (1,000 in service), so five items make three parts.
"""

from __future__ import annotations

import dataclasses
import warnings

import pytest
from iiif_prezi3 import Collection

from digitize.elibrary import create_app
from digitize.elibrary import iiif as iiif_routes
from digitize.settings import Settings
from digitize.storage.catalog import Catalog
from digitize.storage.local import LocalObjectStore

from helpers.catalog_data import make_registration

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TITLES = ["Ağ", "Bakı", "Çay", "Dəniz", "Əlifba"]  # Azerbaijani order: Ə after D (and after E)


@pytest.fixture
def client(tmp_path):
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    for number, title in enumerate(TITLES, start=1):
        registration = make_registration(tmp_path, f"item-{number}", title, ["Müəllif"], 1970, script="Latn",
                                         pages=["Söz."], store=store)
        if title == "Çay":  # restricted: counted in its part's positions, not listed
            registration = dataclasses.replace(
                registration, record=dataclasses.replace(registration.record, access="staff"))
        catalog.register(registration)
    with TestClient(create_app(Settings(), catalog=catalog, store=store)) as test_client:
        yield test_client
    catalog.close()


def _ids(document) -> list[str]:
    return [entry["id"].rsplit("/iiif/", 1)[1] for entry in document["items"]]


def test_small_catalog_lists_manifests(client):
    document = client.get("/iiif/collection.json").json()
    Collection(**document)
    assert _ids(document) == ["item-1/manifest.json", "item-2/manifest.json", "item-4/manifest.json",
                              "item-5/manifest.json"]
    assert client.get("/iiif/collection/1.json").status_code == 404  # no parts while it fits in one


def test_large_catalog_lists_parts_each_bounded(client, monkeypatch):
    monkeypatch.setattr(iiif_routes, "_PART_SIZE", 2)
    top = client.get("/iiif/collection.json")
    assert top.status_code == 200 and top.headers["access-control-allow-origin"] == "*"
    document = top.json()
    Collection(**document)
    assert _ids(document) == ["collection/1.json", "collection/2.json", "collection/3.json"]
    assert [entry["type"] for entry in document["items"]] == ["Collection"] * 3
    assert document["items"][2]["label"] == {"az": ["Nəşrlər 5–5"], "ru": ["Издания 5–5"], "en": ["Items 5–5"]}

    parts = [client.get(f"/iiif/collection/{n}.json").json() for n in (1, 2, 3)]
    for part in parts:
        Collection(**part)
        assert part["partOf"] == [{"id": "http://testserver/iiif/collection.json", "type": "Collection"}]
    # Title order, Azerbaijani collation; the restricted item (Çay) keeps its position but is not listed.
    assert [_ids(part) for part in parts] == [
        ["item-1/manifest.json", "item-2/manifest.json"], ["item-4/manifest.json"], ["item-5/manifest.json"]]
    assert parts[1]["label"]["en"] == ["Digitized holdings: Items 3–4"]

    for bad in ("/iiif/collection/4.json", "/iiif/collection/0.json", "/iiif/collection/x.json"):
        assert client.get(bad).status_code in (404, 422), bad
    assert client.head("/iiif/collection/2.json").status_code == 200
