"""The full-text index (issue 15): accent-free search in both scripts, ranking, passages, facets, access, bad input.

Every test runs on SQLite (FTS5); with ``DIGITIZE_TEST_POSTGRES_URL`` set the
catalog tests run on PostgreSQL (tsvector, unaccent, pg_trgm) too.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from digitize.errors import SearchQueryError
from digitize.storage.catalog import Catalog, SearchQuery, SearchSort
from digitize.storage.catalog_records import Viewer
from digitize.storage.catalog_schema import SCHEMA_HEAD
from digitize.storage.search import make_snippet, plain, query_terms, title_sort_key

from helpers.catalog_data import make_registration, postgres_catalog_url

BACKENDS = ["sqlite"] + (["postgresql"] if postgres_catalog_url() else [])


@pytest.fixture(params=BACKENDS)
def catalog(request, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}" if request.param == "sqlite" else postgres_catalog_url(fresh=True)
    catalog = Catalog(url)
    yield catalog
    catalog.close()


def _ids(result) -> list[str]:
    return [item.identifier for item in result.items]


def _register(catalog, tmp_path, identifier, title, pages, **record):
    registration = make_registration(tmp_path, identifier, title, record.pop("authors", []), record.pop("year", 1970),
                                     pages=pages, **{k: record.pop(k) for k in ("script", "kind", "collection")
                                                     if k in record})
    if record:
        registration = dataclasses.replace(registration, record=dataclasses.replace(registration.record, **record))
    return catalog.register(registration)


def test_plain_form_is_accent_free_in_both_scripts():
    assert plain("Şəki") == plain("шәки") == plain("SEKI") == "seki"
    assert plain("Azərbaycan") == plain("Азәрбајҹан") == "azerbaycan"
    assert [t.word for t in query_terms('NEAR("şəki" * -x) OR (((')] == ["near", "seki", "x", "or"]
    assert query_terms("100%")[0].prefix is False and query_terms("kitab")[0].prefix is True


def test_azerbaijani_collation_puts_schwa_after_e():
    titles = ["Zaur", "Əli", "Eldar", "Fuad", "Çay", "Cavid"]
    assert sorted(titles, key=title_sort_key) == ["Cavid", "Çay", "Eldar", "Əli", "Fuad", "Zaur"]


def test_snippet_escapes_then_marks():
    snippet = make_snippet(3, "Bir <b>Şəki</b> & Шәки xanı", query_terms("seki"))
    assert snippet is not None and snippet.seq == 3
    assert snippet.html() == "Bir &lt;b&gt;<mark>Şəki</mark>&lt;/b&gt; &amp; <mark>Шәки</mark> xanı"


def test_accent_free_search_finds_both_scripts_with_pages_and_passages(catalog, tmp_path):
    _register(catalog, tmp_path, "cyr", "Нағыллар", ["Бир варды.", "Шәки шәһәриндә <b>хан</b> сарајы."])
    _register(catalog, tmp_path, "lat", "Səyahət", ["Yol uzun idi.", "Bakı.", "Şəki çox gözəldir."], script="Latn")
    _register(catalog, tmp_path, "title", "Azərbaycan tarixi", ["Başqa söz."], script="Latn")
    assert sorted(_ids(catalog.search(text="seki"))) == ["cyr", "lat"]
    assert _ids(catalog.search(text="azerbaycan")) == ["title"]
    assert _ids(catalog.search(text="АЗӘРБАЈҸАН")) == ["title"]
    result = catalog.search(text="şəki")
    hits = {hit.identifier: hit for hit in result.hits}
    assert hits["cyr"].pages == (2,) and hits["lat"].pages == (3,)
    assert hits["cyr"].snippet.html() == "<mark>Шәки</mark> шәһәриндә &lt;b&gt;хан&lt;/b&gt; сарајы."
    assert catalog.matching_pages("lat", "seki") == [3]
    # prefixes: an ending added to the word still matches; numbers match whole
    assert _ids(catalog.search(text="şəhər")) == ["cyr"]


def test_metadata_ranks_first_and_sorting(catalog, tmp_path):
    _register(catalog, tmp_path, "a", "Eldar", ["dağlar haqqında"], year=1990)
    _register(catalog, tmp_path, "b", "Əli və dağlar", ["..."], year=1950)
    _register(catalog, tmp_path, "c", "Fuad", ["dağlar dağlar dağlar"], year=1970)
    assert _ids(catalog.search(text="dag"))[0] == "b"
    assert _ids(catalog.search(SearchQuery(text="dag", sort=SearchSort.TITLE))) == ["a", "b", "c"]
    assert _ids(catalog.search(SearchQuery(sort=SearchSort.YEAR))) == ["b", "c", "a"]
    assert _ids(catalog.search(SearchQuery(text="dag", sort=SearchSort.YEAR_DESC))) == ["a", "c", "b"]
    assert _ids(catalog.search()) == ["a", "b", "c"]  # browsing: by title, Ə between E and F


def test_facets_count_the_matches(catalog, tmp_path):
    _register(catalog, tmp_path, "x1", "Kitab bir", ["ortaq söz"], year=1961, collection="A")
    _register(catalog, tmp_path, "x2", "Kitab iki", ["ortaq söz"], year=1968, collection="B", kind="score")
    _register(catalog, tmp_path, "x3", "Kitab üç", ["ortaq söz"], year=1975, collection="A", script="Latn")
    result = catalog.search(SearchQuery(text="ortaq", facets=True))
    counts = {name: {f.value: f.count for f in values} for name, values in result.facets.items()}
    assert result.total == 3
    assert counts["decade"] == {"1960": 2, "1970": 1}
    assert counts["collection"] == {"A": 2, "B": 1}
    assert counts["kind"] == {"text": 2, "score": 1}
    assert counts["script"] == {"Cyrl": 2, "Latn": 1} and counts["language"] == {"az": 3}
    narrowed = catalog.search(SearchQuery(text="ortaq", year_from=1960, year_to=1969, script="Cyrl", facets=True))
    assert sorted(_ids(narrowed)) == ["x1", "x2"]


def test_restricted_text_matches_only_for_readers_who_may_read_it(catalog, tmp_path):
    _register(catalog, tmp_path, "open", "Açıq kitab", ["gizli olmayan söz"], script="Latn")
    _register(catalog, tmp_path, "staff", "Xidməti kitab", ["məxfi mətn burada"], script="Latn", access="staff")
    _register(catalog, tmp_path, "room", "Zal kitabı", ["oxu zalı mətni"], script="Latn", access="reading-room")
    _register(catalog, tmp_path, "later", "Embarqo", ["sonra açılan mətn"], script="Latn",
              embargo_until=date.today() + timedelta(days=30))
    anonymous, staff, room = Viewer(), Viewer(is_staff=True), Viewer(in_reading_room=True)
    assert catalog.search(SearchQuery(text="məxfi", viewer=anonymous)).total == 0
    assert _ids(catalog.search(SearchQuery(text="məxfi", viewer=staff))) == ["staff"]
    assert catalog.search(SearchQuery(text="zalı", viewer=anonymous)).total == 0
    assert _ids(catalog.search(SearchQuery(text="zalı", viewer=room))) == ["room"]
    assert catalog.search(SearchQuery(text="açılan", viewer=anonymous)).total == 0
    # metadata is public: the title still finds the restricted item, without page hits
    result = catalog.search(SearchQuery(text="xidməti", viewer=anonymous))
    assert _ids(result) == ["staff"] and result.hits[0].pages == () and result.hits[0].snippet is None
    # withdrawn and unpublished: nothing at all
    catalog.withdraw("open")
    assert catalog.search(SearchQuery(text="gizli", viewer=staff)).total == 0


def test_sql_access_rule_agrees_with_the_python_rule(catalog, tmp_path):
    """``_text_readable`` (SQL) must say what ``CatalogItem.refusal`` says, for every viewer and item."""
    cases = list(itertools.product(("public", "reading-room", "staff"), (None, -1, 1)))
    for n, (access, embargo) in enumerate(cases):
        until = None if embargo is None else date.today() + timedelta(days=embargo)
        _register(catalog, tmp_path, f"i{n}", f"Kitab {n}", ["ortaqsöz"], script="Latn", access=access,
                  embargo_until=until)
    for viewer in (Viewer(), Viewer(is_staff=True), Viewer(in_reading_room=True)):
        found = set(_ids(catalog.search(SearchQuery(text="ortaqsöz", viewer=viewer, limit=100))))
        expected = {f"i{n}" for n in range(len(cases)) if catalog.get(f"i{n}").readable_by(viewer)}
        assert found == expected, viewer


def test_index_follows_reregister_edit_and_withdraw(catalog, tmp_path):
    from digitize.storage.catalog_records import ReviewState

    _register(catalog, tmp_path, "book", "Köhnə ad", ["köhnə mətn"], script="Latn")
    _register(catalog, tmp_path, "book", "Yeni ad", ["təzə mətn"], script="Latn")
    assert catalog.search(text="kohne").total == 0 and _ids(catalog.search(text="teze")) == ["book"]
    record = dataclasses.replace(catalog.get("book").record(), title="Başqa başlıq", title_latin="Başqa başlıq")
    catalog.edit_record("book", record, actor="tester", states=tuple(ReviewState))
    assert _ids(catalog.search(title="basqa")) == ["book"] and catalog.search(title="yeni").total == 0
    catalog.withdraw("book")
    assert catalog.search(text="teze").total == 0


def test_reindex_command_rebuilds_the_index(tmp_path):
    from digitize.cli import app

    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    catalog = Catalog(url)
    _register(catalog, tmp_path, "cyr", "Нағыллар", ["Шәки шәһәри."])
    with catalog.engine.begin() as conn:  # damage: the index loses every row
        conn.exec_driver_sql("INSERT INTO fulltext_items(fulltext_items) VALUES ('delete-all')")
    assert catalog.search(text="seki").total == 0
    catalog.close()
    result = CliRunner().invoke(app, ["reindex", "--catalog-url", url])
    assert result.exit_code == 0, result.output
    assert "1 items" in result.output
    catalog = Catalog(url)
    assert _ids(catalog.search(text="seki")) == ["cyr"]
    catalog.close()


def test_catalog_at_0006_is_migrated_and_indexed(tmp_path):
    from alembic import command
    from alembic.config import Config

    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    catalog = Catalog(url)
    _register(catalog, tmp_path, "cyr", "Нағыллар", ["Шәки шәһәри."])
    config = Config()
    config.set_main_option("script_location", str(Path(catalog_module_file()).with_name("migrations")))
    with catalog.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0006")
    catalog.close()
    catalog = Catalog(url)
    assert catalog.schema_revision() == SCHEMA_HEAD
    assert _ids(catalog.search(text="seki")) == ["cyr"]
    catalog.close()


def catalog_module_file() -> str:
    import digitize.storage.catalog_schema as schema

    return schema.__file__


def test_typo_gets_a_suggestion(catalog, tmp_path):
    _register(catalog, tmp_path, "m", "Musiqi", ["muğam ifaçıları haqqında"], script="Latn")
    result = catalog.search(text="mugan ifacilari")
    assert result.total == 0 and result.suggestion is not None and "mugam" in result.suggestion


# -- bad input: never a 500 ------------------------------------------------------------------------

NASTY = ['"', '""', '"unbalanced', "NEAR(a b)", "a NEAR b", "*", "a*", "-", "-a", "a - b", "(", ")", "((a)",
         "AND", "OR", "NOT", "a AND", "OR b", "^", "col:val", "{a b}: c", "'", "\\", "%", "_", "\x00", "a" * 5000]


@pytest.mark.parametrize("text", NASTY)
def test_query_syntax_is_never_passed_to_the_engine(catalog, tmp_path, text):
    _register(catalog, tmp_path, "x", "Kitab", ["söz"], script="Latn")
    result = catalog.search(text=text)
    assert result.total == 0 or _ids(result) == ["x"]


def test_too_many_words_is_a_clear_error(catalog):
    with pytest.raises(SearchQueryError, match="at most"):
        catalog.search(text=" ".join(f"w{n}" for n in range(100)))


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    from digitize.elibrary import create_app
    from digitize.settings import Settings
    from digitize.storage.local import LocalObjectStore

    folder = tmp_path_factory.mktemp("web")
    catalog = Catalog(f"sqlite:///{folder / 'c.sqlite3'}")
    _register(catalog, folder, "cyr", "Нағыллар", ["Бир варды. Шәки шәһәриндә <script>x</script> сарај."],
              year=1968, collection="Nağıllar")
    _register(catalog, folder, "lat", "Şəki səfəri", ["Yol."], script="Latn", year=1975)
    app = create_app(Settings(), catalog=catalog, store=LocalObjectStore(folder / "store"))
    with TestClient(app) as client:
        yield client
    catalog.close()


def test_results_page_shows_marked_passages_page_links_facets_and_sorting(web):
    page = web.get("/", params={"q": "seki"})
    assert page.status_code == 200
    html = page.text
    assert "<mark>Шәки</mark>" in html and "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x" not in html
    assert 'href="/items/cyr?q=seki#page=1"' in html
    assert 'id="facets"' in html and "1960–1969" in html and "year_from=1960" in html
    assert 'id="sort-title"' in html and "/static/search.css" in html
    narrowed = web.get("/", params={"q": "seki", "year_from": "1960", "year_to": "1969"})
    assert "Нағыллар" in narrowed.text and "Şəki səfəri" not in narrowed.text


def test_api_search_gives_pages_snippets_and_facets(web):
    answer = web.get("/api/items", params={"q": "şəki", "facets": "true"}).json()
    assert answer["total"] == 2
    first = {item["identifier"]: item for item in answer["items"]}
    assert first["cyr"]["hit_pages"] == [1]
    assert "<mark>Шәки</mark>" in first["cyr"]["snippet"]["html"]
    assert "&lt;script&gt;" in first["cyr"]["snippet"]["html"]
    assert {f["value"] for f in answer["facets"]["decade"]} == {"1960", "1970"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(max_size=300), sort=st.sampled_from(["", "relevance", "title", "year", "year-desc", "x'; --"]))
def test_any_query_is_answered_without_a_server_error(web, q, sort):
    for path in ("/", "/api/items"):
        response = web.get(path, params={"q": q, "sort": sort} if path == "/" else {"q": q})
        assert response.status_code in (200, 400, 422), (q, response.status_code, response.text[:300])


def test_quoted_phrase_and_quoted_word(catalog, tmp_path):
    _register(catalog, tmp_path, "in-order", "Bir", ["Şəki xanı sarayı."], script="Latn")
    _register(catalog, tmp_path, "apart", "İki", ["Xanı gördük, sonra Şəki."], script="Latn")
    _register(catalog, tmp_path, "longer", "Üç", ["Şəkili xanlar."], script="Latn")
    assert sorted(_ids(catalog.search(text="seki xani"))) == ["apart", "in-order"]
    result = catalog.search(text='"seki xani"')
    assert _ids(result) == ["in-order"] and result.hits[0].pages == (1,)
    assert result.hits[0].snippet.html() == "<mark>Şəki</mark> <mark>xanı</mark> sarayı."
    assert sorted(_ids(catalog.search(text="seki"))) == ["apart", "in-order", "longer"]  # a prefix
    assert sorted(_ids(catalog.search(text='"seki"'))) == ["apart", "in-order"]  # quoted: the word itself
    assert _ids(catalog.search(text='"xani seki"')) == []
    assert catalog.matching_pages("in-order", '"seki xani"') == [1]


def test_phrase_looked_for_in_the_first_items_only_says_at_least(catalog, tmp_path, monkeypatch):
    """PostgreSQL looks for a phrase in the text of the first ``PHRASE_SCAN`` items holding its words (its GIN
    index has no word positions): more of them, and the answer is "at least"; SQLite's FTS5 reads them all."""
    import digitize.storage.fulltext as fulltext_module

    for n in range(4):
        _register(catalog, tmp_path, f"p{n}", f"Kitab {n}", ["Şəki xanı sarayı."], script="Latn")
    _register(catalog, tmp_path, "apart", "Başqa", ["Xanı gördük, sonra Şəki."], script="Latn")
    assert _ids(catalog.search(text='"seki xani"', limit=1)) and catalog.search(text='"seki xani"').total == 4
    monkeypatch.setattr(fulltext_module, "PHRASE_SCAN", 2)
    result = catalog.search(SearchQuery(text='"seki xani" sarayi', facets=True))
    if catalog.engine.dialect.name == "postgresql":
        assert not result.total_exact and 1 <= result.total <= 2
    else:
        assert result.total_exact and result.total == 4
    assert sum(f.count for f in result.facets["kind"]) == result.total
    assert "apart" not in _ids(result)


def test_more_matches_than_a_search_counts_say_more_than(catalog, tmp_path, monkeypatch):
    import digitize.storage.catalog as catalog_module

    for n in range(5):
        _register(catalog, tmp_path, f"m{n}", f"Kitab {n}", ["ortaq söz"], script="Latn", year=1960 + n)
    _register(catalog, tmp_path, "title", "Ortaq başlıq", ["başqa"], script="Latn", year=1990)
    monkeypatch.setattr(catalog_module, "EXACT_LIMIT", 3)
    result = catalog.search(SearchQuery(text="ortaq", limit=2, facets=True))
    assert not result.total_exact and result.total == 3
    assert _ids(result)[0] == "title"  # the metadata's match ranks first even beyond the matches read
    assert sum(f.count for f in result.facets["kind"]) >= 3
    everything = catalog.search(SearchQuery(text="ortaq", limit=10))  # reading further: exact again
    assert everything.total_exact and everything.total == 6
    small = catalog.search(SearchQuery(text="başqa"))
    assert small.total_exact and _ids(small) == ["title"]


def test_results_page_and_api_say_at_least_when_not_every_match_is_read(tmp_path, monkeypatch):
    import digitize.storage.catalog as catalog_module
    from digitize.elibrary import create_app
    from digitize.settings import Settings
    from digitize.storage.local import LocalObjectStore

    catalog = Catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    for n in range(3):
        _register(catalog, tmp_path, f"s{n}", f"Kitab {n}", ["Şəki yolu."], script="Latn")
    monkeypatch.setattr(catalog_module, "EXACT_LIMIT", 1)
    app = create_app(Settings(web={"search_page_size": 1}), catalog=catalog, store=LocalObjectStore(tmp_path / "s"))
    with TestClient(app) as client:
        answer = client.get("/api/items", params={"q": "seki", "limit": 1}).json()
        assert answer["total_exact"] is False and answer["total"] == 1 and len(answer["items"]) == 1
        assert client.get("/api/items", params={"q": "seki", "limit": 3}).json()["total_exact"] is True
        page = client.get("/", params={"q": "seki", "lang": "en"}).text
        assert "At least 1 items found" in page and 'id="facets-note"' in page
        assert 'rel="next"' in page  # paging on reads further
    catalog.close()


def test_the_matches_are_read_through_the_indexes(catalog, tmp_path):
    """The plans the speed depends on (bench/search_latency.py): SQLite's FTS5 scan as the outer loop with each
    item's columns from the covering index, not a materialised list of every match; PostgreSQL's GIN index."""
    from sqlalchemy import event, text

    for n in range(3):
        _register(catalog, tmp_path, f"p{n}", f"Kitab {n}", ["ortaq söz burada"], script="Latn")
    statements: list[tuple[str, object]] = []
    if catalog.engine.dialect.name == "sqlite":
        event.listen(catalog.engine, "connect", lambda conn, record: conn.set_trace_callback(
            lambda sql: statements.append((sql, None))))
        catalog.engine.dispose()
    else:
        event.listen(catalog.engine, "before_cursor_execute",
                     lambda conn, cursor, sql, params, context, many: statements.append((sql, params)))
    assert len(catalog.search(text="ortaq").items) == 3
    listing = [(sql, params) for sql, params in statements if "fulltext_items" in sql or "matched" in sql]
    with catalog.engine.connect() as conn:
        if catalog.engine.dialect.name == "sqlite":
            sql = next(sql for sql, _ in listing if "CROSS JOIN" in sql)
            plan = " ".join(str(row) for row in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + sql.replace("LIMIT 1001", "LIMIT 1")))
            assert "COVERING INDEX fulltext_items_cover" in plan and "MATERIALIZE" not in plan, plan
        else:
            sql, params = next((sql, params) for sql, params in listing if "AS matched" in sql)
            conn.execute(text("SELECT set_config('enable_seqscan', 'off', true), "
                              "set_config('enable_indexscan', 'off', true)"))
            plan = " ".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql, params))
            assert "Bitmap Index Scan on fulltext_items_vector" in plan, plan


_LISTING_COLUMNS = ("id, year, embargo_until, identifier, kind, status, review_state, access, language, script, "
                    "collection, title_sort, fulltext_meta")


def _listing_differs(catalog) -> list[object]:
    """PostgreSQL: the rows of ``fulltext_listing`` that are not a copy of their item's columns, and the reverse."""
    with catalog.engine.connect() as conn:
        return list(conn.exec_driver_sql(
            f"(SELECT {_LISTING_COLUMNS} FROM items EXCEPT SELECT {_LISTING_COLUMNS} FROM fulltext_listing) UNION ALL "
            f"(SELECT {_LISTING_COLUMNS} FROM fulltext_listing EXCEPT SELECT {_LISTING_COLUMNS} FROM items)"
        ))


@pytest.mark.skipif(not postgres_catalog_url(), reason="needs DIGITIZE_TEST_POSTGRES_URL")
def test_postgresql_listing_follows_items_through_every_change(tmp_path):
    """The narrow table a search ranks from (``fulltext.LISTING``) holds each item's columns after every kind of write,
    after a reindex, and after a catalog at 0007 is migrated; its searches find what they found before."""
    from alembic import command
    from alembic.config import Config

    from digitize.storage.catalog_records import ReviewDecision, ReviewState

    catalog = Catalog(postgres_catalog_url(fresh=True) or "")
    _register(catalog, tmp_path, "a", "Köhnə ad", ["köhnə mətn"], script="Latn", authors=["Quliyev"])
    _register(catalog, tmp_path, "b", "Başqa kitab", ["mətn"], script="Latn", access="staff", collection="B")
    _register(catalog, tmp_path, "a", "Yeni ad", ["təzə mətn"], script="Latn", authors=["Quliyev"])  # again
    assert not _listing_differs(catalog)
    record = dataclasses.replace(catalog.get("b").record(), title="Quliyev haqqında", title_latin="Quliyev haqqında",
                                 year=1999)
    catalog.edit_record("b", record, actor="tester", states=tuple(ReviewState))
    catalog.set_review("a", ReviewDecision(ReviewState.REJECTED, "tester", from_state=ReviewState.PUBLISHED))
    assert not _listing_differs(catalog)
    assert _ids(catalog.search(text="quliyev")) == ["b"]  # its title: staff-only text, public metadata
    catalog.withdraw("b")
    assert not _listing_differs(catalog) and catalog.search(text="quliyev").total == 0
    with catalog.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM items WHERE identifier = 'b'")
    assert not _listing_differs(catalog)
    _register(catalog, tmp_path, "c", "Quliyevlər", ["söz"], script="Latn")
    with catalog.engine.begin() as conn:  # damage: the listing loses its rows
        conn.exec_driver_sql("DELETE FROM fulltext_listing")
    assert not catalog.search(text="quliyevler").hits[0].in_metadata  # found by its text only
    assert catalog.reindex() == 2
    assert not _listing_differs(catalog) and catalog.search(text="quliyevler").hits[0].in_metadata
    config = Config()
    config.set_main_option("script_location", str(Path(catalog_module_file()).with_name("migrations")))
    with catalog.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0007")
        assert not conn.exec_driver_sql("SELECT to_regclass('fulltext_listing')").scalar()
    catalog.close()
    catalog = Catalog(postgres_catalog_url() or "")
    assert catalog.schema_revision() == SCHEMA_HEAD and not _listing_differs(catalog)
    assert catalog.search(text="quliyevler").hits[0].in_metadata
    catalog.close()


def test_searches_of_one_shape_each_get_their_own_answer(catalog, tmp_path):
    """PostgreSQL keeps a search's statement and runs it again with the next search's values (``_pg_search``):
    the words, filters and viewer's date of each search must be its own."""
    _register(catalog, tmp_path, "x1960", "Kənd", ["ortaq birinci"], year=1961, script="Latn", collection="A")
    _register(catalog, tmp_path, "x1970", "Şəhər", ["ortaq ikinci"], year=1975, script="Latn", collection="B")
    _register(catalog, tmp_path, "later", "Gələcək", ["ortaq üçüncü"], year=1975, script="Latn", collection="B",
              embargo_until=date.today() + timedelta(days=3))
    for _ in range(2):
        assert _ids(catalog.search(text="birinci")) == ["x1960"]
        assert _ids(catalog.search(text="ikinci")) == ["x1970"]
        assert _ids(catalog.search(SearchQuery(text="ortaq", year_from=1960, year_to=1969))) == ["x1960"]
        assert _ids(catalog.search(SearchQuery(text="ortaq", year_from=1970, year_to=1979))) == ["x1970"]
        assert _ids(catalog.search(SearchQuery(text="ortaq", collection="A"))) == ["x1960"]
        assert _ids(catalog.search(SearchQuery(text="ortaq", collection="B"))) == ["x1970"]
        assert sorted(_ids(catalog.search(SearchQuery(text="ortaq", viewer=Viewer(is_staff=True))))) == [
            "later", "x1960", "x1970"]
