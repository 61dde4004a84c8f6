"""The local-folder object store (``file://`` URLs).

Objects are plain files under the root, so an operator can browse them.
Each file ``dir/name`` has a hidden sidecar ``dir/.name.sha256`` recording its
digest together with the size, mtime and inode it was computed for; if any of
those no longer match (the file was edited or replaced behind our back) the
digest is recomputed rather than trusted.

Durability: an object's bytes and its name are synced (the atomic writer:
fsync of the data, rename, fsync of the folder) before ``put_file`` returns,
so the store never claims an object a power cut can take away. The sidecar
is only a cache of the digest and is not synced: after a crash it is the new
one, the old one, empty or absent, and all but the new one fail the
size/mtime/inode match or do not parse, so the digest is computed from the
bytes again. ``verify`` and ``digitize audit`` always hash the bytes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from digitize.checksums import READ_CHUNK
from digitize.errors import StorageError, VerificationError
from digitize.files import TEMP_SUFFIX, atomic_output
from digitize.storage.objects import ObjectStore, StoredObject, check_key, check_sha256, sha256_file

__all__ = ["LocalObjectStore"]


class LocalObjectStore(ObjectStore):
    """Objects as files under ``root``; writes are atomic (temp file, fsync, rename)."""

    def __init__(self, root: Path | str) -> None:
        # Nothing is created until the first put, so opening a store to read
        # or list has no side effects.
        self.root = Path(root).absolute()

    # -- paths ---------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    @staticmethod
    def _sidecar(path: Path) -> Path:
        return path.with_name(f".{path.name}.sha256")

    # -- ObjectStore ---------------------------------------------------------

    def _upload(
        self, key: str, path: Path, size: int, sha256: str, content_type: str | None
    ) -> None:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            stat = self._write_temp_and_replace(path, target, size, sha256)
            self._write_sidecar(target, sha256, stat)
        except OSError as exc:
            raise StorageError(
                f"cannot write {target} in {self.describe()}: {exc.strerror or exc}"
            ) from exc

    def _write_temp_and_replace(
        self, source: Path, target: Path, size: int, sha256: str
    ) -> os.stat_result:
        # The temp file sits next to the target so os.replace is a rename
        # within one filesystem: readers see the old file or the new one,
        # never a half-written one, even after a crash.
        with atomic_output(target) as out, open(source, "rb") as src:
            digest = hashlib.sha256()
            written = 0
            while chunk := src.read(READ_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                written += len(chunk)
            out.flush()
            stat = os.fstat(out.fileno())
            # Verify what was written against what was promised: catches a
            # file that changed since it was hashed, or a wrong sha256 argument.
            if written != size or digest.hexdigest() != sha256:
                raise VerificationError(
                    f"{source} changed while it was being stored as {target.name}: "
                    f"expected {size} bytes with sha256 {sha256}, "
                    f"read {written} bytes with sha256 {digest.hexdigest()}"
                )
        return stat

    def _write_sidecar(self, target: Path, sha256: str, stat: os.stat_result) -> None:
        """Record the digest beside the object: renamed into place whole, but not synced (a cache, see above).

        Syncing it cost two of the four fsyncs of every upload, the largest
        local cost of publishing an item (bench/assembly.py).
        """
        sidecar = self._sidecar(target)
        line = f"{sha256} {stat.st_size} {stat.st_mtime_ns} {stat.st_ino}\n"
        temp = sidecar.with_name(f"{sidecar.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
        try:
            temp.write_text(line, encoding="ascii")
            os.replace(temp, sidecar)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def _recorded_sha256(self, path: Path, stat: os.stat_result) -> str | None:
        """The sidecar's digest if it was computed for this very file version."""
        try:
            fields = self._sidecar(path).read_text(encoding="ascii").split()
            sha256, size, mtime_ns, inode = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
            check_sha256(sha256)
        except (OSError, ValueError, IndexError, StorageError):
            return None
        if (size, mtime_ns, inode) != (stat.st_size, stat.st_mtime_ns, stat.st_ino):
            return None
        return sha256

    def stat(self, key: str) -> StoredObject | None:
        path = self._path(key)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if not path.is_file():
            return None
        sha256 = self._recorded_sha256(path, stat) or sha256_file(path)
        return StoredObject(key, stat.st_size, sha256)

    def verify(self, key: str, size: int, sha256: str) -> bool:
        path = self._path(key)
        try:
            if not path.is_file() or path.stat().st_size != size:
                return False
        except OSError:
            return False
        return sha256_file(path) == check_sha256(sha256)

    def open_read(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            if path.is_dir():
                raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
            return open(path, "rb")
        except FileNotFoundError as exc:
            raise StorageError(f"no object {key!r} in {self.describe()}") from exc
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def open_range(self, key: str, start: int, length: int) -> BinaryIO:
        stream = self.open_read(key)
        try:
            stream.seek(start)
        except OSError as exc:
            stream.close()
            raise StorageError(f"cannot read {key!r} from byte {start}: {exc.strerror or exc}") from exc
        return stream

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
            self._sidecar(path).unlink(missing_ok=True)
        except NotADirectoryError:
            return
        except OSError as exc:
            raise StorageError(f"cannot delete {path}: {exc.strerror or exc}") from exc

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix``, folder by folder in name order."""
        folder, _, _ = prefix.rpartition("/")
        start = self._path(folder) if folder else self.root
        if not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):
            # Hidden names are our sidecars and temp files, never objects.
            dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))
            relative = Path(dirpath).relative_to(self.root).as_posix()
            base = "" if relative == "." else relative + "/"
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                key = base + name
                if key.startswith(prefix):
                    yield key

    def url_for(self, key: str) -> str:
        return self._path(key).as_uri()

    def describe(self) -> str:
        return f"local folder {self.root}"
