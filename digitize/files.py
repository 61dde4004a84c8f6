"""The one atomic writer: a file appears under its final name complete, or not at all.

Resume trusts files because they exist (a page's text, hOCR and PDF, an item's
record, a staged copy), so a crash or a full disk mid-write must never leave a
partial file under the final name. Every writer goes through here: the data is
written to a unique temporary file in the same folder (so the rename never
crosses a file system), flushed to disk with ``fsync``, renamed over the final
name with ``os.replace``, and the folder is synced so the rename itself
survives a power cut. On any exception the temporary file is removed and an
older file under the final name is left untouched.

Temporary names are ``.<name>.<random>.part`` (hidden, recognisable, unique per
writer, so two writers of the same file never share one). Writers such as
pikepdf, Pillow or zipfile that choose a format from the file name get
``.<name>.<random>.part<suffix>`` with ``keep_suffix=True``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, TextIO, TypeVar, overload

__all__ = ["TEMP_SUFFIX", "atomic_output", "atomic_path", "atomic_write_bytes", "atomic_write_text", "fsync_dir"]

TEMP_SUFFIX = ".part"

# Created like ``open(path, "w")`` would (0o666 less the umask), unlike
# ``tempfile.mkstemp``'s 0o600: published files must stay readable by the web
# server and the archive as before.
_FILE_MODE = 0o666
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)

_Handle = TypeVar("_Handle", bound=IO[Any])


def _create_temp(path: Path, keep_suffix: bool) -> tuple[int, Path]:
    """Create a new, empty, uniquely named file beside ``path``; return its descriptor and name."""
    suffix = TEMP_SUFFIX + (path.suffix if keep_suffix else "")
    while True:
        temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{suffix}")
        try:
            fd = os.open(temp, _CREATE_FLAGS, _FILE_MODE)
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
        return fd, temp


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable: fsync the folder that holds it (POSIX only)."""
    if os.name != "posix":  # pragma: no cover - Windows has no folder descriptors
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _commit(temp: Path, path: Path) -> None:
    os.replace(temp, path)
    fsync_dir(path.parent)


@contextmanager
def atomic_path(path: Path | str, *, keep_suffix: bool = True) -> Iterator[Path]:
    """Yield a temporary file name beside ``path`` for a library that writes by name.

    The file exists (empty) when the block starts. When the block ends without an
    exception the file is synced and renamed to ``path``; otherwise it is removed.
    The temporary name keeps ``path``'s suffix by default, for libraries that pick
    the format from it.
    """
    path = Path(path)
    fd, temp = _create_temp(path, keep_suffix)
    os.close(fd)
    try:
        yield temp
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        _commit(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@overload
def atomic_output(
    path: Path | str, mode: Literal["wb"] = "wb", *, encoding: None = None
) -> AbstractContextManager[BinaryIO]: ...
@overload
def atomic_output(
    path: Path | str, mode: Literal["w"], *, encoding: str = "utf-8"
) -> AbstractContextManager[TextIO]: ...
def atomic_output(
    path: Path | str, mode: Literal["wb", "w"] = "wb", *, encoding: str | None = None
) -> AbstractContextManager[BinaryIO] | AbstractContextManager[TextIO]:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path``.

    ``mode`` is ``"wb"`` (bytes) or ``"w"`` (text; ``encoding`` defaults to UTF-8 and
    newlines handled like ``Path.write_text``).
    """
    if mode == "wb":
        return _atomic_output(Path(path), lambda fd: os.fdopen(fd, "wb"))
    if mode == "w":
        text_encoding = encoding or "utf-8"
        return _atomic_output(Path(path), lambda fd: os.fdopen(fd, "w", encoding=text_encoding))
    raise ValueError(f"atomic_output: mode must be 'wb' or 'w', not {mode!r}")


@contextmanager
def _atomic_output(path: Path, opener: Callable[[int], _Handle]) -> Iterator[_Handle]:
    fd, temp = _create_temp(path, keep_suffix=False)
    try:
        handle = opener(fd)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _commit(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (complete or not at all)."""
    with atomic_output(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: Path | str, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically, like ``Path.write_text`` but never partial."""
    with atomic_output(path, "w", encoding=encoding) as handle:
        handle.write(text)
