"""Per-item assembly against the item's page time, and its memory, for 10-, 100- and 1,000-page items.

Goal (issue 18): assembling an item (PDF/A, EPUB, texts, ALTO, METS, MARC,
bag) and publishing it (upload to the store, catalog) costs at most 10 % of
the item's page time, and peak memory does not grow with the book's length.

How: a few real text pages (generated A5 scans at 300 dpi, saved as LZW
TIFF as a scanner would) are processed once with the real pipeline
(Tesseract); their page time is the peer figure, measured in the same run.
An N-page item is then made cheaply, as bench/archive_memory.py does: every
page a copy of one of those real pages (its master TIFF, page PDF, hOCR and
texts). Each measurement runs in a fresh process: assemble_item, then
publish_item to a local folder store (or SeaweedFS on 127.0.0.1 with
``--store s3``) and a SQLite catalog, with each stage timed and the peak
RSS (VmHWM, reset at every stage boundary) recorded. Median of ``--repeat``
runs. ``--no-tiles`` leaves out the IIIF tiles made when publishing
(delivery.tiles; made in a background thread while the item's files are
stored, so their "IIIF tiles" stage is what was left to wait for plus
their upload, and the rest shows in "upload"); the line says so.

    .venv/bin/python -m bench.assembly                      # 10, 100, 1000 pages, 3 runs each
    .venv/bin/python -m bench.assembly --pages 10 100 --repeat 1 --store s3 --no-tiles
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import pickle
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TEMPLATES = 3  # distinct real pages; page n of an item is a copy of template n % 3

# (module, attribute, stage name): each wrapped for time and peak memory; nested stages are subtracted
# from their parent (the parent's own time is reported under its name).
STAGES = (
    ("digitize.assembly.item", "verify_masters", "masters fixity"),
    ("digitize.assembly.item", "_printed_labels", "page labels"),
    ("digitize.assembly.item", "_merge_pdfs", "PDF/A"),
    ("digitize.assembly.item", "page_jpeg", "thumbnails"),
    ("digitize.assembly.item", "write_epub", "EPUB"),
    ("digitize.assembly.item", "_place", "texts"),
    ("digitize.assembly.item", "_copy", "texts"),
    ("digitize.assembly.item", "_join_texts", "texts"),
    ("digitize.archive.package", "write_alto", "ALTO"),
    ("digitize.archive.package", "write_marc", "MARC"),
    ("digitize.archive.package", "write_mets", "METS"),
    ("digitize.archive.package", "make_bag_zip", "bag"),
    ("digitize.delivery.publish", "_publish_tiles", "IIIF tiles"),
    ("digitize.storage.objects", "ObjectStore.put_file", "upload"),  # hash, stat, copy, fsync: of "upload and catalog"
)


def _hwm_mb() -> float:
    """Peak resident set size since the last reset (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak() -> None:
    """Linux: writing 5 to clear_refs resets the peak RSS to the current RSS."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


# -- making the item ------------------------------------------------------------------------------


def prepare(folder: Path, pages: int, templates: Path) -> Path:
    """Write an N-page item from the template pages and pickle (item, page results)."""
    from digitize.scanners.batch import read_item

    real = pickle.loads((templates / "templates.pickle").read_bytes())["pages"]
    item_dir = folder / "batch" / f"book-{pages}"
    item_dir.mkdir(parents=True)
    (item_dir / "item.toml").write_text(
        f'title = "Китаб {pages}"\nauthors = ["Һ. Әлизадә"]\nyear = 1968\ninventory_number = "INV-{pages}"\n',
        encoding="utf-8",
    )
    for seq in range(1, pages + 1):
        template = real[(seq - 1) % len(real)]
        os.link(template.source, item_dir / f"p{seq:05d}.tif")  # the same bytes: a master costs what it costs
    item = read_item(item_dir)
    results = []
    for page in item.pages:
        template = real[(page.seq - 1) % len(real)]
        work = folder / "work" / item.item_id / "pages" / f"{page.seq:06d}"
        work.mkdir(parents=True)
        paths = {}
        for name in ("pdf", "hocr", "text", "text_latin"):
            src = getattr(template, name)
            paths[name] = work / src.name
            shutil.copyfile(src, paths[name])
        results.append(dataclasses.replace(template, item_id=item.item_id, seq=page.seq, source=page.path, **paths))
    blob = folder / "pages.pickle"
    blob.write_bytes(pickle.dumps((item, results)))
    return blob


def make_templates(folder: Path) -> dict[str, Any]:
    """Process TEMPLATES real pages with the real pipeline; their results and seconds per page."""
    from digitize.assembly.item import plan_pages
    from digitize.pipeline.page import process_page
    from digitize.samples.corpus import paragraphs
    from digitize.samples.render import render_page, scan_like
    from digitize.scanners.batch import read_item
    from digitize.settings import Settings

    item_dir = folder / "templates"
    item_dir.mkdir(parents=True)
    (item_dir / "item.toml").write_text('title = "Шаблон"\nyear = 1968\n', encoding="utf-8")
    for n in range(1, TEMPLATES + 1):
        rendered = render_page(paragraphs(seed=700 + n, n=3), seed=n)
        scan_like(rendered, skew_degrees=1.0, seed=n).save(
            item_dir / f"t{n}.tif", dpi=(300, 300), compression="tiff_lzw"
        )
    settings = Settings(work_dir=folder / "work", output_dir=folder / "out")
    item = read_item(item_dir)
    started = time.perf_counter()
    results = [process_page(job, settings) for job in plan_pages(item, settings)]
    wall = (time.perf_counter() - started) / len(results)
    seconds = [sum(r.seconds.values()) for r in results]
    data = {"pages": results, "page_seconds": statistics.median(seconds), "page_wall": wall,
            "master_bytes": statistics.median(r.source.stat().st_size for r in results)}
    (folder / "templates.pickle").write_bytes(pickle.dumps(data))
    return data


# -- measuring --------------------------------------------------------------------------------------


class _Meter:
    """Seconds and peak RSS per stage; nested stages are not counted in their parents' own time."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak: dict[str, float] = {}
        self.overall = 0.0
        self._stack: list[list[Any]] = []  # [name, started, child seconds, peak]

    def _note_peak(self) -> None:
        hwm = _hwm_mb()
        self.overall = max(self.overall, hwm)
        for frame in self._stack:
            frame[3] = max(frame[3], hwm)
        _reset_peak()

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._note_peak()
            self._stack.append([name, time.perf_counter(), 0.0, 0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                self._note_peak()
                frame = self._stack.pop()
                spent = time.perf_counter() - frame[1]
                self.seconds[name] = self.seconds.get(name, 0.0) + spent - frame[2]
                self.peak[name] = max(self.peak.get(name, 0.0), frame[3])
                if self._stack:
                    self._stack[-1][2] += spent

        return timed


def measure(blob: Path, root: Path, storage: dict[str, Any] | None, tiles: bool) -> dict[str, Any]:
    import importlib

    from digitize.assembly.item import assemble_item
    from digitize.delivery import publish
    from digitize.delivery.publish import publish_item
    from digitize.settings import Settings
    from digitize.storage.catalog import Catalog
    from digitize.storage.factory import open_store

    item, pages = pickle.loads(blob.read_bytes())
    settings = Settings(
        work_dir=blob.parent / "work", output_dir=root / "out",
        storage=storage or {"url": f"file://{root / 'store'}"},
        catalog={"url": f"sqlite:///{root / 'catalog.sqlite3'}"},
    )
    if not tiles and hasattr(publish, "_publish_tiles"):
        publish._publish_tiles = lambda *args, **kwargs: None  # type: ignore[attr-defined]
        if hasattr(publish, "start_tiles"):  # tiles begun in the background while the files are stored
            publish.start_tiles = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    meter = _Meter()
    for module_name, attribute, stage in STAGES:
        owner: Any = importlib.import_module(module_name)
        *path, name = attribute.split(".")  # "Class.method" wraps a method for every instance
        for part in path:
            owner = getattr(owner, part)
        if hasattr(owner, name):
            setattr(owner, name, meter.wrap(stage, getattr(owner, name)))
    store = open_store(settings.storage)
    catalog = Catalog(settings.catalog.url)
    timed_assemble = meter.wrap("assembly (other)", assemble_item)
    timed_publish = meter.wrap("upload and catalog", publish_item)
    baseline = _rss_mb()
    _reset_peak()
    started = time.perf_counter()
    outputs = timed_assemble(item, pages, settings)
    assembled = time.perf_counter() - started
    timed_publish(item, outputs, pages, store, catalog, batch="bench")
    total = time.perf_counter() - started
    catalog_files = catalog.files(item.item_id)
    catalog.close()
    meter._note_peak()
    bag = next((f.path.stat().st_size for f in outputs.files if f.role == "bag"), 0)
    return {
        "pages": len(pages),
        "assembly_seconds": round(assembled, 3),
        "total_seconds": round(total, 3),
        "stages": {name: round(seconds, 3) for name, seconds in sorted(meter.seconds.items())},
        "stage_peak_mb": {name: round(peak - baseline, 1) for name, peak in sorted(meter.peak.items())},
        "baseline_rss_mb": round(baseline, 1),
        "peak_growth_mb": round(meter.overall - baseline, 1),
        "bag_bytes": bag,
        "store_bytes": sum(f.size for f in catalog_files),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per length (median)")
    parser.add_argument("--store", choices=("local", "s3"), default="local",
                        help="a local folder, or SeaweedFS on 127.0.0.1 (tests/helpers/seaweed.py)")
    parser.add_argument("--no-tiles", action="store_true", help="leave out the IIIF tiles made when publishing")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--storage", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        storage = json.loads(args.storage.read_text()) if args.storage else None
        print(json.dumps(measure(args.measure, args.root, storage, not args.no_tiles)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-assembly-") as tmp, contextlib.ExitStack() as stack:
        server = None
        if args.store == "s3":
            from tests.helpers.seaweed import start_seaweed

            server = start_seaweed(Path(tmp) / "seaweed", bucket="bench")
            stack.callback(server.stop, grace_seconds=0)
        templates = make_templates(Path(tmp))
        page_seconds = templates["page_seconds"]
        print(json.dumps({"template_pages": TEMPLATES, "page_seconds_median": round(page_seconds, 3),
                          "page_wall_seconds": round(templates["page_wall"], 3),
                          "master_bytes": templates["master_bytes"]}))
        for count in args.pages:
            folder = Path(tmp) / f"n{count}"
            blob = prepare(folder, count, Path(tmp))
            runs = []
            for run in range(args.repeat):
                root = folder / f"run{run}"
                command = [sys.executable, "-m", "bench.assembly", "--measure", str(blob), "--root", str(root)]
                if args.no_tiles:
                    command.append("--no-tiles")
                if server is not None:
                    storage = server.storage_settings(f"n{count}-run{run}")
                    secret = folder / f"storage-{run}.json"  # a throw-away local server's made-up key
                    secret.write_text(json.dumps({
                        "url": storage.url, "endpoint_url": storage.endpoint_url, "region": storage.region,
                        "access_key_id": server.access_key_id, "secret_access_key": server.secret_access_key,
                    }))
                    command += ["--storage", str(secret)]
                done = subprocess.run(command, check=True, capture_output=True, text=True)
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
                shutil.rmtree(root)
            median = statistics.median(r["total_seconds"] for r in runs)
            stages = {name: round(statistics.median(r["stages"].get(name, 0.0) for r in runs), 3)
                      for name in runs[0]["stages"]}
            item_page_time = page_seconds * count
            print(json.dumps({
                "pages": count,
                "store": args.store,
                "tiles": "left out" if args.no_tiles else "measured",
                "runs": len(runs),
                "assembly_and_publish_seconds_median": median,
                "assembly_seconds_median": statistics.median(r["assembly_seconds"] for r in runs),
                "item_page_seconds": round(item_page_time, 1),
                "share_of_page_time": round(median / item_page_time, 4),
                "per_page_ms": round(1000 * median / count, 1),
                "stages_median": stages,
                "peak_growth_mb": [r["peak_growth_mb"] for r in runs],
                "stage_peak_mb": runs[-1]["stage_peak_mb"],
                "bag_bytes": runs[-1]["bag_bytes"],
                "store_bytes": runs[-1]["store_bytes"],
            }, ensure_ascii=False))


if __name__ == "__main__":
    main()
