"""The e-library catalog: registration, search in both scripts, events, migrations.

Every test runs on SQLite; with ``DIGITIZE_TEST_POSTGRES_URL`` set (``.ci/run``
starts a throw-away PostgreSQL on 127.0.0.1 and sets it) the same tests run
on PostgreSQL too.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from digitize.errors import CatalogError
from digitize.storage import fulltext
from digitize.storage.catalog import SCHEMA_HEAD, Base, Catalog, SearchQuery, fold

from helpers.catalog_data import make_registration, postgres_catalog_url

BACKENDS = ["sqlite"] + (["postgresql"] if postgres_catalog_url() else [])


@pytest.fixture(params=BACKENDS)
def catalog_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    return postgres_catalog_url(fresh=True)


@pytest.fixture
def catalog(catalog_url: str):
    catalog = Catalog(catalog_url)
    yield catalog
    catalog.close()


def _titles(result) -> list[str]:
    return [item.identifier for item in result.items]


def test_fold_makes_one_search_form_for_both_scripts():
    assert fold("Азәрбајҹан Нағыллары") == fold("AZƏRBAYCAN nağılları") == "azərbaycan nağillari"
    assert fold("İlham ILHAM ılham") == "ilham ilham ilham"
    assert fold("  two\n lines ") == "two lines"
    assert fold(None) == ""


def test_register_search_in_either_script(catalog, tmp_path):
    catalog.register(make_registration(tmp_path, "tales", "Азәрбајҹан нағыллары", ["Һ. Әлизадә"], 1968,
                                       pages=["Бир варды, бир јохду.", "Шаһ Аббас вә кечәл."]))
    catalog.register(make_registration(tmp_path, "latin-book", "Şeirlər", ["Məmməd Araz"], 1990,
                                       script="Latn", pages=["Gecə düşdü, ay çıxdı."]))
    catalog.register(make_registration(tmp_path, "score", "Сонатa", ["Гара Гарајев"], 1950, kind="score",
                                       collection="Notlar"))

    # title in Latin finds the Cyrillic item, and the other way round
    assert _titles(catalog.search(text="azərbaycan")) == ["tales"]
    assert _titles(catalog.search(text="Азәрбајҹан")) == ["tales"]
    assert _titles(catalog.search(text="шеирләр")) == ["latin-book"]
    # authors, full text, case and i-folding
    assert _titles(catalog.search(text="ƏLİZADƏ")) == ["tales"]
    assert _titles(catalog.search(text="kecel")) == ["tales"]  # accent-free: kecel finds keçəl (issue 15)
    assert _titles(catalog.search(text="keçəl abbas")) == ["tales"]  # words anywhere, all required
    assert _titles(catalog.search(text="gecə düşdü")) == ["latin-book"]
    assert _titles(catalog.search(text="ҝеҹә")) == ["latin-book"]
    # field searches, year, kind, collection
    assert _titles(catalog.search(author="qarayev")) == ["score"]
    assert _titles(catalog.search(title="qarayev")) == []
    assert _titles(catalog.search(author="sonata")) == []
    assert _titles(catalog.search(year=1968)) == ["tales"]
    assert _titles(catalog.search(year_from=1960, year_to=1995)) == ["tales", "latin-book"]  # by title
    assert _titles(catalog.search(kind="score")) == ["score"]
    assert _titles(catalog.search(collection="Notlar")) == ["score"]
    assert catalog.search().total == 3
    assert catalog.collections() == ["Notlar", "Test collection"]
    assert catalog.matching_pages("tales", "kəçəl") == [2]  # accent-free (issue 15)
    assert catalog.matching_pages("tales", "KEÇƏL") == [2]


def test_search_ranks_metadata_hits_first_and_pages(catalog, tmp_path):
    catalog.register(make_registration(tmp_path, "a-text", "Başqa kitab", [], 1970, pages=["dağlar haqqında"]))
    catalog.register(make_registration(tmp_path, "b-title", "Dağlar", [], 1971, pages=["..."]))
    assert _titles(catalog.search(text="dağlar")) == ["b-title", "a-text"]
    page = catalog.search(SearchQuery(text="dağlar", limit=1, offset=1))
    assert page.total == 2 and _titles(page) == ["a-text"]


def test_like_wildcards_in_queries_are_literal(catalog, tmp_path):
    catalog.register(make_registration(tmp_path, "pct", "100% sevgi", [], 1980))
    catalog.register(make_registration(tmp_path, "other", "1000 sevgi", [], 1980))
    assert _titles(catalog.search(text="100%")) == ["pct"]
    assert _titles(catalog.search(text="_")) == []


def test_reregistering_updates_once_and_logs_events(catalog, tmp_path):
    first = catalog.register(make_registration(tmp_path, "book", "Köhnə ad", ["A"], 1960))
    assert first.created
    changed_at = catalog.get("book").updated_at
    same = catalog.register(make_registration(tmp_path, "book", "Köhnə ad", ["A"], 1960))
    assert not same.created
    assert catalog.get("book").updated_at == changed_at  # nothing changed, nothing to re-harvest
    catalog.register(make_registration(tmp_path, "book", "Yeni ad", ["A"], 1960, pages=["bir", "iki", "üç"]))
    assert catalog.count("items") == 1 and catalog.count("pages") == 3
    assert catalog.get("book").title == "Yeni ad"
    assert _titles(catalog.search(text="köhnə")) == []
    assert _titles(catalog.search(text="yeni")) == ["book"]
    assert [e.kind for e in catalog.events("book")] == ["registered", "updated"]


def test_withdrawn_item_leaves_search_but_keeps_record(catalog, tmp_path):
    catalog.register(make_registration(tmp_path, "gone", "Гедән китаб", [], 1950))
    assert catalog.withdraw("gone", reason="copyright")
    assert catalog.withdraw("gone")  # again: still True, no second event
    assert not catalog.withdraw("never-registered")
    assert catalog.search(text="qedən").total == 0
    assert catalog.search(SearchQuery(text="qedən", include_withdrawn=True)).total == 1
    assert catalog.get("gone").status == "withdrawn"
    assert catalog.identifiers() == [] and catalog.identifiers(include_withdrawn=True) == ["gone"]
    events = catalog.events("gone")
    assert [e.kind for e in events] == ["registered", "withdrawn"] and events[1].detail == "copyright"
    catalog.register(make_registration(tmp_path, "gone", "Гедән китаб", [], 1950))
    assert catalog.search(text="qedən").total == 1
    assert [e.kind for e in catalog.events("gone")][-1] == "updated"


def test_changed_items_for_harvesting(catalog, tmp_path):
    for n in range(5):
        catalog.register(make_registration(tmp_path, f"item-{n}", f"Kitab {n}", [], 1900 + n,
                                           kind="art" if n % 2 else "text"))
    catalog.withdraw("item-0")
    total, page = catalog.changed_items(limit=2)
    assert total == 5 and [i.item.identifier for i in page] == ["item-1", "item-2"]
    total, page = catalog.changed_items(offset=4, limit=2)
    assert [i.item.identifier for i in page] == ["item-0"] and page[0].item.status == "withdrawn"
    assert catalog.changed_items(kind="art")[0] == 2
    since = catalog.get("item-0").updated_at
    assert [i.item.identifier for i in catalog.changed_items(since=since)[1]] == ["item-0"]
    assert catalog.changed_items(before=catalog.earliest_change())[0] == 0


def test_schema_is_made_by_migrations_and_matches_the_models(catalog):
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(__import__("storage").__file__).with_name("migrations")))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD
    assert catalog.schema_revision() == SCHEMA_HEAD
    with catalog.engine.connect() as conn:
        # the full-text index's objects (storage/fulltext.py) are made by hand, per database
        context = MigrationContext.configure(conn, opts={"include_name": fulltext.include_name})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_catalog_from_before_migrations_is_upgraded_in_place(tmp_path):
    """A catalog written by the first release (create_all, no alembic_version)."""
    path = tmp_path / "old.sqlite3"
    legacy = sqlite3.connect(path)
    legacy.executescript(LEGACY_SCHEMA)
    legacy.execute(
        "INSERT INTO items (identifier, title, authors, authors_latin, kind, page_count, content_hash,"
        " manifest_key, store, status, registered_at, updated_at)"
        " VALUES ('old', 'Көһнә китаб', '[]', '[]', 'text', 1, '', 'm', 's', 'available',"
        " '2025-01-01 00:00:00', '2025-01-01 00:00:00')"
    )
    legacy.execute("INSERT INTO pages (item_id, seq, original_text, latin_text) VALUES (1, 1, 'Дағ', 'Dağ')")
    legacy.commit()
    legacy.close()
    catalog = Catalog(f"sqlite:///{path}")
    assert catalog.schema_revision() == SCHEMA_HEAD
    assert _titles(catalog.search(text="kohne dağ".replace("kohne", "köhnə"))) == ["old"]
    assert inspect(create_engine(f"sqlite:///{path}")).has_table("events")
    catalog.close()


def test_catalog_migrated_by_a_newer_release_is_refused_with_a_message(tmp_path):
    """A catalog at a revision this code does not know: a clear message, not Alembic's traceback; left as it was."""
    path = tmp_path / "newer.sqlite3"
    Catalog(f"sqlite:///{path}").close()
    newer = f"{int(SCHEMA_HEAD) + 1:04d}"
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = ?", (newer,))
    with pytest.raises(CatalogError, match=f"revision {newer}, newer than this digitize knows"):
        Catalog(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == (newer,)


def test_two_catalogs_on_one_new_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    first, second = Catalog(url), Catalog(url)
    first.register(make_registration(tmp_path, "x", "X", [], 2000))
    assert second.identifiers() == ["x"]
    first.close()
    second.close()


# The schema ``Base.metadata.create_all`` made before migrations (SQLite).
LEGACY_SCHEMA = """
CREATE TABLE batches (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, folder TEXT NOT NULL,
  started_at DATETIME NOT NULL, finished_at DATETIME, items_done INTEGER NOT NULL, items_failed INTEGER NOT NULL);
CREATE INDEX ix_batches_name ON batches (name);
CREATE TABLE items (id INTEGER NOT NULL PRIMARY KEY, identifier VARCHAR(128) NOT NULL, title TEXT NOT NULL,
  title_latin TEXT, authors JSON NOT NULL, authors_latin JSON NOT NULL, year INTEGER, language VARCHAR(16),
  script VARCHAR(8), kind VARCHAR(16) NOT NULL, inventory_number VARCHAR(128), collection VARCHAR(255),
  page_count INTEGER NOT NULL, mean_ocr_confidence FLOAT, content_hash VARCHAR(64) NOT NULL, pdf_key TEXT,
  manifest_key TEXT NOT NULL, store TEXT NOT NULL, batch VARCHAR(255), status VARCHAR(16) NOT NULL,
  registered_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
CREATE UNIQUE INDEX ix_items_identifier ON items (identifier);
CREATE INDEX ix_items_year ON items (year);
CREATE INDEX ix_items_kind ON items (kind);
CREATE INDEX ix_items_collection ON items (collection);
CREATE INDEX ix_items_status ON items (status);
CREATE TABLE files (id INTEGER NOT NULL PRIMARY KEY, item_id INTEGER NOT NULL, key TEXT NOT NULL,
  role VARCHAR(32) NOT NULL, size INTEGER NOT NULL, sha256 VARCHAR(64) NOT NULL, content_type VARCHAR(128) NOT NULL,
  CONSTRAINT uq_files_item_key UNIQUE (item_id, key), FOREIGN KEY(item_id) REFERENCES items (id) ON DELETE CASCADE);
CREATE INDEX ix_files_item_id ON files (item_id);
CREATE TABLE pages (id INTEGER NOT NULL PRIMARY KEY, item_id INTEGER NOT NULL, seq INTEGER NOT NULL,
  original_text TEXT NOT NULL, latin_text TEXT NOT NULL, mean_confidence FLOAT, skew_degrees FLOAT,
  CONSTRAINT uq_pages_item_seq UNIQUE (item_id, seq), FOREIGN KEY(item_id) REFERENCES items (id) ON DELETE CASCADE);
CREATE INDEX ix_pages_item_id ON pages (item_id);
"""


def test_a_run_after_a_staff_edit_brings_the_item_toml_values_back(tmp_path):
    # An edit on the review page changes the catalog only; the next registration of the
    # item, even of unchanged files, must be written in full, not skipped as "unchanged".
    from dataclasses import replace

    from digitize.storage.catalog_records import ReviewState

    catalog = Catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    registration = make_registration(tmp_path / "files", "kitab", "Китаб", ["А. Б."], 1970)
    catalog.register(registration)
    item = catalog.get("kitab")
    assert item is not None
    edited = replace(item.record(), title="Дүзәлдилмиш")
    catalog.edit_record("kitab", edited, actor="leyla", states=tuple(ReviewState))
    assert catalog.get("kitab").title == "Дүзәлдилмиш"
    catalog.register(registration)
    assert catalog.get("kitab").title == "Китаб"
    catalog.close()
