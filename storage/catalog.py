"""The e-library catalog: items, their stored files and page texts.

SQLAlchemy, so the same code runs on SQLite (the default, one file) and on
PostgreSQL (``postgresql+psycopg://...``). Registration is one transaction
keyed by the item's identifier: registering again updates the item in
place, so a re-run never duplicates records.

The schema is created and upgraded by Alembic (``storage/migrations``) when
a catalog is opened, the same migrations on SQLite and PostgreSQL.

Search works in both scripts: titles, authors and page texts are kept a
second time in a *search form* (``fold``: transliterated to Latin, lower
case, the four Azerbaijani i's made one), and queries are folded the same
way, so ``Азәрбајҹан`` and ``azərbaycan`` find the same items.
"""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    case,
    create_engine,
    delete,
    event,
    func,
    inspect,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from digitize.errors import CatalogError

__all__ = [
    "Catalog",
    "CatalogEvent",
    "CatalogFile",
    "CatalogPage",
    "Registration",
    "RegisteredItem",
    "SearchQuery",
    "SearchResult",
    "fold",
]

# The newest Alembic revision in storage/migrations/versions (a test checks).
SCHEMA_HEAD = "0002"
# The revision a catalog made by ``create_all`` (before migrations) is at.
_LEGACY_REVISION = "0001"

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(timezone.utc)


_I_FOLD = str.maketrans({"İ": "i", "I": "i", "ı": "i"})


def fold(value: str | None) -> str:
    """The search form of a text: Latin script, lower case, one kind of i.

    Cyrillic is transliterated (Latin passes through unchanged), then
    Azerbaijani dotted/dotless I/i are folded together (``str.lower`` knows
    nothing of Turkic casing, and OCR and readers mix them up), whitespace
    is collapsed.
    """
    if not value:
        return ""
    from digitize.transliteration import transliterate_text

    latin = transliterate_text(unicodedata.normalize("NFC", value))
    return " ".join(latin.translate(_I_FOLD).lower().split())


class Base(DeclarativeBase):
    pass


class BatchRow(Base):
    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    folder: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    items_done: Mapped[int] = mapped_column(Integer, default=0)
    items_failed: Mapped[int] = mapped_column(Integer, default=0)


class ItemRow(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(128), unique=True, index=True)
    title: Mapped[str] = mapped_column(Text)
    title_latin: Mapped[str | None] = mapped_column(Text, nullable=True)
    authors: Mapped[list] = mapped_column(JSON, default=list)
    authors_latin: Mapped[list] = mapped_column(JSON, default=list)
    year: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    script: Mapped[str | None] = mapped_column(String(8), nullable=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    inventory_number: Mapped[str | None] = mapped_column(String(128), nullable=True)
    collection: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    page_count: Mapped[int] = mapped_column(Integer, default=0)
    mean_ocr_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    pdf_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    manifest_key: Mapped[str] = mapped_column(Text)
    store: Mapped[str] = mapped_column(Text)
    batch: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="available", index=True)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    # Search forms (see ``fold``): title, authors, collection and identifiers;
    # and the whole text of every page.
    meta_search: Mapped[str | None] = mapped_column(Text, nullable=True)
    text_search: Mapped[str | None] = mapped_column(Text, nullable=True, deferred=True)  # large: load on demand
    # Hash of what was registered: an identical re-registration changes nothing
    # (so harvesters do not fetch unchanged records again).
    registration_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)

    files: Mapped[list["FileRow"]] = relationship(
        back_populates="item", cascade="all, delete-orphan", order_by="FileRow.key"
    )


class FileRow(Base):
    __tablename__ = "files"
    __table_args__ = (UniqueConstraint("item_id", "key", name="uq_files_item_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(128))

    item: Mapped[ItemRow] = relationship(back_populates="files")


class PageRow(Base):
    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("item_id", "seq", name="uq_pages_item_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    original_text: Mapped[str] = mapped_column(Text, default="")
    latin_text: Mapped[str] = mapped_column(Text, default="")
    mean_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    skew_degrees: Mapped[float | None] = mapped_column(Float, nullable=True)


class EventRow(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # registered | updated | withdrawn
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    batch: Mapped[str | None] = mapped_column(String(255), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


@dataclass(frozen=True)
class CatalogEvent:
    identifier: str
    kind: str
    at: datetime
    batch: str | None
    detail: str | None


@dataclass(frozen=True)
class SearchQuery:
    """What a reader asks for; every field is optional and they combine with AND.

    ``text`` matches title, authors, collection, identifiers and the full text;
    ``title`` and ``author`` match only those fields. Words match anywhere
    (substrings), in either script.
    """

    text: str = ""
    title: str = ""
    author: str = ""
    year: int | None = None
    year_from: int | None = None
    year_to: int | None = None
    kind: str | None = None
    collection: str | None = None
    include_withdrawn: bool = False
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True)
class SearchResult:
    total: int
    items: list[dict]
    query: SearchQuery


@dataclass(frozen=True)
class CatalogFile:
    key: str
    role: str
    size: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class CatalogPage:
    """A page's texts, read from files only when registration writes them."""

    seq: int
    text_path: Path | None
    latin_path: Path | None
    mean_confidence: float | None
    skew_degrees: float | None
    # Texts given directly (the web API's registration) instead of by path.
    original_text: str | None = None
    latin_text: str | None = None


@dataclass(frozen=True)
class Registration:
    identifier: str
    record: dict  # the item record (archive.records.item_record)
    files: tuple[CatalogFile, ...]
    pages: tuple[CatalogPage, ...]
    manifest_key: str
    pdf_key: str | None
    store: str  # where the files are, e.g. "s3://bucket/prefix" (no secrets)
    batch: str | None = None


@dataclass(frozen=True)
class RegisteredItem:
    identifier: str
    created: bool  # False when an existing record was updated
    file_count: int
    page_count: int


class Catalog:
    """Access to the catalog database; one instance per process."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self._sqlite_file: Path | None = None
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            self._sqlite_file = Path(url.removeprefix("sqlite:///")).expanduser()
            self._sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = create_engine(url, future=True, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise CatalogError(f"catalog URL is not usable ({type(exc).__name__}: {exc})") from exc
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if create:
            try:
                self._migrate()
                self._fill_search_forms()
            except SQLAlchemyError as exc:
                raise CatalogError(
                    f"cannot open the catalog at {self.engine.url.render_as_string(hide_password=True)}: {exc}"
                ) from exc

    # -- schema ------------------------------------------------------------

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None: no schema yet)."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def _migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic ``upgrade head``).

        The common case, a catalog already at head, costs one query and does
        not load Alembic. A catalog created before migrations existed (by
        ``create_all``) is stamped at the first revision, then upgraded.
        """
        if self.schema_revision() == SCHEMA_HEAD:
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
        with self._migration_lock(), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(7351260)"))  # one migrating process at a time
            inspector = inspect(conn)
            config.attributes["connection"] = conn
            if not inspector.has_table("alembic_version") and inspector.has_table("items"):
                log.info("catalog made before migrations: stamping revision %s", _LEGACY_REVISION)
                command.stamp(config, _LEGACY_REVISION)
            command.upgrade(config, "head")

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """Serialise first-time migrations of one SQLite file across processes."""
        if self._sqlite_file is None:
            yield
            return
        import fcntl

        lock_path = self._sqlite_file.with_name(self._sqlite_file.name + ".migrate-lock")
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

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
                if row is not None and row.registration_hash == digest and row.status == "available":
                    return RegisteredItem(registration.identifier, False, len(registration.files), len(texts))
                if row is None:
                    row = ItemRow(identifier=registration.identifier, registered_at=_now())
                    session.add(row)
                row.title = record["title"]
                row.title_latin = record.get("title_latin")
                row.authors = list(record.get("authors", []))
                row.authors_latin = list(record.get("authors_latin", []))
                row.year = record.get("year")
                row.language = record.get("language")
                row.script = record.get("script")
                row.kind = record.get("kind", "text")
                row.inventory_number = record.get("inventory_number")
                row.collection = record.get("collection")
                row.page_count = record.get("page_count", len(registration.pages))
                row.mean_ocr_confidence = record.get("mean_ocr_confidence")
                row.content_hash = record.get("content_hash", "")
                row.pdf_key = registration.pdf_key
                row.manifest_key = registration.manifest_key
                row.store = registration.store
                row.batch = registration.batch
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
                            item_id=row.id, key=f.key, role=f.role, size=f.size, sha256=f.sha256, content_type=f.content_type
                        )
                    )
                for count, (page, (original, latin)) in enumerate(zip(registration.pages, texts), start=1):
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
                session.add(
                    EventRow(item_id=row.id, kind="registered" if created else "updated", batch=registration.batch)
                )
        except SQLAlchemyError as exc:
            raise CatalogError(f"registering {registration.identifier} failed: {exc}") from exc
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

    # -- reading -----------------------------------------------------------

    def get(self, identifier: str) -> dict | None:
        with self._sessions() as session:
            row = session.scalar(select(ItemRow).where(ItemRow.identifier == identifier))
            return _item_dict(row) if row else None

    def files(self, identifier: str) -> list[CatalogFile]:
        with self._sessions() as session:
            rows = session.scalars(
                select(FileRow).join(ItemRow).where(ItemRow.identifier == identifier).order_by(FileRow.key)
            )
            return [CatalogFile(r.key, r.role, r.size, r.sha256, r.content_type) for r in rows]

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
            query = query.where(ItemRow.status == "available")
        with self._sessions() as session:
            return list(session.scalars(query))

    def count(self, table: str) -> int:
        model = {"items": ItemRow, "files": FileRow, "pages": PageRow, "batches": BatchRow, "events": EventRow}[table]
        with self._sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    def search(self, query: SearchQuery | None = None, **fields) -> SearchResult:
        """Items matching ``query`` (or the same fields as keywords), best first.

        Items whose title, authors or collection hold every word come before
        items that match only in the full text; then by title. Withdrawn
        items are left out unless ``include_withdrawn``.
        """
        query = query or SearchQuery(**fields)
        conditions = []
        words = fold(query.text).split()
        meta_hits = []
        for word in words:
            pattern = _like_pattern(word)
            meta_hit = ItemRow.meta_search.like(pattern, escape="\\")
            meta_hits.append(meta_hit)
            conditions.append(or_(meta_hit, ItemRow.text_search.like(pattern, escape="\\")))
        for field, value in ((_TITLE, query.title), (_AUTHORS, query.author)):
            for word in fold(value).split():
                conditions.append(ItemRow.meta_search.like(_field_pattern(word, field), escape="\\"))
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
            conditions.append(ItemRow.status == "available")
        where = and_(*conditions) if conditions else true()
        order = [ItemRow.meta_search, ItemRow.identifier]
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
                    return SearchResult(int(rows[0][1]), [_item_dict(row) for row, _ in rows], query)
            total = int(session.scalar(select(func.count()).select_from(ItemRow).where(where)) or 0)
            rows = session.scalars(page) if total else []
            return SearchResult(total, [_item_dict(row) for row in rows], query)

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
            query = query.where(ItemRow.status == "available")
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
    ) -> tuple[int, list[dict]]:
        """Items (withdrawn ones too) changed in ``[since, before)``, oldest change first.

        Returns how many there are in all and one page of item dicts, each
        with a ``position`` (its change time and row id): pass the last one
        as ``after`` to get the next page, which stays right while items
        change (an offset would skip one when an earlier item moves).
        """
        conditions = []
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
            return total, [{**_item_dict(row), "position": (_utc(row.updated_at), row.id)} for row in rows]

    # -- batches -----------------------------------------------------------

    def start_batch(self, name: str, folder: str) -> int:
        with self._sessions.begin() as session:
            row = BatchRow(name=name, folder=folder)
            session.add(row)
            session.flush()
            return row.id

    def finish_batch(self, batch_id: int, done: int, failed: int) -> None:
        with self._sessions.begin() as session:
            row = session.get(BatchRow, batch_id)
            if row is not None:
                row.finished_at = _now()
                row.items_done = done
                row.items_failed = failed


def _like_pattern(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# ``meta_search`` holds these fields in this order, joined by _FIELD_SEP.
_META_FIELDS = ("title", "authors", "collection", "inventory_number", "identifier")
_TITLE, _AUTHORS = 0, 1
_FIELD_SEP = "\x1f"  # str.split() treats it as whitespace, so ``fold`` never produces it


def _field_pattern(word: str, field: int) -> str:
    """A LIKE pattern matching ``word`` inside one field of ``meta_search``:
    exactly ``field`` separators before it and the rest after it."""
    before = f"%{_FIELD_SEP}" * field
    after = f"%{_FIELD_SEP}" * (len(_META_FIELDS) - 1 - field)
    return f"{before}{_like_pattern(word)}{after}%"


def _meta_search(row: ItemRow) -> str:
    """Title, authors, collection and identifiers in search form.

    Fields are separated by a character ``fold`` never produces, so a
    phrase cannot match across two fields and ``_field_pattern`` can
    search one field.
    """
    parts = [
        fold(row.title),
        fold(" ; ".join(row.authors or [])),
        fold(row.collection),
        fold(row.inventory_number),
        row.identifier.lower(),
    ]
    return _FIELD_SEP.join(parts)


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
    digest.update(json.dumps(registration.record, sort_keys=True, default=str, ensure_ascii=False).encode())
    for f in registration.files:
        digest.update(f"\0{f.key}\0{f.role}\0{f.size}\0{f.sha256}\0{f.content_type}".encode())
    for page, (original, latin) in zip(registration.pages, texts):
        digest.update(f"\0{page.seq}\0{page.mean_confidence}\0{page.skew_degrees}\0".encode())
        digest.update(original.encode())
        digest.update(b"\0")
        digest.update(latin.encode())
    for value in (registration.manifest_key, registration.pdf_key, registration.store, registration.batch):
        digest.update(f"\0{value}".encode())
    return digest.hexdigest()


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _item_dict(row: ItemRow) -> dict:
    return {
        "identifier": row.identifier,
        "title": row.title,
        "title_latin": row.title_latin,
        "authors": row.authors,
        "authors_latin": row.authors_latin,
        "year": row.year,
        "language": row.language,
        "script": row.script,
        "kind": row.kind,
        "inventory_number": row.inventory_number,
        "collection": row.collection,
        "page_count": row.page_count,
        "mean_ocr_confidence": row.mean_ocr_confidence,
        "content_hash": row.content_hash,
        "pdf_key": row.pdf_key,
        "manifest_key": row.manifest_key,
        "store": row.store,
        "batch": row.batch,
        "status": row.status,
        "registered_at": _utc(row.registered_at),
        "updated_at": _utc(row.updated_at),
    }


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
