"""Sending one file to S3: a single PUT, or a multipart upload for large files.

Every request carries the Content-MD5 of its body, so the server refuses a
corrupted transfer; each function returns the ETag the server reported with
the one expected from the bytes sent (MD5, or for multipart uploads the MD5
of the part MDs plus ``-N``), for the store to compare. The bytes sent are
hashed as they go: a file that changes while it is read fails, rather than
being stored with a SHA-256 it does not have. Memory use is at most one part.

Kept apart from ``storage.s3`` (naming, reading, error translation): the
store calls these inside its one ``_errors`` boundary, which turns botocore's
exceptions into ours.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from digitize.errors import StorageError, VerificationError

if TYPE_CHECKING:
    from _hashlib import HASH

__all__ = [
    "MIB", "MIN_PART_BYTES", "MAX_PARTS", "abort_upload", "multipart_etag", "put_single", "put_multipart",
]

log = logging.getLogger(__name__)

MIB = 1024 * 1024
MIN_PART_BYTES = 5 * MIB  # S3's minimum size of every part but the last
MAX_PARTS = 10_000


def multipart_etag(part_md5s: list[bytes]) -> str:
    """The ETag S3 gives a multipart object: MD5 of the part MD5s, then ``-N``."""
    return f"{_md5(b''.join(part_md5s)).hexdigest()}-{len(part_md5s)}"


def _md5(data: bytes) -> HASH:
    return hashlib.md5(data, usedforsecurity=False)


def put_single(
    client: Any, bucket: str, name: str, path: Path, size: int, sha256: str, extra: dict[str, Any]
) -> tuple[str, str]:
    """PUT a file smaller than one part; (the server's ETag, the expected one)."""
    # Smaller than one part, so it fits in memory by construction.
    with _open_local(path) as handle:
        data = _read_local(handle, path, size + 1)
    _check_sent(path, size, sha256, len(data), hashlib.sha256(data).hexdigest())
    md5 = _md5(data)
    response = client.put_object(
        Bucket=bucket,
        Key=name,
        Body=data,
        ContentMD5=base64.b64encode(md5.digest()).decode("ascii"),
        **extra,
    )
    return response.get("ETag", ""), md5.hexdigest()


def put_multipart(
    client: Any,
    bucket: str,
    name: str,
    path: Path,
    size: int,
    sha256: str,
    extra: dict[str, Any],
    chunk_size: int,
    unaborted: list[tuple[str, str]] | None = None,
) -> tuple[str, str]:
    """Upload a file in parts of ``chunk_size``; (the server's ETag, the expected one).

    An upload that fails is aborted, so its parts do not cost storage; when
    the abort fails too (the server is down), ``(name, upload_id)`` is added
    to ``unaborted`` for the caller to abort once the server is back.
    """
    if math.ceil(size / chunk_size) > MAX_PARTS:
        raise StorageError(
            f"{path} is too large for {chunk_size // MIB} MB parts (S3 allows "
            f"{MAX_PARTS} parts): raise storage.multipart_chunk_mb to at least "
            f"{math.ceil(size / MAX_PARTS / MIB)}"
        )
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=name, **extra)["UploadId"]
    try:
        parts: list[dict[str, Any]] = []
        part_md5s: list[bytes] = []
        digest = hashlib.sha256()
        sent = 0
        with _open_local(path) as handle:
            for number in itertools.count(1):
                data = _read_local(handle, path, chunk_size)
                if not data:
                    break
                md5 = _md5(data).digest()
                response = client.upload_part(
                    Bucket=bucket,
                    Key=name,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data,
                    ContentMD5=base64.b64encode(md5).decode("ascii"),
                )
                parts.append({"PartNumber": number, "ETag": response["ETag"]})
                part_md5s.append(md5)
                digest.update(data)
                sent += len(data)
        _check_sent(path, size, sha256, sent, digest.hexdigest())
        response = client.complete_multipart_upload(
            Bucket=bucket,
            Key=name,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )
    except BaseException:
        # Unfinished uploads cost storage until aborted, for ever on servers
        # without a lifecycle rule. The server may be the reason we are here,
        # so an abort that fails is handed to the caller to try again later.
        if not abort_upload(client, bucket, name, upload_id) and unaborted is not None:
            unaborted.append((name, upload_id))
        raise
    return response.get("ETag", ""), multipart_etag(part_md5s)


def abort_upload(client: Any, bucket: str, name: str, upload_id: str) -> bool:
    """Abort a multipart upload; False (and a warning naming it) if the server could not be told.

    An upload the server no longer knows (already aborted or completed) counts as aborted.
    """
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=name, UploadId=upload_id)
    except Exception as exc:
        error = getattr(exc, "response", {}).get("Error", {})
        if error.get("Code") in ("NoSuchUpload", "404"):
            return True
        log.warning(
            "could not abort the unfinished multipart upload %s of s3://%s/%s (%s): its parts stay on the "
            "server until a later upload through this store or `digitize audit --abort-stale-uploads` aborts it",
            upload_id, bucket, name, type(exc).__name__,
        )
        return False
    return True


def _check_sent(path: Path, size: int, sha256: str, sent: int, sent_sha256: str) -> None:
    if sent != size or sent_sha256 != sha256:
        raise VerificationError(
            f"{path} changed while it was being uploaded: expected {size} bytes with "
            f"sha256 {sha256}, sent {sent} bytes with sha256 {sent_sha256}"
        )


@contextlib.contextmanager
def _open_local(path: Path) -> Iterator[BinaryIO]:
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with handle:
        yield handle


def _read_local(handle: BinaryIO, path: Path, size: int) -> bytes:
    try:
        return handle.read(size)
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from exc
