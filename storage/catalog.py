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

import collections
import hashlib
import heapq
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypedDict, Unpack

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    String,
    and_,
    bindparam,
    cast,
    create_engine,
    delete,
    event,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker, undefer
from sqlalchemy.sql.util import ClauseAdapter
from sqlalchemy.sql.visitors import iterate

from digitize.archive.records import ItemRecord
from digitize.errors import CatalogError, ReviewError
from digitize.storage import fulltext
from digitize.storage.catalog_records import (
    CatalogEvent,
    CatalogFile,
    CatalogItem,
    CatalogPage,
    ChangedItem,
    FacetCount,
    KeptObject,
    RegisteredItem,
    Registration,
    Replacement,
    ReviewDecision,
    ReviewState,
    SearchHit,
    SearchQuery,
    SearchResult,
    SearchSort,
    Viewer,
)
from digitize.storage.catalog_schema import SCHEMA_HEAD, migrate, schema_revision
from digitize.storage.catalog_tables import Base, BatchRow, EventRow, FileRow, ItemRow, PageRow
from digitize.storage.catalog_tables import now as _now
from digitize.storage.search import (
    PAGE_SEPARATOR,
    Term,
    fold,
    index_text,
    make_snippet,
    meta_search,
    page_hits,
    page_index_text,
    query_terms,
    title_sort_key,
)

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
    "FacetCount",
    "SearchHit",
    "SearchQuery",
    "SearchResult",
    "SearchSort",
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
    language: str | None
    script: str | None
    sort: SearchSort
    viewer: Viewer | None
    facets: bool


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
        self._pg_statements: dict[tuple[Any, ...], Any] = {}  # ``_pg_search``'s statements by shape of search
        if create:
            try:
                migrate(self.engine, self._sqlite_file)
                with self.engine.begin() as conn:
                    fulltext.ensure(conn)
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
        """Compute search forms (and so index) items registered before they existed (revisions 0002, 0007)."""
        filled = 0
        while True:
            with self._sessions.begin() as session:
                rows = session.scalars(
                    select(ItemRow).where(ItemRow.search_title.is_(None)).order_by(ItemRow.id).limit(500)
                ).all()
                for row in rows:
                    _set_search_forms(row)
                    row.text_search = _item_index_text(session, row.id)
                filled += len(rows)
            if len(rows) < 500:
                break
            log.info("catalog: indexed %d items so far", filled)
        if filled:
            log.info("catalog: computed search forms of %d items", filled)

    def reindex(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Rebuild the full-text index from the page texts: every item's search forms, then the index.

        For catalogs indexed by an older rule or whose index was damaged;
        one transaction, so readers see the old index until it is done.
        ``progress(done, total)`` is called now and then. Returns how many
        items were indexed.
        """
        try:
            with self._sessions.begin() as session:
                conn = session.connection()
                fulltext.drop(conn)
                ids = list(session.scalars(select(ItemRow.id).order_by(ItemRow.id)))
                for start in range(0, len(ids), 500):
                    chunk = ids[start:start + 500]
                    for row in session.scalars(select(ItemRow).where(ItemRow.id.in_(chunk))):
                        _set_search_forms(row)
                        row.text_search = _item_index_text(session, row.id)
                    session.flush()
                    session.expunge_all()
                    if progress is not None:
                        progress(min(start + 500, len(ids)), len(ids))
                fulltext.create(conn)
                fulltext.rebuild(conn)
        except SQLAlchemyError as exc:
            reason = catalog_error_reason(exc)
            raise CatalogError(f"rebuilding the full-text index of {self.where} failed: {reason}") from exc
        return len(ids)

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
                _set_search_forms(row)
                row.text_search = PAGE_SEPARATOR.join(page_index_text(original, latin) for original, latin in texts)
                session.flush()
                fulltext.add_words(session.connection(), _index_words(row))
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
                    _set_search_forms(row)
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
        """Items matching ``query`` (or the same fields as keywords), one page of them, best first.

        Found through the full-text index (``storage.fulltext``): every word
        of the query must be in the item's metadata or its text (see
        ``SearchQuery`` for how words match and whose text is searched).
        By relevance, items whose metadata holds every word come first, then
        by the engine's rank (bm25 / ts_rank), then by title in Azerbaijani
        order; with no words, by title. Withdrawn and unpublished items are
        left out unless ``include_withdrawn``. Each item found comes with
        the pages its words are on and a passage with them marked. At most
        ``EXACT_LIMIT`` matches (or ``offset + limit``) are read per search:
        more is answered "more than" (``SearchResult.total_exact``).
        """
        query = query or SearchQuery(**fields)
        text_terms = query_terms(query.text)
        terms: list[tuple[Term, fulltext.Field]] = [(t, "any") for t in text_terms]
        terms += [(t, "title") for t in query_terms(query.title)]
        terms += [(t, "authors") for t in query_terms(query.author)]
        if not terms and any(value.strip() for value in (query.text, query.title, query.author)):
            return SearchResult(0, [], query, notice="the search holds no letter or digit to look for")
        conditions = _filters(query)
        try:
            with self._sessions() as session:
                return self._search(session, query, terms, text_terms, conditions)
        except SQLAlchemyError as exc:
            reason = catalog_error_reason(exc)
            raise CatalogError(f"searching {self.where} failed: {reason}") from exc

    def _search(
        self,
        session: Session,
        query: SearchQuery,
        terms: list[tuple[Term, fulltext.Field]],
        text_terms: tuple[Term, ...],
        conditions: list[ColumnElement[bool]],
    ) -> SearchResult:
        if not terms:
            return self._browse(session, query, conditions)
        viewer = query.viewer or Viewer()
        limit = max(0, min(query.limit, 1000))
        offset = max(0, query.offset)
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            return self._pg_search(session, query, terms, text_terms, conditions, viewer, limit, offset)
        asked = fulltext.prepare(dialect, terms)
        # Every question below reads at most ``window`` + 1 matches: one page of a search costs about
        # the same however many items hold its words (measured: bench/search_latency.py).
        window = max(EXACT_LIMIT, offset + limit)
        listed: Sequence[Any] | None = None
        if any(term.prefix for term, _ in terms):
            # A word's other forms (``kitab``: ``kitablar``…) cost most for common words: the index merges
            # the lists of every form before the first row. If the words as typed already give more than
            # ``window`` items, those are read ("at least"); otherwise every form decides.
            as_typed = [(Term(term.word, prefix=False), field) for term, field in terms]
            listed = self._listing(session, fulltext.prepare(dialect, as_typed), conditions, viewer, query, window)
            if len(listed) <= window:
                listed = None
        if listed is None:
            listed = self._listing(session, asked, conditions, viewer, query, window)
        rows = {row.id: row for row in listed}
        exact = len(rows) <= window
        if asked.bounded is not None and int(session.scalar(asked.bounded) or 0) > fulltext.PHRASE_SCAN:
            exact = False
        meta = {
            item_id: score
            for item_id, score in session.execute(asked.meta, {"fulltext_limit": window + 1})
        }
        missing = [item_id for item_id in meta if item_id not in rows]
        if missing:  # items whose metadata holds the words, beyond the matches read: they rank first
            extra = select(*_LISTED).where(ItemRow.id.in_(missing), *conditions)
            rows.update((row.id, row) for row in session.execute(extra))
        scores: dict[int, float] = {}
        if exact and asked.ranks is not None and query.sort is SearchSort.RELEVANCE:
            scores = {item_id: score for item_id, score in session.execute(asked.ranks) if item_id in rows}
        ordered = heapq.nsmallest(offset + limit, rows.values(), key=_sort_key(query.sort, meta, scores))
        total = len(rows) if exact else min(len(rows), window)  # not exact: "at least"
        facets = _facets(rows.values()) if query.facets else {}
        shown = [row.id for row in ordered[offset:offset + limit]]
        return self._answer(session, query, text_terms, viewer, {item_id: item_id in meta for item_id in shown},
                            total, facets, exact)

    def _pg_search(
        self,
        session: Session,
        query: SearchQuery,
        terms: list[tuple[Term, fulltext.Field]],
        text_terms: tuple[Term, ...],
        conditions: list[ColumnElement[bool]],
        viewer: Viewer,
        limit: int,
        offset: int,
    ) -> SearchResult:
        """PostgreSQL: the search of ``_search`` as one statement, so the matches never leave the database.

        The same questions and answers as on SQLite (the first ``window`` + 1
        matches the filters and the access rule let through, the words as
        typed first; the items whose metadata holds every word, ranked, at
        most ``window`` + 1; their union counted, faceted and ordered) asked
        in one statement: only the page shown, the counts and the facets come
        back, not the up to 2,000 rows that Python would otherwise receive,
        count, sort and facet (measured: bench/search_latency.py).
        """
        window = max(EXACT_LIMIT, offset + limit)
        asked = fulltext.prepare("postgresql", terms, "_p")
        typed_asked = None
        if any(term.prefix for term, _ in terms):
            as_typed = [(Term(term.word, prefix=False), field) for term, field in terms]
            typed_asked = fulltext.prepare("postgresql", as_typed, "_t")
        narrow_filters = _filters(query, fulltext.LISTING.c)
        # The statement is built once per shape of search (which kinds of terms, filters, viewer, sort, page) and
        # then run with this search's values: building it anew cost ~4 ms of CPU a search (profiled), as much
        # as the database's answer to a rare word.
        params = _named_binds(*conditions, *narrow_filters, _text_readable(viewer, query.include_withdrawn),
                              *_asked_clauses(asked), *_asked_clauses(typed_asked))
        shape = (
            tuple((field, term.prefix, term.is_phrase) for term, field in terms), tuple(sorted(params)),
            query.include_withdrawn, viewer.is_staff, viewer.in_reading_room, query.sort, query.facets,
            window, limit, offset,
        )
        statement = self._pg_statements.get(shape)
        if statement is None:
            statement = self._pg_statement(asked, typed_asked, conditions, narrow_filters, viewer, query,
                                           window, limit, offset)
            compiled = statement.compile(dialect=session.get_bind().dialect)
            named = {bind.key for bind in compiled.binds.values() if not bind.key.startswith("%(")}
            if not named <= params.keys():
                raise CatalogError(f"full-text search: the statement's parameters {sorted(named - params.keys())} "
                                   "are not among the search's values")
            if len(self._pg_statements) >= 256:
                self._pg_statements.clear()
            self._pg_statements[shape] = statement
        fulltext.index_scans(session.connection())
        listed_count = found_count = scanned_count = 0
        shown: list[tuple[int, int, bool]] = []  # (place on the page, item, its metadata holds the words)
        counts: dict[str, collections.Counter[Any]] = {name: collections.Counter() for name in _FACETS}
        for part, value, n, in_meta_flag in session.execute(statement, params):
            if part == "listed":
                listed_count = int(n)
            elif part == "found":
                found_count = int(n)
            elif part == "item":
                shown.append((int(n), int(value), bool(in_meta_flag)))
            elif part == "scanned":
                scanned_count = int(n)
            else:
                counts[part][int(value) if part == "decade" else value] = int(n)
        return self._pg_result(session, query, text_terms, viewer, window, listed_count, found_count,
                               scanned_count, shown, counts)

    def _pg_statement(
        self,
        asked: fulltext.FullTextQuery,
        typed_asked: fulltext.FullTextQuery | None,
        conditions: list[ColumnElement[bool]],
        narrow_filters: list[ColumnElement[bool]],
        viewer: Viewer,
        query: SearchQuery,
        window: int,
        limit: int,
        offset: int,
    ) -> Any:
        """PostgreSQL: the one statement of ``_pg_search`` (rows: part, value, count, in_meta)."""
        listing, candidates = self._pg_listing(asked, conditions, viewer, query, window, "_p")
        scanned: Any = None if candidates is None else select(func.count()).select_from(candidates)
        if typed_asked is not None:
            # As on SQLite: the words as typed first; their other forms only when those find ``window`` or fewer
            # (a one-time filter: the prefixed listing is not run when the typed one is enough).
            typed = self._pg_listing(typed_asked, conditions, viewer, query, window, "_t")[0].cte("typed")
            enough = select(func.count()).select_from(typed).scalar_subquery() > window
            prefixed = listing.subquery("prefixed")
            listing = union_all(select(typed).where(enough), select(prefixed).where(~enough))
            if scanned is not None:  # the typed words were enough: the search says "at least" anyway
                scanned = scanned.where(~enough)
        listed = listing.cte("listing")
        if asked.meta_score is None or asked.meta_where is None:
            raise CatalogError("full-text search: the PostgreSQL questions lack the metadata's rank")
        score = asked.meta_score.label("score")
        # Ranked from the narrow copy of the items' rows (``fulltext.LISTING``), the filters asked of it too.
        narrow = fulltext.LISTING.c
        meta = (
            select(*(narrow[column.key] for column in _LISTED), score)
            .where(asked.meta_where, *narrow_filters)
            .order_by(score, func.coalesce(narrow.title_sort, b""), narrow.identifier.collate("C"))
            .limit(window + 1).cte("meta")
        )
        names = [column.key for column in _LISTED]
        found = union_all(
            select(*(listed.c[name] for name in names), meta.c.score)
            .select_from(listed.outerjoin(meta, meta.c.id == listed.c.id)),
            select(*(meta.c[name] for name in names), meta.c.score).where(meta.c.id.not_in(select(listed.c.id))),
        ).cte("found")
        f = found.c
        order = _pg_order(query.sort, f)
        page = (
            select(f.id, f.score.is_not(None).label("in_meta"))
            .order_by(*order).limit(limit).offset(offset).subquery("page")
        )
        none_text = cast(literal(None), String)
        parts: list[Any] = [
            select(literal("listed"), none_text, func.count(), literal(False)).select_from(listed),
            select(literal("found"), none_text, func.count(), literal(False)).select_from(found),
            select(literal("item"), cast(page.c.id, String), func.row_number().over(), page.c.in_meta),
        ]
        if scanned is not None:  # a phrase: how many items holding its words there were (PHRASE_SCAN + 1 at most)
            parts.append(scanned.with_only_columns(literal("scanned"), none_text, func.count(), literal(False)))
        if query.facets:
            decade = (f.year // 10) * 10
            parts.append(select(literal("decade"), cast(decade, String), func.count(), literal(False))
                         .where(f.year.is_not(None)).group_by(decade))
            parts += [
                select(literal(name), cast(f[name], String), func.count(), literal(False))
                .where(f[name].is_not(None)).group_by(f[name])
                for name in ("collection", "language", "script", "kind")
            ]
        return union_all(*parts)

    def _pg_result(
        self,
        session: Session,
        query: SearchQuery,
        text_terms: tuple[Term, ...],
        viewer: Viewer,
        window: int,
        listed_count: int,
        found_count: int,
        scanned_count: int,
        shown: list[tuple[int, int, bool]],
        counts: dict[str, collections.Counter[Any]],
    ) -> SearchResult:
        """PostgreSQL: the search's answer from the counts of ``_pg_statement``: the items shown, their hits."""
        # More than PHRASE_SCAN items hold a phrase's words: it was looked for in the first ones only.
        exact = listed_count <= window and scanned_count <= fulltext.PHRASE_SCAN
        total = found_count if exact else min(found_count, window)  # not exact: "at least"
        facets = _facet_lists(counts) if query.facets else {}
        shown.sort()
        return self._answer(session, query, text_terms, viewer, {item_id: flag for _, item_id, flag in shown},
                            total, facets, exact)

    def _answer(
        self,
        session: Session,
        query: SearchQuery,
        text_terms: tuple[Term, ...],
        viewer: Viewer,
        shown: dict[int, bool],
        total: int,
        facets: dict[str, list[FacetCount]],
        exact: bool,
    ) -> SearchResult:
        """The answer of either engine: the items ``shown`` (id → whether its metadata holds the words, in the
        order shown), read with their text in the index's form (where the words are) in one query, and their hits."""
        ids = list(shown)
        items_by_id = {
            row.id: row
            for row in session.scalars(
                select(ItemRow).options(undefer(ItemRow.text_search)).where(ItemRow.id.in_(ids))
            )
        } if ids else {}
        chosen = [items_by_id[item_id] for item_id in ids if item_id in items_by_id]
        items = [_catalog_item(row) for row in chosen]
        index_texts = {row.id: row.text_search or "" for row in chosen}
        hits = self._hits(session, [row.id for row in chosen], items, text_terms, viewer, shown, index_texts)
        suggestion = None
        if not total and text_terms:
            suggestion = _suggestion(session, query.text, text_terms)
        return SearchResult(total, items, query, hits=hits, facets=facets, suggestion=suggestion, total_exact=exact)

    @staticmethod
    def _pg_listing(
        asked: fulltext.FullTextQuery,
        conditions: list[ColumnElement[bool]],
        viewer: Viewer,
        query: SearchQuery,
        window: int,
        tag: str,
    ) -> tuple[Any, Any]:
        """PostgreSQL: the first ``window`` + 1 matches the filters and the access rule let through (a Select).

        With a phrase, also the CTE of the first ``PHRASE_SCAN`` + 1 items holding its words (the phrase is
        looked for in the text of the first ``PHRASE_SCAN``; counting the CTE says whether there were more),
        so the GIN index is read once for both; otherwise None.
        """
        if asked.words is None:
            raise CatalogError("full-text search: the PostgreSQL questions lack the words' condition")
        # The access rule first: it lets most rows through without reading their metadata's vector.
        may_read = or_(_text_readable(viewer, query.include_withdrawn), asked.in_meta)
        # A subquery that only the GIN indexes answer, the rest asked of its rows (see ``fulltext.index_scans``):
        # of the columns the filters, the access rule and the phrases ask.
        words = select(*_MATCHED, literal_column("items.fulltext_meta").label("fulltext_meta")).where(asked.words)
        candidates = None
        if asked.phrases is None:
            matched = words.offset(0).subquery("matched")
        else:
            candidates = words.limit(fulltext.PHRASE_SCAN + 1).cte(f"candidates{tag}")
            matched = select(candidates).limit(fulltext.PHRASE_SCAN).subquery("matched")
        adapt = ClauseAdapter(matched).traverse
        listing = (
            select(*(matched.c[column.key] for column in _LISTED))
            .where(*(adapt(c) for c in conditions), adapt(may_read),
                   *([] if asked.phrases is None else [asked.phrases]))
            .limit(window + 1)
        )
        return listing, candidates

    def _listing(
        self,
        session: Session,
        asked: fulltext.FullTextQuery,
        conditions: list[ColumnElement[bool]],
        viewer: Viewer,
        query: SearchQuery,
        window: int,
    ) -> Sequence[Any]:
        """SQLite: the first ``window`` + 1 matches (in the index's order) the filters and the access rule let through.

        (PostgreSQL asks its listing inside one statement: ``_pg_search``.)
        """
        # The page text of an item counts only for a viewer who may read it; its metadata for everyone.
        may_read = or_(asked.in_meta, _text_readable(viewer, query.include_withdrawn))
        if asked.fts5_query is None:
            raise CatalogError(f"full-text search needs SQLite or PostgreSQL, not {self.engine.dialect.name}")
        return _sqlite_listing(session, asked.fts5_query, and_(*conditions, may_read), window + 1)

    def _browse(self, session: Session, query: SearchQuery, conditions: list[ColumnElement[bool]]) -> SearchResult:
        """No words: the items by title (or year), a page of them, the count and the facets of all."""
        where = and_(*conditions) if conditions else true()
        order: list[Any]
        if query.sort is SearchSort.YEAR:
            order = [ItemRow.year.is_(None), ItemRow.year, ItemRow.title_sort, ItemRow.identifier]
        elif query.sort is SearchSort.YEAR_DESC:
            order = [ItemRow.year.is_(None), ItemRow.year.desc(), ItemRow.title_sort, ItemRow.identifier]
        else:
            order = [ItemRow.title_sort, ItemRow.identifier]
        limit = max(0, min(query.limit, 1000))
        page = select(ItemRow).where(where).order_by(*order).limit(limit).offset(max(0, query.offset))
        facets: dict[str, list[FacetCount]] = {}
        if query.facets:
            facets = _browse_facets(session, select(ItemRow.id).where(where))
            total = sum(f.count for f in facets["kind"])
        else:
            total = int(session.scalar(select(func.count()).select_from(ItemRow).where(where)) or 0)
        items = [_catalog_item(row) for row in session.scalars(page)] if total else []
        return SearchResult(total, items, query, hits=[SearchHit(item.identifier) for item in items], facets=facets)

    def _hits(
        self,
        session: Session,
        ids: Sequence[int],
        items: list[CatalogItem],
        terms: tuple[Term, ...],
        viewer: Viewer,
        in_meta: dict[int, bool],
        index_texts: dict[int, str],
    ) -> list[SearchHit]:
        """Pages and a marked passage of each item shown (not of every item found), from those the viewer may read."""
        readable = {item_id for item_id, item in zip(ids, items, strict=True) if terms and item.readable_by(viewer)}
        pages, index_pages = _page_positions(session, readable, terms, texts=index_texts)
        best = {(item_id, seqs[0]) for item_id, seqs in pages.items() if seqs}
        texts: dict[tuple[int, int], str] = {}
        if best:
            found = session.execute(
                select(PageRow.item_id, PageRow.seq, PageRow.original_text).where(
                    or_(*(and_(PageRow.item_id == i, PageRow.seq == seq) for i, seq in best))
                )
            )
            texts = {(i, seq): original for i, seq, original in found}
        hits = []
        for item_id, item in zip(ids, items, strict=True):
            seqs = pages.get(item_id, [])
            snippet = make_snippet(
                seqs[0], texts.get((item_id, seqs[0]), ""), terms, index_page=index_pages.get(item_id)
            ) if seqs else None
            hits.append(SearchHit(item.identifier, tuple(seqs), snippet, in_meta.get(item_id, False)))
        return hits

    def matching_pages(self, identifier: str, text: str, limit: int = 50) -> list[int]:
        """Pages of an item whose text holds every word of ``text`` (either script, without diacritics), in order.

        The caller has checked that the reader may read the item's text.
        """
        terms = query_terms(text)
        if not terms:
            return []
        with self._sessions() as session:
            item_id = session.scalar(select(ItemRow.id).where(ItemRow.identifier == identifier))
            if item_id is None:
                return []
            every = _page_positions(session, {item_id}, terms, every_only=True)[0].get(item_id, [])
            return sorted(every)[:limit]

    def collections(self, *, include_withdrawn: bool = False) -> list[str]:
        """Collections that have (available) items.

        Walks the index of ``collection`` from one value to the next (a few
        probes per collection) instead of reading every item: the search page
        asks this on every request, and a scan of 100,000 items took
        30–130 ms (bench/search_latency.py).
        """
        walk = select(func.min(ItemRow.collection).label("value")).where(ItemRow.collection.is_not(None))
        walked = walk.cte("collection_walk", recursive=True)
        following = select(ItemRow.collection).where(ItemRow.collection > walked.c.value)
        walked = walked.union_all(
            select(following.with_only_columns(func.min(ItemRow.collection)).scalar_subquery())
            .where(walked.c.value.is_not(None))
        )
        query = select(walked.c.value).where(walked.c.value.is_not(None))
        if not include_withdrawn:
            query = query.where(exists().where(ItemRow.collection == walked.c.value, _public()))
        with self._sessions() as session:
            return [r for r in session.scalars(query.order_by(walked.c.value)) if r]

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


def _filters(query: SearchQuery, columns: Any = ItemRow) -> list[ColumnElement[bool]]:
    """The query's conditions on the item's fields (not its words): on ``items``, or the same columns of ``columns``
    (PostgreSQL: ``fulltext.LISTING.c``)."""
    # Named parameters: PostgreSQL's statement is kept and run again with a later search's values (``_pg_search``).
    conditions: list[ColumnElement[bool]] = []
    if query.year is not None:
        conditions.append(columns.year == bindparam("filter_year", query.year))
    if query.year_from is not None:
        conditions.append(columns.year >= bindparam("filter_year_from", query.year_from))
    if query.year_to is not None:
        conditions.append(columns.year <= bindparam("filter_year_to", query.year_to))
    for name, column, value in (
        ("kind", columns.kind, query.kind), ("collection", columns.collection, query.collection),
        ("language", columns.language, query.language), ("script", columns.script, query.script),
    ):
        if value:
            conditions.append(column == bindparam("filter_" + name, value))
    if not query.include_withdrawn:
        conditions.append(_public(columns))
    return conditions


_FACETS = ("decade", "collection", "kind", "language", "script")

# What a search reads of each item it finds (SQLite: all in the index ``fulltext_items_cover``).
_LISTED = (
    ItemRow.id, ItemRow.title_sort, ItemRow.identifier, ItemRow.year, ItemRow.collection, ItemRow.kind,
    ItemRow.language, ItemRow.script,
)

# What PostgreSQL's listing reads of each match (``_pg_listing``): ``_LISTED``, and what ``_filters``,
# ``_text_readable`` and the phrases (``fulltext.prepare``) ask of an item.
_MATCHED = (
    *_LISTED, ItemRow.status, ItemRow.review_state, ItemRow.access, ItemRow.embargo_until, ItemRow.text_search,
)

# Most matches a search reads: up to this many it counts, facets and ranks exactly; beyond, it says
# "more than" and gives the counts and order of the first ones found (engines do the same: a word on
# every page finds every item, and no reader pages through 1,000 of them). Paging further reads
# further (``offset + limit``).
EXACT_LIMIT = 1000


_SQLITE_NAMED = sqlite_dialect.dialect(paramstyle="named")


class _Listed(NamedTuple):
    """One found item as a search reads it (``_LISTED``), before the page shown is chosen."""

    id: int
    title_sort: bytes | None
    identifier: str
    year: int | None
    collection: str | None
    kind: str
    language: str | None
    script: str | None


def _sqlite_listing(session: Session, fts5_query: str, where: ColumnElement[bool], limit: int) -> list[_Listed]:
    """SQLite: the matches in the index's order, each item's columns from the covering index, ``limit`` at most.

    Written out because SQLAlchemy renders no ``INDEXED BY`` for SQLite and
    a subquery of the matches would be materialised whole (all 100,000 rowids
    of a common word) before the LIMIT: here the FTS5 scan is the outer loop
    (CROSS JOIN) and stops at ``limit`` rows. ``where`` is compiled with its
    parameters (the access rule and filters stay SQLAlchemy expressions).
    Read through the DB-API cursor: up to 1,001 rows a search, and
    SQLAlchemy's rows cost more than the query (profiled).
    """
    compiled = where.compile(dialect=_SQLITE_NAMED, compile_kwargs={"render_postcompile": True})
    params = {key: value.isoformat() if isinstance(value, date) else value for key, value in compiled.params.items()}
    params.update(fulltext_listed=fts5_query, fulltext_listed_limit=limit)
    columns = ", ".join(f"items.{column.key}" for column in _LISTED)
    sql = (
        f"SELECT {columns} FROM fulltext_items CROSS JOIN items INDEXED BY fulltext_items_cover "
        f"ON items.id = fulltext_items.rowid WHERE fulltext_items MATCH :fulltext_listed AND ({compiled}) "
        "LIMIT :fulltext_listed_limit"
    )
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        return [_Listed._make(row) for row in cursor.fetchall()]
    except sqlite3.Error as exc:
        raise CatalogError(f"searching the full-text index failed: {exc}") from exc
    finally:
        cursor.close()


def _asked_clauses(asked: fulltext.FullTextQuery | None) -> list[Any]:
    """The clauses of one preparation that ``_pg_statement`` puts in its statement (their values: ``_named_binds``)."""
    if asked is None:
        return []
    return [clause for clause in (asked.words, asked.phrases, asked.in_meta, asked.meta_where, asked.meta_score)
            if clause is not None]


def _named_binds(*clauses: Any) -> dict[str, Any]:
    """The values of the named parameters in ``clauses`` (the anonymous ones are constants of the statement's shape)."""
    values: dict[str, Any] = {}
    for clause in clauses:
        for element in iterate(clause):
            if isinstance(element, BindParameter) and not element.key.startswith("%("):
                values[element.key] = element.effective_value
    return values


def _sort_key(sort: SearchSort, meta: dict[int, float], scores: dict[int, float]) -> Callable[[Any], Any]:
    """How found items are ordered: by relevance, items whose metadata holds every word come first
    (by the metadata's rank), then the rest by the text's rank (bm25, SQLite, when few match), then by
    title in Azerbaijani order; or by title or year."""
    if sort is SearchSort.RELEVANCE:
        return lambda r: (r.id not in meta, meta.get(r.id, scores.get(r.id, 0.0)), r.title_sort or b"", r.identifier)
    if sort is SearchSort.TITLE:
        return lambda r: (r.title_sort or b"", r.identifier)
    if sort is SearchSort.YEAR:
        return lambda r: (r.year is None, r.year or 0, r.title_sort or b"", r.identifier)
    return lambda r: (r.year is None, -(r.year or 0), r.title_sort or b"", r.identifier)


def _pg_order(sort: SearchSort, found: Any) -> list[Any]:
    """``_sort_key`` in SQL, over the columns of ``_LISTED`` and ``score`` (the metadata's rank, NULL: not in it).

    Byte strings compare in both as ``memcmp``; identifiers in code point order (``COLLATE "C"``), as Python's.
    """
    title = func.coalesce(found.title_sort, b"")
    identifier = found.identifier.collate("C")
    if sort is SearchSort.RELEVANCE:
        return [found.score.is_(None), func.coalesce(found.score, 0.0), title, identifier]
    if sort is SearchSort.TITLE:
        return [title, identifier]
    if sort is SearchSort.YEAR:
        return [found.year.is_(None), func.coalesce(found.year, 0), title, identifier]
    return [found.year.is_(None), -func.coalesce(found.year, 0), title, identifier]


def _facets(rows: Any) -> dict[str, list[FacetCount]]:
    """Counts of the found items by decade, collection, kind, language and script (rows of ``_LISTED``)."""
    names = [column.key for column in _LISTED]
    transposed = list(zip(*rows, strict=True)) or [()] * len(names)
    columns = dict(zip(names, transposed, strict=True))
    counts: dict[str, collections.Counter[Any]] = {
        name: collections.Counter(columns[name]) for name in ("collection", "language", "script", "kind")
    }
    decades: collections.Counter[int] = collections.Counter()
    for year, n in collections.Counter(columns["year"]).items():
        if year is not None:
            decades[year // 10 * 10] += n
    counts["decade"] = decades
    for found in counts.values():
        found.pop(None, None)
    return _facet_lists(counts)


def _facet_lists(counts: dict[str, collections.Counter[Any]]) -> dict[str, list[FacetCount]]:
    """The facets as shown: decades in order, the others by count then in Azerbaijani order."""
    facets: dict[str, list[FacetCount]] = {}
    for name in _FACETS:
        counted = {str(value): n for value, n in counts[name].items()}
        if name == "decade":
            facets[name] = [FacetCount(v, f"{v}–{int(v) + 9}", n) for v, n in sorted(counted.items(),
                                                                                  key=lambda f: int(f[0]))]
        else:
            facets[name] = [FacetCount(v, v, n) for v, n in sorted(counted.items(),
                                                                  key=lambda f: (-f[1], title_sort_key(f[0])))]
    return facets


def _browse_facets(session: Session, matches: Any) -> dict[str, list[FacetCount]]:
    """Counts of the items browsed by decade, collection, kind, language and script (one query in the database)."""
    hits = (
        select(ItemRow.year, ItemRow.collection, ItemRow.kind, ItemRow.language, ItemRow.script)
        .join_from(matches.subquery("facet_ids"), ItemRow, literal_column("facet_ids.id") == ItemRow.id)
        .cte("facet_hits")
    )
    decade = (hits.c.year // 10) * 10
    parts = [
        select(literal("decade"), cast(decade, String), func.count()).where(hits.c.year.is_not(None)).group_by(decade),
        *(
            select(literal(name), cast(hits.c[name], String), func.count())
            .where(hits.c[name].is_not(None)).group_by(hits.c[name])
            for name in ("collection", "language", "script")
        ),
        select(literal("kind"), hits.c.kind, func.count()).group_by(hits.c.kind),
    ]
    facets: dict[str, list[FacetCount]] = {name: [] for name in _FACETS}
    for name, value, count in session.execute(union_all(*parts)):
        label = f"{value}–{int(value) + 9}" if name == "decade" else str(value)
        facets[str(name)].append(FacetCount(str(value), label, int(count)))
    for name, values in facets.items():
        if name == "decade":
            values.sort(key=lambda f: int(f.value))
        else:
            values.sort(key=lambda f: (-f.count, title_sort_key(f.value)))
    return facets


def _page_positions(
    session: Session, item_ids: set[int], terms: Sequence[Term], *, every_only: bool = False,
    texts: dict[int, str] | None = None,
) -> tuple[dict[int, list[int]], dict[int, str]]:
    """Per item, the page numbers holding the query's words (every word first, then some), and its first
    such page in the index's form. ``texts``: the items' ``text_search`` when the caller has read it."""
    if not item_ids or not terms:
        return {}, {}
    if texts is None:
        rows = session.execute(select(ItemRow.id, ItemRow.text_search).where(ItemRow.id.in_(item_ids)))
        texts = {item_id: index or "" for item_id, index in rows}
    texts = {item_id: texts.get(item_id, "") for item_id in item_ids}
    seqs: dict[int, list[int]] = {}
    for item_id, seq in session.execute(
        select(PageRow.item_id, PageRow.seq).where(PageRow.item_id.in_(item_ids)).order_by(PageRow.item_id, PageRow.seq)
    ):
        seqs.setdefault(item_id, []).append(seq)
    found = {}
    first_pages = {}
    for item_id, index in texts.items():
        every, some = page_hits(index or "", terms)
        numbers = seqs.get(item_id, [])
        positions = [p for p in (every if every_only else every + some) if p < len(numbers)]
        found[item_id] = [numbers[p] for p in positions]
        if positions:
            first_pages[item_id] = (index or "").split(PAGE_SEPARATOR)[positions[0]]
    return found, first_pages


def _suggestion(session: Session, text: str, terms: Sequence[Term]) -> str | None:
    """The query with each word the index lacks replaced by its nearest word (None: nothing to offer)."""
    conn = session.connection()
    words = []
    changed = False
    for term in terms:
        nearest = None if term.is_phrase else fulltext.suggest(conn, term.word)
        if nearest is not None and not _has_word(session, term):
            words.append(nearest)
            changed = True
        else:
            words.append(term.word)
    return " ".join(words) if changed else None


def _has_word(session: Session, term: Term) -> bool:
    matched = fulltext.match(session.get_bind().dialect.name, [(term, "any")]).query.subquery()
    return session.execute(select(matched.c.id).limit(1)).first() is not None


def _text_readable(viewer: Viewer, include_withdrawn: bool = False) -> ColumnElement[bool]:
    """May ``viewer`` read an item's text: the SQL form of ``CatalogItem.refusal`` (a test holds them equal).

    Published and not withdrawn; staff read everything; others only after
    the embargo, and only a public item, or a reading-room item from the
    reading room.
    """
    if viewer.is_staff:
        return true() if include_withdrawn else _public()
    today = datetime.now(UTC).date()
    levels = ["public", "reading-room"] if viewer.in_reading_room else ["public"]
    return and_(
        _public(),
        or_(ItemRow.embargo_until.is_(None), ItemRow.embargo_until <= bindparam("readable_today", today)),
        ItemRow.access.in_(levels),
    )


def _set_search_forms(row: ItemRow) -> None:
    """The item's metadata in its search forms: the title's sort key, the old LIKE form and the index's form."""
    row.meta_search = _meta_search(row)
    row.title_sort = title_sort_key(row.title_latin or row.title)
    row.search_title = _unique_words(row.title, row.title_latin, *(row.parallel_titles or ()))
    row.search_authors = _unique_words(*(row.authors or ()), *(row.authors_latin or ()))
    row.search_other = _unique_words(
        row.collection, row.inventory_number, row.identifier, row.series, row.publisher, row.place,
        *(row.subjects or ()),
    )


def _unique_words(*values: str | None) -> str:
    seen: dict[str, None] = {}
    for value in values:
        for word in index_text(value).split():
            seen.setdefault(word, None)
    return " ".join(seen)


def _item_index_text(session: Session, item_id: int) -> str:
    """An item's pages in the index's form (from the stored page texts)."""
    rows = session.execute(
        select(PageRow.original_text, PageRow.latin_text).where(PageRow.item_id == item_id).order_by(PageRow.seq)
    )
    return PAGE_SEPARATOR.join(page_index_text(original, latin) for original, latin in rows)


def _index_words(row: ItemRow) -> set[str]:
    words: set[str] = set()
    for value in (row.search_title, row.search_authors, row.search_other, row.text_search):
        words.update((value or "").split())
    return words


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


def _public(columns: Any = ItemRow) -> ColumnElement[bool]:
    """Shown to readers: the SQL form of ``CatalogItem.public`` (on ``items``, or the same columns of ``columns``)."""
    return and_(columns.status == "available", columns.review_state == ReviewState.PUBLISHED.value)


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
