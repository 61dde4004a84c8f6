"""Assembling an item, publishing it to a store and registering it, exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import pikepdf
import pytest

from digitize.assembly.item import assemble_item, plan_pages
from digitize.delivery.publish import item_prefix, publish_item
from digitize.errors import StorageUnavailableError
from digitize.pipeline.page import process_page
from digitize.samples.corpus import paragraphs
from digitize.samples.render import render_page, scan_like
from digitize.scanners.batch import read_item
from digitize.settings import Settings
from digitize.storage.catalog import Catalog
from digitize.storage.local import LocalObjectStore
from digitize.storage.objects import sha256_file

pytestmark = pytest.mark.needs_tesseract


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """A two-page text item, processed and assembled."""
    root = tmp_path_factory.mktemp("book")
    folder = root / "batch" / "book-1"
    folder.mkdir(parents=True)
    (folder / "item.toml").write_text(
        'title = "Азәрбајҹан нағыллары"\nauthors = ["Һ. Әлизадә"]\nyear = 1968\n'
        'inventory_number = "INV-1"\ncollection = "Test <&> collection"\n',
        encoding="utf-8",
    )
    truths = []
    for number in (1, 2):
        rendered = render_page(paragraphs(seed=number, n=2), dpi=200, seed=number)
        scan_like(rendered, skew_degrees=1.5 * number, seed=number).save(folder / f"p{number}.png", dpi=(200, 200))
        truths.append(rendered.text)
    settings = Settings(
        work_dir=root / "work",
        output_dir=root / "out",
        storage={"url": f"file://{root / 'store'}"},
        catalog={"url": f"sqlite:///{root / 'catalog.sqlite3'}"},
    )
    item = read_item(folder)
    pages = [process_page(job, settings) for job in plan_pages(item, settings)]
    outputs = assemble_item(item, pages, settings)
    return root, settings, item, pages, outputs, truths


def test_assembled_pdf_has_one_page_per_image_and_metadata(book):
    _, _, item, _, outputs, _ = book
    with pikepdf.open(outputs.pdf) as pdf:
        assert len(pdf.pages) == 2
        assert str(pdf.docinfo["/Title"]) == "Азәрбајҹан нағыллары"
        meta = pdf.open_metadata()
        assert meta["dc:title"] == "Азәрбајҹан нағыллары"


def test_item_texts_and_records(book):
    _, _, item, pages, outputs, _ = book
    whole = (outputs.folder / "book-1.original.txt").read_text(encoding="utf-8")
    assert whole.count("\f") == 1
    assert whole.split("\f")[1] == pages[1].text.read_text(encoding="utf-8")
    record = json.loads((outputs.folder / "record.json").read_text(encoding="utf-8"))
    assert record["title_latin"] == "Azərbaycan nağılları"
    assert record["authors_latin"] == ["H. Əlizadə"]
    dc = (outputs.folder / "dc.xml").read_bytes()
    assert b"Test &lt;&amp;&gt; collection" in dc
    roles = {f.role for f in outputs.files}
    assert {"master", "pdf", "text-original", "text-latin", "hocr", "record", "dublin-core", "report"} <= roles


def test_publish_stores_verifies_and_registers_once(book):
    root, settings, item, pages, outputs, _ = book
    store = LocalObjectStore(root / "store")
    catalog = Catalog(settings.catalog.url)
    first = publish_item(item, outputs, pages, store, catalog, batch="b1")
    assert first.registered.created and first.uploaded == first.objects
    again = publish_item(item, outputs, pages, store, catalog, batch="b1")
    assert not again.registered.created and again.uploaded == 0
    assert catalog.count("items") == 1
    assert catalog.count("pages") == 2
    files = catalog.files("book-1")
    assert len(files) == first.objects
    for f in files:  # every stored object matches what the catalog says
        assert sha256_file(store._path(f.key)) == f.sha256
    master = next(f for f in files if f.role == "master" and f.key.endswith("p1.png"))
    assert master.sha256 == sha256_file(item.folder / "p1.png")
    texts = list(catalog.page_texts("book-1"))
    assert [seq for seq, _, _ in texts] == [1, 2]
    assert "ə" in texts[0][2]
    catalog.close()


class _FlakyStore(LocalObjectStore):
    """A store whose endpoint goes away after ``fail_after`` uploads."""

    def __init__(self, root: Path, fail_after: int) -> None:
        super().__init__(root)
        self.remaining = fail_after

    def _upload(self, *args, **kwargs):
        if self.remaining <= 0:
            raise StorageUnavailableError("store went away (injected)")
        self.remaining -= 1
        return super()._upload(*args, **kwargs)


def test_failed_upload_registers_nothing_and_rerun_completes(book, tmp_path):
    _, _, item, pages, outputs, _ = book
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    flaky = _FlakyStore(tmp_path / "store", fail_after=3)
    with pytest.raises(StorageUnavailableError):
        publish_item(item, outputs, pages, flaky, catalog)
    assert catalog.count("items") == 0
    stored_before = set(flaky.list(item_prefix(item.item_id)))
    assert len(stored_before) == 3

    healthy = LocalObjectStore(tmp_path / "store")
    result = publish_item(item, outputs, pages, healthy, catalog)
    assert result.uploaded == result.objects - 3  # the three already there are not sent again
    assert catalog.count("items") == 1
    tiles = result.tiles.files + 1 if result.tiles else 0  # the IIIF tiles and their index (delivery.tiles)
    assert len(set(healthy.list(item_prefix(item.item_id)))) == result.objects + tiles
    catalog.close()


def test_withdrawn_item_is_hidden_but_kept(book, tmp_path):
    _, _, item, pages, outputs, _ = book
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    publish_item(item, outputs, pages, LocalObjectStore(tmp_path / "s"), catalog)
    assert catalog.identifiers() == ["book-1"]
    assert catalog.withdraw("book-1")
    assert catalog.identifiers() == []
    assert catalog.get("book-1").status == "withdrawn"
    publish_item(item, outputs, pages, LocalObjectStore(tmp_path / "s"), catalog)
    assert catalog.identifiers() == ["book-1"]  # re-registering makes it available again
    catalog.close()


def test_assembly_is_deterministic(book):
    """Assembling the same pages again gives the same bytes, so a re-run uploads nothing."""
    _, settings, item, pages, outputs, _ = book
    before = {f.key: sha256_file(f.path) for f in outputs.files}
    again = assemble_item(item, pages, settings)
    assert {f.key: sha256_file(f.path) for f in again.files} == before
