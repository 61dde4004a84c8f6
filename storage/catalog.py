"""The e-library catalog: items, their stored files and page texts.

SQLAlchemy, so the same code runs on SQLite (the default, one file) and on
PostgreSQL (``postgresql+psycopg://...``). Registration is one transaction
keyed by the item's identifier: registering again updates the item in
place, so a re-run never duplicates records.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from digitize.errors import CatalogError

__all__ = ["Catalog", "CatalogFile", "CatalogPage", "Registration", "RegisteredItem"]

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(timezone.utc)


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


@dataclass(frozen=True)
class Registration:
    identifier: str
    record: dict  # the item record (pipeline.records.item_record)
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
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = create_engine(url, future=True, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise CatalogError(f"catalog URL is not usable ({type(exc).__name__}: {exc})") from exc
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if create:
            try:
                Base.metadata.create_all(self.engine)
            except SQLAlchemyError as exc:
                raise CatalogError(f"cannot open the catalog at {self.engine.url!r}: {exc}") from exc

    def close(self) -> None:
        self.engine.dispose()

    def register(self, registration: Registration) -> RegisteredItem:
        """Insert or update an item with its files and pages, atomically."""
        record = registration.record
        try:
            with self._sessions.begin() as session:
                row = session.scalar(select(ItemRow).where(ItemRow.identifier == registration.identifier))
                created = row is None
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
                for count, page in enumerate(_page_rows(row.id, registration.pages), start=1):
                    session.add(page)
                    if count % 200 == 0:
                        session.flush()  # keeps memory flat for long books
        except SQLAlchemyError as exc:
            raise CatalogError(f"registering {registration.identifier} failed: {exc}") from exc
        return RegisteredItem(registration.identifier, created, len(registration.files), len(registration.pages))

    def withdraw(self, identifier: str) -> bool:
        """Hide an item from readers; its record is kept."""
        with self._sessions.begin() as session:
            row = session.scalar(select(ItemRow).where(ItemRow.identifier == identifier))
            if row is None:
                return False
            row.status = "withdrawn"
            row.updated_at = _now()
            return True

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

    def identifiers(self, *, include_withdrawn: bool = False) -> list[str]:
        query = select(ItemRow.identifier).order_by(ItemRow.identifier)
        if not include_withdrawn:
            query = query.where(ItemRow.status == "available")
        with self._sessions() as session:
            return list(session.scalars(query))

    def count(self, table: str) -> int:
        model = {"items": ItemRow, "files": FileRow, "pages": PageRow, "batches": BatchRow}[table]
        with self._sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

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


def _page_rows(item_pk: int, pages: Iterable[CatalogPage]) -> Iterator[PageRow]:
    for page in pages:
        yield PageRow(
            item_id=item_pk,
            seq=page.seq,
            original_text=page.text_path.read_text(encoding="utf-8") if page.text_path else "",
            latin_text=page.latin_path.read_text(encoding="utf-8") if page.latin_path else "",
            mean_confidence=page.mean_confidence,
            skew_degrees=page.skew_degrees,
        )


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
        "registered_at": row.registered_at,
        "updated_at": row.updated_at,
    }


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
