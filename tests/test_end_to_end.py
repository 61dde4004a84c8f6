"""The whole path, real at every step: `digitize run` on a generated batch.

Real Tesseract, real PDF tools, a real S3 server (SeaweedFS on 127.0.0.1),
a real Prefect flow (temporary local server), SQLite catalog. The batch
holds good items and every kind of bad input; the run is done twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pikepdf
import pypdfium2
import pytest
from PIL import Image

from digitize.assembly.tiles import TilesIndex, iter_files
from digitize.delivery.tiles import recorded_tiles, tile_key
from digitize.samples.batch import make_sample_batch
from digitize.samples.metrics import cer
from digitize.storage.catalog import Catalog

pytestmark = [pytest.mark.needs_tesseract, pytest.mark.needs_seaweedfs, pytest.mark.needs_prefect, pytest.mark.slow]

GOOD_TOML = 'title = "Сынаг"\nyear = 1970\n'


def _bad_items(batch: Path) -> dict[str, str]:
    """Add one item per kind of bad input; return item id -> expected words in its error."""
    page = Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 150), dtype=np.uint8))
    expected = {}

    def item(name: str, toml: str = GOOD_TOML) -> Path:
        folder = batch / name
        folder.mkdir()
        (folder / "item.toml").write_text(toml, encoding="utf-8")
        return folder

    (item("bad-zero") / "p1.tif").write_bytes(b"")
    expected["bad-zero"] = "p1.tif: file is empty"
    folder = item("bad-truncated")
    page.save(folder / "p1.tif")
    data = (folder / "p1.tif").read_bytes()
    (folder / "p1.tif").write_bytes(data[: len(data) // 3])
    expected["bad-truncated"] = "p1.tif"
    (item("bad-textfile") / "p1.tif").write_text("not a scan")
    expected["bad-textfile"] = "not an image"
    item("bad-empty")
    expected["bad-empty"] = "no page images"
    page.save(item("bad-metadata", toml='title = "x"\nkind = "book"\n') / "p1.png")
    expected["bad-metadata"] = "item.toml"
    return expected


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _run(batch: Path, env: dict) -> tuple[subprocess.CompletedProcess, dict]:
    result = subprocess.run(
        [sys.executable, "-m", "digitize.cli", "run", str(batch)], env=env, capture_output=True, timeout=900
    )
    summary = json.loads((Path(env["DIGITIZE_OUTPUT_DIR"]) / f"batch-{batch.name}.json").read_text())
    return result, {item["identifier"]: item for item in summary["items"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, seaweed):
    root = tmp_path_factory.mktemp("e2e")
    sample = make_sample_batch(root / "batch", seed=3, pages_per_book=2)
    expected_errors = _bad_items(sample.path)
    before = _hashes(sample.path)
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env.update(
        DIGITIZE_WORK_DIR=str(root / "work"),
        DIGITIZE_OUTPUT_DIR=str(root / "out"),
        DIGITIZE_CATALOG__URL=f"sqlite:///{root / 'catalog.sqlite3'}",
        DIGITIZE_STORAGE__URL=f"s3://{seaweed.bucket}/e2e",
        DIGITIZE_STORAGE__ENDPOINT_URL=seaweed.endpoint_url,
        DIGITIZE_STORAGE__REGION=seaweed.region,
        DIGITIZE_STORAGE__ACCESS_KEY_ID=seaweed.access_key_id,
        DIGITIZE_STORAGE__SECRET_ACCESS_KEY=seaweed.secret_access_key,
        DIGITIZE_WORKERS="2",
        PREFECT_HOME=str(root / "prefect"),
    )
    first = _run(sample.path, env)
    second = _run(sample.path, env)
    return sample, expected_errors, before, env, first, second


def test_good_items_done_bad_items_failed_with_reasons(runs):
    sample, expected_errors, _, _, (result, items), _ = runs
    assert result.returncode == 1, result.stderr.decode()[-2000:]  # some items failed
    for good in sample.items:
        assert items[good.item_id]["status"] == "done", items[good.item_id]
    for identifier, words in expected_errors.items():
        assert items[identifier]["status"] == "failed"
        assert words in items[identifier]["message"], items[identifier]
    assert "bad-truncated" in result.stdout.decode()


def test_pdf_has_one_page_per_image_and_text_on_the_right_page(runs):
    sample, _, _, env, _, _ = runs
    for good in sample.items:
        pdf_path = Path(env["DIGITIZE_OUTPUT_DIR"]) / good.item_id / f"{good.item_id}.pdf"
        with pikepdf.open(pdf_path) as pdf:
            assert len(pdf.pages) == len(good.pages)
        if good.kind != "text":
            continue
        document = pypdfium2.PdfDocument(str(pdf_path))
        try:
            texts = [page.get_textpage().get_text_range() for page in document]
        finally:
            document.close()
        for number, page in enumerate(good.pages):
            assert cer(page.text, texts[number]) < 0.05, (good.item_id, number)
            # words printed only on this page are found on this page of the PDF, and only there
            others = " ".join(p.text for i, p in enumerate(good.pages) if i != number).split()
            unique = sorted({w for w in page.text.split() if w.isalpha() and w not in others}, key=len, reverse=True)
            tokens = [set(text.split()) for text in texts]
            for word in unique[:3]:
                assert word in tokens[number], (good.item_id, number, word)
                assert all(word not in t for i, t in enumerate(tokens) if i != number)


def test_catalog_lists_each_item_once_after_two_runs(runs):
    sample, _, _, env, _, (second, items) = runs
    catalog = Catalog(env["DIGITIZE_CATALOG__URL"])
    try:
        assert catalog.identifiers() == sorted(i.item_id for i in sample.items)
        assert catalog.count("items") == len(sample.items)
        assert catalog.count("batches") == 2
    finally:
        catalog.close()
    for good in sample.items:
        assert items[good.item_id]["status"] == "done"
        assert items[good.item_id]["uploaded_objects"] == 0  # second run sends nothing
        assert items[good.item_id]["message"] == "updated"


def test_every_stored_object_matches_its_checksum(runs, seaweed):
    sample, _, _, env, _, _ = runs
    client = seaweed.client()
    catalog = Catalog(env["DIGITIZE_CATALOG__URL"])
    try:
        listed = {
            obj["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=seaweed.bucket, Prefix="e2e/")
            for obj in page.get("Contents", [])
        }
        expected = set()
        for good in sample.items:
            for f in catalog.files(good.item_id):
                body = client.get_object(Bucket=seaweed.bucket, Key=f"e2e/{f.key}")["Body"].read()
                assert len(body) == f.size
                assert hashlib.sha256(body).hexdigest() == f.sha256, f.key
                expected.add(f"e2e/{f.key}")
            # the IIIF tiles: proved by the index the catalog's event names (delivery.tiles), as the audit does
            record = recorded_tiles(catalog, good.item_id)
            assert record is not None, good.item_id
            blob = client.get_object(Bucket=seaweed.bucket, Key=f"e2e/{record.key}")["Body"].read()
            assert hashlib.sha256(blob).hexdigest() == record.sha256
            expected.add(f"e2e/{record.key}")
            for page, tile in iter_files(TilesIndex.from_json(blob)):
                key = f"e2e/{tile_key(good.item_id, page.seq, tile.path)}"
                body = client.get_object(Bucket=seaweed.bucket, Key=key)["Body"].read()
                assert hashlib.sha256(body).hexdigest() == tile.sha256, key
                expected.add(key)
        assert listed == expected  # nothing stored twice, nothing for failed items
    finally:
        catalog.close()


def test_originals_are_byte_identical_after_two_runs(runs):
    sample, _, before, _, _, _ = runs
    assert _hashes(sample.path) == before


def test_no_secret_in_output(runs):
    _, _, _, env, (first, _), _ = runs
    secret = env["DIGITIZE_STORAGE__SECRET_ACCESS_KEY"].encode()
    assert secret not in first.stdout and secret not in first.stderr
