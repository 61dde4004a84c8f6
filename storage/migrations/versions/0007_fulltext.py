"""The full-text index (issue 15): SQLite FTS5 or PostgreSQL tsvector, accent-free, both scripts.

New ``items`` columns hold what is indexed in the accent-free form
(``storage.search.plain``) and the title's Azerbaijani sort key;
``text_search`` changes form (plain words, pages separated), so it is
emptied here. The index's structures (``storage.fulltext``: an FTS5 table
with triggers on SQLite; the ``unaccent`` and ``pg_trgm`` extensions,
generated ``tsvector`` columns and GIN indexes on PostgreSQL) are made
empty; the catalog fills the new columns when it opens
(``Catalog._fill_search_forms``), which indexes every item, and
``digitize reindex`` rebuilds everything at any time.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from digitize.storage import fulltext

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("search_title", sa.Text(), nullable=True))
        batch.add_column(sa.Column("search_authors", sa.Text(), nullable=True))
        batch.add_column(sa.Column("search_other", sa.Text(), nullable=True))
        batch.add_column(sa.Column("title_sort", sa.LargeBinary(), nullable=True))
    op.create_index("ix_items_title_sort", "items", ["title_sort"])
    op.execute("UPDATE items SET text_search = NULL")
    fulltext.create(op.get_bind())
    fulltext.rebuild(op.get_bind())  # the rows as they are (empty forms), so the triggers' deletes find them


def downgrade() -> None:
    fulltext.drop(op.get_bind())
    op.drop_index("ix_items_title_sort", table_name="items")
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a batch copy of the table: copying ``items``
    # would drop it, and with foreign keys on its pages, files and events would go with it.
    for column in ("title_sort", "search_other", "search_authors", "search_title"):
        op.drop_column("items", column)
