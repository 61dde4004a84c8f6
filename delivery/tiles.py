"""Publishing an item's IIIF tiles: store them beside the item, and prove every byte.

Key layout (under the store's prefix)::

    items/<id>/iiif/index.json                         every tile: path, size, SHA-256 (stored last)
    items/<id>/iiif/<seq>/info.json                    the page's image service (id: a placeholder)
    items/<id>/iiif/<seq>/<region>/<size>/0/default.jpg

How the bytes are proved. A 300-page book has ~6,000 tiles; one catalog
file row each would make the catalog's ``files`` table, ``manifest.json``
and every registration of the item grow with them, and a registered item
could not gain tiles later without re-registering. Instead the tiles are
listed, with size and SHA-256, in the item's tiles index, and the index's
own key, size and SHA-256 are recorded in the catalog as an ``iiif tiles``
event (``catalog.add_event``, like the ``replaced`` event that proves the
kept masters). ``digitize audit`` (delivery/audit.py) follows the chain:
the newest event → the index (checked against the event) → every tile
(checked against the index); a tile in the store that the index does not
name is unexpected, as any other object is.

Uploads stay cheap: the tiles are made once per PDF (reused from the
item's output folder on a re-run), a tile the stored index already lists
with the same SHA-256 is not sent again (no request at all: the index is
proved by the audit), the others go up a few at a time in threads, and an
unchanged item records no new event.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from digitize.assembly.tiles import INDEX_NAME, TilesIndex, iter_files, make_item_tiles, work_file
from digitize.checksums import READ_CHUNK
from digitize.errors import CatalogError, StorageError, VerificationError
from digitize.files import atomic_output
from digitize.storage.catalog import Catalog, CatalogFile
from digitize.storage.objects import ObjectStore, StoredObject

__all__ = [
    "TILES_EVENT",
    "PublishedTiles",
    "TilesRecord",
    "TilesState",
    "index_key",
    "load_index",
    "page_sizes",
    "publish_tiles",
    "recorded_tiles",
    "start_tiles",
    "tile_key",
    "tiles_for_stored_item",
    "tiles_prefix",
    "tiles_state",
]

log = logging.getLogger(__name__)

TILES_EVENT = "iiif tiles"  # the catalog event that records the tiles index
UPLOAD_THREADS = 8  # tiles are small: the time is round trips, which threads overlap
_MAX_INDEX_BYTES = 256 * 1024 * 1024
_maker: ThreadPoolExecutor | None = None  # start_tiles' thread, made when first needed
_maker_lock = threading.Lock()


def tiles_prefix(identifier: str) -> str:
    return f"items/{identifier}/iiif/"


def index_key(identifier: str) -> str:
    return f"{tiles_prefix(identifier)}{INDEX_NAME}"


def tile_key(identifier: str, seq: int, path: str) -> str:
    return f"{tiles_prefix(identifier)}{seq}/{path}"


@dataclass(frozen=True)
class TilesRecord:
    """What the newest ``iiif tiles`` event says: where the index is, its size and SHA-256, and the PDF's."""

    key: str
    size: int
    sha256: str
    source_sha256: str

    def detail(self, pages: int, files: int) -> str:
        return json.dumps({"key": self.key, "size": self.size, "sha256": self.sha256,
                           "source_sha256": self.source_sha256, "pages": pages, "files": files})


@dataclass(frozen=True)
class PublishedTiles:
    """What publishing the tiles did, with the time it took (for the bench and the logs)."""

    index: TilesIndex
    files: int  # tiles and info.json files, all pages
    uploaded: int  # objects sent (0 on an unchanged re-run)
    bytes_uploaded: int
    seconds_making: float
    seconds_uploading: float
    recorded: bool  # a new event was recorded (the index changed)


def recorded_tiles(catalog: Catalog, identifier: str) -> TilesRecord | None:
    """The item's tiles index as its newest ``iiif tiles`` event records it; None: no tiles."""
    for event in reversed(catalog.events(identifier)):
        if event.kind != TILES_EVENT or not event.detail:
            continue
        try:
            data = json.loads(event.detail)
            return TilesRecord(str(data["key"]), int(data["size"]), str(data["sha256"]).lower(),
                               str(data.get("source_sha256", "")))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s: an %s event cannot be read (%s)", identifier, TILES_EVENT, exc)
            return None
    return None


@dataclass(frozen=True)
class TilesState:
    """Whether an item's recorded tiles were made from the PDF it has now (what ``digitize tiles`` asks)."""

    identifier: str
    withdrawn: bool
    pdf_sha256: str | None  # None: the item has no PDF to make tiles from
    record: TilesRecord | None  # None: no tiles recorded

    @property
    def current(self) -> bool:
        """Tiles of this PDF are recorded (an index recorded before PDFs were named in it counts as current)."""
        return (
            self.pdf_sha256 is not None and self.record is not None
            and self.record.source_sha256 in ("", self.pdf_sha256)
        )

    @property
    def reason(self) -> str:
        if self.pdf_sha256 is None:
            return "no PDF"
        if self.record is None:
            return "no tiles"
        return "tiles up to date" if self.current else "tiles of an earlier PDF"


def tiles_state(catalog: Catalog, identifier: str) -> TilesState:
    """The item's tiles against its PDF, from the catalog alone; CatalogError when there is no such item."""
    item = catalog.get(identifier)
    if item is None:
        raise CatalogError(f"no item {identifier!r} in the catalog (digitize catalog lists them)")
    pdf = next((f for f in catalog.files(identifier) if f.key == item.pdf_key), None) if item.pdf_key else None
    return TilesState(identifier, item.status == "withdrawn", pdf.sha256 if pdf else None,
                      recorded_tiles(catalog, identifier))


def load_index(store: ObjectStore, record: TilesRecord) -> TilesIndex:
    """The stored index, checked against the event; VerificationError when it is not the recorded one."""
    with store.open_read(record.key) as stream:
        data = stream.read(_MAX_INDEX_BYTES + 1)
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != record.size or digest != record.sha256:
        raise VerificationError(
            f"{record.key}: the stored tiles index has {len(data)} bytes, sha256 {digest}; the catalog's "
            f"{TILES_EVENT} event recorded {record.size} bytes, sha256 {record.sha256} (run digitize audit)"
        )
    try:
        return TilesIndex.from_json(data)
    except ValueError as exc:
        raise VerificationError(f"{record.key}: {exc}") from exc


def _previous(store: ObjectStore, catalog: Catalog, identifier: str) -> tuple[TilesRecord | None, TilesIndex | None]:
    record = recorded_tiles(catalog, identifier)
    if record is None:
        return None, None
    try:
        return record, load_index(store, record)
    except StorageError as exc:  # VerificationError is one: every tile is then sent (or found) again
        log.warning("%s: the stored tiles index is not usable (%s); checking every tile", identifier, exc)
        return record, None


def start_tiles(
    identifier: str, pdf: Path, folder: Path, canvases: Mapping[int, tuple[int, int]] | None = None
) -> Future[TilesIndex]:
    """Begin making the tiles of ``pdf`` in ``folder`` in a background thread; give the future to ``publish_tiles``.

    Publishing starts it before it stores the item's files, so the tiles
    (CPU: decoding the page images) are made while the uploads wait on the
    disk or the network. Its errors come out of the future (OutputError).
    """
    global _maker
    with _maker_lock:
        if _maker is None:
            _maker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tiles-maker")
        return _maker.submit(make_item_tiles, identifier, pdf, folder, dict(canvases or {}))


def publish_tiles(
    store: ObjectStore,
    catalog: Catalog,
    identifier: str,
    pdf: Path,
    folder: Path,
    canvases: Mapping[int, tuple[int, int]] | None = None,
    *,
    threads: int = UPLOAD_THREADS,
    made: Future[TilesIndex] | None = None,
) -> PublishedTiles:
    """Make (or reuse) the tiles of ``pdf`` in ``folder``, store them and the index, record the index.

    The item must be registered (the event needs it). Tiles go up before the
    index, the index before the event, so the catalog never names an index
    or a tile that is not stored; an interrupted run leaves stray tiles,
    which the audit names and the next run puts right. Raises OutputError
    when the tiles cannot be made, StorageError when they cannot be stored.
    """
    clock = time.monotonic()
    # ``made``: start_tiles with these arguments, begun earlier (the time here is then what was left to wait)
    index = made.result() if made is not None else make_item_tiles(identifier, pdf, folder, dict(canvases or {}))
    making = time.monotonic() - clock
    clock = time.monotonic()
    record, previous = _previous(store, catalog, identifier)
    known = set()
    if previous is not None:
        known = {(tile_key(identifier, p.seq, f.path), f.size, f.sha256) for p, f in iter_files(previous)}
    todo = [
        (tile_key(identifier, page.seq, f.path), work_file(folder, page.seq, f.path), f.sha256)
        for page, f in iter_files(index)
        if (tile_key(identifier, page.seq, f.path), f.size, f.sha256) not in known
    ]

    def put(entry: tuple[str, Path, str]) -> StoredObject:
        key, path, sha256 = entry
        kind = "application/json" if key.endswith(".json") else "image/jpeg"
        return store.put_file(key, path, sha256=sha256, content_type=kind)

    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="tiles") as pool:
        stored = list(pool.map(put, todo))
    index_path = folder / INDEX_NAME
    stored_index = store.put_file(index_key(identifier), index_path, content_type="application/json")
    stored.append(stored_index)
    new = TilesRecord(stored_index.key, stored_index.size, stored_index.sha256, index.source_sha256)
    changed = record != new  # a new index, or the same one now recorded as made from this PDF
    files = sum(len(page.files) for page in index.pages)
    if changed:
        if not catalog.add_event(identifier, TILES_EVENT, new.detail(len(index.pages), files)):
            raise StorageError(f"{identifier} is not registered: its IIIF tiles were stored but not recorded")
        _remove_stale(store, identifier, index)
    uploaded = [obj for obj in stored if obj.uploaded]
    result = PublishedTiles(
        index=index, files=files, uploaded=len(uploaded), bytes_uploaded=sum(obj.size for obj in uploaded),
        seconds_making=making, seconds_uploading=time.monotonic() - clock, recorded=changed,
    )
    log.info("%s: IIIF tiles of %d pages: %d files, %d uploaded (%.1f s making, %.1f s storing)",
             identifier, len(index.pages), files, result.uploaded, making, result.seconds_uploading)
    return result


def _remove_stale(store: ObjectStore, identifier: str, index: TilesIndex) -> None:
    """Delete tiles the new index no longer names (pages gone, an earlier tiler's layout, an interrupted run's)."""
    wanted = {tile_key(identifier, page.seq, f.path) for page, f in iter_files(index)} | {index_key(identifier)}
    for key in list(store.list(tiles_prefix(identifier))):
        if key not in wanted:
            try:
                store.delete(key)
            except StorageError as exc:
                log.warning("could not remove %s, no longer one of the item's tiles: %s", key, exc)


def tiles_for_stored_item(
    store: ObjectStore, catalog: Catalog, identifier: str, work_dir: Path, *, threads: int = UPLOAD_THREADS
) -> PublishedTiles:
    """Tiles for an item published before tiles were made: from its stored PDF and report.

    The PDF is read back from the store and checked against the catalog's
    SHA-256 first (tiles are never made from a damaged PDF); the canvas
    sizes come from the stored ``report.json`` when it is there.
    Raises CatalogError when there is no such item, StorageError when it
    has no PDF or the PDF cannot be read (VerificationError: not the
    registered one), OutputError when no tiles can be made from it.
    """
    item = catalog.get(identifier)
    if item is None:
        raise CatalogError(f"no item {identifier!r} in the catalog (digitize catalog lists them)")
    files = {f.key: f for f in catalog.files(identifier)}
    pdf = files.get(item.pdf_key or "")
    if pdf is None:
        raise StorageError(f"{identifier} has no PDF to make IIIF tiles from")
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="digitize-tiles-", dir=work_dir) as spool:
        path = Path(spool) / "item.pdf"
        digest = hashlib.sha256()
        with store.open_read(pdf.key) as source, atomic_output(path) as out:
            while chunk := source.read(READ_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != pdf.sha256:
            raise VerificationError(
                f"{pdf.key} in {store.describe()} is not the registered PDF (sha256 {digest.hexdigest()}, the "
                f"catalog has {pdf.sha256}): no tiles made from it (run digitize audit {identifier})"
            )
        canvases = page_sizes(store, list(files.values()))
        return publish_tiles(store, catalog, identifier, path, work_dir / identifier / "iiif", canvases,
                             threads=threads)


def page_sizes(store: ObjectStore, files: Sequence[CatalogFile]) -> dict[int, tuple[int, int]]:
    """Each page's pixel size (seq → width, height) from the item's stored report.json.

    The canvas size of the page, the space of its ALTO word boxes; {} when
    the item has no report (registered through the web API) or it cannot
    be read.
    """
    for report in files:
        if report.role != "report":
            continue
        key = report.key
        try:
            with store.open_read(key) as stream:
                data = json.loads(stream.read(64 * 1024 * 1024))
            return {int(p["seq"]): (int(p["width"]), int(p["height"])) for p in data["pages"]}
        except (StorageError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s cannot be read for the pages' sizes (%s); the images' sizes are used", key, exc)
    return {}
