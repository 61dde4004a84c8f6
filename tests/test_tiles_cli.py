"""``digitize tiles``: tiles for items published without them, or with tiles of an earlier PDF."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from digitize.cli import app
from digitize.delivery import publish as publish_module
from digitize.delivery.audit import audit_store
from digitize.delivery.publish import publish_item
from digitize.delivery.tiles import TILES_EVENT, recorded_tiles, tiles_prefix, tiles_state
from digitize.errors import ExitCode, OutputError
from digitize.settings import AuditSettings
from digitize.storage.catalog import Catalog
from digitize.storage.local import LocalObjectStore

from helpers.reader_item import make_reader_item


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    return make_reader_item(tmp_path_factory.getbasetemp() / "reader")


def _tiles(tmp_path, *args: str):
    return CliRunner().invoke(
        app,
        ["tiles", *args, "--storage-url", f"file://{tmp_path / 'store'}",
         "--catalog-url", f"sqlite:///{tmp_path / 'catalog.sqlite3'}", "--work-dir", str(tmp_path / "work")],
        env={"COLUMNS": "400"},
    )


def test_tiles_command_makes_missing_and_outdated_tiles_once(tmp_path, reader, monkeypatch):
    def fails(*args, **kwargs):
        raise OutputError("libvips is missing (simulated)")

    monkeypatch.setattr(publish_module, "publish_tiles", fails)
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    identifier = reader.item.item_id
    assert publish_item(reader.item, reader.outputs, reader.pages, store, catalog, batch="b").tiles is None
    monkeypatch.undo()
    assert tiles_state(catalog, identifier).reason == "no tiles"

    usage = _tiles(tmp_path)  # neither items nor --all
    assert usage.exit_code == 2 and "--all" in usage.output

    made = _tiles(tmp_path, "--all")
    assert made.exit_code == ExitCode.OK, made.output
    assert f"{identifier}: no tiles; making them" in made.output
    assert f"{len(reader.pages)} pages" in made.output
    record = recorded_tiles(catalog, identifier)
    assert record is not None and tiles_state(catalog, identifier).current
    assert list(store.list(tiles_prefix(identifier)))
    assert audit_store(store, catalog, AuditSettings()).ok
    assert not (tmp_path / "work" / "tiles" / identifier).exists()  # made, stored, and the work copy gone

    again = _tiles(tmp_path, identifier)
    assert again.exit_code == ExitCode.OK and "tiles up to date, nothing to do" in again.output
    assert recorded_tiles(catalog, identifier) == record

    # Tiles recorded as made from another PDF (the item was re-published and its tiles failed): made again.
    other = {**json.loads(record.detail(1, 1)), "source_sha256": "0" * 64}
    catalog.add_event(identifier, TILES_EVENT, json.dumps(other))
    assert tiles_state(catalog, identifier).reason == "tiles of an earlier PDF"
    redone = _tiles(tmp_path, identifier)
    assert redone.exit_code == ExitCode.OK, redone.output
    assert "tiles of an earlier PDF; making them" in redone.output and "0 stored" in redone.output  # same bytes
    assert tiles_state(catalog, identifier).current
    catalog.close()


def test_tiles_command_names_an_unknown_item_with_the_catalog_exit_code(tmp_path, reader):
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    publish_item(reader.item, reader.outputs, reader.pages, store, catalog, batch="b")
    catalog.close()
    result = _tiles(tmp_path, "no-such-item", reader.item.item_id)
    assert result.exit_code == ExitCode.CATALOG
    assert "no item 'no-such-item' in the catalog" in result.output
    assert f"{reader.item.item_id}: tiles up to date" in result.output  # the others are still done
