"""The IIIF collection at scale: one document of every manifest (the previous design) against parts, one run.

Fills a fresh SQLite catalog with ``--items`` generated items (bulk inserts,
``bench.search_latency.populate``; one in 20 staff-only), serves it with
uvicorn on 127.0.0.1 and times over loopback HTTP: the top collection
(``/iiif/collection.json``: ``ceil(items / 1000)`` parts), one part
(``/iiif/collection/<n>.json``: up to 1,000 manifests) and, on the same app,
the previous answer, every public item's manifest in one document, made as
the previous release made it (the catalog read 1,000 items at a time, then
``archive.iiif.build_collection``) behind a bench-only route. Prints bytes and
median / max seconds of each.

    .venv/bin/python -m bench.iiif_collection --items 20000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response

from bench.search_corpus import Corpus
from bench.search_latency import populate
from digitize.archive.iiif import build_collection, to_json
from digitize.elibrary import create_app
from digitize.settings import Settings
from digitize.storage.catalog import Catalog, SearchQuery
from digitize.storage.catalog_records import Viewer
from digitize.storage.local import LocalObjectStore
from tests.helpers.live_server import serve


def _whole_collection_router(catalog: Catalog, name: str) -> APIRouter:
    """The previous release's collection: every public item's manifest in one document."""
    router = APIRouter()

    @router.get("/bench/whole-collection.json")
    def whole(request: Request) -> Response:
        anyone = Viewer()
        records = []
        offset = 0
        while True:
            result = catalog.search(SearchQuery(limit=1000, offset=offset))
            records += [item.record() for item in result.items if item.readable_by(anyone)]
            offset += 1000
            if offset >= result.total or not result.items:
                break
        base = str(request.base_url).rstrip("/")
        return Response(to_json(build_collection(base, name, records)), media_type="application/json")

    return router


def _time(client: httpx.Client, path: str, repeat: int) -> tuple[int, float, float]:
    seconds, size = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        answer = client.get(path)
        seconds.append(time.perf_counter() - started)
        answer.raise_for_status()
        size = len(answer.content)
    return size, statistics.median(seconds), max(seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="iiif-collection-bench-") as folder:
        catalog = Catalog(f"sqlite:///{Path(folder) / 'catalog.sqlite3'}")
        print(f"filling {args.items} items ...", flush=True)
        populate(catalog, args.items, 1, Corpus(words=20))
        settings = Settings()
        app = create_app(settings, catalog=catalog, store=LocalObjectStore(Path(folder) / "store"))
        app.include_router(_whole_collection_router(catalog, settings.web.repository_name))
        middle = max(1, -(-args.items // 1000) // 2)
        with serve(app) as url, httpx.Client(base_url=url, timeout=600) as client:
            rows = [
                ("one document (previous)", "/bench/whole-collection.json"),
                ("top collection (parts)", "/iiif/collection.json"),
                (f"part {middle}", f"/iiif/collection/{middle}.json"),
            ]
            print(f"{args.items} items, SQLite, loopback HTTP, {args.repeat} requests each")
            print(f"{'answer':28} {'bytes':>12} {'median s':>10} {'max s':>8}")
            for label, path in rows:
                size, median, worst = _time(client, path, args.repeat)
                print(f"{label:28} {size:>12,} {median:>10.3f} {worst:>8.3f}", flush=True)
        catalog.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
