"""Publishing an item: store every file, verify it, then register it once.

Key layout in the store (under the store's prefix)::

    items/<identifier>/<identifier>.pdf           searchable PDF
    items/<identifier>/masters/<scan file>        the scans exactly as received
    items/<identifier>/text/original/0001.txt     page text, printed script
    items/<identifier>/text/latin/0001.txt        page text, Latin script
    items/<identifier>/<identifier>.original.txt  whole text, pages split by form feed
    items/<identifier>/<identifier>.latin.txt
    items/<identifier>/ocr/0001.hocr              OCR with word boxes
    items/<identifier>/record.json, dc.xml        descriptive metadata
    items/<identifier>/<identifier>.mets.xml, .mrc, alto/0001.xml   the archival records
    items/<identifier>/<identifier>.bag.zip       BagIt package: manifests of every file above, the METS;
                                                  fetch.txt names the other files here (no second copy)
    items/<identifier>/report.json                per-page processing report
    items/<identifier>/manifest.json              every file above: size, SHA-256 (stored last)
    items/<identifier>/versions/<n>/masters/...   masters of an earlier version (kept, never overwritten)
    items/<identifier>/versions/<n>/manifest.json, record.json   that version's manifest and record
    items/<identifier>/iiif/...                   IIIF tiles and their index (delivery.tiles; proved by a catalog event)

The catalog is written only after every object is stored and verified;
if anything fails, nothing is registered, and a re-run uploads only what is
missing or changed.

Content, not names, decides identity: an item is the registered item when
its masters have the registered masters' SHA-256 (metadata may change), or
when it comes from the very folder the registered item came from (a page
rescanned in place). Any other item under a registered identifier is
refused (:func:`identity_conflict`), unless replacing is asked for
(``runs.replace_items``). Whenever a registered master would be overwritten
or dropped, it is first copied, verified, to ``versions/<n>/`` and the
catalog records a ``replaced`` event naming the old and the new content.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from digitize.archive.package import item_prefix  # the key layout's one owner: the bag names stored keys
from digitize.archive.records import ItemRecord
from digitize.assembly.tiles import TilesIndex
from digitize.checksums import sha256_file
from digitize.delivery.review_mets import decided_files, record_decision_in_mets
from digitize.delivery.tiles import PublishedTiles, publish_tiles, start_tiles
from digitize.errors import DigitizeError, IntakeError, OutputError, StorageError
from digitize.files import atomic_write_text
from digitize.pipeline.model import ItemOutputs, PageResult
from digitize.scanners.batch import Item
from digitize.storage.catalog import (
    Catalog,
    CatalogFile,
    CatalogItem,
    CatalogPage,
    KeptObject,
    RegisteredItem,
    Registration,
    Replacement,
    ReviewDecision,
    ReviewState,
)
from digitize.storage.objects import ObjectStore, StoredObject

__all__ = ["PublishedItem", "identity_conflict", "item_prefix", "publish_item", "source_folder"]

REPLACE_ITEMS = "replace_items"

log = logging.getLogger(__name__)


def source_folder(item: Item) -> str:
    """The item folder as the catalog records it: absolute, symlinks resolved."""
    return str(item.folder.resolve())


def identity_conflict(catalog: Catalog, item: Item, *, replace_items: bool = False) -> str | None:
    """Why ``item`` may not be registered under its identifier (None: it may).

    Called before any page work (flows.preflight) and again when publishing,
    for a second run that registered the identifier in between.
    """
    registered = catalog.get(item.item_id)
    if registered is None or replace_items:
        return None
    masters = [f for f in catalog.files(item.item_id) if f.role == "master"]
    if _same_item(item, registered, masters) is not None:
        return None
    return _conflict(item, registered, masters)


def _conflict(item: Item, registered: CatalogItem, masters: Sequence[CatalogFile]) -> str:
    """The refusal: both sources, what differs, and the two ways on."""
    new = [f.sha256 for f in item.files]
    unknown = sum((Counter(new) - Counter(f.sha256 for f in masters)).values())
    return (
        f"{item.folder}: identifier {item.item_id!r} is already registered from batch {registered.batch!r} "
        f"(folder {registered.source or 'not recorded'}) with different scans: {unknown} of the {len(new)} scans "
        f"here are not among its {len(masters)} masters, so this is another item. Give it another identifier "
        f"(identifier = \"...\" in item.toml); or, if it is meant to replace the registered item, run again with "
        f"DIGITIZE_RUNS__REPLACE_ITEMS=true: the registered masters are then kept under "
        f"{item_prefix(item.item_id)}versions/"
    )


def _same_item(item: Item, registered: CatalogItem, masters: Sequence[CatalogFile]) -> str | None:
    """How ``item`` is the registered item (None: it is not)."""
    if registered.content_hash == item.content_hash:
        return "identical"
    if sorted(f.sha256 for f in masters) == sorted(f.sha256 for f in item.files):
        return "same scans"
    if registered.source is not None and registered.source == source_folder(item):
        return "rescan in the same folder"
    return None


@dataclass(frozen=True)
class PublishedItem:
    identifier: str
    objects: int
    uploaded: int  # objects actually sent (0 on an unchanged re-run)
    bytes_uploaded: int
    registered: RegisteredItem
    manifest_url: str
    pdf_url: str | None
    review_state: str = "published"  # or "in review": held by the publish policy (delivery.review)
    review_reason: str | None = None
    tiles: PublishedTiles | None = None  # the IIIF tiles (delivery.tiles); None: the item has none


def publish_item(
    item: Item,
    outputs: ItemOutputs,
    pages: Sequence[PageResult],
    store: ObjectStore,
    catalog: Catalog,
    batch: str | None = None,
    *,
    replace_items: bool = False,
    review: ReviewDecision | None = None,
) -> PublishedItem:
    """Store and verify all files of an item, then register it in the catalog.

    ``review`` is the publish policy's decision (``delivery.review``): an
    item held in review is stored and registered but not shown to readers
    until a person approves it. None: published at once.

    Raises IntakeError when another item holds the identifier and
    ``replace_items`` is not set; never overwrites a registered master
    without keeping it as a version first.
    """
    prefix = item_prefix(item.item_id)
    registered = catalog.get(item.item_id)
    before = catalog.files(item.item_id) if registered is not None else []
    replaces: Replacement | None = None
    if registered is not None:
        masters = [f for f in before if f.role == "master"]
        reason = _same_item(item, registered, masters)
        if reason is None and not replace_items:
            raise IntakeError(_conflict(item, registered, masters))
        new_masters = {prefix + o.key: o.sha256 for o in outputs.files if o.role == "master"}
        changed = [f for f in masters if new_masters.get(f.key) != f.sha256]
        if changed:
            replaces = _keep_old_version(store, prefix, registered, before, changed, reason or REPLACE_ITEMS)
    # the IIIF tiles are made (CPU) while the files below are stored (I/O); stored after registration
    tiles_made = start_tiles(item.item_id, outputs.pdf, outputs.folder / "iiif", _sizes(pages)) if outputs.pdf else None

    # A METS that gained review decisions (delivery.review_mets) is not put
    # back to the run's METS when the same content is published again.
    decided = decided_files(catalog, item.item_id) if registered is not None else {}
    deferred: list[tuple[str, Path, str]] = []
    stored: list[tuple[str, str, StoredObject]] = []
    for output in outputs.files:
        key = prefix + output.key
        if key in decided and sha256_file(output.path) == decided[key]:
            deferred.append((key, output.path, output.content_type))
            kept = StoredObject(key, output.path.stat().st_size, decided[key])
            stored.append((output.role, output.content_type, kept))
            continue
        # Masters carry the checksum taken at intake and checked at assembly
        # (OutputFile.sha256): the store checks the bytes it receives against
        # it (fixity from scanner to archive).
        known = output.sha256 if output.role == "master" else None
        obj = store.put_file(key, output.path, sha256=known, content_type=output.content_type)
        stored.append((output.role, output.content_type, obj))

    manifest = {
        "identifier": item.item_id,
        "content_hash": item.content_hash,
        "files": [
            {"key": obj.key, "role": role, "size": obj.size, "sha256": obj.sha256} for role, _, obj in stored
        ],
    }
    manifest_path = outputs.folder / "manifest.json"
    atomic_write_text(manifest_path, json.dumps(manifest, ensure_ascii=False, indent=1))
    manifest_key = prefix + "manifest.json"
    if deferred and decided.get(manifest_key) == sha256_file(manifest_path):
        deferred.append((manifest_key, manifest_path, "application/json"))
        manifest_obj = StoredObject(manifest_key, manifest_path.stat().st_size, decided[manifest_key])
    else:
        manifest_obj = store.put_file(manifest_key, manifest_path, content_type="application/json")
    stored.append(("manifest", "application/json", manifest_obj))

    # Every object is now in the store as we sent it: put_file verified each
    # one (upload checked, or an identical object found), so the item may
    # become visible to readers.
    record_path = outputs.folder / "record.json"
    record = ItemRecord.from_mapping(json.loads(record_path.read_text(encoding="utf-8")))
    pdf_key = prefix + outputs.pdf.name if outputs.pdf else None
    registration = Registration(
        identifier=item.item_id,
        record=record,
        files=tuple(CatalogFile(obj.key, role, obj.size, obj.sha256, ctype) for role, ctype, obj in stored),
        pages=tuple(
            CatalogPage(p.seq, p.text, p.text_latin, p.mean_confidence, p.skew_degrees)
            for p in sorted(pages, key=lambda p: p.seq)
        ),
        manifest_key=manifest_obj.key,
        pdf_key=pdf_key,
        store=store.describe(),
        batch=batch,
        source=source_folder(item),
        replaces=replaces,
        review=review,
    )
    if deferred and not catalog.is_unchanged(registration):  # a new version: the run's files, without decisions
        for key, path, ctype in deferred:
            store.put_file(key, path, content_type=ctype)
    result = catalog.register(registration)
    _record_bag_replaced(catalog, item.item_id, before, [obj for role, _, obj in stored if role == "bag"], replaces)
    if review is not None and review.to_state is ReviewState.IN_REVIEW:
        _hold_in_mets(store, catalog, item.item_id, review)
    now = catalog.get(item.item_id)
    _remove_stale(store, before, {obj.key for _, _, obj in stored})
    tiles = _publish_tiles(store, catalog, item.item_id, outputs, pages, tiles_made)
    uploaded = [obj for _, _, obj in stored if obj.uploaded]
    return PublishedItem(
        identifier=item.item_id,
        objects=len(stored),
        uploaded=len(uploaded),
        bytes_uploaded=sum(obj.size for obj in uploaded),
        registered=result,
        manifest_url=store.url_for(manifest_obj.key),
        pdf_url=store.url_for(pdf_key) if pdf_key else None,
        review_state=now.review_state if now is not None else "published",
        review_reason=now.review_reason if now is not None else None,
        tiles=tiles,
    )


def _sizes(pages: Sequence[PageResult]) -> dict[int, tuple[int, int]]:
    return {p.seq: (p.width, p.height) for p in pages}


def _publish_tiles(
    store: ObjectStore, catalog: Catalog, identifier: str, outputs: ItemOutputs, pages: Sequence[PageResult],
    made: Future[TilesIndex] | None = None,
) -> PublishedTiles | None:
    """The item's IIIF tiles (``delivery.tiles``), made in its output folder from its PDF.

    After registration (the tiles index is recorded as a catalog event). A
    PDF whose tiles cannot be made is logged, not a failure of the item: its
    manifest shows the rendered page images instead. A store failure raises.
    """
    if outputs.pdf is None:
        return None
    try:
        return publish_tiles(store, catalog, identifier, outputs.pdf, outputs.folder / "iiif", _sizes(pages), made=made)
    except OutputError as exc:
        log.warning("%s: no IIIF tiles: %s", identifier, exc)
        return None


def _hold_in_mets(store: ObjectStore, catalog: Catalog, identifier: str, review: ReviewDecision) -> None:
    """Add the policy's hold to the stored METS, once per registration (its ``held`` catalog event is new).

    The item is registered and hidden by now; a METS that cannot take the
    event is logged, not a failure of the item (the catalog has the hold).
    """
    events = catalog.events(identifier)
    if not events or events[-1].kind != "held":
        return
    try:
        record_decision_in_mets(store, catalog, identifier, review)
    except DigitizeError as exc:
        log.warning("%s: the hold was not added to its METS: %s", identifier, exc)


def _keep_old_version(
    store: ObjectStore,
    prefix: str,
    registered: CatalogItem,
    before: Sequence[CatalogFile],
    changed: Sequence[CatalogFile],
    reason: str,
) -> Replacement:
    """Copy the registered masters about to be overwritten or dropped to ``versions/<n>/``, verified.

    Only the masters that change are copied (a rescanned page does not copy
    the whole book); the others stay where they are, and the old manifest,
    copied alongside, lists every master of that version. A retry after a
    crash finds its copies in the newest version and reuses it.
    """
    versions = prefix + "versions/"
    numbers = {key[len(versions):].split("/", 1)[0] for key in store.list(versions)}
    newest = max((int(n) for n in numbers if n.isdigit()), default=0)

    def target(n: int, f: CatalogFile) -> str:
        return f"{versions}{n}/{f.key.removeprefix(prefix)}"

    def holds(n: int, f: CatalogFile) -> bool:
        found = store.stat(target(n, f))
        return found is not None and found.size == f.size and found.sha256 == f.sha256

    number = newest if newest and all(holds(newest, f) for f in changed) else newest + 1
    kept: list[KeptObject] = []
    for f in changed:
        if not holds(number, f):
            store.copy(f.key, target(number, f), sha256=f.sha256)
        kept.append(KeptObject(f.key, target(number, f), f.size, f.sha256))
    for f in before:  # what that version was: small, and replaced by this publication
        if f.role in ("manifest", "record") and not holds(number, f):
            try:
                store.copy(f.key, target(number, f), sha256=f.sha256)
            except StorageError as exc:  # e.g. already overwritten by an interrupted earlier attempt
                log.warning("%s: the %s of the replaced version was not kept: %s", registered.identifier, f.role, exc)
    log.info(
        "%s: %d master(s) of the registered version kept under %s%d/ (%s)",
        registered.identifier, len(kept), versions, number, reason,
    )
    return Replacement(reason, f"{versions}{number}/", registered.content_hash, tuple(kept))


def _record_bag_replaced(
    catalog: Catalog, identifier: str, before: Sequence[CatalogFile], bags: Sequence[StoredObject],
    replaces: Replacement | None,
) -> None:
    """A ``bag replaced`` event when the item's stored bag changes, naming the old bag and where its masters are.

    The bag is a package made from the item's files, not one of them: the
    old one is not kept under ``versions/``, since every master it held is
    either unchanged under ``masters/`` (the new bag lists it with the same
    SHA-256) or was kept under ``versions/<n>/`` first (``replaces``). The
    event says so, so that a transfer made with the old bag can be traced.
    Typical case: the first re-run after bags began to refer to the store
    replaces a bag that carried a second copy of every master.
    """
    old = {f.key: f for f in before if f.role == "bag"}
    for bag in bags:
        previous = old.get(bag.key)
        if previous is None or previous.sha256 == bag.sha256:
            continue
        detail = {
            "key": bag.key,
            "old": {"size": previous.size, "sha256": previous.sha256},
            "new": {"size": bag.size, "sha256": bag.sha256},
            "masters": f"replaced ones kept under {replaces.version_prefix}" if replaces is not None and replaces.kept
            else "unchanged, stored once under masters/",
        }
        catalog.add_event(identifier, "bag replaced", json.dumps(detail, ensure_ascii=False, sort_keys=True))
        log.info("%s: bag %s replaced (%d bytes before, %d now)", identifier, bag.key, previous.size, bag.size)


def _remove_stale(store: ObjectStore, before: Sequence[CatalogFile], now: set[str]) -> None:
    """Delete objects of the replaced registration that the new one no longer has.

    Runs after registration, so the catalog never names a missing object;
    masters among them were kept as a version first. A failure leaves a
    stray object (``digitize audit`` lists it) but loses nothing.
    """
    for f in before:
        if f.key not in now:
            try:
                store.delete(f.key)
                log.info("removed %s (not part of the new version)", f.key)
            except StorageError as exc:
                log.warning("could not remove %s, no longer part of the item: %s", f.key, exc)
