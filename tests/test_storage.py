"""Object stores: the local folder, and S3 against a real SeaweedFS."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from digitize.errors import StorageError, StorageUnavailableError, VerificationError
from digitize.settings import StorageSettings
from digitize.storage import LocalObjectStore, ObjectStore, StoredObject, open_store
from digitize.storage.s3 import S3ObjectStore, multipart_etag

from helpers.seaweed import SeaweedServer, free_port

MB = 1024 * 1024


def make_file(folder: Path, name: str, size: int, seed: int = 0) -> Path:
    path = folder / name
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# -- local folder --------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "store")


def test_local_round_trip(local: LocalObjectStore, tmp_path: Path) -> None:
    source = make_file(tmp_path, "page.tif", 70_000)

    stored = local.put_file("items/0001/page.tif", source)

    assert stored == StoredObject("items/0001/page.tif", 70_000, sha(source), uploaded=True)
    assert local.stat("items/0001/page.tif") == StoredObject("items/0001/page.tif", 70_000, sha(source))
    with local.open_read("items/0001/page.tif") as handle:
        assert handle.read() == source.read_bytes()
    assert local.verify("items/0001/page.tif", 70_000, sha(source))
    assert local.url_for("items/0001/page.tif") == (local.root / "items/0001/page.tif").as_uri()
    assert list(local.list("items/")) == ["items/0001/page.tif"]

    local.delete("items/0001/page.tif")
    local.delete("items/0001/page.tif")  # deleting twice is fine
    assert local.stat("items/0001/page.tif") is None
    assert list(local.list()) == []
    with pytest.raises(StorageError, match="no object"):
        local.open_read("items/0001/page.tif")


def test_local_write_is_atomic_and_leaves_no_temp_files(local: LocalObjectStore, tmp_path: Path) -> None:
    first = make_file(tmp_path, "a.bin", 5000, seed=1)
    second = make_file(tmp_path, "b.bin", 5000, seed=2)
    local.put_file("x/a.bin", first)
    assert files_under(local.root) == ["x/.a.bin.sha256", "x/a.bin"]

    # An overwrite that fails verification (the promised sha256 is wrong)
    # must leave the old object whole and no temp file behind.
    with pytest.raises(VerificationError, match="changed while"):
        local.put_file("x/a.bin", second, sha256="0" * 64)

    assert (local.root / "x/a.bin").read_bytes() == first.read_bytes()
    assert files_under(local.root) == ["x/.a.bin.sha256", "x/a.bin"]
    assert local.verify("x/a.bin", 5000, sha(first))


def test_local_put_skips_unchanged_object(local: LocalObjectStore, tmp_path: Path) -> None:
    source = make_file(tmp_path, "page.png", 3000)
    assert local.put_file("p/page.png", source).uploaded is True
    assert local.put_file("p/page.png", source).uploaded is False
    assert local.put_file("p/page.png", source, sha256=sha(source)).uploaded is False

    make_file(tmp_path, "page.png", 3000, seed=9)
    assert local.put_file("p/page.png", source).uploaded is True


def test_local_verify_detects_a_changed_byte(local: LocalObjectStore, tmp_path: Path) -> None:
    source = make_file(tmp_path, "page.jpg", 10_000)
    stored = local.put_file("page.jpg", source)
    target = local.root / "page.jpg"
    data = bytearray(target.read_bytes())
    data[1234] ^= 0x01
    target.write_bytes(bytes(data))
    # Make sure the edit is visible even on filesystems with coarse mtimes.
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))

    assert not local.verify("page.jpg", stored.size, stored.sha256)
    # The recorded sha256 belongs to another file version, so it is not
    # trusted: a re-put repairs the object instead of skipping it.
    assert local.stat("page.jpg").sha256 != stored.sha256
    assert local.put_file("page.jpg", source).uploaded is True
    assert local.verify("page.jpg", stored.size, stored.sha256)


def test_local_list_hides_store_files_and_filters_by_prefix(local: LocalObjectStore, tmp_path: Path) -> None:
    source = make_file(tmp_path, "f", 10)
    for key in ["a/1.txt", "a/2.txt", "ab/3.txt", "b/c/4.txt"]:
        local.put_file(key, source)
    assert sorted(local.list()) == ["a/1.txt", "a/2.txt", "ab/3.txt", "b/c/4.txt"]
    assert sorted(local.list("a/")) == ["a/1.txt", "a/2.txt"]
    assert sorted(local.list("a")) == ["a/1.txt", "a/2.txt", "ab/3.txt"]
    assert list(local.list("missing/")) == []


@pytest.mark.parametrize(
    "key",
    ["", "/abs/key", "a/../b", "..", "a\\b", "a//b", "./a", "a/.hidden", "a/\x00b", "x" * 1025],
)
def test_bad_keys_are_refused(local: LocalObjectStore, tmp_path: Path, key: str) -> None:
    source = make_file(tmp_path, "f", 10)
    with pytest.raises(StorageError, match="invalid object key"):
        local.put_file(key, source)
    with pytest.raises(StorageError, match="invalid object key"):
        local.stat(key)
    assert not local.root.exists()  # nothing was written anywhere


def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    local = open_store(StorageSettings(url=f"file://{tmp_path}/store"))
    assert isinstance(local, LocalObjectStore) and local.root == tmp_path / "store"
    assert not (tmp_path / "store").exists()  # opening creates nothing

    s3 = open_store(StorageSettings(url="s3://bucket/some/prefix/", endpoint_url="http://127.0.0.1:9"))
    assert isinstance(s3, S3ObjectStore) and isinstance(s3, ObjectStore)
    assert (s3.bucket, s3.prefix) == ("bucket", "some/prefix/")
    assert s3.url_for("a/b.pdf") == "s3://bucket/some/prefix/a/b.pdf"


# -- S3 without a server -------------------------------------------------------


def test_unreachable_endpoint_is_unavailable_quickly_and_keeps_secrets(tmp_path: Path) -> None:
    secret = "very-secret-" + uuid.uuid4().hex
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = StorageSettings(
        url="s3://bucket/prefix",
        endpoint_url=endpoint,
        access_key_id="AKIDEXAMPLE",
        secret_access_key=secret,
        connect_timeout_seconds=2,
        max_attempts=3,
    )
    store = open_store(settings)
    source = make_file(tmp_path, "f", 100)

    started = time.monotonic()
    with pytest.raises(StorageUnavailableError) as caught:
        store.put_file("a/f", source)
    assert time.monotonic() - started < 10

    message = str(caught.value)
    assert endpoint in message and secret not in message
    assert caught.value.retryable
    assert secret not in store.describe() and secret not in repr(store)
    assert "AKIDEXAMPLE" not in store.describe()
    assert endpoint in store.describe()


# -- S3 against SeaweedFS ------------------------------------------------------


@pytest.fixture
def s3_store(seaweed: SeaweedServer) -> S3ObjectStore:
    """A store under a fresh prefix of the session's bucket."""
    store = open_store(seaweed.storage_settings(prefix=f"t-{uuid.uuid4().hex[:8]}/"))
    assert isinstance(store, S3ObjectStore)
    return store


@pytest.mark.needs_seaweedfs
@pytest.mark.slow  # the first starts SeaweedFS (several seconds)
def test_s3_round_trip(s3_store: S3ObjectStore, seaweed: SeaweedServer, tmp_path: Path) -> None:
    source = make_file(tmp_path, "page.pdf", 100_000)

    stored = s3_store.put_file("items/0001/page.pdf", source)

    assert stored == StoredObject("items/0001/page.pdf", 100_000, sha(source), uploaded=True)
    assert s3_store.stat("items/0001/page.pdf") == StoredObject("items/0001/page.pdf", 100_000, sha(source))
    head = seaweed.client().head_object(Bucket=seaweed.bucket, Key=s3_store.prefix + "items/0001/page.pdf")
    assert head["Metadata"]["sha256"] == sha(source)
    assert head["ContentType"] == "application/pdf"
    assert head["ETag"].strip('"') == hashlib.md5(source.read_bytes()).hexdigest()
    with s3_store.open_read("items/0001/page.pdf") as handle:
        assert handle.read() == source.read_bytes()
    assert s3_store.verify("items/0001/page.pdf", 100_000, sha(source))
    assert not s3_store.verify("items/0001/page.pdf", 100_000, "0" * 64)
    assert list(s3_store.list("items/")) == ["items/0001/page.pdf"]
    assert s3_store.url_for("items/0001/page.pdf") == (
        f"s3://{seaweed.bucket}/{s3_store.prefix}items/0001/page.pdf"
    )

    s3_store.delete("items/0001/page.pdf")
    assert s3_store.stat("items/0001/page.pdf") is None
    assert list(s3_store.list()) == []
    with pytest.raises(StorageError, match="no object"):
        s3_store.open_read("items/0001/page.pdf")


@pytest.mark.needs_seaweedfs
@pytest.mark.slow  # the first starts SeaweedFS (several seconds)
def test_s3_second_put_is_skipped(s3_store: S3ObjectStore, tmp_path: Path) -> None:
    source = make_file(tmp_path, "page.txt", 2000)
    assert s3_store.put_file("page.txt", source).uploaded is True
    assert s3_store.put_file("page.txt", source).uploaded is False
    make_file(tmp_path, "page.txt", 2000, seed=5)
    assert s3_store.put_file("page.txt", source).uploaded is True
    assert s3_store.stat("page.txt").sha256 == sha(source)


@pytest.mark.needs_seaweedfs
@pytest.mark.slow  # the first starts SeaweedFS (several seconds)
def test_s3_multipart_upload_verifies_by_etag(seaweed: SeaweedServer, tmp_path: Path) -> None:
    store = open_store(seaweed.storage_settings(prefix=f"mp-{uuid.uuid4().hex[:8]}", multipart_chunk_mb=5))
    source = make_file(tmp_path, "big.tif", 11 * MB)
    data = source.read_bytes()

    stored = store.put_file("big.tif", source)

    assert stored.uploaded and stored.size == 11 * MB and stored.sha256 == sha(source)
    head = seaweed.client().head_object(Bucket=seaweed.bucket, Key=store.prefix + "big.tif")
    parts = [hashlib.md5(data[i : i + 5 * MB]).digest() for i in range(0, len(data), 5 * MB)]
    assert head["ETag"].strip('"') == multipart_etag(parts)
    assert head["ETag"].endswith('-3"')
    assert head["Metadata"]["sha256"] == sha(source)
    assert store.verify("big.tif", 11 * MB, sha(source))
    with store.open_read("big.tif") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == sha(source)
    assert store.put_file("big.tif", source).uploaded is False


class _Proxy:
    """The real client with one method swapped: fault injection at the wire."""

    def __init__(self, client: Any, **overrides: Any) -> None:
        self._client, self._overrides = client, overrides

    def __getattr__(self, name: str) -> Any:
        return self._overrides.get(name) or getattr(self._client, name)


def _flip_first_byte(body: bytes) -> bytes:
    return bytes([body[0] ^ 0xFF]) + body[1:]


@pytest.mark.needs_seaweedfs
@pytest.mark.slow  # the first starts SeaweedFS (several seconds)
def test_s3_corrupted_transfer_is_refused_by_content_md5(s3_store: S3ObjectStore, tmp_path: Path) -> None:
    real = s3_store._client

    def corrupting_put(**kwargs: Any) -> Any:
        return real.put_object(**{**kwargs, "Body": _flip_first_byte(kwargs["Body"])})

    s3_store._client = _Proxy(real, put_object=corrupting_put)
    with pytest.raises(VerificationError, match="BadDigest"):
        s3_store.put_file("bad.bin", make_file(tmp_path, "bad.bin", 1000))
    assert s3_store.stat("bad.bin") is None


@pytest.mark.needs_seaweedfs
@pytest.mark.slow  # the first starts SeaweedFS (several seconds)
def test_s3_other_etag_scheme_falls_back_to_reading_back(s3_store: S3ObjectStore, tmp_path: Path) -> None:
    real = s3_store._client
    source = make_file(tmp_path, "f.bin", 1000)

    def encrypting_put(**kwargs: Any) -> Any:  # like SSE-KMS: ETag is not the MD5
        return {**real.put_object(**kwargs), "ETag": '"not-an-md5"'}

    s3_store._client = _Proxy(real, put_object=encrypting_put)
    assert s3_store.put_file("f.bin", source).uploaded

    def lying_put(**kwargs: Any) -> Any:  # stores other bytes than it was sent
        body = _flip_first_byte(kwargs["Body"])
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        return real.put_object(**{**kwargs, "Body": body, "ContentMD5": md5})

    s3_store._client = _Proxy(real, put_object=lying_put)
    with pytest.raises(VerificationError, match="does not match"):
        s3_store.put_file("g.bin", source)
    assert s3_store.stat("g.bin") is None  # removed: its metadata would lie


@pytest.mark.needs_seaweedfs
@pytest.mark.slow  # the first starts SeaweedFS (several seconds)
def test_s3_missing_bucket_and_ensure_bucket(seaweed: SeaweedServer, tmp_path: Path) -> None:
    name = f"fresh-{uuid.uuid4().hex[:8]}"
    store = open_store(seaweed.storage_settings().model_copy(update={"url": f"s3://{name}/p"}))
    assert isinstance(store, S3ObjectStore)
    source = make_file(tmp_path, "f", 10)
    with pytest.raises(StorageError, match="bucket") as caught:
        store.put_file("f", source)
    assert not isinstance(caught.value, StorageUnavailableError)

    store.ensure_bucket()
    store.ensure_bucket()  # idempotent
    assert store.put_file("f", source).uploaded


@pytest.mark.needs_seaweedfs
@pytest.mark.slow  # the first starts SeaweedFS (several seconds)
def test_s3_server_stopped_between_puts_is_unavailable(private_seaweed: SeaweedServer, tmp_path: Path) -> None:
    store = open_store(private_seaweed.storage_settings(max_attempts=2))
    assert store.put_file("one", make_file(tmp_path, "one", 1000)).uploaded

    private_seaweed.kill()

    started = time.monotonic()
    with pytest.raises(StorageUnavailableError, match=private_seaweed.endpoint_url):
        store.put_file("two", make_file(tmp_path, "two", 1000))
    assert time.monotonic() - started < 10
