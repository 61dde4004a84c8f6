"""The catalog's tables (SQLAlchemy declarative models).

The schema is created and upgraded by Alembic (``storage/migrations``),
which reads ``Base.metadata`` from here; ``storage.catalog.Catalog`` is
the only code that queries these rows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import JSON, Date, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Base", "BatchRow", "ItemRow", "FileRow", "PageRow", "EventRow", "UserRow", "StaffSessionRow", "now"]


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class BatchRow(Base):
    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    folder: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    items_done: Mapped[int] = mapped_column(Integer, default=0)
    items_failed: Mapped[int] = mapped_column(Integer, default=0)


class ItemRow(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(128), unique=True, index=True)
    title: Mapped[str] = mapped_column(Text)
    title_latin: Mapped[str | None] = mapped_column(Text, nullable=True)
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    authors_latin: Mapped[list[str]] = mapped_column(JSON, default=list)
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
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    # Search forms (see ``storage.search.fold``): title, authors, collection and
    # identifiers; and the whole text of every page.
    meta_search: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The full-text index's form (revision 0007, ``storage.search.plain``: accent-free, both
    # scripts), which ``storage.fulltext`` indexes: title, authors, the other identifying
    # fields, and every page's text (pages separated by ``search.PAGE_SEPARATOR``).
    search_title: Mapped[str | None] = mapped_column(Text, nullable=True)
    search_authors: Mapped[str | None] = mapped_column(Text, nullable=True)
    search_other: Mapped[str | None] = mapped_column(Text, nullable=True)
    text_search: Mapped[str | None] = mapped_column(Text, nullable=True, deferred=True)  # large: load on demand
    # The title's ICU sort key for Azerbaijani (``search.title_sort_key``): Ə after E, not last.
    title_sort: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, index=True)
    # Hash of what was registered: an identical re-registration changes nothing
    # (so harvesters do not fetch unchanged records again).
    registration_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The item folder it was last registered from (absolute): a rescan in that
    # folder is the same item. None for items registered before revision 0003.
    source_folder: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Review (revision 0004): processed | in review | published | rejected;
    # only published items are shown to readers. Who decided last, when, why.
    review_state: Mapped[str] = mapped_column(String(16), default="published", server_default="published", index=True)
    review_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Rights, access and the library record (revision 0005): who may read the
    # files (public | reading-room | staff), until when only metadata is shown.
    rights: Mapped[str | None] = mapped_column(Text, nullable=True)
    access: Mapped[str] = mapped_column(String(16), default="public", server_default="public")
    embargo_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    publisher: Mapped[str | None] = mapped_column(Text, nullable=True)
    place: Mapped[str | None] = mapped_column(Text, nullable=True)
    edition: Mapped[str | None] = mapped_column(Text, nullable=True)
    series: Mapped[str | None] = mapped_column(Text, nullable=True)
    volume: Mapped[str | None] = mapped_column(String(64), nullable=True)
    subjects: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    notes: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    parallel_titles: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)

    files: Mapped[list[FileRow]] = relationship(
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
    kind: Mapped[str] = mapped_column(String(16))  # registered | updated | replaced | withdrawn
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, index=True)
    batch: Mapped[str | None] = mapped_column(String(255), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


class UserRow(Base):
    """A staff account (revision 0006); disabled, never deleted."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    display_name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))  # reviewer | admin
    password_hash: Mapped[str] = mapped_column(Text)  # Argon2id, never the password
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StaffSessionRow(Base):
    """A signed-in staff session, kept by the SHA-256 of its token (revision 0006)."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
