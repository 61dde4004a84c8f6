"""Search latency of the e-library at N registered items with full text.

Registers ``--items`` generated items (Azerbaijani Cyrillic titles, authors
and ``--pages`` pages of prose each, from the sample corpus) in a fresh
catalog, serves it with uvicorn on 127.0.0.1, and times searches over
loopback through the JSON API and the HTML search page: words in Latin and
in Cyrillic, authors, a title, rare and absent words. Prints the median and
95th percentile per kind of query.

    .venv/bin/python -m bench.search_latency --items 10000
    .venv/bin/python -m bench.search_latency --items 10000 --catalog-url postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from digitize.archive.records import ItemRecord
from digitize.elibrary import create_app
from digitize.samples.corpus import paragraphs
from digitize.settings import Settings
from digitize.storage.catalog import Catalog, CatalogFile, CatalogPage, Registration
from digitize.storage.local import LocalObjectStore
from digitize.transliteration import transliterate_text
from tests.helpers.live_server import serve

FIRST = ["Һәсән", "Әли", "Мәммәд", "Сәмәд", "Рәшид", "Нигар", "Ҹәлил", "Үзејир", "Гара", "Шаһин"]
LAST = ["Әлизадә", "Вурғун", "Рза", "Гарајев", "Бејбутов", "Гулијев", "Мәммәдов", "Һүсејнов", "Әһмәдли"]


def make_items(count: int, pages: int, seed: int = 0):
    rng = random.Random(seed)
    for n in range(count):
        texts = ["\n\n".join(paragraphs(seed=seed * 100_000 + n * pages + p, n=5)) for p in range(pages)]
        words = texts[0].split()
        title = " ".join(rng.sample(words, k=min(3, len(words)))).strip(".,;:") + f" {n}"
        author = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        yield n, title, author, texts


def populate(catalog: Catalog, count: int, pages: int) -> float:
    started = time.perf_counter()
    for n, title, author, texts in make_items(count, pages):
        identifier = f"bench-{n:06d}"
        record = {
            "identifier": identifier, "title": title, "title_latin": transliterate_text(title),
            "authors": [author], "authors_latin": [transliterate_text(author)], "year": 1930 + n % 90,
            "language": "az", "script": "Cyrl", "kind": "text", "collection": f"Kolleksiya {n % 12}",
            "inventory_number": f"INV-{n}", "page_count": pages, "content_hash": str(n),
        }
        catalog.register(Registration(
            identifier=identifier,
            record=ItemRecord.from_mapping(record),
            files=(CatalogFile(f"items/{identifier}/manifest.json", "manifest", 1, "0" * 64, "application/json"),),
            pages=tuple(
                CatalogPage(seq, None, None, 90.0, 0.0, original_text=t, latin_text=transliterate_text(t))
                for seq, t in enumerate(texts, start=1)
            ),
            manifest_key=f"items/{identifier}/manifest.json",
            pdf_key=None,
            store="file://bench",
        ))
        if (n + 1) % 1000 == 0:
            print(f"  registered {n + 1} items ({time.perf_counter() - started:.0f} s)", flush=True)
    return time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--pages", type=int, default=4, help="pages of text per item (~1,800 characters each)")
    parser.add_argument("--queries", type=int, default=40, help="queries of each kind")
    parser.add_argument("--catalog-url", help="an empty catalog to fill (default: a new SQLite file)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="search-bench-") as folder:
        url = args.catalog_url or f"sqlite:///{folder}/catalog.sqlite3"
        catalog = Catalog(url)
        if catalog.count("items") != args.items:
            if catalog.count("items"):
                print(f"catalog {url} is not empty; give an empty one", file=sys.stderr)
                return 2
            print(f"registering {args.items} items with {args.pages} pages of text each ...", flush=True)
            seconds = populate(catalog, args.items, args.pages)
            print(f"registered in {seconds:.0f} s ({args.items / seconds:.0f} items/s)")

        rng = random.Random(1)
        corpus_words = [w.strip(".,;:()«»—") for w in " ".join(paragraphs(seed=7, n=40)).split()]
        corpus_words = [w for w in corpus_words if len(w) >= 5]
        queries = {
            "word, Cyrillic": [rng.choice(corpus_words) for _ in range(args.queries)],
            "word, Latin": [transliterate_text(rng.choice(corpus_words)).lower() for _ in range(args.queries)],
            "two words": [f"{rng.choice(corpus_words)} {rng.choice(corpus_words)}" for _ in range(args.queries)],
            "author (Latin)": [transliterate_text(rng.choice(LAST)) for _ in range(args.queries)],
            "absent word": [f"zzq{n}x" for n in range(args.queries)],
        }
        settings = Settings(web={"search_page_size": 20})
        app = create_app(settings, catalog=catalog, store=LocalObjectStore(Path(folder) / "store"))
        print(f"\n{args.items} items, {args.pages} pages each; loopback HTTP, one client, 20 results per page")
        print(f"{'query':16} {'endpoint':10} {'median ms':>10} {'p95 ms':>8} {'hits (median)':>14}")
        everything: dict[str, list[float]] = {"api": [], "html": []}
        with serve(app) as base, httpx.Client(base_url=base, timeout=60) as client:
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
                    everything[endpoint] += times
                    hit_text = f"{statistics.median(hits):.0f}" if hits else ""
                    print(f"{name:16} {endpoint:10} {statistics.median(times):10.1f} "
                          f"{percentile(times, 0.95):8.1f} {hit_text:>14}")
        for endpoint, times in everything.items():
            print(f"{'all queries':16} {endpoint:10} {statistics.median(times):10.1f} {percentile(times, 0.95):8.1f}")
        catalog.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
