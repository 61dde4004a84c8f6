"""Alembic environment for the catalog.

The catalog (``storage.catalog.Catalog``) runs the migrations itself when it
opens a database, handing over its connection in ``config.attributes``; the
``alembic`` command line works too, given ``-x url=...``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from digitize.errors import ConfigError
from digitize.storage import fulltext
from digitize.storage.catalog import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        include_name=fulltext.include_name,  # the full-text index's objects are made by hand (0007)
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # pragma: no cover - the command line
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise ConfigError("no database to migrate: give it as alembic -x url=... or sqlalchemy.url in alembic.ini")
    with create_engine(url).begin() as conn:
        _run(conn)
