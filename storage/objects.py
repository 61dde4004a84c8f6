"""The object-store interface every backend (local folder, S3) implements.

A store holds immutable-looking objects under ``/``-separated keys. Putting a
file is idempotent: an object with the same key, size and SHA-256 is not sent
again, so re-running a batch costs one metadata lookup per file. Every upload
is verified before ``put_file`` returns, so a returned ``StoredObject`` can go
straight into the catalog and the PREMIS fixity record.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from digitize import checksums
from digitize.errors import StorageError, VerificationError
from digitize.files import atomic_output

__all__ = ["StoredObject", "IncompleteUpload", "ObjectStore", "check_key", "sha256_file"]

log = logging.getLogger(__name__)

# S3's limit; the local backend keeps it too so a key works on both.
MAX_KEY_BYTES = 1024
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class StoredObject:
    """An object as the store holds it.

    ``sha256`` is the hex digest recorded with the object ("" when an object
    written by another tool has none). ``uploaded`` is False when ``put_file``
    found the same object already stored and sent nothing.
    """

    key: str
    size: int
    sha256: str
    uploaded: bool = False


@dataclass(frozen=True)
class IncompleteUpload:
    """A multipart upload the server holds unfinished: its parts cost storage until it is aborted.

    ``initiated`` is when the upload started (UTC), as the server reports it.
    """

    key: str
    upload_id: str
    initiated: datetime


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe, portable object key, else raise StorageError.

    One rule for every backend, so a key that works on a local folder works
    on S3 and back: relative, ``/``-separated, no empty, ``.`` or ``..``
    segments, no segment starting with ``.`` (the local backend keeps its
    checksums and temporary files under such names), no backslashes or
    control characters.
    """
    if not isinstance(key, str) or not key:
        raise StorageError(f"invalid object key {key!r}: keys must be non-empty strings")
    problem = None
    if key.startswith("/"):
        problem = "keys are relative; remove the leading '/'"
    elif "\\" in key:
        problem = "use '/' between parts, not '\\'"
    elif _CONTROL.search(key):
        problem = "control characters are not allowed"
    elif len(key.encode("utf-8")) > MAX_KEY_BYTES:
        problem = f"keys are limited to {MAX_KEY_BYTES} bytes"
    else:
        for part in key.split("/"):
            if part in ("", ".", ".."):
                problem = "empty, '.' and '..' parts are not allowed"
                break
            if part.startswith("."):
                problem = "parts may not start with '.' (reserved for the store's own files)"
                break
    if problem:
        raise StorageError(f"invalid object key {key!r}: {problem}")
    return key


def check_sha256(value: str) -> str:
    """Normalise a hex SHA-256 digest, rejecting anything else."""
    digest = value.lower() if isinstance(value, str) else ""
    if not _SHA256_HEX.match(digest):
        raise StorageError(f"invalid sha256 {value!r}: expected 64 hex digits")
    return digest


def sha256_file(path: Path | str) -> str:
    """The hex SHA-256 of a file, read in chunks (pages can be hundreds of MB)."""
    try:
        return checksums.sha256_file(path)
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from exc


class ObjectStore(ABC):
    """A place to keep result files: a local folder or an S3 bucket.

    Backends implement the abstract methods; ``put_file`` is shared so the
    skip-if-unchanged rule is the same everywhere.
    """

    def put_file(
        self,
        key: str,
        path: Path | str,
        *,
        sha256: str | None = None,
        content_type: str | None = None,
    ) -> StoredObject:
        """Store the file at ``path`` under ``key`` and verify it.

        ``sha256`` may be passed when the caller already knows it (it is then
        trusted for the unchanged-object check, but the upload still checks
        it against the bytes sent). Raises VerificationError when the stored
        object does not match the file, StorageUnavailableError when the
        store cannot be reached (retryable), StorageError otherwise.
        """
        check_key(key)
        path = Path(path)
        try:
            if not path.is_file():
                raise StorageError(f"cannot store {path}: not a regular file")
            size = path.stat().st_size
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from exc
        sha256 = sha256_file(path) if sha256 is None else check_sha256(sha256)

        existing = self.stat(key)
        if existing is not None and existing.size == size and existing.sha256 == sha256:
            log.debug("%s unchanged in %s, not uploading", key, self.describe())
            return StoredObject(key, size, sha256, uploaded=False)

        self._upload(key, path, size, sha256, content_type)
        log.info("stored %s (%d bytes) in %s", key, size, self.describe())
        return StoredObject(key, size, sha256, uploaded=True)

    @abstractmethod
    def _upload(
        self, key: str, path: Path, size: int, sha256: str, content_type: str | None
    ) -> None:
        """Write the file and verify it; raise VerificationError on mismatch."""

    @abstractmethod
    def stat(self, key: str) -> StoredObject | None:
        """The stored object's size and recorded sha256, or None if absent."""

    @abstractmethod
    def verify(self, key: str, size: int, sha256: str) -> bool:
        """Whether the stored bytes have this size and SHA-256 (reads them all)."""

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """A binary stream of the object's bytes; close it when done."""

    def open_range(self, key: str, start: int, length: int) -> BinaryIO:
        """A binary stream of ``length`` bytes of the object from byte ``start`` (HTTP ``Range``); close it when done.

        This default reads and drops the bytes before ``start``; backends
        override it to seek (a local file) or to ask for the range (S3), so a
        reader jumping to the end of a 500 MB PDF costs only what it reads.
        The stream may run past ``length``: read no more than asked.
        """
        stream = self.open_read(key)
        try:
            skip = start
            while skip > 0:
                dropped = stream.read(min(skip, checksums.READ_CHUNK))
                if not dropped:
                    break
                skip -= len(dropped)
        except BaseException:
            stream.close()
            raise
        return stream

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; removing a missing object is not an error."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys that start with ``prefix`` (a string prefix, as in S3)."""

    @abstractmethod
    def url_for(self, key: str) -> str:
        """A file:// or s3:// URL naming the object."""

    @abstractmethod
    def describe(self) -> str:
        """A one-line description for logs; never contains credentials."""

    def incomplete_uploads(self, prefix: str = "") -> Iterator[IncompleteUpload]:
        """Unfinished multipart uploads under ``prefix``; a store without them (a local folder) has none."""
        return iter(())

    def abort_upload(self, upload: IncompleteUpload) -> None:
        """Abort an unfinished multipart upload, freeing its parts."""
        raise StorageError(f"{self.describe()} has no multipart uploads; cannot abort {upload.key!r}")

    def copy(self, source: str, target: str, *, sha256: str) -> StoredObject:
        """Copy the object at ``source`` to ``target``, checked against ``sha256`` (what the catalog recorded).

        The bytes go through a temporary file and ``put_file``, so every
        backend copies alike and the copy is verified; a source whose bytes
        no longer match ``sha256`` raises VerificationError and is not copied.
        """
        expected = check_sha256(sha256)
        with tempfile.TemporaryDirectory(prefix="digitize-copy-") as folder:
            spool = Path(folder) / "object"
            digest = hashlib.sha256()
            with self.open_read(source) as stream, atomic_output(spool) as out:
                while chunk := stream.read(checksums.READ_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != expected:
                raise VerificationError(
                    f"{source} in {self.describe()} is damaged: its sha256 is {digest.hexdigest()}, "
                    f"the catalog recorded {expected}; it was not copied to {target} (run digitize audit)"
                )
            return self.put_file(target, spool, sha256=expected)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"
