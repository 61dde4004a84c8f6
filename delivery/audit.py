"""Auditing the store: every stored object re-read against its manifest and the catalog.

Publishing verified each object once; bit rot, a deleted file or a stray
upload happen later, so a nightly audit reads every object of every item
(or of one item, or a random sample) again and compares it with two
independent records: the item's ``manifest.json`` in the store and the
catalog's ``files`` rows. It finds

* **missing** objects (named by the manifest or the catalog, not in the store),
* **changed** objects (size or SHA-256 differ: bit rot, an overwrite),
* **unexpected** objects (under ``items/<id>/`` but named by neither record,
  or under ``items/`` of no registered item),
* **disagreements** between the manifest and the catalog,

and records a PREMIS fixity-check event per item in the catalog (outcome
pass or fail, with the problems as JSON). It also lists unfinished S3
multipart uploads, and aborts the stale ones when asked.

Objects are streamed (``checksums.READ_CHUNK`` at a time, never whole) and a
few are read at once (threads: the work is waiting for the disk or the
network; hashlib releases the GIL). An audit round is resumable: the items
done so far, with their results, are kept in a state file in the work folder
(written by the atomic writer), so an interrupted audit goes on where it
stopped and its report still covers the whole round.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import time
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from digitize.archive.bag import carried_sha256, open_bag_zip, read_bag_zip
from digitize.assembly.tiles import iter_files
from digitize.checksums import READ_CHUNK
from digitize.delivery.tiles import TILES_EVENT, load_index, recorded_tiles, tile_key
from digitize.errors import OutputError, StorageError
from digitize.files import atomic_write_text
from digitize.settings import AuditSettings
from digitize.storage.catalog import Catalog, CatalogFile
from digitize.storage.objects import IncompleteUpload, ObjectStore

__all__ = [
    "FIXITY_EVENT",
    "ITEMS_PREFIX",
    "AuditProblem",
    "AuditReport",
    "ItemAudit",
    "StaleUpload",
    "audit_store",
    "choose_items",
    "write_report",
]

log = logging.getLogger(__name__)

FIXITY_EVENT = "fixity check"  # PREMIS eventType
ITEMS_PREFIX = "items/"
STATE_FILE = "audit-state.json"
_STATE_VERSION = 1
_BAG_READ_LIMIT = 64 * 1024 * 1024  # a bag that refers to the store is its tag files and the METS: far less

# The kinds of problem; each one fails the item.
MISSING, CHANGED, UNREADABLE, UNEXPECTED, DISAGREES = "missing", "changed", "unreadable", "unexpected", "disagrees"


@dataclass(frozen=True)
class AuditProblem:
    """One thing wrong with one object: its key, the kind of problem and what was found."""

    key: str
    kind: str  # missing | changed | unreadable | unexpected | disagrees
    detail: str


@dataclass(frozen=True)
class ItemAudit:
    """The result of auditing one item."""

    identifier: str
    objects: int  # objects read and hashed
    bytes_read: int
    problems: tuple[AuditProblem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def event_detail(self) -> str:
        """The fixity event's detail: outcome and problems as JSON."""
        return json.dumps(
            {
                "outcome": "pass" if self.ok else "fail",
                "objects": self.objects,
                "bytes": self.bytes_read,
                "problems": [asdict(problem) for problem in self.problems],
            },
            ensure_ascii=False,
            sort_keys=True,
        )


@dataclass(frozen=True)
class StaleUpload:
    """An unfinished multipart upload, whether it is stale, and whether this audit aborted it."""

    upload: IncompleteUpload
    stale: bool
    aborted: bool = False
    error: str | None = None


@dataclass(frozen=True)
class AuditReport:
    """What an audit round found; ``ok`` is False on any loss."""

    started: datetime
    finished: datetime
    store: str
    scope: str
    items: tuple[ItemAudit, ...]
    resumed: tuple[str, ...]  # items whose result comes from an earlier, interrupted part of this round
    orphans: tuple[AuditProblem, ...]  # objects under items/ of no registered item
    uploads: tuple[StaleUpload, ...]
    seconds: float  # time spent by this invocation
    bytes_read: int  # by this invocation
    report_path: Path | None = None

    @property
    def failed_items(self) -> list[ItemAudit]:
        return [item for item in self.items if not item.ok]

    @property
    def ok(self) -> bool:
        return not self.failed_items and not self.orphans

    def to_dict(self) -> dict[str, Any]:
        return {
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat(),
            "store": self.store,
            "scope": self.scope,
            "ok": self.ok,
            "items_audited": len(self.items),
            "items_failed": len(self.failed_items),
            "objects": sum(item.objects for item in self.items),
            "seconds": round(self.seconds, 3),
            "bytes_read": self.bytes_read,
            "resumed": list(self.resumed),
            "items": [
                {
                    "identifier": item.identifier,
                    "outcome": "pass" if item.ok else "fail",
                    "objects": item.objects,
                    "bytes": item.bytes_read,
                    "problems": [asdict(problem) for problem in item.problems],
                }
                for item in self.items
            ],
            "orphans": [asdict(problem) for problem in self.orphans],
            "incomplete_uploads": [
                {
                    "key": entry.upload.key,
                    "upload_id": entry.upload.upload_id,
                    "initiated": entry.upload.initiated.isoformat(),
                    "stale": entry.stale,
                    "aborted": entry.aborted,
                    "error": entry.error,
                }
                for entry in self.uploads
            ],
        }


def choose_items(
    identifiers: Sequence[str], *, sample: int | None = None, sample_percent: float | None = None,
    rng: random.Random | None = None,
) -> list[str]:
    """All ``identifiers``, or a random sample of ``sample`` of them or ``sample_percent`` percent (at least one)."""
    if sample is None and sample_percent is None:
        return list(identifiers)
    count = sample if sample is not None else max(1, round(len(identifiers) * (sample_percent or 0.0) / 100))
    count = max(0, min(count, len(identifiers)))
    return sorted((rng or random.SystemRandom()).sample(list(identifiers), count))


def audit_store(
    store: ObjectStore,
    catalog: Catalog,
    settings: AuditSettings,
    *,
    items: Sequence[str] | None = None,
    scope: str = "all",
    state_dir: Path | None = None,
    restart: bool = False,
    abort_stale_uploads: bool = False,
    find_orphans: bool = True,
    on_item: Callable[[ItemAudit], None] | None = None,
) -> AuditReport:
    """Audit ``items`` (default: every registered item, withdrawn ones too) and return the report.

    ``scope`` names the selection (e.g. "all", "item:ID", "sample:10"): a
    state file in ``state_dir`` resumes the same scope's unfinished round;
    ``restart`` starts the round over. Each item's outcome is recorded in the
    catalog as a fixity-check event. Raises StorageError when the store cannot
    be read at all (not for a missing or changed object: those are findings).
    """
    started = datetime.now(UTC)
    clock = time.monotonic()
    registered = catalog.identifiers(include_withdrawn=True)
    selection = list(registered) if items is None else list(items)
    state = _State.load(state_dir, scope, restart, selection, started)
    todo = [identifier for identifier in state.selection if identifier not in state.results]
    resumed = tuple(identifier for identifier in state.selection if identifier in state.results)
    if resumed:
        log.info("audit: resuming round of %s: %d items done, %d to go", state.started, len(resumed), len(todo))
    bytes_read = 0
    with ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="audit") as pool:
        try:
            for identifier in todo:
                result = _audit_item(identifier, store, catalog, pool)
                catalog.add_event(identifier, FIXITY_EVENT, result.event_detail())
                bytes_read += result.bytes_read
                state.done(result, settings.state_save_seconds)
                if on_item is not None:
                    on_item(result)
        finally:
            state.save()
    orphans = _orphans(store, set(registered)) if find_orphans else ()
    uploads = _uploads(store, settings, abort_stale_uploads)
    results = tuple(state.results[identifier] for identifier in state.selection)
    state.finish()
    return AuditReport(
        started=state.started_at,
        finished=datetime.now(UTC),
        store=store.describe(),
        scope=scope,
        items=results,
        resumed=resumed,
        orphans=orphans,
        uploads=uploads,
        seconds=time.monotonic() - clock,
        bytes_read=bytes_read,
    )


def write_report(report: AuditReport, folder: Path) -> Path:
    """Write ``audit-<date>.json`` into ``folder`` (the date the round started, UTC)."""
    path = Path(folder) / f"audit-{report.started.strftime('%Y-%m-%d')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(report.to_dict(), ensure_ascii=False, indent=1) + "\n")
    return path


# -- one item -----------------------------------------------------------------


@dataclass(frozen=True)
class _Expected:
    key: str
    size: int | None  # None: not recorded (a kept master: the replacement event records its digest only)
    sha256: str
    source: str  # "catalog", "manifest", "catalog and manifest" or "replacement event"


def _audit_item(identifier: str, store: ObjectStore, catalog: Catalog, pool: ThreadPoolExecutor) -> ItemAudit:
    entry = catalog.get(identifier)
    if entry is None:  # removed from the catalog since the audit started
        return ItemAudit(identifier, 0, 0, (AuditProblem("", MISSING, f"{identifier} is no longer registered"),))
    catalog_files = {f.key: f for f in catalog.files(identifier)}
    problems: list[AuditProblem] = []
    manifest_files = _manifest_files(store, entry.manifest_key, catalog_files.get(entry.manifest_key), problems)

    expected: dict[str, _Expected] = {}
    for key, f in catalog_files.items():
        expected[key] = _Expected(key, f.size, f.sha256, "catalog")
    if manifest_files is not None:
        for key, (size, sha256) in manifest_files.items():
            known = catalog_files.get(key)
            if known is None:
                problems.append(AuditProblem(key, DISAGREES, "named by the manifest, not by the catalog"))
                expected[key] = _Expected(key, size, sha256, "manifest")
            elif (known.size, known.sha256) != (size, sha256):
                problems.append(AuditProblem(
                    key, DISAGREES,
                    f"the manifest says {size} bytes, sha256 {sha256}; "
                    f"the catalog says {known.size} bytes, sha256 {known.sha256}",
                ))
            else:
                expected[key] = _Expected(key, size, sha256, "catalog and manifest")
        for key, f in catalog_files.items():
            if key not in manifest_files and f.role != "manifest" and key != entry.manifest_key:
                problems.append(AuditProblem(key, DISAGREES, "named by the catalog, not by the manifest"))

    kept, kept_prefixes = _kept_versions(catalog, identifier)
    for want in kept:
        expected.setdefault(want.key, want)
    for want in _tiles(store, catalog, identifier):
        expected.setdefault(want.key, want)

    checks = list(pool.map(lambda want: _check_object(store, want), sorted(expected.values(), key=lambda e: e.key)))
    objects = sum(1 for _, read, _ in checks if read is not None)
    bytes_read = sum(read or 0 for _, read, _ in checks)
    problems.extend(problem for _, _, problem in checks if problem is not None)
    for bag in (f for f in catalog_files.values() if f.role == "bag"):
        problems.extend(_bag_problems(store, identifier, bag, expected))

    prefix = f"{ITEMS_PREFIX}{identifier}/"
    for key in store.list(prefix):
        # A replaced version's manifest and record are kept beside its masters.
        if any(key in (p + "manifest.json", p + "record.json") for p in kept_prefixes):
            continue
        if key not in expected:
            problems.append(
                AuditProblem(key, UNEXPECTED, "in the store, named by neither the manifest nor the catalog")
            )
    problems.sort(key=lambda problem: (problem.key, problem.kind))
    if problems:
        log.warning("audit: %s: %d problem(s): %s", identifier, len(problems),
                    "; ".join(f"{p.kind} {p.key}" for p in problems[:5]))
    return ItemAudit(identifier, objects, bytes_read, tuple(problems))


def _bag_problems(
    store: ObjectStore, identifier: str, bag: CatalogFile, expected: dict[str, _Expected]
) -> list[AuditProblem]:
    """The item's bag against the stored files: a third record of every file's SHA-256.

    The bag's payload manifest must name each file it refers to
    (``fetch.txt``) with the SHA-256 the manifest and the catalog have, so
    the objects just hashed prove the bag; files it carries (the METS; every
    file in a bag made before bags referred to the store) must match its
    manifest, and its tag files its tag manifest. A bag that cannot be read
    is already a finding of the object check. An old bag too large to read
    into memory from a store that cannot seek (S3) is proven as an object
    only.
    """
    try:
        with store.open_read(bag.key) as stream:
            if bag.size <= _BAG_READ_LIMIT:
                source: Any = stream.read(_BAG_READ_LIMIT + 1)
            elif stream.seekable():
                source = stream
            else:
                log.info("audit: %s: the bag (%d bytes, every file carried) is checked as an object only",
                         identifier, bag.size)
                return []
            with open_bag_zip(source) as archive:
                return _bag_contents_problems(archive, f"{ITEMS_PREFIX}{identifier}/", bag.key, expected)
    except StorageError:
        return []  # the object check has reported it
    except (OutputError, zipfile.BadZipFile, ValueError, KeyError, OSError) as exc:
        return [AuditProblem(bag.key, CHANGED, f"the bag cannot be read as a bag: {exc}")]


def _bag_contents_problems(
    archive: zipfile.ZipFile, prefix: str, bag_key: str, expected: dict[str, _Expected]
) -> list[AuditProblem]:
    contents = read_bag_zip(archive)
    found = [AuditProblem(bag_key, CHANGED, f"the bag's {problem}") for problem in contents.tag_problems]
    for path, sha256 in sorted(contents.manifest.items()):
        if path in contents.carried:
            held = carried_sha256(archive, contents.top, path)
            if held != sha256:
                found.append(AuditProblem(
                    bag_key, CHANGED, f"carries {path} with sha256 {held}; its manifest says {sha256}"
                ))
            continue
        if path not in contents.fetch:
            found.append(AuditProblem(
                bag_key, DISAGREES, f"lists {path} in its manifest but neither carries it nor names it in fetch.txt"
            ))
        key = prefix + path.removeprefix("data/")
        want = expected.get(key)
        if want is None:
            found.append(AuditProblem(key, MISSING, f"named by the bag {bag_key}, not by the manifest or the catalog"))
        elif want.sha256 != sha256:
            found.append(AuditProblem(
                key, DISAGREES, f"the bag {bag_key} says sha256 {sha256}; the {want.source} says {want.sha256}"
            ))
    return found


def _tiles(store: ObjectStore, catalog: Catalog, identifier: str) -> list[_Expected]:
    """The item's IIIF tiles: the index its newest ``iiif tiles`` event records, and every file that index lists.

    An index that cannot be read or is not the recorded one is reported by
    the object check; its tiles are then unexpected objects.
    """
    record = recorded_tiles(catalog, identifier)
    if record is None:
        return []
    wanted = [_Expected(record.key, record.size, record.sha256, f"{TILES_EVENT} event")]
    try:
        index = load_index(store, record)
    except StorageError:
        return wanted
    return wanted + [
        _Expected(tile_key(identifier, page.seq, f.path), f.size, f.sha256, "tiles index")
        for page, f in iter_files(index)
    ]


def _kept_versions(catalog: Catalog, identifier: str) -> tuple[list[_Expected], set[str]]:
    """Masters of replaced versions, kept under ``versions/<n>/``, as the catalog's replacement events name them."""
    kept: list[_Expected] = []
    prefixes: set[str] = set()
    for event in catalog.events(identifier):
        if event.kind != "replaced" or not event.detail:
            continue
        try:
            detail = json.loads(event.detail)
            prefixes.add(str(detail["kept_under"]))
            for master in detail["old"]["masters"]:
                kept.append(_Expected(str(master["kept_as"]), None, str(master["sha256"]).lower(), "replacement event"))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("audit: %s: a replacement event's detail cannot be read (%s)", identifier, exc)
    return kept, prefixes


def _manifest_files(
    store: ObjectStore, key: str, recorded: CatalogFile | None, problems: list[AuditProblem]
) -> dict[str, tuple[int, str]] | None:
    """The files the stored manifest names (key → size, sha256); None if it cannot be read."""
    try:
        with store.open_read(key) as stream:
            data = stream.read(64 * 1024 * 1024 + 1)  # a manifest is a few KB; refuse to hold a huge one
        document = json.loads(data.decode("utf-8"))
        files = {
            str(entry["key"]): (int(entry["size"]), str(entry["sha256"]).lower())
            for entry in document["files"]
        }
    except StorageError as exc:
        if recorded is None:  # otherwise the object check reports it as missing
            problems.append(AuditProblem(key, MISSING, f"the manifest cannot be read: {exc}"))
        return None
    except (ValueError, KeyError, TypeError) as exc:
        if recorded is None:
            problems.append(AuditProblem(key, CHANGED, f"the manifest is not a valid manifest: {exc}"))
        return None
    return files


def _check_object(store: ObjectStore, want: _Expected) -> tuple[str, int | None, AuditProblem | None]:
    """Stream one object and compare it; (key, bytes read or None if unreadable, problem or None)."""
    digest = hashlib.sha256()
    size = 0
    try:
        with store.open_read(want.key) as stream:
            while chunk := stream.read(READ_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except StorageError as exc:
        # Only now ask whether it is there at all (a stat of a present local
        # file may hash it again, so it is not asked first).
        with contextlib.suppress(StorageError):
            if store.stat(want.key) is None:
                return want.key, None, AuditProblem(
                    want.key, MISSING,
                    f"named by the {want.source} ({_size(want)}sha256 {want.sha256}), not in the store",
                )
        return want.key, None, AuditProblem(want.key, UNREADABLE, f"cannot be read: {exc}")
    if (want.size is not None and size != want.size) or digest.hexdigest() != want.sha256:
        return want.key, size, AuditProblem(
            want.key, CHANGED,
            f"the {want.source} says {_size(want)}sha256 {want.sha256}; "
            f"the store holds {size} bytes, sha256 {digest.hexdigest()}",
        )
    return want.key, size, None


def _size(want: _Expected) -> str:
    return "" if want.size is None else f"{want.size} bytes, "


# -- the whole store ----------------------------------------------------------


def _orphans(store: ObjectStore, registered: set[str]) -> tuple[AuditProblem, ...]:
    """Objects under ``items/<id>/`` of an identifier the catalog does not know."""
    found = []
    for key in store.list(ITEMS_PREFIX):
        identifier = key[len(ITEMS_PREFIX) :].split("/", 1)[0]
        if identifier not in registered or "/" not in key[len(ITEMS_PREFIX) :]:
            found.append(AuditProblem(key, UNEXPECTED, f"under {ITEMS_PREFIX} of no registered item"))
    return tuple(found)


def _uploads(store: ObjectStore, settings: AuditSettings, abort_stale: bool) -> tuple[StaleUpload, ...]:
    """Every unfinished multipart upload in the store; the stale ones aborted when asked."""
    cutoff = datetime.now(UTC) - timedelta(hours=settings.stale_upload_hours)
    entries = []
    for upload in store.incomplete_uploads():
        stale = upload.initiated <= cutoff
        if not (stale and abort_stale):
            entries.append(StaleUpload(upload, stale))
            continue
        try:
            store.abort_upload(upload)
        except StorageError as exc:
            entries.append(StaleUpload(upload, stale, aborted=False, error=exc.message))
        else:
            log.info("audit: aborted the unfinished upload %s of %s (started %s)",
                     upload.upload_id, upload.key, upload.initiated.isoformat())
            entries.append(StaleUpload(upload, stale, aborted=True))
    return tuple(entries)


# -- resuming -----------------------------------------------------------------


@dataclass
class _State:
    """The round under way: which items were chosen, and the results of those done."""

    path: Path | None
    scope: str
    started_at: datetime
    selection: list[str]
    results: dict[str, ItemAudit] = field(default_factory=dict)
    saved_at: float = 0.0

    @property
    def started(self) -> str:
        return self.started_at.isoformat()

    @classmethod
    def load(cls, folder: Path | None, scope: str, restart: bool, selection: list[str], now: datetime) -> _State:
        path = Path(folder) / STATE_FILE if folder is not None else None
        fresh = cls(path, scope, now, selection)
        if path is None or restart or not path.is_file():
            return fresh
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != _STATE_VERSION or data.get("scope") != scope:
                log.info("audit: the state file %s is of another audit (%s); starting a new round",
                         path, data.get("scope"))
                return fresh
            results = {
                entry["identifier"]: ItemAudit(
                    entry["identifier"], int(entry["objects"]), int(entry["bytes"]),
                    tuple(AuditProblem(**problem) for problem in entry["problems"]),
                )
                for entry in data["results"]
            }
            return cls(path, scope, datetime.fromisoformat(data["started"]), list(data["selection"]), results)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("audit: cannot read the state file %s (%s); starting a new round", path, exc)
            return fresh

    def done(self, result: ItemAudit, save_seconds: float) -> None:
        self.results[result.identifier] = result
        if time.monotonic() - self.saved_at >= save_seconds:
            self.save()

    def save(self) -> None:
        if self.path is None:
            return
        data = {
            "version": _STATE_VERSION,
            "scope": self.scope,
            "started": self.started,
            "selection": self.selection,
            "results": [
                {"identifier": r.identifier, "objects": r.objects, "bytes": r.bytes_read,
                 "problems": [asdict(problem) for problem in r.problems]}
                for r in self.results.values()
            ],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(data, ensure_ascii=False))
        self.saved_at = time.monotonic()

    def finish(self) -> None:
        """The round is complete: the next audit starts a new one."""
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
