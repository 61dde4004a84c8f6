"""One run per batch at a time: a lock file in the work folder.

Two runs of one batch at once would both OCR every page and write the same
work files. The lock is ``fcntl.flock`` on ``<work_dir>/.batch-locks/<batch>.lock``:
the kernel releases it when the holding process ends, however it ends
(kill -9, out of memory, power cut), so a crashed run can never leave a
batch locked and nothing has to be cleaned up by hand. The holder writes its
process id, host and start time into the file, so the next run can say who
holds the batch, and since when.

The lock file is written in place, not through the atomic writer
(:mod:`digitize.files`), and never removed: replacing or removing it would
give the name a new file, and a run that opened the new file would not see
the lock held on the old one.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from digitize.errors import BatchLockedError

__all__ = ["LOCKS_FOLDER", "LockHolder", "batch_lock", "batch_name", "lock_file"]

log = logging.getLogger(__name__)

LOCKS_FOLDER = ".batch-locks"  # in the work folder; item folders are named by identifiers, which never start with "."


@dataclass(frozen=True)
class LockHolder:
    """Who holds a batch's lock, as the holder wrote it (``pid`` None: not written yet or unreadable)."""

    pid: int | None
    host: str
    since: str  # ISO 8601, UTC

    def describe(self) -> str:
        if self.pid is None:
            return "another digitize run (it has not yet written its process id)"
        host = self.host or "an unknown host"
        return f"digitize run pid {self.pid} on {host}, since {self.since or 'an unknown time'}"


def lock_file(work_dir: Path | str, batch_name: str) -> Path:
    """The lock file of a batch: a readable name plus a digest, so distinct names never share a lock."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", batch_name).strip("._")[:80] or "batch"
    digest = hashlib.sha256(batch_name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return Path(work_dir) / LOCKS_FOLDER / f"{readable}-{digest}.lock"


def _read_holder(path: Path) -> LockHolder:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        pid = data.get("pid")
        return LockHolder(pid if isinstance(pid, int) else None, str(data.get("host", "")), str(data.get("since", "")))
    except (OSError, ValueError, AttributeError):  # empty (the holder is just starting) or unreadable
        return LockHolder(None, "", "")


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


# Lock files this process holds, by path: the CLI takes the lock before it starts
# Prefect, and the flow it then runs takes it again (re-entrant, one process).
_held: dict[Path, LockHolder] = {}
_held_fds: set[int] = set()
_guard = threading.Lock()


def _close_in_child() -> None:
    # A forked page worker must not share the lock: flock belongs to the open
    # file, so a worker outliving the run would otherwise keep the batch locked.
    for fd in list(_held_fds):
        try:
            os.close(fd)
        except OSError:
            pass
    _held_fds.clear()
    _held.clear()


os.register_at_fork(after_in_child=_close_in_child)


def batch_name(folder: Path | str) -> str:
    """The name a batch is locked under: its folder's name (resolved, so ``.`` names the folder too)."""
    return Path(folder).resolve().name or "batch"


@contextmanager
def batch_lock(work_dir: Path | str, folder: Path | str, *, wait: bool = False) -> Iterator[LockHolder]:
    """Hold the lock of the batch in ``folder`` for the block; yield this run's holder record.

    When another run holds it: raise :class:`BatchLockedError` naming that
    run, or with ``wait`` log who holds it and block until it ends. Taking
    it again in the process that holds it is allowed (and does nothing).
    """
    name = batch_name(folder)
    path = lock_file(work_dir, name).absolute()
    with _guard:
        mine = _held.get(path)
    if mine is not None:
        yield mine
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        if not _try_lock(fd):
            holder = _read_holder(path)
            if not wait:
                raise BatchLockedError(
                    f"batch {name!r} is being processed by {holder.describe()} (lock file {path}); "
                    "nothing was done by this run. Wait for that run to finish, or run again with --wait to "
                    "start when it ends (its finished pages are then reused). A run that crashed or was killed "
                    "releases the lock by itself."
                )
            log.warning("batch %r is being processed by %s; waiting for it to finish", name, holder.describe())
            fcntl.flock(fd, fcntl.LOCK_EX)
        me = LockHolder(os.getpid(), socket.gethostname(), datetime.now(UTC).isoformat(timespec="seconds"))
        record = json.dumps({"pid": me.pid, "host": me.host, "since": me.since, "batch": name}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record + b"\n", 0)
        os.fsync(fd)
        with _guard:
            _held[path] = me
            _held_fds.add(fd)
        try:
            yield me
        finally:
            with _guard:
                _held.pop(path, None)
                _held_fds.discard(fd)
            os.ftruncate(fd, 0)  # an idle lock file names nobody
    finally:
        os.close(fd)  # releases the lock
