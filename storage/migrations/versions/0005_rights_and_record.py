"""Rights, access and bibliographic fields of items (issue 16).

An item may carry a rights statement, an access level (``public``,
``reading-room``, ``staff``; existing items are ``public``, as they were
served) and an embargo date, and the fields a library record needs:
publisher, place, edition, series and volume, subjects, notes and parallel
titles. All are empty for items registered before this revision, which is
what their ``item.toml`` said.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TEXT_COLUMNS = ("rights", "publisher", "place", "edition", "series")
_LIST_COLUMNS = ("subjects", "notes", "parallel_titles")


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        for name in _TEXT_COLUMNS:
            batch.add_column(sa.Column(name, sa.Text(), nullable=True))
        batch.add_column(sa.Column("access", sa.String(16), nullable=False, server_default="public"))
        batch.add_column(sa.Column("embargo_until", sa.Date(), nullable=True))
        batch.add_column(sa.Column("volume", sa.String(64), nullable=True))
        for name in _LIST_COLUMNS:
            batch.add_column(sa.Column(name, sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        for name in (*_TEXT_COLUMNS, "access", "embargo_until", "volume", *_LIST_COLUMNS):
            batch.drop_column(name)
