"""Publishing to a real S3 server (SeaweedFS) that dies in the middle of an item.

The server is killed while a large master is being sent in parts: the item
fails with a clear, retryable error, nothing is registered; with the server
back (same data folder and ports, as after a crash), the next run sends
only what is missing and registers the item once.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from digitize.assembly.item import assemble_item, plan_pages
from digitize.delivery.publish import item_prefix, publish_item
from digitize.delivery.tiles import TILES_EVENT, tiles_prefix
from digitize.errors import StorageUnavailableError
from digitize.pipeline.page import process_page
from digitize.scanners.batch import read_item
from digitize.settings import Settings
from digitize.storage.catalog import Catalog
from digitize.storage.factory import open_store

import helpers.seaweed as seaweed_module

pytestmark = [pytest.mark.needs_seaweedfs, pytest.mark.slow]


@pytest.fixture
def score_item(tmp_path):
    """A two-page score (no OCR): a small scan and a ~12 MB one (sent in parts)."""
    folder = tmp_path / "batch" / "score-1"
    folder.mkdir(parents=True)
    (folder / "item.toml").write_text('title = "Сонатa"\nkind = "score"\nyear = 1950\n', encoding="utf-8")
    rng = np.random.default_rng(6)
    Image.fromarray(rng.integers(0, 255, (300, 200), dtype=np.uint8)).save(folder / "p1.png")
    Image.fromarray(rng.integers(0, 255, (2000, 2000, 3), dtype=np.uint8)).save(folder / "p2.png", compress_level=0)
    settings = Settings(work_dir=tmp_path / "work", output_dir=tmp_path / "out")
    item = read_item(folder)
    pages = [process_page(job, settings) for job in plan_pages(item, settings)]
    return item, pages, assemble_item(item, pages, settings)


def test_server_killed_mid_item_registers_nothing_and_rerun_completes(
    private_seaweed, score_item, tmp_path, monkeypatch
):
    item, pages, outputs = score_item
    server = private_seaweed
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    settings = server.storage_settings("library", multipart_chunk_mb=5, max_attempts=2)
    store = open_store(settings)

    parts_sent = []

    def kill_after_first_part(**_kwargs):
        parts_sent.append(1)
        if len(parts_sent) == 1:
            server.kill()

    store._client.meta.events.register("after-call.s3.UploadPart", kill_after_first_part)
    with pytest.raises(StorageUnavailableError) as failure:
        publish_item(item, outputs, pages, store, catalog, batch="run-1")
    assert parts_sent == [1], "the kill did not come in the middle of a multipart upload"
    message = str(failure.value)
    assert server.endpoint_url in message and server.secret_access_key not in message
    assert catalog.count("items") == 0 and catalog.get(item.item_id) is None

    # The server comes back as after a crash: same data folder, same ports.
    monkeypatch.setattr(seaweed_module, "_pick_ports", lambda _count: list(server.ports.values()))
    revived = seaweed_module._start_once(seaweed_module.find_weed(), server.data_dir, server.bucket, 60.0)
    try:
        fresh = open_store(settings)
        before = set(fresh.list(item_prefix(item.item_id)))
        assert before, "objects stored before the kill should have survived it"
        result = publish_item(item, outputs, pages, fresh, catalog, batch="run-2")
        assert result.registered.created
        assert result.uploaded == result.objects - len(before)  # what was there is not sent again
        keys = sorted(fresh.list(item_prefix(item.item_id)))
        assert result.tiles is not None  # the IIIF tiles and their index (delivery.tiles), beside the files
        tiles = [key for key in keys if key.startswith(tiles_prefix(item.item_id))]
        assert len(tiles) == result.tiles.files + 1
        assert len(keys) - len(tiles) == result.objects == len(catalog.files(item.item_id))
        assert catalog.count("items") == 1

        again = publish_item(item, outputs, pages, fresh, catalog, batch="run-2")  # the same batch again
        assert again.uploaded == 0 and not again.registered.created
        assert again.tiles is not None and again.tiles.uploaded == 0 and not again.tiles.recorded
        assert catalog.count("items") == 1
        assert [e.kind for e in catalog.events(item.item_id)] == ["registered", TILES_EVENT]
    finally:
        revived.kill()
        catalog.close()
