"""PostgreSQL: a narrow table of what a search ranks and lists, kept in step with ``items`` (issue 15).

``fulltext_listing`` (``storage.fulltext.LISTING``): per item the columns a
search filters, orders and facets by, the access columns and a copy of the
metadata's ``tsvector``, with its GIN index, written by a trigger on
``items`` in the writer's transaction. The items whose metadata holds a
search's words are ranked from it, not from the wide ``items`` rows
(bench/search_latency.py). Filled here from ``items``; ``digitize reindex``
makes it again. Nothing on SQLite (its covering index does this work).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

from digitize.storage import fulltext

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Idempotent: a catalog made at this release has the table from 0007's ``fulltext.create`` already.
    fulltext.create_listing(op.get_bind())
    fulltext.fill_listing(op.get_bind())


def downgrade() -> None:
    fulltext.drop_listing(op.get_bind())
