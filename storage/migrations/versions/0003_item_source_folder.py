"""The folder an item was registered from.

Identity is decided by content (the masters' SHA-256, kept in ``files``)
or by the very same source folder (a page rescanned in place). The batch
name alone cannot tell two items apart (two batch folders called
``scans``), and the ``batches`` table does not say which item came from
which batch row, so the item keeps its own absolute source folder. Items
registered before this revision have none: for them only the masters
decide, and a rescan must be confirmed by ``runs.replace_items`` (which
keeps the old masters as a version).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("source_folder", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("source_folder")
