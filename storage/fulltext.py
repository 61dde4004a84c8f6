"""The full-text index of the catalog: SQLite FTS5 or PostgreSQL ``tsvector``, behind one interface.

What is indexed is made in Python (``storage.search``): per item its title,
authors and other identifying fields, and the text of every page in both
scripts, all in the accent-free *plain* form (``şəki``, ``шәки`` and
``seki`` are one word), held in the ``items`` columns ``search_title``,
``search_authors``, ``search_other`` and ``text_search`` (pages separated by
``PAGE_SEPARATOR``). The engine only tokenizes those words, so both engines
find the same items; Python also makes every query (``query_terms``), so no
query syntax ever reaches an engine.

- SQLite: an FTS5 table ``fulltext_items`` over those columns (external
  content: the text is kept once, in ``items``) with triggers that keep it
  current on every insert, change and delete of an item in the same
  transaction; ranked by ``bm25`` (title weighs most).
- PostgreSQL: the extensions ``unaccent`` (a text search configuration
  ``fulltext_plain`` = ``simple`` + ``unaccent``, a second net under the
  Python folding) and ``pg_trgm`` (trigram index of the index's words, for
  "did you mean" when a word is misspelt); two generated ``tsvector``
  columns on ``items`` (``fulltext_meta``: title A, authors B, the rest C;
  ``fulltext_vector``: those and the page text, stripped of positions so a
  long book stays under PostgreSQL's 1 MB per ``tsvector``) with GIN
  indexes; ranked by ``ts_rank``. A narrow table ``fulltext_listing`` (one
  row of about 350 bytes per item, kept in step with ``items`` by a trigger
  in the writer's transaction) holds what a search ranks, filters, orders and
  facets the items whose metadata holds its words by, with a GIN index of
  its copy of ``fulltext_meta``: a common surname on 11,000 items is then
  ranked from 4,000 pages of it, not from 7,300 of ``items`` (migration 0008;
  measured: bench/search_latency.py).

Objects named ``fulltext_*`` are made by migration 0007 and by ``rebuild``
(``digitize reindex``), not by the table models: ``include_name`` tells
Alembic's autogenerate to leave them alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import (
    BindParameter,
    Column,
    ColumnElement,
    Connection,
    Date,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    TextClause,
    TextualSelect,
    bindparam,
    func,
    literal_column,
    text,
)
from sqlalchemy.exc import SQLAlchemyError

from digitize.errors import CatalogError
from digitize.storage.search import Term

__all__ = [
    "PHRASE_SCAN", "PREFIX", "FullTextMatch", "FullTextQuery", "create", "drop", "ensure", "include_name",
    "LISTING", "create_listing", "drop_listing", "fill_listing", "index_scans", "match", "prepare", "rebuild",
    "suggest",
]

log = logging.getLogger(__name__)

# Every object of the index is named so (tables, triggers, columns, indexes, the text search configuration).
PREFIX = "fulltext_"

Field = Literal["any", "title", "authors"]

# PostgreSQL: most items whose text is read for a quoted phrase (see ``FullTextQuery.bounded``).
PHRASE_SCAN = 200

_SQLITE_COLUMNS = ("search_title", "search_authors", "search_other", "text_search")
# bm25 weights of those columns: a word in the title counts most, in the page text least.
_SQLITE_WEIGHTS = "10.0, 5.0, 2.0, 1.0"

_SQLITE_CREATE = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS fulltext_items USING fts5("
    + ", ".join(_SQLITE_COLUMNS)
    + ", content='items', content_rowid='id', tokenize='unicode61', prefix='3')",
    # External content: the index follows ``items`` through these triggers, in the writer's transaction.
    "CREATE TRIGGER IF NOT EXISTS fulltext_items_insert AFTER INSERT ON items BEGIN "
    "INSERT INTO fulltext_items(rowid, search_title, search_authors, search_other, text_search) "
    "VALUES (new.id, new.search_title, new.search_authors, new.search_other, new.text_search); END",
    "CREATE TRIGGER IF NOT EXISTS fulltext_items_delete AFTER DELETE ON items BEGIN "
    "INSERT INTO fulltext_items(fulltext_items, rowid, search_title, search_authors, search_other, text_search) "
    "VALUES ('delete', old.id, old.search_title, old.search_authors, old.search_other, old.text_search); END",
    "CREATE TRIGGER IF NOT EXISTS fulltext_items_update "
    "AFTER UPDATE OF search_title, search_authors, search_other, text_search ON items BEGIN "
    "INSERT INTO fulltext_items(fulltext_items, rowid, search_title, search_authors, search_other, text_search) "
    "VALUES ('delete', old.id, old.search_title, old.search_authors, old.search_other, old.text_search); "
    "INSERT INTO fulltext_items(rowid, search_title, search_authors, search_other, text_search) "
    "VALUES (new.id, new.search_title, new.search_authors, new.search_other, new.text_search); END",
]
# The metadata alone (title, authors, the rest) in a small index of its own: which items hold every
# word in their metadata (they rank first, and restricted items are found by them) is then asked of
# it, not of the page text's long lists of the common words.
_SQLITE_META_COLUMNS = ("search_title", "search_authors", "search_other")
_SQLITE_META_WEIGHTS = "10.0, 5.0, 2.0"
_SQLITE_CREATE += [
    "CREATE VIRTUAL TABLE IF NOT EXISTS fulltext_meta USING fts5("
    + ", ".join(_SQLITE_META_COLUMNS)
    + ", content='items', content_rowid='id', tokenize='unicode61', prefix='3')",
    "CREATE TRIGGER IF NOT EXISTS fulltext_meta_insert AFTER INSERT ON items BEGIN "
    "INSERT INTO fulltext_meta(rowid, search_title, search_authors, search_other) "
    "VALUES (new.id, new.search_title, new.search_authors, new.search_other); END",
    "CREATE TRIGGER IF NOT EXISTS fulltext_meta_delete AFTER DELETE ON items BEGIN "
    "INSERT INTO fulltext_meta(fulltext_meta, rowid, search_title, search_authors, search_other) "
    "VALUES ('delete', old.id, old.search_title, old.search_authors, old.search_other); END",
    "CREATE TRIGGER IF NOT EXISTS fulltext_meta_update "
    "AFTER UPDATE OF search_title, search_authors, search_other ON items BEGIN "
    "INSERT INTO fulltext_meta(fulltext_meta, rowid, search_title, search_authors, search_other) "
    "VALUES ('delete', old.id, old.search_title, old.search_authors, old.search_other); "
    "INSERT INTO fulltext_meta(rowid, search_title, search_authors, search_other) "
    "VALUES (new.id, new.search_title, new.search_authors, new.search_other); END",
    # What a search reads of each item it finds, in an index: ``items`` rows hold the page text
    # (``text_search``) before these columns, so reading them from the table follows its overflow pages.
    "CREATE INDEX IF NOT EXISTS fulltext_items_cover ON items (id, status, review_state, access, embargo_until, "
    "year, kind, collection, language, script, title_sort, identifier)",
]
_SQLITE_DROP = [
    "DROP INDEX IF EXISTS fulltext_items_cover",
    "DROP TRIGGER IF EXISTS fulltext_meta_insert",
    "DROP TRIGGER IF EXISTS fulltext_meta_delete",
    "DROP TRIGGER IF EXISTS fulltext_meta_update",
    "DROP TABLE IF EXISTS fulltext_meta",
    "DROP TRIGGER IF EXISTS fulltext_items_insert",
    "DROP TRIGGER IF EXISTS fulltext_items_delete",
    "DROP TRIGGER IF EXISTS fulltext_items_update",
    "DROP TABLE IF EXISTS fulltext_items",
]


def _pg_vector(*columns: tuple[str, str]) -> str:
    return " || ".join(
        f"setweight(to_tsvector('fulltext_plain'::regconfig, coalesce({column}, '')), '{weight}')"
        for column, weight in columns
    )


_PG_META = _pg_vector(("search_title", "A"), ("search_authors", "B"), ("search_other", "C"))
_PG_EXTENSIONS = ["CREATE EXTENSION IF NOT EXISTS unaccent", "CREATE EXTENSION IF NOT EXISTS pg_trgm"]
_PG_CREATE = [
    "CREATE TEXT SEARCH CONFIGURATION fulltext_plain (COPY = simple)",
    "ALTER TEXT SEARCH CONFIGURATION fulltext_plain ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple",
    f"ALTER TABLE items ADD COLUMN fulltext_meta tsvector GENERATED ALWAYS AS ({_PG_META}) STORED",
    "ALTER TABLE items ADD COLUMN fulltext_vector tsvector GENERATED ALWAYS AS "
    f"({_PG_META} || strip(to_tsvector('fulltext_plain'::regconfig, coalesce(text_search, '')))) STORED",
    "CREATE INDEX fulltext_items_vector ON items USING gin (fulltext_vector)",
    "CREATE INDEX fulltext_items_meta ON items USING gin (fulltext_meta)",
    # The index's words, for suggestions when a word finds nothing (trigram similarity).
    "CREATE TABLE fulltext_words (word text PRIMARY KEY)",
    "CREATE INDEX fulltext_words_trigram ON fulltext_words USING gin (word gin_trgm_ops)",
]
# PostgreSQL: what a search reads of every item whose metadata holds its words (``Catalog._pg_search``),
# narrow (no text, no record), so that ranking the 11,000 items of a common surname reads few pages.
# Its own MetaData: made by ``create_listing`` (migration 0008, ``rebuild``), not by ``create_all``.
LISTING = Table(
    "fulltext_listing", MetaData(),
    Column("id", Integer, primary_key=True),
    Column("year", Integer),
    Column("embargo_until", Date),
    Column("identifier", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("review_state", String(16), nullable=False),
    Column("access", String(16), nullable=False),
    Column("language", String(16)),
    Column("script", String(8)),
    Column("collection", String(255)),
    Column("title_sort", LargeBinary),
    # and ``fulltext_meta`` (tsvector), a copy of the generated column of ``items``, asked only in SQL text
)
_PG_LISTED = [column.name for column in LISTING.columns] + ["fulltext_meta"]
# An update of any of these (``fulltext_meta`` is generated from the ``search_*`` ones) rewrites the row.
_PG_LISTING_SOURCES = [name for name in _PG_LISTED if name not in ("id", "fulltext_meta")] + [
    "search_title", "search_authors", "search_other",
]
_PG_LISTING_INDEX = "CREATE INDEX IF NOT EXISTS fulltext_listing_meta ON fulltext_listing USING gin (fulltext_meta)"
_PG_LISTING_CREATE = [
    "CREATE TABLE IF NOT EXISTS fulltext_listing (id integer PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE, "
    "year integer, embargo_until date, identifier varchar(128) NOT NULL, kind varchar(16) NOT NULL, "
    "status varchar(16) NOT NULL, review_state varchar(16) NOT NULL, access varchar(16) NOT NULL, "
    "language varchar(16), script varchar(8), collection varchar(255), title_sort bytea, fulltext_meta tsvector)",
    _PG_LISTING_INDEX,
    # AFTER: the generated ``fulltext_meta`` of the new row is computed by then.
    "CREATE OR REPLACE FUNCTION fulltext_listing_write() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN "
    f"INSERT INTO fulltext_listing ({', '.join(_PG_LISTED)}) "
    f"VALUES ({', '.join('NEW.' + name for name in _PG_LISTED)}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{name} = EXCLUDED.{name}" for name in _PG_LISTED if name != "id")
    + "; RETURN NULL; END $body$",
    "DROP TRIGGER IF EXISTS fulltext_listing_write ON items",
    f"CREATE TRIGGER fulltext_listing_write AFTER INSERT OR UPDATE OF {', '.join(_PG_LISTING_SOURCES)} ON items "
    "FOR EACH ROW EXECUTE FUNCTION fulltext_listing_write()",
]
_PG_LISTING_DROP = [
    "DROP TRIGGER IF EXISTS fulltext_listing_write ON items",
    "DROP FUNCTION IF EXISTS fulltext_listing_write()",
    "DROP TABLE IF EXISTS fulltext_listing",
]
_PG_DROP = [
    *_PG_LISTING_DROP,
    "DROP TABLE IF EXISTS fulltext_words",
    "ALTER TABLE items DROP COLUMN IF EXISTS fulltext_vector",
    "ALTER TABLE items DROP COLUMN IF EXISTS fulltext_meta",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS fulltext_plain",
]


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's ``include_name`` hook: the index's objects are not the table models' business."""
    return not (name or "").startswith(PREFIX)


def create(conn: Connection) -> None:
    """Make the index's structures (empty) on the catalog's database; idempotent on SQLite.

    PostgreSQL: the extensions ``unaccent`` and ``pg_trgm`` (Debian package
    ``postgresql-contrib``, part of ``postgresql-15``) are created when
    missing; a role that may not create them gets a CatalogError saying
    what an administrator has to run once.
    """
    if conn.dialect.name == "sqlite":
        for statement in _SQLITE_CREATE:
            conn.execute(text(statement))
        return
    if conn.dialect.name != "postgresql":
        raise CatalogError(f"full-text search needs SQLite or PostgreSQL, not {conn.dialect.name}")
    for statement in _PG_EXTENSIONS:
        try:
            with conn.begin_nested():
                conn.execute(text(statement))
        except SQLAlchemyError as exc:
            said = " ".join(str(getattr(exc, "orig", exc)).split()).split("[SQL:", 1)[0]
            raise CatalogError(
                f"cannot create the PostgreSQL extension needed for full-text search ({said}). "
                "As a database superuser run once in the catalog's database: "
                "CREATE EXTENSION IF NOT EXISTS unaccent; CREATE EXTENSION IF NOT EXISTS pg_trgm; "
                "(Debian: apt-get install postgresql-contrib)"
            ) from exc
    for statement in _PG_CREATE:
        conn.execute(text(statement))
    create_listing(conn)


def create_listing(conn: Connection) -> None:
    """PostgreSQL: make the narrow table ``fulltext_listing``, its index and trigger (empty); idempotent.

    A no-op on SQLite, whose covering index ``fulltext_items_cover`` does its work.
    """
    if conn.dialect.name != "postgresql":
        return
    for statement in _PG_LISTING_CREATE:
        conn.execute(text(statement))


def fill_listing(conn: Connection) -> None:
    """PostgreSQL: copy every item's row into ``fulltext_listing`` (after ``create_listing``); a no-op on SQLite."""
    if conn.dialect.name != "postgresql":
        return
    columns = ", ".join(_PG_LISTED)
    # The GIN index made after the rows, not row by row: rows added to a GIN index wait in its pending
    # list, which every search then reads whole (469 pages, 3.5 ms, after 100,000 rows) until a VACUUM.
    conn.execute(text("DROP INDEX IF EXISTS fulltext_listing_meta"))
    conn.execute(text("DELETE FROM fulltext_listing"))
    conn.execute(text(f"INSERT INTO fulltext_listing ({columns}) SELECT {columns} FROM items ORDER BY id"))
    conn.execute(text(_PG_LISTING_INDEX))
    conn.execute(text("ANALYZE fulltext_listing"))


def drop_listing(conn: Connection) -> None:
    """PostgreSQL: remove ``fulltext_listing`` and its trigger; a no-op on SQLite."""
    if conn.dialect.name != "postgresql":
        return
    for statement in _PG_LISTING_DROP:
        conn.execute(text(statement))


def drop(conn: Connection) -> None:
    """Remove the index's structures (not the ``items`` columns the text is kept in)."""
    for statement in _SQLITE_DROP if conn.dialect.name == "sqlite" else _PG_DROP:
        conn.execute(text(statement))


def rebuild(conn: Connection) -> None:
    """Make the index again from the ``items`` columns (after ``create`` on a fresh structure)."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("INSERT INTO fulltext_items(fulltext_items) VALUES ('rebuild')"))
        conn.execute(text("INSERT INTO fulltext_items(fulltext_items) VALUES ('optimize')"))
        conn.execute(text("INSERT INTO fulltext_meta(fulltext_meta) VALUES ('rebuild')"))
    else:
        fill_listing(conn)
        conn.execute(text("DELETE FROM fulltext_words"))
        conn.execute(text(
            "INSERT INTO fulltext_words (word) SELECT word FROM ts_stat('SELECT fulltext_vector FROM items') "
            "WHERE length(word) >= 3 ON CONFLICT DO NOTHING"
        ))


def ensure(conn: Connection) -> None:
    """Make the structures a catalog indexed by an earlier release of this module lacks (SQLite's metadata index).

    Idempotent and cheap when they exist; called when a catalog opens.
    """
    if conn.dialect.name != "sqlite":
        return
    exists = conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'fulltext_meta'")).first()
    has_index = conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'fulltext_items'")).first()
    if exists or not has_index:
        return
    log.info("catalog: making the full-text index's metadata part")
    for statement in _SQLITE_CREATE:
        conn.execute(text(statement))
    conn.execute(text("INSERT INTO fulltext_meta(fulltext_meta) VALUES ('rebuild')"))


def add_words(conn: Connection, words: set[str]) -> None:
    """Remember an item's words for suggestions (PostgreSQL; SQLite reads its index's vocabulary)."""
    if conn.dialect.name != "postgresql" or not words:
        return
    conn.execute(
        text("INSERT INTO fulltext_words (word) SELECT unnest(CAST(:words AS text[])) ON CONFLICT DO NOTHING"),
        {"words": sorted(w for w in words if len(w) >= 3)},
    )


@dataclass(frozen=True)
class FullTextMatch:
    """A textual subquery of the items a query matches: columns ``id``, ``score`` (lower is better), ``meta``.

    ``meta`` is 1 when the metadata alone (title, authors, the other fields)
    holds every word: readers see such an item even where its text is
    restricted, and it ranks before items found only in their text.
    """

    query: TextualSelect


def match(dialect: str, terms: Sequence[tuple[Term, Field]]) -> FullTextMatch:
    """The items holding every one of ``terms`` (each in any field, or in its field only)."""
    if dialect == "sqlite":
        everywhere = " AND ".join(_fts5(term, field, meta_only=False) for term, field in terms)
        meta = " AND ".join(_fts5(term, field, meta_only=True) for term, field in terms)
        clause = text(
            f"SELECT rowid AS id, bm25(fulltext_items, {_SQLITE_WEIGHTS}) AS score, "
            "rowid IN (SELECT rowid FROM fulltext_items WHERE fulltext_items MATCH :fulltext_meta) AS meta "
            # LIMIT -1 (none) keeps SQLite from flattening this into the join with ``items``,
            # where it would run the MATCH once per item instead of once.
            "FROM fulltext_items WHERE fulltext_items MATCH :fulltext_query LIMIT -1"
        ).bindparams(fulltext_query=everywhere, fulltext_meta=meta)
    else:
        # The page text is stripped of positions, so weights (fields) are asked of ``fulltext_meta`` only.
        anywhere = " & ".join(_tsquery(term, field) for term, field in terms if field == "any")
        fields = " & ".join(_tsquery(term, field) for term, field in terms if field != "any")
        every = " & ".join(part for part in (anywhere, fields) if part)
        where = []
        if anywhere:
            where.append("items.fulltext_vector @@ to_tsquery('fulltext_plain', :fulltext_any)")
        if fields:
            where.append("items.fulltext_meta @@ to_tsquery('fulltext_plain', :fulltext_fields)")
        clause = text(
            "SELECT items.id AS id, "
            "-ts_rank(items.fulltext_vector, to_tsquery('fulltext_plain', :fulltext_every)) AS score, "
            "CAST(items.fulltext_meta @@ to_tsquery('fulltext_plain', :fulltext_every) AS integer) AS meta "
            "FROM items WHERE " + " AND ".join(where)
        ).bindparams(
            *([] if not anywhere else [bindparam("fulltext_any", anywhere)]),
            *([] if not fields else [bindparam("fulltext_fields", fields)]),
            bindparam("fulltext_every", every),
        )
    return FullTextMatch(clause.columns(id=Integer, score=Float, meta=Integer))


def index_scans(conn: Connection) -> None:
    """PostgreSQL: read the matches through the GIN index (a bitmap scan), never by a scan of ``items``.

    With a LIMIT and a word on most items, the planner reckons a scan that
    stops after the first rows cheapest, but it does not count that ``@@``
    on each row reads (detoasts) the row's whole vector: 54 ms for 1,000
    rows at 44,000 items, against a few ms through the index (EXPLAIN
    ANALYZE, bench/search_latency.py). For the rest of the search's
    transaction (``set_config(..., true)`` is ``SET LOCAL``): the search's
    other questions are by index anyway. JIT compilation off too: a
    search's statement is over in milliseconds, and compiling it (which the
    planner chooses by the estimated cost of every match, not of the rows a
    search reads) would take longer.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text(
            "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_indexscan', 'off', true), "
            "set_config('jit', 'off', true)"
        ))


@dataclass(frozen=True)
class FullTextQuery:
    """One search's questions to the index, each asked at most once per search (``Catalog.search``).

    - ``matches``: columns ``id`` of the items holding every term, in the
      index's order, unranked — read only as far as the search needs.
    - ``meta``: columns ``id``, ``score`` (lower is better) of the items whose
      metadata alone holds every term, best first, at most ``:fulltext_limit``;
      from a small index (SQLite ``fulltext_meta``, PostgreSQL
      ``fulltext_meta``), so common words cost little there.
    - ``in_meta``: the SQL condition "this item's metadata holds every term"
      (readers may find restricted items by it); PostgreSQL: on the rows of
      the subquery ``matched`` (see ``words``).
    - ``ranks``: SQLite: columns ``id``, ``score`` (bm25) of every match;
      asked only when few items match, as it reads every position of every
      word. None on PostgreSQL, whose page text is kept without positions
      (one word counts once), so only the metadata ranks.
    - ``bounded``: PostgreSQL, a quoted phrase: the count (at most
      ``PHRASE_SCAN`` + 1) of the items holding the phrase's words; more than
      ``PHRASE_SCAN``: ``matches`` looked for the phrase among the first
      ``PHRASE_SCAN`` of them only (the GIN index has no word positions, and
      reading every text that holds two common words takes seconds).
    - ``words`` (PostgreSQL): the condition on ``items`` that its GIN indexes
      answer (every word); the catalog reads the matches through a subquery
      ``matched`` with only this condition, so the planner cannot read
      ``items`` another way and test ``@@`` row by row (see ``index_scans``).
      ``phrases``: the phrases' condition on the rows of ``matched``.
    - ``fts5_query`` (SQLite): the FTS5 query of ``matches``, for the
      catalog's own statement over ``fulltext_items``.
    - ``meta_where``, ``meta_score`` (PostgreSQL): the condition on
      ``fulltext_listing`` (``LISTING``) "its metadata holds every term"
      (its GIN index answers it) and the rank of such an item (lower is
      better), for the catalog's one statement that reads, ranks and counts
      the matches in the database.
    """

    matches: TextualSelect
    meta: TextualSelect
    in_meta: ColumnElement[bool]
    ranks: TextualSelect | None
    bounded: TextClause | None
    words: ColumnElement[bool] | None
    phrases: ColumnElement[bool] | None
    fts5_query: str | None
    meta_where: ColumnElement[bool] | None = None
    meta_score: ColumnElement[float] | None = None


def prepare(dialect: str, terms: Sequence[tuple[Term, Field]], tag: str = "") -> FullTextQuery:
    """The index's questions for ``terms`` (each in any field, or in its field only).

    ``tag`` (PostgreSQL) ends the names of the questions' parameters, so two
    preparations (the words as typed and as prefixes) can be parts of one statement.
    """
    if dialect == "sqlite":
        everywhere = " AND ".join(_fts5(term, field, meta_only=False) for term, field in terms)
        meta = " AND ".join(_fts5(term, field, meta_only=False) for term, field in terms)
        matches = text(
            # LIMIT -1 (none) keeps SQLite from flattening this into the join with ``items``.
            "SELECT rowid AS id FROM fulltext_items WHERE fulltext_items MATCH :fulltext_query LIMIT -1"
        ).bindparams(fulltext_query=everywhere).columns(id=Integer)
        meta_query = text(
            f"SELECT rowid AS id, bm25(fulltext_meta, {_SQLITE_META_WEIGHTS}) AS score FROM fulltext_meta "
            f"WHERE fulltext_meta MATCH :fulltext_meta ORDER BY score LIMIT :fulltext_limit"
        ).bindparams(fulltext_meta=meta).columns(id=Integer, score=Float)
        in_meta = text(
            "(items.id IN (SELECT rowid FROM fulltext_meta WHERE fulltext_meta MATCH :fulltext_meta_all))"
        ).bindparams(fulltext_meta_all=meta)
        ranks = text(
            f"SELECT rowid AS id, bm25(fulltext_items, {_SQLITE_WEIGHTS}) AS score FROM fulltext_items "
            "WHERE fulltext_items MATCH :fulltext_ranked"
        ).bindparams(fulltext_ranked=everywhere).columns(id=Integer, score=Float)
        return FullTextQuery(matches, meta_query, _condition(in_meta), ranks, None, None, None, everywhere)
    # The page text's vector has no positions (see the module's docstring): a phrase asks it for its
    # words, and the metadata's vector (which has them) or the text itself for the phrase.
    anywhere = " & ".join(_tsquery(term, field, words_only=True) for term, field in terms if field == "any")
    fields = " & ".join(_tsquery(term, field) for term, field in terms if field != "any")
    every = " & ".join(part for part in (
        " & ".join(_tsquery(term, field) for term, field in terms if field == "any"), fields) if part)
    where = []
    params: list[BindParameter[Any]] = []
    if anywhere:
        where.append(f"items.fulltext_vector @@ to_tsquery('fulltext_plain', :fulltext_any{tag})")
        params.append(bindparam("fulltext_any" + tag, anywhere))
    if fields:
        where.append(f"items.fulltext_meta @@ to_tsquery('fulltext_plain', :fulltext_fields{tag})")
        params.append(bindparam("fulltext_fields" + tag, fields))
    checks = []
    phrase_params: list[BindParameter[Any]] = []
    for n, (term, field) in enumerate(terms):
        if term.is_phrase and field == "any":
            checks.append(
                f"(matched.fulltext_meta @@ to_tsquery('fulltext_plain', :fulltext_phrase_{n}{tag}) "
                # strpos first: it rules out most texts at memchr speed, the pattern checks word bounds
                f"OR (strpos(matched.text_search, :fulltext_words_{n}{tag}) > 0 "
                f"AND matched.text_search ~ :fulltext_pattern_{n}{tag}))"
            )
            phrase_params += [
                bindparam(f"fulltext_phrase_{n}{tag}", _tsquery(term, field)),
                bindparam(f"fulltext_words_{n}{tag}", term.word),
                bindparam(f"fulltext_pattern_{n}{tag}", r"(^|\s)" + term.word + r"(\s|$)"),
            ]
    words = text("(" + " AND ".join(where) + ")").bindparams(*params)
    matches = text("SELECT items.id AS id FROM items WHERE " + " AND ".join(where)).bindparams(
        *params
    ).columns(id=Integer)
    phrases = text("(" + " AND ".join(checks) + ")").bindparams(*phrase_params) if checks else None
    bounded = None
    if checks:
        # The GIN index knows words, not their order: the phrase is looked for in the text of the first
        # PHRASE_SCAN items holding its words, and ``bounded`` says whether there were more.
        bounded = text(
            f"SELECT count(*) FROM (SELECT 1 FROM items WHERE {' AND '.join(where)} LIMIT {PHRASE_SCAN + 1}) AS s"
        ).bindparams(*params)
    meta_query = text(
        "SELECT items.id AS id, "
        f"-ts_rank(items.fulltext_meta, to_tsquery('fulltext_plain', :fulltext_every{tag})) AS score "
        f"FROM items WHERE items.fulltext_meta @@ to_tsquery('fulltext_plain', :fulltext_every{tag}) "
        "ORDER BY score LIMIT :fulltext_limit"
    ).bindparams(**{"fulltext_every" + tag: every}).columns(id=Integer, score=Float)
    in_meta = text(f"(matched.fulltext_meta @@ to_tsquery('fulltext_plain', :fulltext_meta_all{tag}))").bindparams(
        **{"fulltext_meta_all" + tag: every}
    )
    meta_where = text(
        f"(fulltext_listing.fulltext_meta @@ to_tsquery('fulltext_plain', :fulltext_meta_where{tag}))"
    ).bindparams(**{"fulltext_meta_where" + tag: every})
    meta_score = -func.ts_rank(
        literal_column("fulltext_listing.fulltext_meta"),
        func.to_tsquery(literal_column("'fulltext_plain'::regconfig"), bindparam("fulltext_meta_rank" + tag, every)),
        type_=Float,
    )
    return FullTextQuery(matches, meta_query, _condition(in_meta), None, bounded, _condition(words),
                         None if phrases is None else _condition(phrases), None, _condition(meta_where), meta_score)


def _condition(clause: Any) -> ColumnElement[bool]:
    """A textual condition (in parentheses) where SQLAlchemy takes a boolean column expression."""
    return cast(ColumnElement[bool], clause)


def _fts5(term: Term, field: Field, *, meta_only: bool) -> str:
    """One term as an FTS5 query: a quoted string (its syntax never reaches FTS5), ``*`` for a prefix."""
    quoted = '"' + term.word.replace('"', '""') + '"' + (" *" if term.prefix else "")
    if field == "title":
        return "{search_title} : " + quoted
    if field == "authors":
        return "{search_authors} : " + quoted
    if meta_only:
        return "{search_title search_authors search_other} : " + quoted
    return quoted


def _tsquery(term: Term, field: Field, *, words_only: bool = False) -> str:
    """One term as a ``to_tsquery`` operand: quoted, ``:*`` for a prefix, ``A``/``B`` for a field.

    A phrase's words quoted together are the phrase (``'a' <-> 'b'``); ``words_only``: its words, each anywhere.
    """
    weights = {"any": "", "title": "A", "authors": "B"}[field]
    marks = ("*" if term.prefix else "") + weights
    suffix = ":" + marks if marks else ""
    if words_only and term.is_phrase:
        return " & ".join(f"'{word}'{suffix}" for word in term.words)
    return "'" + term.word.replace("'", "''").replace("\\", "\\\\") + "'" + suffix


def suggest(conn: Connection, word: str) -> str | None:
    """The index's word nearest to a word that found nothing (a typo), or None.

    PostgreSQL: trigram similarity (``pg_trgm``) over ``fulltext_words``.
    SQLite: the FTS5 vocabulary's words that begin with the same two letters,
    compared by difflib.
    """
    if len(word) < 3:
        return None
    if conn.dialect.name == "postgresql":
        found = conn.execute(
            text("SELECT word FROM fulltext_words WHERE word % :w AND word <> :w ORDER BY word <-> :w LIMIT 1"),
            {"w": word},
        ).scalar()
        return None if found is None else str(found)
    import difflib

    conn.execute(text(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.fulltext_vocabulary USING fts5vocab(main, fulltext_items, row)"
    ))
    # The words that begin with the same two letters (a typo is rarely there): fts5vocab reads the
    # lists of every word it gives, so the range is kept small.
    candidates = conn.execute(
        text("SELECT term FROM temp.fulltext_vocabulary WHERE term >= :lo AND term < :hi AND length(term) "
             "BETWEEN :short AND :long"),
        {"lo": word[:2], "hi": word[:2] + "\U0010ffff", "short": len(word) - 2, "long": len(word) + 2},
    ).scalars().all()
    close = difflib.get_close_matches(word, [str(c) for c in candidates if c != word], n=1, cutoff=0.75)
    return close[0] if close else None
