"""Review states of items (issue 16).

An item is ``processed`` → ``in review`` → ``published``, or ``rejected``;
only published items are shown to readers (``CatalogItem.public``). Items
registered before this revision were public, so they become ``published``
(the server default fills them): nothing already public disappears.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(
            sa.Column("review_state", sa.String(16), nullable=False, server_default="published")
        )
        batch.add_column(sa.Column("review_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("reviewed_by", sa.String(255), nullable=True))
        batch.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_items_review_state", ["review_state"])


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_index("ix_items_review_state")
        batch.drop_column("reviewed_at")
        batch.drop_column("reviewed_by")
        batch.drop_column("review_reason")
        batch.drop_column("review_state")
