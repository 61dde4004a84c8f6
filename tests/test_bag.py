"""BagIt: the item's bag validates with the bagit library, and one changed byte fails it."""

from __future__ import annotations

import zipfile
from pathlib import Path

import bagit
import pytest

from digitize.archive.bag import BAG_ALGORITHMS, make_bag_zip, validate_bag
from digitize.pipeline.model import OutputFile

INFO = {
    "Source-Organization": "Test Library",
    "External-Identifier": "book-9",
    "External-Description": 'Нағыллар <&> "ики" كتاب e\u0301',
    "Bagging-Date": "2026-11-23",
}
DATE = (2026, 11, 23, 12, 0, 0)


@pytest.fixture
def files(tmp_path) -> list[OutputFile]:
    src = tmp_path / "src"
    src.mkdir()
    made = []
    for key, data in (
        ("masters/сəһифə-1.tif", bytes(range(256)) * 40),
        ("book-9.pdf", b"%PDF-1.7\n" + b"x" * 5000),
        ("ocr/0001.hocr", "<html>Азәрбајҹан</html>".encode()),
        ("alto/0001.xml", b"<alto/>"),
        ("book-9.mets.xml", b"<mets/>"),
    ):
        path = src / key.replace("/", "__")
        path.write_bytes(data)
        made.append(OutputFile(path, key, "x"))
    return made


def _unzip(archive: Path, into: Path) -> Path:
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        zf.extractall(into)
    return into / "book-9.bag"


def test_bag_validates_with_both_manifests(files, tmp_path):
    dest = tmp_path / "book-9.bag.zip"
    make_bag_zip(files, dest, tmp_path / "work", "book-9.bag", INFO, DATE)
    bag = validate_bag(_unzip(dest, tmp_path / "x"))
    assert sorted(bag.algorithms) == sorted(BAG_ALGORITHMS)
    root = tmp_path / "x" / "book-9.bag"
    for algorithm in BAG_ALGORITHMS:
        assert (root / f"manifest-{algorithm}.txt").is_file()
        assert (root / f"tagmanifest-{algorithm}.txt").is_file()
    assert sorted(bag.payload_files()) == sorted(f"data/{f.key}" for f in files)
    for f in files:
        assert (root / "data" / f.key).read_bytes() == f.path.read_bytes()
    assert bag.info["Source-Organization"] == "Test Library"
    assert bag.info["External-Identifier"] == "book-9"
    assert bag.info["External-Description"] == INFO["External-Description"]
    assert bag.info["Payload-Oxum"] == f"{sum(f.path.stat().st_size for f in files)}.{len(files)}"
    assert not (tmp_path / "work" / "book-9.bag").exists()  # the staging folder is removed


@pytest.mark.parametrize("key", ["masters/сəһифə-1.tif", "book-9.mets.xml"])
def test_one_changed_byte_fails_validation_for_sha256_and_sha512(files, tmp_path, key):
    dest = tmp_path / "book-9.bag.zip"
    make_bag_zip(files, dest, tmp_path / "work", "book-9.bag", INFO, DATE)
    root = _unzip(dest, tmp_path / "x")
    validate_bag(root)
    payload = root / "data" / key
    data = bytearray(payload.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one byte; the size stays the same
    payload.write_bytes(bytes(data))
    with pytest.raises(bagit.BagValidationError) as failure:
        validate_bag(root)
    mismatches = [d for d in failure.value.details if isinstance(d, bagit.ChecksumMismatch)]
    assert {d.algorithm for d in mismatches} == {"sha256", "sha512"}
    assert {d.path for d in mismatches} == {f"data/{key}"}
    # The original files the bag was made from are untouched (the bag uses links, not the files themselves).
    original = next(f for f in files if f.key == key)
    assert original.path.read_bytes() != bytes(data)


def test_bag_zip_is_deterministic(files, tmp_path):
    one, two = tmp_path / "one.zip", tmp_path / "two.zip"
    make_bag_zip(files, one, tmp_path / "w1", "book-9.bag", INFO, DATE)
    make_bag_zip(files, two, tmp_path / "w2", "book-9.bag", INFO, DATE)
    assert one.read_bytes() == two.read_bytes()
    with zipfile.ZipFile(one) as zf:
        names = zf.namelist()
        assert names == sorted(names) and all(n.startswith("book-9.bag/") for n in names)
        assert {zf.getinfo(n).date_time for n in names} == {DATE}


def test_bag_with_relative_work_folder(files, tmp_path, monkeypatch):
    """The default settings use relative folders (digitize-data/work): the bag must still be made."""
    monkeypatch.chdir(tmp_path)
    dest = tmp_path / "out" / "book-9.bag.zip"
    dest.parent.mkdir()
    make_bag_zip(files, dest, Path("digitize-data/work"), "book-9.bag", INFO, DATE)
    assert sorted(validate_bag(_unzip(dest, tmp_path / "x")).algorithms) == sorted(BAG_ALGORITHMS)
