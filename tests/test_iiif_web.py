"""The IIIF routes of the e-library (elibrary/iiif.py): manifests, collection, info.json and tiles from the store."""

from __future__ import annotations

import io
import json
import warnings
from datetime import date, timedelta

import httpx
import pytest
from iiif_prezi3 import Collection, Manifest
from PIL import Image

from digitize.delivery import publish as publish_module
from digitize.delivery.audit import audit_store
from digitize.delivery.publish import publish_item
from digitize.errors import OutputError
from digitize.settings import AuditSettings, Settings
from digitize.storage.catalog import Catalog, ReviewState
from digitize.storage.local import LocalObjectStore
from digitize.storage.s3 import S3ObjectStore

from helpers.live_server import serve
from helpers.reader_item import FIRST_PRINTED, make_reader_item

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx2
    from fastapi.testclient import TestClient

from digitize.elibrary import create_app

MANIFEST_TYPE = 'application/ld+json;profile="http://iiif.io/api/presentation/3/context.json"'


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    return make_reader_item(tmp_path_factory.getbasetemp() / "reader")


@pytest.fixture
def library(tmp_path, reader):
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    publish_item(reader.item, reader.outputs, reader.pages, store, catalog, batch="b")
    client = TestClient(create_app(Settings(), catalog=catalog, store=store))
    yield client, catalog, store, reader.item.item_id
    catalog.close()


def test_manifest_is_served_with_its_type_cors_and_etag(library, reader):
    client, _, _, identifier = library
    answer = client.get(f"/iiif/{identifier}/manifest.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == MANIFEST_TYPE
    assert answer.headers["access-control-allow-origin"] == "*"
    document = answer.json()
    Manifest(**document)
    assert document["id"] == f"http://testserver/iiif/{identifier}/manifest.json"
    assert [c["label"]["none"][0] for c in document["items"]] == [
        str(FIRST_PRINTED + n) for n in range(len(reader.pages))
    ]
    assert [(c["width"], c["height"]) for c in document["items"]] == [(p.width, p.height) for p in reader.pages]
    assert document["items"][0]["seeAlso"][0]["id"] == f"http://testserver/items/{identifier}/files/alto/0001.xml"
    assert {r["format"] for r in document["rendering"]} == {"application/pdf", "application/epub+zip"}
    assert document["service"][0]["type"] == "SearchService2"
    etag = answer.headers["etag"]
    cached = client.get(f"/iiif/{identifier}/manifest.json", headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.headers["access-control-allow-origin"] == "*"
    for href in (document["items"][0]["seeAlso"][0]["id"], document["thumbnail"][0]["id"]):
        assert client.get(href.removeprefix("http://testserver")).status_code == 200
    api = client.get(f"/api/items/{identifier}").json()
    assert api["iiif_manifest"] == f"http://testserver/iiif/{identifier}/manifest.json"


def test_info_json_and_every_tile_are_served_from_the_store(library):
    client, _, _, identifier = library
    document = client.get(f"/iiif/{identifier}/manifest.json").json()
    for canvas in document["items"]:
        service = canvas["items"][0]["items"][0]["body"]["service"][0]["id"]
        path = service.removeprefix("http://testserver")
        info = client.get(f"{path}/info.json")
        assert info.status_code == 200 and info.headers["access-control-allow-origin"] == "*"
        data = info.json()
        assert data["id"] == service  # the stored placeholder rewritten to this site's URL
        assert data["profile"] == "level0"
        width, height, tile = data["width"], data["height"], data["tiles"][0]["width"]
        fetched = 0
        for scale in data["tiles"][0]["scaleFactors"]:
            step = tile * scale
            for y in range(0, height, step):
                for x in range(0, width, step):
                    w, h = min(step, width - x), min(step, height - y)
                    size = (-(-w // scale), -(-h // scale))
                    region = "full" if (x, y, w, h) == (0, 0, width, height) else f"{x},{y},{w},{h}"
                    label = "max" if size == (width, height) else f"{size[0]},{size[1]}"
                    answer = client.get(f"{path}/{region}/{label}/0/default.jpg")
                    assert answer.status_code == 200, (region, label)
                    assert answer.headers["content-type"] == "image/jpeg"
                    assert Image.open(io.BytesIO(answer.content)).size == size
                    fetched += 1
        assert fetched
        small = data["sizes"][0]
        thumb = client.get(f"{path}/full/{small['width']},{small['height']}/0/default.jpg")
        assert Image.open(io.BytesIO(thumb.content)).size == (small["width"], small["height"])
        again = client.get(f"{path}/full/{small['width']},{small['height']}/0/default.jpg",
                           headers={"If-None-Match": thumb.headers["etag"]})
        assert again.status_code == 304


@pytest.mark.parametrize("path", [
    "/iiif/{id}/pages/0/info.json",
    "/iiif/{id}/pages/99/info.json",
    "/iiif/{id}/pages/abc/info.json",
    "/iiif/{id}/pages/99999999999999999999/info.json",
    "/iiif/{id}/pages/1/0,0,1,1/1,1/0/default.jpg",
    "/iiif/{id}/pages/1/full/max/0/default.png",
    "/iiif/{id}/pages/1/full/max/90/default.jpg",
    "/iiif/{id}/pages/1/-5,x,%00,9/max/0/default.jpg",
    "/iiif/{id}/pages/1/..%2F..%2F..%2Fmanifest.json/max/0/default.jpg",
    "/iiif/{id}/pages/1/%2e%2e/%2e%2e/0/info.json",
    "/iiif/{id}/pages/1/full/max/0/..%2F..%2Finfo.json",
    "/iiif/no-such-item/manifest.json",
    "/iiif/no-such-item/pages/1/info.json",
    "/iiif/%2e%2e/manifest.json",
])
def test_bad_requests_are_refused_never_a_server_error(library, path):
    client, _, _, identifier = library
    answer = client.get(path.replace("{id}", identifier))
    assert answer.status_code in (400, 404, 422), (path, answer.status_code, answer.text[:200])


def test_restricted_withdrawn_and_unpublished_items_are_not_served(library):
    client, catalog, _, identifier = library
    urls = [f"/iiif/{identifier}/manifest.json", f"/iiif/{identifier}/pages/1/info.json"]
    info = client.get(urls[1]).json()
    urls.append(f"/iiif/{identifier}/pages/1/full/{info['sizes'][0]['width']},{info['sizes'][0]['height']}"
                "/0/default.jpg")
    assert [client.get(url).status_code for url in urls] == [200, 200, 200]
    assert identifier in client.get("/iiif/collection.json").text

    record = catalog.get(identifier).record()
    staff = record.__class__(**{**record.__dict__, "access": "staff"})
    catalog.edit_record(identifier, staff, actor="test", states=(ReviewState.PUBLISHED,))
    for url in urls:
        answer = client.get(url)
        assert answer.status_code == 403 and answer.headers["access-control-allow-origin"] == "*"
    assert identifier not in client.get("/iiif/collection.json").text

    later = record.__class__(**{**record.__dict__, "embargo_until": date.today() + timedelta(days=30)})
    catalog.edit_record(identifier, later, actor="test", states=(ReviewState.PUBLISHED,))
    assert {client.get(url).status_code for url in urls} == {403}

    catalog.edit_record(identifier, record, actor="test", states=(ReviewState.PUBLISHED,))
    assert {client.get(url).status_code for url in urls} == {200}
    catalog.withdraw(identifier, "test")
    assert {client.get(url).status_code for url in urls} == {410}
    assert identifier not in client.get("/iiif/collection.json").text


def test_collection_lists_public_items(library):
    client, _, _, identifier = library
    answer = client.get("/iiif/collection.json")
    assert answer.headers["content-type"] == MANIFEST_TYPE
    assert answer.headers["access-control-allow-origin"] == "*"
    document = answer.json()
    Collection(**document)
    assert [m["id"] for m in document["items"]] == [f"http://testserver/iiif/{identifier}/manifest.json"]


def test_an_item_without_tiles_has_a_manifest_of_page_images(tmp_path, reader, monkeypatch):
    def fails(*args, **kwargs):
        raise OutputError("no tiles (simulated)")

    monkeypatch.setattr(publish_module, "publish_tiles", fails)
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    publish_item(reader.item, reader.outputs, reader.pages, store, catalog, batch="b")
    client = TestClient(create_app(Settings(), catalog=catalog, store=store))
    identifier = reader.item.item_id
    document = client.get(f"/iiif/{identifier}/manifest.json").json()
    Manifest(**document)
    body = document["items"][1]["items"][0]["items"][0]["body"]
    assert body["id"] == f"http://testserver/items/{identifier}/pages/2.png" and "service" not in body
    assert (document["items"][1]["width"], document["items"][1]["height"]) == (reader.pages[1].width,
                                                                               reader.pages[1].height)
    assert client.get(body["id"].removeprefix("http://testserver")).status_code == 200
    assert client.get(f"/iiif/{identifier}/pages/2/info.json").status_code == 404
    catalog.close()


@pytest.mark.slow
def test_tiles_in_seaweedfs_served_over_http_and_audited(tmp_path, reader, seaweed):
    store = S3ObjectStore(seaweed.storage_settings(prefix="iiif-web/"))
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    published = publish_item(reader.item, reader.outputs, reader.pages, store, catalog, batch="b")
    assert published.tiles is not None and published.tiles.uploaded == published.tiles.files + 1
    assert publish_item(reader.item, reader.outputs, reader.pages, store, catalog, batch="b").tiles.uploaded == 0
    assert audit_store(store, catalog, AuditSettings()).ok
    identifier = reader.item.item_id
    with serve(create_app(Settings(), catalog=catalog, store=store)) as base:
        document = httpx.get(f"{base}/iiif/{identifier}/manifest.json", headers={"Origin": "https://viewer.example"})
        assert document.headers["access-control-allow-origin"] == "*"
        service = document.json()["items"][0]["items"][0]["items"][0]["body"]["service"][0]["id"]
        info = httpx.get(f"{service}/info.json").json()
        assert info["id"] == service
        first = httpx.get(f"{service}/0,0,{info['tiles'][0]['width']},{info['tiles'][0]['width']}/"
                          f"{info['tiles'][0]['width']},{info['tiles'][0]['width']}/0/default.jpg")
        assert first.status_code == 200 and first.content[:2] == b"\xff\xd8"
        assert json.loads(httpx.get(f"{base}/iiif/collection.json").text)["items"]
    catalog.close()
