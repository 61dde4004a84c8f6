"""The e-library catalog: items, their stored files and page texts.

SQLAlchemy, so the same code runs on SQLite (the default, one file) and on
PostgreSQL (``postgresql+psycopg://...``). Registration is one transaction
keyed by the item's identifier: registering again updates the item in
place, so a re-run never duplicates records.

The schema (``storage.catalog_tables``) is created and upgraded by Alembic
(``storage/migrations``) when a catalog is opened, the same migrations on
SQLite and PostgreSQL.

Search works in both scripts (``storage.search``): titles, authors and
page texts are kept a second time in a *search form*, and queries are
folded the same way, so ``Азәрбајҹан`` and ``azərbaycan`` find the same
items.

What goes in and comes out are typed records (``storage.catalog_records``),
re-exported here.

Why ~730 lines: this is one class whose methods share one engine, session
factory and transaction rules (registration, review state, rights, record
edits, events and search each check and write inside one transaction); the
schema (``catalog_tables``), migrations (``catalog_schema``), records
(``catalog_records``), search forms (``search``) and staff accounts
(``accounts``) already live in modules of their own. Splitting the class by
topic is the next step if it grows again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict, Unpack

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import InstrumentedAttribute, sessionmaker

from digitize.archive.records import ItemRecord
from digitize.errors import CatalogError, ReviewError
from digitize.storage.catalog_records import (
    CatalogEvent,
    CatalogFile,
    CatalogItem,
    CatalogPage,
    ChangedItem,
    KeptObject,
    RegisteredItem,
    Registration,
    Replacement,
    ReviewDecision,
    ReviewState,
    SearchQuery,
    SearchResult,
)
from digitize.storage.catalog_schema import SCHEMA_HEAD, migrate, schema_revision
from digitize.storage.catalog_tables import Base, BatchRow, EventRow, FileRow, ItemRow, PageRow
from digitize.storage.catalog_tables import now as _now
from digitize.storage.search import AUTHORS_FIELD, TITLE_FIELD, field_pattern, fold, like_pattern, meta_search

__all__ = [
    "SCHEMA_HEAD",
    "catalog_error_reason",
    "Base",
    "Catalog",
    "CatalogEvent",
    "CatalogFile",
    "CatalogItem",
    "CatalogPage",
    "ChangedItem",
    "KeptObject",
    "Registration",
    "RegisteredItem",
    "Replacement",
    "ReviewDecision",
    "ReviewState",
    "SearchQuery",
    "SearchResult",
    "fold",
]

log = logging.getLogger(__name__)


class _SearchFields(TypedDict, total=False):
    """``SearchQuery``'s fields, as keywords of ``Catalog.search``."""

    text: str
    title: str
    author: str
    year: int | None
    year_from: int | None
    year_to: int | None
    kind: str | None
    collection: str | None
    include_withdrawn: bool
    limit: int
    offset: int


class Catalog:
    """Access to the catalog database; one instance per process."""

    def __init__(self, url: str, *, create: bool = True, busy_timeout: float = 30.0) -> None:
        self._sqlite_file: Path | None = None
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            self._sqlite_file = Path(url.removeprefix("sqlite:///")).expanduser()
            self._sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = create_engine(url, future=True, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise CatalogError(f"catalog URL is not usable ({type(exc).__name__}: {exc})") from exc
        if self.engine.dialect.name == "sqlite":
            busy_ms = max(0, int(busy_timeout * 1000))
            event.listen(self.engine, "connect", lambda conn, record: _sqlite_pragmas(conn, record, busy_ms))
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if create:
            try:
                migrate(self.engine, self._sqlite_file)
                self._fill_search_forms()
            except SQLAlchemyError as exc:
                reason = catalog_error_reason(exc)
                raise CatalogError(f"cannot open the catalog at {self.where}: {reason}") from exc

    @property
    def where(self) -> str:
        """The catalog's URL without its password, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    # -- schema ------------------------------------------------------------

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None: no schema yet)."""
        return schema_revision(self.engine)

    def _fill_search_forms(self) -> None:
        """Compute search forms for items registered before they existed."""
        with self._sessions.begin() as session:
            rows = session.scalars(select(ItemRow).where(ItemRow.meta_search.is_(None))).all()
            for row in rows:
                row.meta_search = _meta_search(row)
                texts = session.scalars(
                    select(PageRow.original_text).where(PageRow.item_id == row.id).order_by(PageRow.seq)
                )
                row.text_search = fold("\n".join(texts))
            if rows:
                log.info("catalog: computed search forms of %d items", len(rows))

    def close(self) -> None:
        self.engine.dispose()

    # -- writing -----------------------------------------------------------

    def register(self, registration: Registration) -> RegisteredItem:
        """Insert or update an item with its files and pages, atomically.

        Registering exactly what is already registered changes nothing (not
        even ``updated_at``); registering a withdrawn item makes it available
        again. Each change is logged in ``events``.
        """
        record = registration.record
        try:
            texts = [_page_texts(page) for page in registration.pages]
            digest = _registration_hash(registration, texts)
            with self._sessions.begin() as session:
                row = session.scalar(select(ItemRow).where(ItemRow.identifier == registration.identifier))
                created = row is None
                if (
                    row is not None and row.registration_hash == digest and row.status == "available"
                    and not _review_changes(row.review_state, registration.review)
                ):
                    if registration.source is not None:  # where it is now; not a change readers see
                        row.source_folder = registration.source
                    return RegisteredItem(registration.identifier, False, len(registration.files), len(texts))
                replaced = None
                if row is None:
                    row = ItemRow(identifier=registration.identifier, registered_at=_now())
                    session.add(row)
                elif registration.replaces is not None:
                    replaced = registration.replaces.detail(row.title, row.batch, row.source_folder, registration)
                row.title = record.title
                row.title_latin = record.title_latin
                row.authors = list(record.authors)
                row.authors_latin = list(record.authors_latin)
                row.year = record.year
                row.language = record.language
                row.script = record.script
                row.kind = record.kind
                row.inventory_number = record.inventory_number
                row.collection = record.collection
                _set_rights_and_record(row, record)
                row.page_count = record.page_count if record.page_count is not None else len(registration.pages)
                row.mean_ocr_confidence = record.mean_ocr_confidence
                row.content_hash = record.content_hash if record.content_hash is not None else ""
                row.pdf_key = registration.pdf_key
                row.manifest_key = registration.manifest_key
                row.store = registration.store
                row.batch = registration.batch
                if registration.source is not None:
                    row.source_folder = registration.source
                row.status = "available"
                row.updated_at = _now()
                row.registration_hash = digest
                row.meta_search = _meta_search(row)
                row.text_search = fold("\n".join(original for original, _ in texts))
                session.flush()
                session.execute(delete(FileRow).where(FileRow.item_id == row.id))
                session.execute(delete(PageRow).where(PageRow.item_id == row.id))
                session.expire(row, ["files"])
                for f in registration.files:
                    session.add(
                        FileRow(
                            item_id=row.id, key=f.key, role=f.role, size=f.size, sha256=f.sha256,
                            content_type=f.content_type,
                        )
                    )
                for count, (page, (original, latin)) in enumerate(zip(registration.pages, texts, strict=True), start=1):
                    session.add(
                        PageRow(
                            item_id=row.id,
                            seq=page.seq,
                            original_text=original,
                            latin_text=latin,
                            mean_confidence=page.mean_confidence,
                            skew_degrees=page.skew_degrees,
                        )
                    )
                    if count % 200 == 0:
                        session.flush()  # keeps memory flat for long books
                kind = "registered" if created else "updated" if replaced is None else "replaced"
                session.add(EventRow(item_id=row.id, kind=kind, batch=registration.batch, detail=replaced))
                _apply_review(session, row, registration)
        except SQLAlchemyError as exc:
            reason = catalog_error_reason(exc)
            raise CatalogError(f"registering {registration.identifier} in {self.where} failed: {reason}") from exc
        except OSError as exc:
            raise CatalogError(f"registering {registration.identifier} failed: cannot read page text: {exc}") from exc
        return RegisteredItem(registration.identifier, created, len(registration.files), len(registration.pages))

    def withdraw(self, identifier: str, reason: str | None = None) -> bool:
        """Hide an item from readers; its record is kept (False: no such item)."""
        with self._sessions.begin() as session:
            row = session.scalar(select(ItemRow).where(ItemRow.identifier == identifier))
            if row is None:
                return False
            if row.status != "withdrawn":
                row.status = "withdrawn"
                row.updated_at = _now()
                session.add(EventRow(item_id=row.id, kind="withdrawn", detail=reason))
            return True

    def add_event(self, identifier: str, kind: str, detail: str | None = None) -> bool:
        """Log an event of an item (e.g. a fixity check) without changing it (False: no such item)."""
        try:
            with self._sessions.begin() as session:
                item_id = session.scalar(select(ItemRow.id).where(ItemRow.identifier == identifier))
                if item_id is None:
                    return False
                session.add(EventRow(item_id=item_id, kind=kind, detail=detail))
        except SQLAlchemyError as exc:
            raise CatalogError(f"recording a {kind} event of {identifier} failed: {exc}") from exc
        return True

    def set_review(self, identifier: str, decision: ReviewDecision) -> CatalogItem | None:
        """Move an item to ``decision.to_state`` if it is in ``decision.from_state``; log the decision.

        Returns the item as it is now (None: no such item). The state is
        compared inside the transaction: of two reviewers deciding at once,
        the second finds the item moved and nothing is changed (the caller
        sees the state it is in). Withdrawing is separate (``withdraw``).
        """
        try:
            with self._sessions.begin() as session:
                row = session.scalar(select(ItemRow).where(ItemRow.identifier == identifier))
                if row is None:
                    return None
                if row.review_state == decision.from_state:
                    _record_review(session, row, decision)
                    # readers' view changes (OAI-PMH harvesters must see it)
                    row.updated_at = row.reviewed_at or _now()
                return _catalog_item(row)
        except SQLAlchemyError as exc:
            reason = catalog_error_reason(exc)
            raise CatalogError(f"recording the review of {identifier} in {self.where} failed: {reason}") from exc

    def edit_record(
        self, identifier: str, record: ItemRecord, *, actor: str, states: tuple[ReviewState, ...]
    ) -> CatalogItem | None:
        """Replace an item's descriptive fields with ``record``'s and log a "metadata edited" event.

        Only while the item is in one of ``states`` (checked inside the
        transaction, so an item approved meanwhile is not changed: ReviewError).
        The pages, files, counts and content hash stay. The event's detail
        (JSON) holds who and, for each changed field, [before, after].
        Returns the item as it is now (None: no such item).
        """
        try:
            with self._sessions.begin() as session:
                row = session.scalar(select(ItemRow).where(ItemRow.identifier == identifier))
                if row is None:
                    return None
                if row.review_state not in {s.value for s in states}:
                    raise ReviewError(
                        f"{identifier} is {row.review_state}, not {' or '.join(s.value for s in states)}: "
                        "its metadata cannot be edited now; nothing was changed"
                    )
                before = _catalog_item(row).record().to_dict()
                row.title, row.title_latin = record.title, record.title_latin
                row.authors, row.authors_latin = list(record.authors), list(record.authors_latin)
                row.year, row.language, row.script = record.year, record.language, record.script
                row.inventory_number, row.collection = record.inventory_number, record.collection
                _set_rights_and_record(row, record)
                after = _catalog_item(row).record().to_dict()
                changed = {k: [before.get(k), after.get(k)] for k in sorted(set(before) | set(after))
                           if before.get(k) != after.get(k)}
                if changed:
                    row.meta_search = _meta_search(row)
                    row.updated_at = _now()
                    # The catalog now differs from what the item's files say: the next
                    # registration of this item, changed or not, is written in full.
                    row.registration_hash = None
                    detail = {"eventType": "metadata modification", "agent": actor, "changed": changed}
                    session.add(EventRow(item_id=row.id, kind="metadata edited",
                                         detail=json.dumps(detail, ensure_ascii=False, default=str)))
                return _catalog_item(row)
        except SQLAlchemyError as exc:
            reason = catalog_error_reason(exc)
            raise CatalogError(f"editing the metadata of {identifier} in {self.where} failed: {reason}") from exc

    def in_review_state(self, *states: ReviewState) -> list[CatalogItem]:
        """Items (not withdrawn) in any of ``states``, longest waiting first."""
        query = (
            select(ItemRow)
            .where(ItemRow.status == "available", ItemRow.review_state.in_([s.value for s in states]))
            .order_by(ItemRow.updated_at, ItemRow.identifier)
        )
        with self._sessions() as session:
            return [_catalog_item(row) for row in session.scalars(query)]

    # -- reading -----------------------------------------------------------

    def get(self, identifier: str) -> CatalogItem | None:
        with self._sessions() as session:
            row = session.scalar(select(ItemRow).where(ItemRow.identifier == identifier))
            return _catalog_item(row) if row else None

    def files(self, identifier: str) -> list[CatalogFile]:
        with self._sessions() as session:
            rows = session.scalars(
                select(FileRow).join(ItemRow).where(ItemRow.identifier == identifier).order_by(FileRow.key)
            )
            return [CatalogFile(r.key, r.role, r.size, r.sha256, r.content_type) for r in rows]

    def is_unchanged(self, registration: Registration) -> bool:
        """Would ``register(registration)`` change nothing (the same content, state and files)?"""
        try:
            digest = _registration_hash(registration, [_page_texts(page) for page in registration.pages])
            with self._sessions() as session:
                row = session.scalar(select(ItemRow).where(ItemRow.identifier == registration.identifier))
                return (
                    row is not None and row.registration_hash == digest and row.status == "available"
                    and not _review_changes(row.review_state, registration.review)
                )
        except SQLAlchemyError as exc:
            reason = catalog_error_reason(exc)
            raise CatalogError(f"reading {registration.identifier} in {self.where} failed: {reason}") from exc
        except OSError as exc:
            raise CatalogError(f"comparing {registration.identifier}: cannot read page text: {exc}") from exc

    def update_files(self, identifier: str, files: Sequence[CatalogFile], kind: str, detail: str | None = None) -> bool:
        """Record new size and SHA-256 of files already registered (a METS gaining a review event), with an event.

        Only rows whose key is registered change; False: no such item. The
        caller has stored and verified the new objects first.
        """
        try:
            with self._sessions.begin() as session:
                row = session.scalar(select(ItemRow).where(ItemRow.identifier == identifier))
                if row is None:
                    return False
                by_key = {f.key: f for f in files}
                for file_row in session.scalars(select(FileRow).where(FileRow.item_id == row.id)):
                    new = by_key.get(file_row.key)
                    if new is not None:
                        file_row.size, file_row.sha256 = new.size, new.sha256
                session.add(EventRow(item_id=row.id, kind=kind, detail=detail))
        except SQLAlchemyError as exc:
            reason = catalog_error_reason(exc)
            raise CatalogError(f"recording new files of {identifier} in {self.where} failed: {reason}") from exc
        return True

    def page_texts(self, identifier: str) -> Iterator[tuple[int, str, str]]:
        with self._sessions() as session:
            rows = session.execute(
                select(PageRow.seq, PageRow.original_text, PageRow.latin_text)
                .join(ItemRow, ItemRow.id == PageRow.item_id)
                .where(ItemRow.identifier == identifier)
                .order_by(PageRow.seq)
            )
            yield from ((seq, original, latin) for seq, original, latin in rows)

    def events(self, identifier: str | None = None) -> list[CatalogEvent]:
        """What happened to an item (or to all items), oldest first."""
        query = (
            select(ItemRow.identifier, EventRow.kind, EventRow.at, EventRow.batch, EventRow.detail)
            .join(ItemRow, ItemRow.id == EventRow.item_id)
            .order_by(EventRow.id)
        )
        if identifier is not None:
            query = query.where(ItemRow.identifier == identifier)
        with self._sessions() as session:
            return [CatalogEvent(i, k, _utc(at), b, d) for i, k, at, b, d in session.execute(query)]

    def identifiers(self, *, include_withdrawn: bool = False) -> list[str]:
        query = select(ItemRow.identifier).order_by(ItemRow.identifier)
        if not include_withdrawn:
            query = query.where(_public())
        with self._sessions() as session:
            return list(session.scalars(query))

    def count(self, table: str) -> int:
        model = {"items": ItemRow, "files": FileRow, "pages": PageRow, "batches": BatchRow, "events": EventRow}[table]
        with self._sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    def search(self, query: SearchQuery | None = None, **fields: Unpack[_SearchFields]) -> SearchResult:
        """Items matching ``query`` (or the same fields as keywords), best first.

        Items whose title, authors or collection hold every word come before
        items that match only in the full text; then by title. Withdrawn
        items are left out unless ``include_withdrawn``.
        """
        query = query or SearchQuery(**fields)
        conditions: list[ColumnElement[bool]] = []
        words = fold(query.text).split()
        meta_hits: list[ColumnElement[bool]] = []
        for word in words:
            pattern = like_pattern(word)
            meta_hit = ItemRow.meta_search.like(pattern, escape="\\")
            meta_hits.append(meta_hit)
            conditions.append(or_(meta_hit, ItemRow.text_search.like(pattern, escape="\\")))
        for field, value in ((TITLE_FIELD, query.title), (AUTHORS_FIELD, query.author)):
            for word in fold(value).split():
                conditions.append(ItemRow.meta_search.like(field_pattern(word, field), escape="\\"))
        if query.year is not None:
            conditions.append(ItemRow.year == query.year)
        if query.year_from is not None:
            conditions.append(ItemRow.year >= query.year_from)
        if query.year_to is not None:
            conditions.append(ItemRow.year <= query.year_to)
        if query.kind:
            conditions.append(ItemRow.kind == query.kind)
        if query.collection:
            conditions.append(ItemRow.collection == query.collection)
        if not query.include_withdrawn:
            conditions.append(_public())
        where = and_(*conditions) if conditions else true()
        order: list[ColumnElement[int] | InstrumentedAttribute[str] | InstrumentedAttribute[str | None]] = [
            ItemRow.meta_search, ItemRow.identifier,
        ]
        if meta_hits:
            order.insert(0, case((and_(*meta_hits), 0), else_=1))
        limit = max(0, min(query.limit, 1000))
        page = select(ItemRow).where(where).order_by(*order).limit(limit).offset(max(0, query.offset))
        with self._sessions() as session:
            if self.engine.dialect.name == "postgresql":
                # One pass gives the page and, by a window, the total: 1.6x
                # faster on PostgreSQL (bench/search_latency.py), 1.8x slower
                # on SQLite, which then materialises every match.
                rows = session.execute(page.add_columns(func.count().over())).all()
                if rows:
                    return SearchResult(int(rows[0][1]), [_catalog_item(row) for row, _ in rows], query)
            total = int(session.scalar(select(func.count()).select_from(ItemRow).where(where)) or 0)
            found = list(session.scalars(page)) if total else []
            return SearchResult(total, [_catalog_item(row) for row in found], query)

    def matching_pages(self, identifier: str, text: str, limit: int = 50) -> list[int]:
        """Pages of an item whose text holds every word of ``text`` (either script)."""
        words = fold(text).split()
        if not words:
            return []
        found = []
        for seq, original, _ in self.page_texts(identifier):
            folded = fold(original)
            if all(word in folded for word in words):
                found.append(seq)
                if len(found) >= limit:
                    break
        return found

    def collections(self, *, include_withdrawn: bool = False) -> list[str]:
        """Collections that have (available) items."""
        query = select(ItemRow.collection).where(ItemRow.collection.is_not(None))
        if not include_withdrawn:
            query = query.where(_public())
        with self._sessions() as session:
            return [r for r in session.scalars(query.distinct().order_by(ItemRow.collection)) if r]

    def kinds(self) -> list[str]:
        with self._sessions() as session:
            return list(session.scalars(select(ItemRow.kind).distinct().order_by(ItemRow.kind)))

    # -- harvesting (OAI-PMH) ----------------------------------------------

    def earliest_change(self) -> datetime | None:
        """When the oldest record was last changed (OAI-PMH's earliestDatestamp)."""
        with self._sessions() as session:
            value = session.scalar(select(func.min(ItemRow.updated_at)))
            return _utc(value) if value else None

    def changed_items(
        self,
        *,
        since: datetime | None = None,
        before: datetime | None = None,
        kind: str | None = None,
        collection: str | None = None,
        after: tuple[datetime, int] | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[int, list[ChangedItem]]:
        """Published items (withdrawn ones too) changed in ``[since, before)``, oldest change first.

        Items waiting in review or rejected are left out: harvesters never see them.

        Returns how many there are in all and one page of items, each with
        a ``position`` (its change time and row id): pass the last one as
        ``after`` to get the next page, which stays right while items
        change (an offset would skip one when an earlier item moves).
        """
        conditions: list[ColumnElement[bool]] = [ItemRow.review_state == ReviewState.PUBLISHED.value]
        if since is not None:
            conditions.append(ItemRow.updated_at >= since)
        if before is not None:
            conditions.append(ItemRow.updated_at < before)
        if kind is not None:
            conditions.append(ItemRow.kind == kind)
        if collection is not None:
            conditions.append(ItemRow.collection == collection)
        where = and_(*conditions) if conditions else true()
        page = select(ItemRow).where(where)
        if after is not None:
            at, pk = after
            page = page.where(or_(ItemRow.updated_at > at, and_(ItemRow.updated_at == at, ItemRow.id > pk)))
        with self._sessions() as session:
            total = int(session.scalar(select(func.count()).select_from(ItemRow).where(where)) or 0)
            rows = session.scalars(page.order_by(ItemRow.updated_at, ItemRow.id).offset(offset).limit(limit))
            return total, [ChangedItem(_catalog_item(row), (_utc(row.updated_at), row.id)) for row in rows]

    # -- batches -----------------------------------------------------------

    def start_batch(self, name: str, folder: str) -> int:
        try:
            with self._sessions.begin() as session:
                row = BatchRow(name=name, folder=folder)
                session.add(row)
                session.flush()
                return row.id
        except SQLAlchemyError as exc:
            reason = catalog_error_reason(exc)
            raise CatalogError(f"recording the start of batch {name!r} in {self.where} failed: {reason}") from exc

    def finish_batch(self, batch_id: int, done: int, failed: int) -> None:
        try:
            with self._sessions.begin() as session:
                row = session.get(BatchRow, batch_id)
                if row is not None:
                    row.finished_at = _now()
                    row.items_done = done
                    row.items_failed = failed
        except SQLAlchemyError as exc:
            reason = catalog_error_reason(exc)
            raise CatalogError(f"recording the end of the batch in {self.where} failed: {reason}") from exc


def _page_texts(page: CatalogPage) -> tuple[str, str]:
    original = page.original_text
    if original is None:
        original = page.text_path.read_text(encoding="utf-8") if page.text_path else ""
    latin = page.latin_text
    if latin is None:
        latin = page.latin_path.read_text(encoding="utf-8") if page.latin_path else ""
    return original, latin


def _registration_hash(registration: Registration, texts: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    record = registration.record.to_dict()
    digest.update(json.dumps(record, sort_keys=True, default=str, ensure_ascii=False).encode())
    for f in registration.files:
        digest.update(f"\0{f.key}\0{f.role}\0{f.size}\0{f.sha256}\0{f.content_type}".encode())
    for page, (original, latin) in zip(registration.pages, texts, strict=True):
        digest.update(f"\0{page.seq}\0{page.mean_confidence}\0{page.skew_degrees}\0".encode())
        digest.update(original.encode())
        digest.update(b"\0")
        digest.update(latin.encode())
    for value in (registration.manifest_key, registration.pdf_key, registration.store, registration.batch):
        digest.update(f"\0{value}".encode())
    return digest.hexdigest()


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _meta_search(row: ItemRow) -> str:
    return meta_search(row.title, row.authors or [], row.collection, row.inventory_number, row.identifier)


def _catalog_item(row: ItemRow) -> CatalogItem:
    return CatalogItem(
        identifier=row.identifier,
        title=row.title,
        title_latin=row.title_latin,
        authors=tuple(row.authors or ()),
        authors_latin=tuple(row.authors_latin or ()),
        year=row.year,
        language=row.language,
        script=row.script,
        kind=row.kind,
        inventory_number=row.inventory_number,
        collection=row.collection,
        page_count=row.page_count,
        mean_ocr_confidence=row.mean_ocr_confidence,
        content_hash=row.content_hash,
        pdf_key=row.pdf_key,
        manifest_key=row.manifest_key,
        store=row.store,
        batch=row.batch,
        status=row.status,
        registered_at=_utc(row.registered_at),
        updated_at=_utc(row.updated_at),
        source=row.source_folder,
        review_state=row.review_state or ReviewState.PUBLISHED.value,
        review_reason=row.review_reason,
        reviewed_by=row.reviewed_by,
        reviewed_at=_utc(row.reviewed_at) if row.reviewed_at is not None else None,
        rights=row.rights,
        access=row.access or "public",
        embargo_until=row.embargo_until,
        publisher=row.publisher,
        place=row.place,
        edition=row.edition,
        series=row.series,
        volume=row.volume,
        subjects=tuple(row.subjects or ()),
        notes=tuple(row.notes or ()),
        parallel_titles=tuple(row.parallel_titles or ()),
    )


def _set_rights_and_record(row: ItemRow, record: ItemRecord) -> None:
    """Rights, access and the library record's fields (revision 0005); lists stored empty as NULL."""
    row.rights = record.rights
    row.access = record.access
    row.embargo_until = record.embargo_until
    row.publisher = record.publisher
    row.place = record.place
    row.edition = record.edition
    row.series = record.series
    row.volume = record.volume
    row.subjects = list(record.subjects) or None
    row.notes = list(record.notes) or None
    row.parallel_titles = list(record.parallel_titles) or None


def _public() -> ColumnElement[bool]:
    """Shown to readers: the SQL form of ``CatalogItem.public``."""
    return and_(ItemRow.status == "available", ItemRow.review_state == ReviewState.PUBLISHED.value)


def _review_changes(current: str | None, decision: ReviewDecision | None) -> bool:
    """Does registering again change the review state?

    An item approved (published) stays published when the very same content
    is registered again; a rejected item goes back through the policy.
    """
    target = ReviewState.PUBLISHED if decision is None else decision.to_state
    return current != target and current != ReviewState.PUBLISHED


def _apply_review(session: Any, row: ItemRow, registration: Registration) -> None:
    """Set the review state a (changed) registration gets: the policy's decision, logged."""
    decision = registration.review
    if decision is None or decision.to_state is ReviewState.PUBLISHED:
        # Published at once (policy, or the web API, which has none): the
        # registration event says it all, as before review states existed.
        row.review_state = ReviewState.PUBLISHED.value
        row.review_reason = None
        return
    _record_review(session, row, decision)


def _record_review(session: Any, row: ItemRow, decision: ReviewDecision) -> None:
    row.review_state = decision.to_state.value
    row.review_reason = decision.reason
    row.reviewed_by = decision.actor
    row.reviewed_at = _now()
    session.add(EventRow(item_id=row.id, kind=decision.event_kind, detail=decision.detail()))


def catalog_error_reason(exc: Exception) -> str:
    """What the database said, on one line and without the SQL, with the likely cause first.

    The one wording of catalog faults: the catalog's own errors and the
    pre-flight check (``delivery/preflight.py``) both use it.
    """
    said = " ".join(str(getattr(exc, "orig", None) or exc).split())
    said = said.split("[SQL:", 1)[0].strip()
    lowered = said.lower()
    if "locked" in lowered or "busy" in lowered:
        return f"the catalog is locked by another program writing to it ({said})"
    if any(word in lowered for word in ("readonly", "read-only", "read only", "unable to open")):
        return f"the catalog file or its folder is read-only or cannot be opened for writing ({said})"
    if any(word in lowered for word in ("connection", "could not connect", "connect", "refused", "timeout")):
        return f"the catalog's database server cannot be reached ({said})"
    return said


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, busy_ms: int = 30000) -> None:  # DB-API: untyped
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")  # first: the pragmas below may have to wait too
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
