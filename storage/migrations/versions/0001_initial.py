"""The catalog as first released: batches, items, files, pages.

Catalogs created before migrations existed are at exactly this revision
(the catalog stamps them), so this must not change.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("items_done", sa.Integer(), nullable=False),
        sa.Column("items_failed", sa.Integer(), nullable=False),
    )
    op.create_index("ix_batches_name", "batches", ["name"])
    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("identifier", sa.String(128), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("title_latin", sa.Text(), nullable=True),
        sa.Column("authors", sa.JSON(), nullable=False),
        sa.Column("authors_latin", sa.JSON(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("script", sa.String(8), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("inventory_number", sa.String(128), nullable=True),
        sa.Column("collection", sa.String(255), nullable=True),
        sa.Column("page_count", sa.Integer(), nullable=False),
        sa.Column("mean_ocr_confidence", sa.Float(), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("pdf_key", sa.Text(), nullable=True),
        sa.Column("manifest_key", sa.Text(), nullable=False),
        sa.Column("store", sa.Text(), nullable=False),
        sa.Column("batch", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_items_identifier", "items", ["identifier"], unique=True)
    op.create_index("ix_items_year", "items", ["year"])
    op.create_index("ix_items_kind", "items", ["kind"])
    op.create_index("ix_items_collection", "items", ["collection"])
    op.create_index("ix_items_status", "items", ["status"])
    op.create_table(
        "files",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(128), nullable=False),
        sa.UniqueConstraint("item_id", "key", name="uq_files_item_key"),
    )
    op.create_index("ix_files_item_id", "files", ["item_id"])
    op.create_table(
        "pages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("original_text", sa.Text(), nullable=False),
        sa.Column("latin_text", sa.Text(), nullable=False),
        sa.Column("mean_confidence", sa.Float(), nullable=True),
        sa.Column("skew_degrees", sa.Float(), nullable=True),
        sa.UniqueConstraint("item_id", "seq", name="uq_pages_item_seq"),
    )
    op.create_index("ix_pages_item_id", "pages", ["item_id"])


def downgrade() -> None:
    for table in ("pages", "files", "items", "batches"):
        op.drop_table(table)
