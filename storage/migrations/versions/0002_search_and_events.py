"""Search forms on items (both scripts) and the events log.

The new columns start empty; the catalog fills them when it opens
(``Catalog._fill_search_forms``), since that needs the transliteration.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("meta_search", sa.Text(), nullable=True))
        batch.add_column(sa.Column("text_search", sa.Text(), nullable=True))
        batch.add_column(sa.Column("registration_hash", sa.String(64), nullable=True))
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("batch", sa.String(255), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_events_item_id", "events", ["item_id"])
    op.create_index("ix_events_at", "events", ["at"])


def downgrade() -> None:
    op.drop_table("events")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("registration_hash")
        batch.drop_column("text_search")
        batch.drop_column("meta_search")
