"""Search latency of the e-library: the full-text index against the LIKE scan it replaced, in one run.

Fills a fresh catalog with ``--items`` generated items (Azerbaijani Cyrillic
titles and authors, ``--pages`` pages of ``--words`` words each of text with
Zipfian word frequencies over 60,000 word forms: ``bench.search_corpus``) by
bulk inserts, which the full-text index follows (its triggers on SQLite,
generated columns on PostgreSQL): the time taken is the indexing rate in
pages per second (the text's generation is timed apart and not counted; the
plain form registration computes in Python is timed apart too). One item in
20 is staff-only, so the access rule is in every query. Then serves the
catalog twice with uvicorn on 127.0.0.1 — once as it is (FTS5 / tsvector),
once with the previous release's ``LIKE`` scan over the same rows
(``LikeCatalog``, fewer queries: each reads all the text) — and times the
same queries over loopback HTTP through the JSON API and the HTML results
page (which also counts facets). Prints median, p95 and max per kind of
query and engine, and over all queries.

    .venv/bin/python -m bench.search_latency --items 100000 --pages 10
    .venv/bin/python -m bench.search_latency --items 2000 --catalog-url postgresql+psycopg://...
    # fill once, time again later:
    .venv/bin/python -m bench.search_latency --items 100000 --keep --queries 0
    .venv/bin/python -m bench.search_latency --catalog-url sqlite:////tmp/search-bench-kept.sqlite3 --reuse

Query kinds: words on nearly every page (ranks 1–50: вә, бу, илә), content
words (ranks 50–5,000) in Cyrillic, Latin and without diacritics, rare words,
two words, a quoted phrase of two neighbouring words of a page, an author's
surname, an item's number, a word that is nowhere.
The catalog is deleted at the end unless ``--keep`` (SQLite: a temporary
folder; PostgreSQL: the bench's items are deleted).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import and_, case, func, insert, select, true

from bench.search_corpus import Corpus
from digitize.elibrary import create_app
from digitize.settings import Settings
from digitize.storage.catalog import Catalog, SearchHit, SearchQuery, SearchResult, _catalog_item, _public
from digitize.storage.catalog_tables import ItemRow, PageRow
from digitize.storage.local import LocalObjectStore
from digitize.storage.search import (
    PAGE_SEPARATOR,
    field_pattern,
    fold,
    index_text,
    like_pattern,
    meta_search,
    page_index_text,
    plain,
    title_sort_key,
)
from digitize.transliteration import transliterate_text
from tests.helpers.live_server import serve

FIRST = ["Һәсән", "Әли", "Мәммәд", "Сәмәд", "Рәшид", "Нигар", "Ҹәлил", "Үзејир", "Гара", "Шаһин"]
LAST = ["Әлизадә", "Вурғун", "Рза", "Гарајев", "Бејбутов", "Гулијев", "Мәммәдов", "Һүсејнов", "Әһмәдли"]


class LikeCatalog(Catalog):
    """The previous release's search: every query word as a substring ``LIKE`` over the folded texts.

    The same query as before issue 15, over the same rows (``text_search``
    now holds the plain form, so the words are made plain for it).
    """

    def search(self, query: SearchQuery | None = None, **fields: Any) -> SearchResult:
        query = query or SearchQuery(**fields)
        conditions: list[Any] = [_public()]
        meta_hits = []
        for word in fold(query.text).split():
            meta_hit = ItemRow.meta_search.like(like_pattern(word), escape="\\")
            meta_hits.append(meta_hit)
            conditions.append(meta_hit | ItemRow.text_search.like(like_pattern(plain(word)), escape="\\"))
        for word in fold(query.author).split():
            conditions.append(ItemRow.meta_search.like(field_pattern(word, 1), escape="\\"))
        where = and_(*conditions) if conditions else true()
        order: list[Any] = [ItemRow.meta_search, ItemRow.identifier]
        if meta_hits:
            order.insert(0, case((and_(*meta_hits), 0), else_=1))
        page = select(ItemRow).where(where).order_by(*order).limit(query.limit).offset(query.offset)
        with self._sessions() as session:
            if self.engine.dialect.name == "postgresql":
                rows = session.execute(page.add_columns(func.count().over())).all()
                total = int(rows[0][1]) if rows else 0
                items = [_catalog_item(r) for r, _ in rows]
            else:
                total = int(session.scalar(select(func.count()).select_from(ItemRow).where(where)) or 0)
                items = [_catalog_item(r) for r in session.scalars(page)] if total else []
            # no pages or passages: the LIKE scan never knew where the words were
            return SearchResult(total, items, query, hits=[SearchHit(item.identifier) for item in items])


def populate(catalog: Catalog, count: int, pages: int, corpus: Corpus) -> tuple[float, float]:
    """Insert ``count`` items of ``pages`` generated pages in bulk.

    Returns (seconds inserting and indexing, seconds generating the text):
    the text is made before each chunk is inserted and its time is not
    counted as indexing (see ``fold_rate`` for the cost of the plain form).
    """
    rng = random.Random(0)
    inserting = generating = 0.0
    now = datetime.now(UTC)
    chunk = 500
    for first in range(0, count, chunk):
        made = time.perf_counter()
        items, page_rows = [], []
        texts = corpus.pages((min(count, first + chunk) - first) * pages)
        for n in range(first, min(count, first + chunk)):
            chosen = [next(texts) for _ in range(pages)]
            # Titles of words neither rare nor on every page (ranks 50–5,000), as real titles are.
            title = " ".join(corpus.word(rng.randrange(50, 5000)) for _ in range(3)).capitalize() + f" {n}"
            author = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            title_latin, author_latin = transliterate_text(title), transliterate_text(author)
            identifier = f"bench-{n:06d}"
            collection = f"Kolleksiya {n % 12}"
            items.append({
                "id": n + 1, "identifier": identifier, "title": title, "title_latin": title_latin,
                "authors": [author], "authors_latin": [author_latin], "year": 1930 + n % 90, "language": "az",
                "script": "Cyrl", "kind": "text", "inventory_number": f"INV-{n}", "collection": collection,
                "page_count": pages, "content_hash": str(n), "manifest_key": f"items/{identifier}/manifest.json",
                "store": "file://bench", "status": "available", "registered_at": now, "updated_at": now,
                "review_state": "published", "access": "public" if n % 20 else "staff",
                "meta_search": meta_search(title, [author], collection, f"INV-{n}", identifier),
                "search_title": index_text(f"{title} {title_latin}"), "search_authors": index_text(author),
                "search_other": index_text(f"{collection} INV-{n} {identifier}"),
                "title_sort": title_sort_key(title_latin),
                "text_search": PAGE_SEPARATOR.join(page.plain for page in chosen),
            })
            for seq, page in enumerate(chosen, start=1):
                page_rows.append({
                    "item_id": n + 1, "seq": seq, "original_text": page.original, "latin_text": page.latin,
                    "mean_confidence": 90.0, "skew_degrees": 0.0,
                })
        started = time.perf_counter()
        generating += started - made
        with catalog.engine.begin() as conn:
            conn.execute(insert(ItemRow), items)
            conn.execute(insert(PageRow), page_rows)
        inserting += time.perf_counter() - started
        done = min(count, first + chunk)
        if done % 10_000 == 0 or done == count:
            print(f"  {done} items, {done * pages} pages: {inserting:.0f} s inserting and indexing "
                  f"({done * pages / inserting:.0f} pages/s), {generating:.0f} s generating text", flush=True)
    return inserting, generating


def fold_rate(corpus: Corpus, count: int = 2000) -> float:
    """Pages per second made into the index's form by registration's own code (``page_index_text``), one core."""
    sample = list(corpus.pages(count))
    started = time.perf_counter()
    for page in sample:
        page_index_text(page.original, page.latin)
    return count / (time.perf_counter() - started)


class _CpuClock:
    """CPU seconds used so far by this process (client, uvicorn, SQLite) and, for PostgreSQL, the server's processes.

    On a machine other jobs keep busy, a request's wall-clock time holds the
    waits for a core; its CPU time is the work it took.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.server: psutil.Process | None = None
        if catalog.engine.dialect.name == "postgresql":
            with catalog.engine.connect() as conn:
                backend = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() or 0)
            try:
                self.server = psutil.Process(backend).parent()
            except psutil.Error:  # a server on another machine: its CPU is not counted
                self.server = None

    def now(self) -> float:
        spent = time.process_time()
        if self.server is not None:
            for process in [self.server, *self.server.children()]:
                try:
                    times = process.cpu_times()
                except psutil.Error:
                    continue
                spent += times.user + times.system
        return spent


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=10, help="pages of text per item")
    parser.add_argument("--words", type=int, default=300, help="words per page")
    parser.add_argument("--queries", type=int, default=40, help="queries of each kind (the index)")
    parser.add_argument("--like-queries", type=int, default=4,
                        help="queries of each kind for the LIKE scan (each takes seconds at 100,000 items)")
    parser.add_argument("--catalog-url", help="an empty catalog to fill (default: a new SQLite file)")
    parser.add_argument("--keep", action="store_true", help="keep the filled catalog (for --reuse)")
    parser.add_argument("--reuse", action="store_true", help="time the queries on a catalog filled before (--keep)")
    parser.add_argument("--no-like", action="store_true", help="leave out the LIKE scan")
    args = parser.parse_args(argv)

    corpus = Corpus(words=args.words)
    with tempfile.TemporaryDirectory(prefix="search-bench-") as folder:
        url = args.catalog_url or f"sqlite:///{folder}/catalog.sqlite3"
        catalog = Catalog(url)
        if args.reuse:
            print(f"reusing {catalog.count('items')} items, {catalog.count('pages')} pages")
        elif catalog.count("items"):
            print(f"catalog {url} is not empty; give an empty one", file=sys.stderr)
            return 2
        else:
            print(f"inserting {args.items} items with {args.pages} pages of {args.words} words each "
                  f"({catalog.engine.dialect.name}) ...", flush=True)
            seconds, generating = populate(catalog, args.items, args.pages, corpus)
            print(f"inserted and indexed {args.items * args.pages} pages in {seconds:.0f} s: "
                  f"{args.items * args.pages / seconds:.0f} pages/s (text generation, {generating:.0f} s, not counted)")
            print(f"plain form made by page_index_text: {fold_rate(corpus):.0f} pages/s on one core")
        try:
            return _time_queries(catalog, url, folder, args, corpus)
        finally:
            if args.catalog_url and not args.keep:  # leave the server as it was found
                with catalog.engine.begin() as conn:
                    conn.exec_driver_sql("DELETE FROM pages")
                    conn.exec_driver_sql("DELETE FROM items WHERE identifier LIKE 'bench-%%'")
            catalog.close()
            if args.keep and not args.catalog_url:
                kept = Path(tempfile.gettempdir()) / "search-bench-kept.sqlite3"
                Path(folder, "catalog.sqlite3").replace(kept)
                print(f"kept: --catalog-url sqlite:///{kept} --reuse")


def _time_queries(catalog: Catalog, url: str, folder: str, args: argparse.Namespace, corpus: Corpus) -> int:
    rng = random.Random(1)
    n = args.queries
    if n <= 0:
        return 0

    def words(low: int, high: int, count: int) -> list[str]:
        return [corpus.word(rng.randrange(low, high)) for _ in range(count)]

    # Word ranks: 0–50 the words on every page (вә, бу, илә), 50–5,000 content words, beyond that rare ones.
    queries = {
        "common word": words(0, 50, n),
        "word, Cyrillic": words(50, 5000, n),
        "word, Latin": [transliterate_text(w).lower() for w in words(50, 5000, n)],
        "no diacritics": [plain(w) for w in words(50, 5000, n)],
        "rare word": words(5000, len(corpus.cyrillic), n),
        "two words": [" ".join(words(50, 5000, 2)) for _ in range(n)],
        "phrase": [f'"{page.original.split()[3]} {page.original.split()[4]}"' for page in corpus.pages(n)],
        "author (Latin)": [transliterate_text(rng.choice(LAST)) for _ in range(n)],
        "title number": [f"{rng.randrange(max(args.items, 1))}" for _ in range(n)],
        "absent word": [f"zzq{k}x" for k in range(n)],
    }
    settings = Settings(web={"search_page_size": 20})
    engines: dict[str, Catalog] = {"index": catalog}
    if not args.no_like:
        engines["LIKE"] = LikeCatalog(url, create=False)
    store = LocalObjectStore(Path(folder) / "store")
    items, pages = catalog.count("items"), catalog.count("pages")
    print(f"\n{items} items, {pages} pages, {catalog.engine.dialect.name}; loopback HTTP, one client, "
          f"20 results per page; the HTML page also counts facets (the index only); {n} queries of each kind "
          f"for the index, {min(n, args.like_queries)} (the first) for LIKE; load average over 1 min "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'query':16} {'engine':6} {'endpoint':8} {'median ms':>10} {'p95 ms':>8} {'max ms':>8} "
          f"{'hits (median)':>14} {'CPU ms':>8}")
    print("(CPU ms: mean CPU time per request of this process — client, server, SQLite — and of the "
          "PostgreSQL server's processes; on a shared machine the wall-clock time also holds the waits for a core)")
    everything: dict[tuple[str, str], list[float]] = {}
    cpu_spent: dict[tuple[str, str], list[float]] = {}
    cpu = _CpuClock(catalog)
    for engine, engine_catalog in engines.items():
        app = create_app(settings, catalog=engine_catalog, store=store)
        with serve(app) as base, httpx.Client(base_url=base, timeout=600) as client:
            client.get("/api/items", params={"q": "warm-up"})
            for name, asked in queries.items():
                for endpoint, path in (("api", "/api/items"), ("html", "/")):
                    times, hits, cpus = [], [], []
                    for word in asked[:n if engine == "index" else args.like_queries]:
                        before = cpu.now()
                        started = time.perf_counter()
                        response = client.get(path, params={"q": word})
                        times.append((time.perf_counter() - started) * 1000)
                        cpus.append((cpu.now() - before) * 1000)
                        response.raise_for_status()
                        if endpoint == "api":
                            hits.append(response.json()["total"])
                    everything.setdefault((engine, endpoint), []).extend(times)
                    cpu_spent.setdefault((engine, endpoint), []).extend(cpus)
                    hit_text = f"{statistics.median(hits):.0f}" if hits else ""
                    print(f"{name:16} {engine:6} {endpoint:8} {statistics.median(times):10.1f} "
                          f"{percentile(times, 0.95):8.1f} {max(times):8.1f} {hit_text:>14} "
                          f"{statistics.mean(cpus):8.1f}", flush=True)
        print(f"  (load average over 1 min after the {engine} queries: {os.getloadavg()[0]:.1f}, "
              f"{os.cpu_count()} cores)", flush=True)
    for (engine, endpoint), times in everything.items():
        cpus = cpu_spent[(engine, endpoint)]
        print(f"{'all queries':16} {engine:6} {endpoint:8} {statistics.median(times):10.1f} "
              f"{percentile(times, 0.95):8.1f} {max(times):8.1f} {'':>14} {statistics.mean(cpus):8.1f} "
              f"(CPU p95 {percentile(cpus, 0.95):.1f})")
    if "LIKE" in engines:
        engines["LIKE"].close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
