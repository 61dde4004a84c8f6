"""Search latency of the e-library: the full-text index against the LIKE scan it replaced, in one run.

Fills a fresh catalog with ``--items`` generated items (Azerbaijani Cyrillic
titles, authors and ``--pages`` pages of ~1,800 characters of prose each,
from the sample corpus) by bulk inserts, which the full-text index follows
(its triggers on SQLite, generated columns on PostgreSQL): the time taken is
the indexing rate in pages per second. Then serves the catalog twice with
uvicorn on 127.0.0.1 — once as it is (FTS5 / tsvector), once with the
previous release's ``LIKE`` scan over the same rows (``LikeCatalog``) — and
times the same queries over loopback HTTP through the JSON API and the
HTML results page (which also counts facets). Prints median and p95 per
kind of query and engine.

    .venv/bin/python -m bench.search_latency --items 100000 --pages 10
    .venv/bin/python -m bench.search_latency --items 2000 --catalog-url postgresql+psycopg://...

The corpus has a few hundred distinct words, so nearly every query word is
on most items: a worst case for an index (long posting lists, every item
ranked and counted), kept because it is the text the pipeline prints.
The catalog is deleted at the end (SQLite: a temporary folder; PostgreSQL:
the bench's items are deleted).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import and_, case, func, insert, select, true

from digitize.elibrary import create_app
from digitize.samples.corpus import PARAGRAPHS
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


def populate(catalog: Catalog, count: int, pages: int, seed: int = 0) -> float:
    """Insert ``count`` items of ``pages`` pages in bulk; returns seconds (the index follows inside)."""
    rng = random.Random(seed)
    # Each corpus paragraph once in every form; a page is five of them, so no page is folded twice.
    latin = [transliterate_text(p) for p in PARAGRAPHS]
    forms = [index_text(p) for p in PARAGRAPHS]
    started = time.perf_counter()
    now = datetime.now(UTC)
    chunk = 500
    for first in range(0, count, chunk):
        items, page_rows = [], []
        for n in range(first, min(count, first + chunk)):
            chosen = [[rng.randrange(len(PARAGRAPHS)) for _ in range(5)] for _ in range(pages)]
            words = PARAGRAPHS[chosen[0][0]].split()
            title = " ".join(rng.sample(words, k=3)).strip(".,;:«»") + f" {n}"
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
                "review_state": "published", "access": "public",
                "meta_search": meta_search(title, [author], collection, f"INV-{n}", identifier),
                "search_title": index_text(f"{title} {title_latin}"), "search_authors": index_text(author),
                "search_other": index_text(f"{collection} INV-{n} {identifier}"),
                "title_sort": title_sort_key(title_latin),
                "text_search": PAGE_SEPARATOR.join(" ".join(forms[p] for p in page) for page in chosen),
            })
            for seq, page in enumerate(chosen, start=1):
                page_rows.append({
                    "item_id": n + 1, "seq": seq, "original_text": "\n\n".join(PARAGRAPHS[p] for p in page),
                    "latin_text": "\n\n".join(latin[p] for p in page), "mean_confidence": 90.0, "skew_degrees": 0.0,
                })
        with catalog.engine.begin() as conn:
            conn.execute(insert(ItemRow), items)
            conn.execute(insert(PageRow), page_rows)
        done = min(count, first + chunk)
        if done % 10_000 == 0 or done == count:
            seconds = time.perf_counter() - started
            print(f"  {done} items, {done * pages} pages in {seconds:.0f} s ({done * pages / seconds:.0f} pages/s)",
                  flush=True)
    return time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=10, help="pages of text per item (~1,800 characters each)")
    parser.add_argument("--queries", type=int, default=40, help="queries of each kind")
    parser.add_argument("--catalog-url", help="an empty catalog to fill (default: a new SQLite file)")
    parser.add_argument("--no-like", action="store_true", help="leave out the LIKE scan (it is slow at 100,000)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="search-bench-") as folder:
        url = args.catalog_url or f"sqlite:///{folder}/catalog.sqlite3"
        catalog = Catalog(url)
        if catalog.count("items"):
            print(f"catalog {url} is not empty; give an empty one", file=sys.stderr)
            return 2
        print(f"inserting {args.items} items with {args.pages} pages of text each ({catalog.engine.dialect.name}) ...",
              flush=True)
        seconds = populate(catalog, args.items, args.pages)
        print(f"inserted and indexed in {seconds:.0f} s: {args.items * args.pages / seconds:.0f} pages/s")
        try:
            return _time_queries(catalog, url, folder, args)
        finally:
            if args.catalog_url:  # leave the server as it was found
                with catalog.engine.begin() as conn:
                    conn.exec_driver_sql("DELETE FROM items WHERE identifier LIKE 'bench-%%'")
            catalog.close()


def _time_queries(catalog: Catalog, url: str, folder: str, args: argparse.Namespace) -> int:
    rng = random.Random(1)
    corpus_words = [w.strip(".,;:()«»—") for w in " ".join(PARAGRAPHS).split()]
    corpus_words = [w for w in corpus_words if len(w) >= 5]
    queries = {
        "word, Cyrillic": [rng.choice(corpus_words) for _ in range(args.queries)],
        "word, Latin": [transliterate_text(rng.choice(corpus_words)).lower() for _ in range(args.queries)],
        "no diacritics": [plain(rng.choice(corpus_words)) for _ in range(args.queries)],
        "two words": [f"{rng.choice(corpus_words)} {rng.choice(corpus_words)}" for _ in range(args.queries)],
        "author (Latin)": [transliterate_text(rng.choice(LAST)) for _ in range(args.queries)],
        "title number": [f"{rng.randrange(args.items)}" for _ in range(args.queries)],
        "absent word": [f"zzq{n}x" for n in range(args.queries)],
    }
    settings = Settings(web={"search_page_size": 20})
    engines: dict[str, Catalog] = {"index": catalog}
    if not args.no_like:
        engines["LIKE"] = LikeCatalog(url, create=False)
    store = LocalObjectStore(Path(folder) / "store")
    print(f"\n{args.items} items × {args.pages} pages, {catalog.engine.dialect.name}; loopback HTTP, one client, "
          "20 results per page; the HTML page also counts facets (the index only)")
    print(f"{'query':16} {'engine':6} {'endpoint':8} {'median ms':>10} {'p95 ms':>8} {'hits (median)':>14}")
    everything: dict[tuple[str, str], list[float]] = {}
    for engine, engine_catalog in engines.items():
        app = create_app(settings, catalog=engine_catalog, store=store)
        with serve(app) as base, httpx.Client(base_url=base, timeout=120) as client:
            client.get("/api/items", params={"q": "warm-up"})
            for name, words in queries.items():
                for endpoint, path in (("api", "/api/items"), ("html", "/")):
                    times, hits = [], []
                    for word in words:
                        started = time.perf_counter()
                        response = client.get(path, params={"q": word})
                        times.append((time.perf_counter() - started) * 1000)
                        response.raise_for_status()
                        if endpoint == "api":
                            hits.append(response.json()["total"])
                    everything.setdefault((engine, endpoint), []).extend(times)
                    hit_text = f"{statistics.median(hits):.0f}" if hits else ""
                    print(f"{name:16} {engine:6} {endpoint:8} {statistics.median(times):10.1f} "
                          f"{percentile(times, 0.95):8.1f} {hit_text:>14}", flush=True)
    for (engine, endpoint), times in everything.items():
        print(f"{'all queries':16} {engine:6} {endpoint:8} {statistics.median(times):10.1f} "
              f"{percentile(times, 0.95):8.1f}")
    if "LIKE" in engines:
        engines["LIKE"].close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
