"""Bringing a catalog database to the newest schema (Alembic ``upgrade head``).

The same migrations (``storage/migrations``) run on SQLite and PostgreSQL.
The common case, a catalog already at head, costs one query and does not
load Alembic.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, inspect, text

from digitize.errors import CatalogError

__all__ = ["SCHEMA_HEAD", "migrate", "schema_revision"]

# The newest Alembic revision in storage/migrations/versions (a test checks).
SCHEMA_HEAD = "0008"
# The revision a catalog made by ``create_all`` (before migrations) is at.
_LEGACY_REVISION = "0001"

log = logging.getLogger(__name__)


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None: no schema yet)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return None if revision is None else str(revision)


def migrate(engine: Engine, sqlite_file: Path | None) -> None:
    """Bring the schema to the newest revision.

    A catalog created before migrations existed (by ``create_all``) is
    stamped at the first revision, then upgraded. ``sqlite_file`` (None for
    other databases) is locked so that two processes opening a new SQLite
    catalog at once do not both migrate it.
    """
    revision = schema_revision(engine)
    if revision == SCHEMA_HEAD:
        return
    if revision is not None and revision.isdigit() and int(revision) > int(SCHEMA_HEAD):
        raise CatalogError(
            f"the catalog's schema is at revision {revision}, newer than this digitize knows ({SCHEMA_HEAD}): "
            "a newer digitize migrated it; run that version, or point catalog.url (DIGITIZE_CATALOG__URL) "
            "at another catalog"
        )
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    with _migration_lock(sqlite_file), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7351260)"))  # one migrating process at a time
        inspector = inspect(conn)
        config.attributes["connection"] = conn
        if not inspector.has_table("alembic_version") and inspector.has_table("items"):
            log.info("catalog made before migrations: stamping revision %s", _LEGACY_REVISION)
            command.stamp(config, _LEGACY_REVISION)
        command.upgrade(config, "head")


@contextmanager
def _migration_lock(sqlite_file: Path | None) -> Iterator[None]:
    """Serialise first-time migrations of one SQLite file across processes."""
    if sqlite_file is None:
        yield
        return
    import fcntl

    lock_path = sqlite_file.with_name(sqlite_file.name + ".migrate-lock")
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
