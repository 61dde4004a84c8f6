"""The hot folder: staff copy batches in; complete batches are taken, one at a time.

Layout under one root (one filesystem, so that every move is an atomic
``os.rename``)::

    <root>/inbox/        staff copy batch folders here
    <root>/processing/   a batch being processed (left here by a crash: resumed first)
    <root>/done/         the items done;       <name>.report.json beside the folder
    <root>/failed/       the items that failed; <name>.report.json says which and why

When is a batch in the inbox complete? Either

* it holds a ``READY`` file at its top (staff or the copying script create
  it last), or
* every item folder holds its ``item.toml`` and no file in the batch changed
  (names, sizes, modification times) for ``quiet_seconds`` (default 5
  minutes). Copy tools that keep modification times (``cp -p``, rsync) still
  change the listing while they copy, and rsync's hidden partial files count.

A batch that is quiet but has an item without ``item.toml`` waits, with
that reason, until the file is added or a ``READY`` file says to go ahead
(the item then fails with "item.toml missing"; the others are processed).

A batch whose items all succeeded moves whole to done/, one whose items all
failed (or that could not be read at all) whole to failed/. A mixed batch is
split per item: the failed items' folders (their item.toml and pages) move
into ``failed/<name>/``, then the rest of the batch (the good items and any
file at the batch's top, such as READY) into ``done/<name>/``, the same
name in both areas and the batch report beside each. Every move is one
``os.rename``; a crash between them leaves the good items in processing/,
run again first (a done item is only verified), and nothing is lost.

Batches are only ever moved, never modified: the report is written beside
the folder. A name already used in any area gets a suffix (``name~2``), so a
batch copied twice is processed twice and nothing is overwritten. To re-queue
a failed batch, move it back: ``mv <root>/failed/NAME <root>/inbox/`` (or
``digitize inbox --requeue NAME``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from digitize.errors import DigitizeError, IntakeError
from digitize.files import atomic_write_text
from digitize.scanners.metadata import METADATA_FILENAME, read_metadata
from digitize.scanners.text import shown

__all__ = ["HotFolder", "Waiting", "Finished", "AREAS", "item_identifiers"]

log = logging.getLogger(__name__)

AREAS = ("inbox", "processing", "done", "failed")
_STATE = ".inbox-state.json"


class _BatchState(TypedDict, total=False):
    """What the state file remembers of one batch in the inbox."""

    signature: str  # of its files when they last changed
    since: float  # clock time of that change
    requeued: bool  # put back from failed/: taken without waiting


@dataclass(frozen=True)
class Waiting:
    """A batch in the inbox that is not taken yet, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class Finished:
    """Where a processed batch went: its good part in done/, its failed items in failed/ (either may be None)."""

    done: Path | None
    failed: Path | None
    failed_items: tuple[str, ...] = ()  # folder names moved to failed/ (all of them when the whole batch failed)


class HotFolder:
    """The four areas under ``root`` and the rule for taking a batch."""

    def __init__(
        self,
        root: Path,
        quiet_seconds: float = 300.0,
        ready_marker: str = "READY",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.quiet_seconds = quiet_seconds
        self.ready_marker = ready_marker
        self.clock = clock
        self._state: dict[str, _BatchState] | None = None

    def area(self, name: str) -> Path:
        return self.root / name

    def ensure(self) -> None:
        try:
            for name in AREAS:
                self.area(name).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IntakeError(f"{self.root}: cannot create the hot folder areas ({exc.strerror or exc})") from exc

    # --- which batches are complete ---------------------------------------

    def interrupted(self) -> list[Path]:
        """Batches left in processing/ by a crash or kill: to be run again first."""
        return sorted(p for p in self.area("processing").iterdir() if p.is_dir() and not p.name.startswith("."))

    def scan(self) -> tuple[list[Path], list[Waiting]]:
        """Complete batches (oldest name first) and the ones still waiting, with reasons."""
        state = self._load_state()
        ready: list[Path] = []
        waiting: list[Waiting] = []
        now = self.clock()
        present = set()
        for entry in sorted(self.area("inbox").iterdir()):
            if entry.name.startswith("."):
                continue
            if not entry.is_dir():
                waiting.append(Waiting(entry.name, "not a batch folder (a batch is a folder of item folders)"))
                continue
            present.add(entry.name)
            reason = self._not_ready_because(entry, state, now)
            if reason is None:
                ready.append(entry)
            else:
                waiting.append(Waiting(entry.name, reason))
        for gone in set(state) - present:
            del state[gone]
        self._save_state()
        return ready, waiting

    def _not_ready_because(self, batch: Path, state: dict[str, _BatchState], now: float) -> str | None:
        if (batch / self.ready_marker).is_file():
            return None
        entry = state.get(batch.name, {})
        if entry.get("requeued"):
            return None
        signature, missing, items = _listing(batch)
        changed = entry.get("signature") != signature
        if changed:
            state[batch.name] = {"signature": signature, "since": now}
        if not items:
            return "holds no item folders (yet)"
        if missing:
            return (
                f"{', '.join(missing)}: no {METADATA_FILENAME}; add it, or put a {self.ready_marker} file in the "
                "batch to process the other items"
            )
        if changed:
            return (
                f"files are still changing (waiting {self.quiet_seconds:.0f} s of quiet, "
                f"or a {self.ready_marker} file)"
            )
        quiet_for = now - entry["since"]
        if quiet_for < self.quiet_seconds:
            return f"quiet for {quiet_for:.0f} s of {self.quiet_seconds:.0f} s"
        return None

    # --- moves ------------------------------------------------------------

    def take(self, batch: Path) -> Path:
        """Move a complete batch from the inbox to processing/ (atomically)."""
        dest = self._free_name("processing", batch.name, batch)
        os.rename(batch, dest)
        state = self._load_state()
        state.pop(batch.name, None)
        self._save_state()
        log.info("took %s as %s", batch.name, dest)
        return dest

    def finish(self, batch: Path, ok: bool, report: str) -> Path:
        """Move a processed batch to done/ or failed/ and write its report beside it.

        The move comes first: on a full disk the report may be lost (it is
        also in the output folder), never the batch.
        """
        dest = self._free_name("done" if ok else "failed", batch.name, batch)
        os.rename(batch, dest)
        self._write_report(dest, report)
        return dest

    def split(self, batch: Path, failed_items: Collection[str], report: str) -> Finished:
        """Move the failed item folders of ``batch`` to failed/ and the rest to done/, each with the report.

        ``failed_items`` are folder names inside the batch. None of them: the
        batch moves whole to done/; all its item folders: whole to failed/.
        Otherwise one name, free in every area, is used in both done/ and
        failed/ so that staff see the two halves side by side.
        """
        items = sorted(p.name for p in batch.iterdir() if p.is_dir() and not p.name.startswith("."))
        bad = [name for name in items if name in set(failed_items)]
        if not bad:
            return Finished(self.finish(batch, True, report), None)
        if len(bad) == len(items):
            return Finished(None, self.finish(batch, False, report), tuple(bad))
        name = self._free_name_in_all(batch.name, batch)
        failed = self.area("failed") / name
        failed.mkdir()
        for item in bad:
            os.rename(batch / item, failed / item)
        done = self.area("done") / name
        os.rename(batch, done)
        for dest in (failed, done):
            self._write_report(dest, report)
        log.info("split %s: %d item(s) in %s, the rest in %s", batch.name, len(bad), failed, done)
        return Finished(done, failed, tuple(bad))

    def _write_report(self, dest: Path, report: str) -> None:
        report_path = dest.with_name(f"{dest.name}.report.json")
        try:
            atomic_write_text(report_path, report)
        except OSError as exc:
            log.error("%s: could not write the report (%s); the batch is in %s", report_path, exc.strerror or exc, dest)

    def requeue(self, name: str) -> Path:
        """Move a failed batch back into the inbox; it is taken on the next scan."""
        source = self.area("failed") / name
        if not source.is_dir():
            raise IntakeError(f"{source}: no such failed batch")
        dest = self._free_name("inbox", name, source)
        os.rename(source, dest)
        state = self._load_state()
        state[dest.name] = {"requeued": True}
        self._save_state()
        return dest

    def _free_name(self, area: str, name: str, source: Path) -> Path:
        """``area/name``, or ``area/name~N`` if another batch has that name in any area."""
        candidate, n = name, 1
        while any(
            (self.area(a) / candidate).exists() and self.area(a) / candidate != source for a in AREAS
        ):
            n += 1
            candidate = f"{name}~{n}"
        return self.area(area) / candidate

    def _free_name_in_all(self, name: str, source: Path) -> str:
        """A name that no batch (nor report) uses in any area: for the two halves of a split batch."""
        candidate, n = name, 1
        while any(
            ((self.area(a) / candidate).exists() and self.area(a) / candidate != source)
            or (self.area(a) / f"{candidate}.report.json").exists()
            for a in AREAS
        ):
            n += 1
            candidate = f"{name}~{n}"
        return candidate

    # --- quiet-period state (kept between runs of `digitize inbox --once`) ---

    def _load_state(self) -> dict[str, _BatchState]:
        if self._state is None:
            try:
                self._state = json.loads((self.root / _STATE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._state = {}
        return self._state

    def _save_state(self) -> None:
        path = self.root / _STATE
        try:
            atomic_write_text(path, json.dumps(self._state, indent=1))
        except OSError as exc:  # a full disk: keep the state in memory, try again next scan
            log.warning("%s: could not save the inbox state (%s)", path, exc.strerror or exc)


def item_identifiers(batch: Path) -> dict[str, tuple[str, ...]]:
    """Each item folder's names in a batch report: its identifier from item.toml and its folder name.

    A report names an item by its identifier, or by its folder name when the
    folder could not be read in; the hot folder needs the folder to move.
    """
    names: dict[str, tuple[str, ...]] = {}
    for sub in sorted(p for p in batch.iterdir() if p.is_dir() and not p.name.startswith(".")):
        known = {shown(sub.name), sub.name}
        try:
            identifier = read_metadata(sub / METADATA_FILENAME).identifier
        except DigitizeError:
            identifier = None
        if identifier:
            known.add(identifier)
        names[sub.name] = tuple(sorted(known))
    return names


def _listing(batch: Path) -> tuple[str, list[str], list[str]]:
    """A signature of every file (name, size, mtime), item folders missing metadata, item folders."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(batch):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            try:
                st = path.stat()
            except OSError:
                continue  # vanished while listing: the next scan sees the change
            digest.update(f"{path.relative_to(batch)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    items = sorted(p.name for p in batch.iterdir() if p.is_dir() and not p.name.startswith("."))
    missing = [name for name in items if not (batch / name / METADATA_FILENAME).is_file()]
    return digest.hexdigest(), missing, items
