"""IIIF: manifests (archive.iiif), level-0 tiles (assembly.tiles), publishing and auditing them (delivery.tiles)."""

from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path

import img2pdf
import numpy as np
import pikepdf
import pytest
from iiif_prezi3 import Collection, Manifest
from PIL import Image

from digitize.archive.iiif import (
    ALTO_PROFILE,
    CanvasSource,
    ImageService,
    LinkedFile,
    ManifestSource,
    build_collection,
    build_manifest,
    to_json,
)
from digitize.archive.records import ItemRecord
from digitize.assembly.tiles import INDEX_NAME, TilesIndex, make_item_tiles, page_tiles, work_file
from digitize.delivery import publish as publish_module
from digitize.delivery.audit import audit_store
from digitize.delivery.publish import publish_item
from digitize.delivery.tiles import TILES_EVENT, recorded_tiles, tile_key, tiles_for_stored_item, tiles_prefix
from digitize.errors import OutputError
from digitize.settings import AuditSettings
from digitize.storage.catalog import Catalog
from digitize.storage.local import LocalObjectStore

from helpers.reader_item import FIRST_PRINTED, make_reader_item

BASE = "https://library.example"
RECORD = ItemRecord(
    identifier="az-1968-0042",
    title="Азәрбајҹан нағыллары",
    title_latin="Azərbaycan nağılları",
    authors=("Һ. Әлизадә",),
    authors_latin=("H. Əlizadə",),
    year=1968,
    language="az",
    script="Cyrl",
    publisher="Јазычы",
    subjects=("Нағыллар",),
    rights="http://rightsstatements.org/vocab/InC/1.0/",
)


def _noise(width: int, height: int, bands: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (height, width) if bands == 1 else (height, width, bands)
    return (rng.random(shape) * 255).astype(np.uint8)


def _vips(array: np.ndarray):  # noqa: ANN202 - pyvips is untyped
    import pyvips

    return pyvips.Image.new_from_array(array)


# -- tiles ----------------------------------------------------------------------


def test_tiles_cover_every_level_with_the_sizes_the_image_api_gives(tmp_path):
    width, height = 1165, 1654
    service, files = page_tiles(_vips(_noise(width, height)), tmp_path, 1, tile=512)
    written = [f.path for f in files]
    assert (service.width, service.height) == (width, height)
    assert service.scale_factors == (1, 2)  # at 1/4 the page fits in one tile: that is the whole-page size
    assert service.sizes == ((292, 414),)
    info = json.loads(work_file(tmp_path, 1, "info.json").read_text())
    assert info["profile"] == "level0" and info["type"] == "ImageService3"
    assert info["tiles"] == [{"width": 512, "scaleFactors": [1, 2]}]
    assert info["sizes"] == [{"width": 292, "height": 414}]
    assert (info["width"], info["height"]) == (width, height)
    for scale in service.scale_factors:
        step = 512 * scale
        for y in range(0, height, step):
            for x in range(0, width, step):
                w, h = min(step, width - x), min(step, height - y)
                path = f"{x},{y},{w},{h}/{math.ceil(w / scale)},{math.ceil(h / scale)}/0/default.jpg"
                assert path in written, path
                with Image.open(work_file(tmp_path, 1, path)) as tile:
                    assert tile.size == (math.ceil(w / scale), math.ceil(h / scale))
                    assert tile.format == "JPEG"
    with Image.open(work_file(tmp_path, 1, "full/292,414/0/default.jpg")) as small:
        assert small.size == (292, 414)
    assert len(written) == 12 + 4 + 1 + 1  # tiles at 1 and 1/2, the whole page, info.json


def test_a_page_smaller_than_a_tile_is_one_full_image(tmp_path):
    service, files = page_tiles(_vips(_noise(300, 400, bands=3)), tmp_path, 7, tile=512)
    assert service.scale_factors == (1,)
    assert sorted(f.path for f in files) == ["full/300,400/0/default.jpg", "full/max/0/default.jpg", "info.json"]
    names = sorted(work_file(tmp_path, 7, f.path).name for f in files)
    assert sorted(p.name for p in (tmp_path / "7").iterdir()) == names  # flat: one folder per page
    with Image.open(work_file(tmp_path, 7, "full/max/0/default.jpg")) as image:
        assert image.size == (300, 400) and image.mode == "RGB"


def _pdf(path: Path) -> list[tuple[int, int]]:
    """A PDF whose pages hold each kind of image the pipeline embeds: JPEG 2000, JPEG, G4, PNG (a score)."""
    pages = []
    sizes = [(1165, 1654), (1100, 1500), (1748, 2480), (600, 450)]
    for index, (width, height) in enumerate(sizes):
        buffer = io.BytesIO()
        if index == 0:
            Image.fromarray(_noise(width, height, seed=1)).save(
                buffer, format="JPEG2000", quality_mode="rates", quality_layers=[18], irreversible=True, no_jp2=False
            )
        elif index == 1:
            Image.fromarray(_noise(width, height, seed=2)).save(buffer, format="JPEG", quality=85)
        elif index == 2:
            Image.fromarray(_noise(width, height, seed=3) > 128).convert("1").save(
                buffer, format="TIFF", compression="group4", dpi=(300, 300)
            )
        else:
            Image.fromarray(_noise(width, height, bands=3, seed=4)).save(buffer, format="PNG")
        pages.append(buffer.getvalue())
    path.write_bytes(img2pdf.convert(pages, layout_fun=img2pdf.get_fixed_dpi_layout_fun((200, 200))))
    return sizes


def test_item_tiles_from_each_kind_of_page_image_and_reused_on_a_rerun(tmp_path):
    pdf = tmp_path / "item.pdf"
    sizes = _pdf(pdf)
    with pikepdf.open(pdf, allow_overwriting_input=True) as document:  # printed labels: ii, iii, 1, 2
        document.Root.PageLabels = pikepdf.Dictionary(Nums=pikepdf.Array([
            0, pikepdf.Dictionary(S=pikepdf.Name.r, St=2), 2, pikepdf.Dictionary(S=pikepdf.Name.D, St=1),
        ]))
        document.save(pdf)
    folder = tmp_path / "iiif"
    index = make_item_tiles("x", pdf, folder, {1: (1748, 2480)})
    assert [p.seq for p in index.pages] == [1, 2, 3, 4]
    assert [p.label for p in index.pages] == ["ii", "iii", "1", "2"]
    assert [(p.service.width, p.service.height) for p in index.pages] == sizes
    assert (index.pages[0].canvas_width, index.pages[0].canvas_height) == (1748, 2480)  # as given (OCR's pixels)
    assert (index.pages[1].canvas_width, index.pages[1].canvas_height) == sizes[1]  # not given: the image's
    for page in index.pages:
        for f in page.files:
            data = work_file(folder, page.seq, f.path).read_bytes()
            assert (len(data), hashlib.sha256(data).hexdigest()) == (f.size, f.sha256)
    assert TilesIndex.from_json((folder / INDEX_NAME).read_text()) == index
    mtimes = {p: p.stat().st_mtime_ns for p in folder.rglob("*.jpg")}
    assert make_item_tiles("x", pdf, folder, {1: (1748, 2480)}) == index
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*.jpg")} == mtimes  # reused, not made again
    again = make_item_tiles("x", pdf, tmp_path / "other", threads=2)  # made afresh, two pages at a time: same bytes
    assert [f.sha256 for p in again.pages for f in p.files] == [f.sha256 for p in index.pages for f in p.files]


def test_a_file_that_is_no_pdf_is_an_output_error(tmp_path):
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"not a pdf")
    with pytest.raises(OutputError):
        make_item_tiles("x", bad, tmp_path / "iiif")


# -- manifests ------------------------------------------------------------------


def _service(width: int = 1165, height: int = 1654) -> ImageService:
    return ImageService(width, height, 512, (1, 2), ((292, 414),))


def _source(record: ItemRecord = RECORD, canvases: tuple[CanvasSource, ...] | None = None) -> ManifestSource:
    if canvases is None:
        canvases = tuple(
            CanvasSource(seq, 1748, 2480, label=str(26 + seq), service=_service(),
                         see_also=(LinkedFile(f"{BASE}/items/x/files/alto/{seq:04d}.xml", "application/xml",
                                              profile=ALTO_PROFILE),))
            for seq in (3, 1, 2)  # given out of order
        )
    return ManifestSource(
        record, canvases, homepage=f"{BASE}/items/{record.identifier}",
        thumbnail=LinkedFile(f"{BASE}/items/x/files/thumbnail.jpg", "image/jpeg"),
        rendering=(LinkedFile(f"{BASE}/x.pdf", "application/pdf", "PDF"),
                   LinkedFile(f"{BASE}/x.epub", "application/epub+zip", "EPUB")),
        see_also=(LinkedFile(f"{BASE}/x.mets.xml", "application/xml", "METS", "http://www.loc.gov/METS/"),),
        provider="Kitabxana",
    )


def test_manifest_loads_in_iiif_prezi3_with_canvases_in_order_and_printed_labels():
    document = json.loads(to_json(build_manifest(_source(), BASE)))
    manifest = Manifest(**document)  # the Presentation 3 models accept it
    assert manifest.id == f"{BASE}/iiif/az-1968-0042/manifest.json"
    assert [c["id"] for c in document["items"]] == [f"{BASE}/iiif/az-1968-0042/canvas/{n}" for n in (1, 2, 3)]
    assert [c["label"] for c in document["items"]] == [{"none": ["27"]}, {"none": ["28"]}, {"none": ["29"]}]
    canvas = document["items"][0]
    assert (canvas["width"], canvas["height"]) == (1748, 2480)
    body = canvas["items"][0]["items"][0]["body"]
    assert body["service"] == [{"id": f"{BASE}/iiif/az-1968-0042/pages/1", "type": "ImageService3",
                                "profile": "level0"}]
    assert body["id"] == f"{BASE}/iiif/az-1968-0042/pages/1/full/292,414/0/default.jpg"
    assert canvas["items"][0]["items"][0]["target"] == canvas["id"]
    assert canvas["seeAlso"][0]["profile"] == ALTO_PROFILE
    assert document["service"] == [{"id": f"{BASE}/iiif/az-1968-0042/search", "type": "SearchService2"}]
    assert [r["format"] for r in document["rendering"]] == ["application/pdf", "application/epub+zip"]
    assert document["seeAlso"][0]["profile"] == "http://www.loc.gov/METS/"
    assert document["thumbnail"][0]["id"].endswith("/thumbnail.jpg")
    assert document["behavior"] == ["paged"]


def test_manifest_metadata_in_both_scripts_and_rights():
    document = build_manifest(_source(), BASE)
    assert document["label"] == {"az-Cyrl": ["Азәрбајҹан нағыллары"], "az-Latn": ["Azərbaycan nağılları"]}
    fields = {entry["label"]["en"][0]: entry["value"] for entry in document["metadata"]}
    assert fields["Author"] == {"az-Cyrl": ["Һ. Әлизадә"], "az-Latn": ["H. Əlizadə"]}
    assert fields["Publisher"] == {"az-Cyrl": ["Јазычы"], "az-Latn": ["Yazıçı"]}  # transliterated here
    assert fields["Subject"]["az-Latn"] == ["Nağıllar"]
    assert fields["Date"] == {"none": ["1968"]}
    assert document["rights"] == "http://rightsstatements.org/vocab/InC/1.0/"
    assert document["requiredStatement"]["value"] == {"none": ["http://rightsstatements.org/vocab/InC/1.0/"]}
    assert document["navDate"] == "1968-01-01T00:00:00Z"

    words = RECORD.__class__(**{**RECORD.__dict__, "rights": "Müəllif hüquqları qorunur.", "access": "reading-room"})
    document = build_manifest(_source(words), BASE)
    assert "rights" not in document  # IIIF takes only rightsstatements.org and Creative Commons URIs there
    assert document["requiredStatement"]["value"] == {
        "none": ["Müəllif hüquqları qorunur."], "en": ["Access restricted to the library's reading room."],
    }
    latin = RECORD.__class__(**{**RECORD.__dict__, "script": "Latn", "title": "Şeirlər", "title_latin": "Şeirlər",
                                "authors": ("Məmməd Araz",), "authors_latin": ("Məmməd Araz",),
                                "publisher": None, "subjects": ()})
    assert build_manifest(_source(latin), BASE)["label"] == {"az-Latn": ["Şeirlər"]}
    Manifest(**json.loads(to_json(document)))


def test_manifest_without_tiles_paints_the_page_images():
    canvases = (CanvasSource(1, 1748, 2480, fallback=LinkedFile(f"{BASE}/items/x/pages/1.png", "image/png"),
                             fallback_width=900),)
    document = build_manifest(_source(canvases=canvases), BASE)
    body = document["items"][0]["items"][0]["items"][0]["body"]
    assert body == {"id": f"{BASE}/items/x/pages/1.png", "type": "Image", "format": "image/png",
                    "width": 900, "height": 1277}
    assert "thumbnail" not in document["items"][0]
    assert document["items"][0]["label"] == {"none": ["1"]}  # no printed label known: the sequence number
    Manifest(**json.loads(to_json(document)))
    with pytest.raises(OutputError):
        build_manifest(_source(canvases=(CanvasSource(1, 10, 10),)), BASE)


def test_collection_loads_in_iiif_prezi3():
    document = build_collection(BASE, "Kitabxana", [RECORD])
    Collection(**json.loads(to_json(document)))
    assert document["items"][0]["id"] == f"{BASE}/iiif/az-1968-0042/manifest.json"


# -- publishing and auditing ------------------------------------------------------


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    return make_reader_item(tmp_path_factory.getbasetemp() / "reader")


def _published(tmp_path, reader):
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    return store, catalog, publish_item(reader.item, reader.outputs, reader.pages, store, catalog, batch="b")


def test_publish_stores_tiles_the_audit_proves_and_a_rerun_sends_nothing(tmp_path, reader):
    store, catalog, published = _published(tmp_path, reader)
    identifier = reader.item.item_id
    tiles = published.tiles
    assert tiles is not None and tiles.recorded
    assert len(tiles.index.pages) == len(reader.pages)
    assert tiles.uploaded == tiles.files + 1  # every tile and info.json, and the index
    assert [p.label for p in tiles.index.pages] == [str(FIRST_PRINTED + n) for n in range(len(reader.pages))]
    assert [(p.canvas_width, p.canvas_height) for p in tiles.index.pages] == [(p.width, p.height) for p in reader.pages]
    stored = set(store.list(tiles_prefix(identifier)))
    assert len(stored) == tiles.files + 1
    record = recorded_tiles(catalog, identifier)
    assert record is not None and record.source_sha256 == tiles.index.source_sha256

    report = audit_store(store, catalog, AuditSettings())
    assert report.ok, report.to_dict()
    assert report.items[0].objects >= tiles.files + 1 + len(catalog.files(identifier))

    events = len(catalog.events(identifier))
    again = publish_item(reader.item, reader.outputs, reader.pages, store, catalog, batch="b")
    assert again.tiles is not None and again.tiles.uploaded == 0 and not again.tiles.recorded
    assert len([e for e in catalog.events(identifier) if e.kind == TILES_EVENT]) == 1
    assert len(catalog.events(identifier)) == events
    assert set(store.list(tiles_prefix(identifier))) == stored

    page = tiles.index.pages[0]
    tile = next(f for f in page.files if f.path.endswith(".jpg"))
    path = tmp_path / "store" / tile_key(identifier, page.seq, tile.path)
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")  # bit rot
    stray = tmp_path / "sample.jpg"
    stray.write_bytes(b"\xff\xd8 not listed")
    store.put_file(tile_key(identifier, 1, "9,9,9,9/9,9/0/default.jpg"), stray)
    problems = {(p.key, p.kind) for p in audit_store(store, catalog, AuditSettings()).items[0].problems}
    assert problems == {
        (tile_key(identifier, page.seq, tile.path), "changed"),
        (tile_key(identifier, 1, "9,9,9,9/9,9/0/default.jpg"), "unexpected"),
    }
    catalog.close()


def test_tiles_for_an_item_published_without_them(tmp_path, reader, monkeypatch):
    def fails(*args, **kwargs):
        raise OutputError("libvips is missing (simulated)")

    monkeypatch.setattr(publish_module, "publish_tiles", fails)
    store, catalog, published = _published(tmp_path, reader)
    identifier = reader.item.item_id
    assert published.tiles is None and recorded_tiles(catalog, identifier) is None
    assert list(store.list(tiles_prefix(identifier))) == []
    monkeypatch.undo()

    made = tiles_for_stored_item(store, catalog, identifier, tmp_path / "work")
    assert made.recorded and made.uploaded == made.files + 1
    assert [(p.canvas_width, p.canvas_height) for p in made.index.pages] == [(p.width, p.height) for p in reader.pages]
    assert audit_store(store, catalog, AuditSettings()).ok
    assert tiles_for_stored_item(store, catalog, identifier, tmp_path / "work").uploaded == 0
    catalog.close()
