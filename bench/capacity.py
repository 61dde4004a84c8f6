"""Benchmark: the inputs of the capacity model (docs/capacity.md), each measured on this machine.

Four parts, each bounded and on loopback only:

* ``pages``: one real ``digitize run`` of generated A5 text pages with the
  persistent Prefect server: CPU seconds per page of the page workers, the
  flow process and the Prefect server, and the bytes per page the store
  gets;
* ``prefect``: a load test of a local Prefect server: ``--tasks`` trivial
  task runs from one flow, ``--concurrency`` at a time (the way the flow's
  page tasks run), then until the server has recorded every task run:
  task runs per second seen by the flow and recorded by the server, CPU
  seconds per task run of the flow process and of the server;
* ``page-tasks``: Prefect's own cost of a page: ``--tasks`` runs of the
  real page task of a run (``flows.tasks.pooled_page_task``, with a real
  page job and the settings, through ``flows.rounds``' window of threads)
  whose pool answers at once with a finished page: CPU seconds per page
  task of the flow process and of the server (its idle CPU subtracted),
  once the server has recorded them all (issue 18: "a task per group of
  pages?");
* ``catalog``: registrations per second of items of ``--catalog-pages``
  pages of prose (the page texts are what the catalog indexes), one writer
  and ``--writers`` writers at once, SQLite and PostgreSQL (a throw-away
  server on 127.0.0.1, like CI's, unless ``--postgres-url`` is given);
* ``store``: objects and MB per second into the local-folder store for a
  page PDF (~110 kB) and a 300 dpi master (~4 MB).

    .venv/bin/python -m bench.capacity                       # all four
    .venv/bin/python -m bench.capacity --parts prefect catalog --tasks 400
    .venv/bin/python -m bench.capacity --parts page-tasks --tasks 200
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from bench.ocr_vs_ocrmypdf import make_pages

PARTS = ("pages", "prefect", "page-tasks", "catalog", "store")


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


class TreeCpu(threading.Thread):
    """CPU seconds of a process and its descendants, by role, sampled every 0.1 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.last: dict[int, tuple[str, float]] = {}
        self.stopped = threading.Event()

    def _role(self, process: psutil.Process) -> str:
        if process.pid == self.root.pid:
            return "flow"
        command = " ".join(process.cmdline())
        if "uvicorn" in command:
            return "prefect server"
        if "resource_tracker" in command:
            return "other"
        return "page workers"

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in processes:
                try:
                    role = self.last[process.pid][0] if process.pid in self.last else self._role(process)
                    self.last[process.pid] = (role, _cpu(process))
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self.stopped.wait(0.1)

    def by_role(self) -> dict[str, float]:
        total: dict[str, float] = {}
        for role, seconds in self.last.values():
            total[role] = total.get(role, 0.0) + seconds
        return total


@contextmanager
def prefect_server(folder: Path) -> Iterator[tuple[str, psutil.Process]]:
    from digitize.flows.local_server import start_server, stop_server

    record, _ = start_server(folder)
    try:
        yield record.api_url, psutil.Process(record.pid)
    finally:
        stop_server(folder)


def part_pages(tmp: Path, pages: int, workers: int) -> dict[str, Any]:
    """CPU per page of each process of a real run, with the persistent server."""
    item = tmp / "pages-src" / "batch" / "book"
    item.mkdir(parents=True)
    (item / "item.toml").write_text('title = "Bench"\nlanguage = "az"\nscript = "Cyrl"\nocr_model = "Cyrillic"\n')
    make_pages(item, pages)
    home = tmp / "pages-home"
    from digitize.flows.local_server import server_folder

    with prefect_server(server_folder(home)) as (_, server):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIGITIZE_") and k != "PREFECT_API_URL"}
        env.update(DIGITIZE_HOME=str(home), DIGITIZE_WORKERS=str(workers), OMP_THREAD_LIMIT="1")
        server_before = _cpu(server)
        start = time.perf_counter()
        process = subprocess.Popen([str(Path(sys.executable).with_name("digitize")), "run", str(item.parent)],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        account = TreeCpu(process.pid)
        account.start()
        out, err = process.communicate()
        whole = time.perf_counter() - start
        account.stopped.set()
        account.join()
        time.sleep(2.0)  # the server records the last events after the run
        server_cpu = _cpu(server) - server_before
        if process.returncode != 0:
            raise SystemExit(f"digitize run failed:\n{err.decode()[-3000:]}")
    roles = account.by_role()
    stored = sum(p.stat().st_size for p in (home / "store").rglob("*") if p.is_file())
    masters = sum(p.stat().st_size for p in item.glob("*.tif"))
    report = json.loads((home / "output" / "batch-batch.json").read_text())
    return {
        "pages": pages, "workers": workers, "whole_seconds": whole, "page_seconds": report["page_seconds"],
        "cpu_per_page": {
            "page workers": roles.get("page workers", 0.0) / pages,
            "flow": roles.get("flow", 0.0) / pages,
            "prefect server": server_cpu / pages,
        },
        "stored_bytes_per_page": stored / pages,
        "master_bytes_per_page": masters / pages,
    }


def part_prefect(tmp: Path, tasks: int, concurrency: int) -> dict[str, Any]:
    """Task runs per second through a local Prefect server, and the CPU each costs."""
    from digitize.flows.local_server import server_folder

    with prefect_server(server_folder(tmp / "prefect-home")) as (api_url, server):
        script = tmp / "prefect_load.py"
        script.write_text(_LOAD_SCRIPT)
        env = dict(os.environ, PREFECT_API_URL=api_url, PREFECT_LOGGING_LEVEL="WARNING",
                   DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
        server_before = _cpu(server)
        out = subprocess.run([sys.executable, str(script), str(tasks), str(concurrency)], env=env,
                             capture_output=True, text=True, check=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        import httpx

        deadline = time.monotonic() + 300
        recorded = 0
        with httpx.Client(base_url=api_url, timeout=30) as api:
            while time.monotonic() < deadline:
                recorded = api.post("/task_runs/count", json={
                    "flow_runs": {"id": {"any_": [result["flow_run_id"]]}},
                    "task_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
                }).json()
                if recorded >= tasks:
                    break
                time.sleep(0.2)
        recorded_after = time.perf_counter() - result["started"] if recorded >= tasks else None
        server_cpu = _cpu(server) - server_before
        idle_before = _cpu(server)
        time.sleep(10.0)
        idle = (_cpu(server) - idle_before) / 10.0
    return {
        "tasks": tasks, "concurrency": concurrency,
        "flow_task_runs_per_second": tasks / result["seconds"],
        "recorded_task_runs_per_second": tasks / recorded_after if recorded_after else None,
        "recorded": recorded,
        "flow_cpu_per_task_run": result["cpu"] / tasks,
        "server_cpu_per_task_run": server_cpu / tasks,
        "server_idle_cpu_share": idle,
    }


def part_page_tasks(tmp: Path, tasks: int) -> dict[str, Any]:
    """Prefect's CPU per page task (flow process and server), the page itself taking no time."""
    from digitize.flows.local_server import server_folder

    item = tmp / "tasks-src" / "batch" / "book"
    item.mkdir(parents=True)
    (item / "item.toml").write_text('title = "Bench"\nlanguage = "az"\nscript = "Cyrl"\nocr_model = "Cyrillic"\n')
    make_pages(item, 1)
    with prefect_server(server_folder(tmp / "tasks-home")) as (api_url, server):
        script = tmp / "page_tasks.py"
        script.write_text(_PAGE_TASKS_SCRIPT)
        env = dict(os.environ, PREFECT_API_URL=api_url, PREFECT_LOGGING_LEVEL="WARNING", DIGITIZE_WORKERS="2",
                   DIGITIZE_WORK_DIR=str(tmp / "tasks-work"), DO_NOT_TRACK="1",
                   PREFECT_SERVER_ANALYTICS_ENABLED="false")
        idle_before = _cpu(server)
        time.sleep(5.0)
        idle = (_cpu(server) - idle_before) / 5.0
        server_before, started = _cpu(server), time.perf_counter()
        out = subprocess.run([sys.executable, str(script), str(item.parent), str(tasks)], env=env,
                             capture_output=True, text=True, check=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        previous = _cpu(server)
        while True:  # until the server has recorded everything: its CPU back to idle
            time.sleep(1.0)
            now = _cpu(server)
            if now - previous < max(0.05, 2 * idle):
                break
            previous = now
        server_cpu = now - server_before - idle * (time.perf_counter() - started)
    return {
        "tasks": tasks, "window": result["window"],
        "flow_cpu_per_page_task": result["cpu"] / tasks,
        "server_cpu_per_page_task": server_cpu / tasks,
        "server_idle_cpu_share": idle,
    }


_PAGE_TASKS_SCRIPT = '''
import dataclasses, json, sys, time
from pathlib import Path
from prefect import flow
from digitize.assembly.item import plan_pages
from digitize.flows.rounds import _in_window
from digitize.flows.runners import thread_runner
from digitize.flows.tasks import pooled_page_task
from digitize.pipeline.page import process_page
from digitize.scanners.batch import read_batch
from digitize.settings import load_settings

batch_dir, tasks = Path(sys.argv[1]), int(sys.argv[2])
settings = load_settings(None)
job = plan_pages(read_batch(batch_dir, settings.image.max_image_pixels).items[0], settings)[0]
result = process_page(job, settings)
jobs = [dataclasses.replace(job, seq=n + 1) for n in range(tasks)]
window = max(8, 4 * settings.workers)  # as flows.rounds


class AnsweringPool:
    """A page pool whose pages are done at once: what is left is Prefect's cost."""

    def run(self, job, settings):
        return result


@flow(name="capacity-page-tasks")
def page_tasks() -> dict:
    cpu = time.process_time()
    with thread_runner(window) as runner:
        done = sum(1 for entry in _in_window(runner, pooled_page_task, jobs, settings, window=window,
                                             extra={"pool": AnsweringPool()}) if entry)
    assert done == tasks, done
    return {"cpu": time.process_time() - cpu, "window": window}

print(json.dumps(page_tasks()))
'''


# Run in its own process so that its CPU time is the flow's alone.
_LOAD_SCRIPT = '''
import json, sys, time
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

tasks, concurrency = int(sys.argv[1]), int(sys.argv[2])

@task(name="page", task_run_name="page {n}", cache_policy=NO_CACHE)
def page(n: int) -> int:
    return n

@flow(name="capacity-load", task_runner=ThreadPoolTaskRunner(max_workers=concurrency))
def load() -> dict:
    cpu, start, started = time.process_time(), time.perf_counter(), time.time()
    futures = [page.submit(n) for n in range(tasks)]
    for future in futures:
        future.result()
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "started": started,
            "flow_run_id": str(flow_run.id)}

result = load()
result["started"] = time.perf_counter() - (time.time() - result["started"])
print(json.dumps(result))
'''


@contextmanager
def throwaway_postgres(folder: Path) -> Iterator[str | None]:
    """A PostgreSQL server on 127.0.0.1 for the bench (as CI starts one), or None when not installed."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not bins:
        yield None
        return
    pg = bins[-1]
    folder.mkdir(parents=True)
    owner = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    if owner:
        shutil.chown(folder, "postgres")
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subprocess.run([*owner, str(pg / "initdb"), "-D", str(folder / "data"), "-U", "digitize", "--auth=trust",
                    "-E", "UTF8", "--locale=C.UTF-8"], check=True, capture_output=True)
    subprocess.run([*owner, str(pg / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"), "-w", "-o",
                    f"-c listen_addresses=127.0.0.1 -p {port} -k {folder}", "start"], check=True, capture_output=True)
    try:
        subprocess.run([*owner, str(pg / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "digitize",
                        "capacity"], check=True, capture_output=True)
        yield f"postgresql+psycopg://digitize@127.0.0.1:{port}/capacity"
    finally:
        subprocess.run([*owner, str(pg / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "stop"],
                       capture_output=True)


def _registrations(tmp: Path, count: int, pages: int, prefix: str) -> list[Any]:
    from digitize.samples.corpus import paragraphs
    from tests.helpers.catalog_data import make_registration

    texts = [" ".join(paragraphs(seed=900 + n, n=4)) for n in range(pages)]
    return [make_registration(tmp, f"{prefix}-{n:05d}", f"Китаб {n}", ["Һ. Әлизадә"], 1968, pages=texts)
            for n in range(count)]


def _register_rate(url: str, registrations: list[Any], writers: int) -> float:
    from digitize.storage.catalog import Catalog

    chunks = [registrations[i::writers] for i in range(writers)]
    catalogs = [Catalog(url, busy_timeout=60) for _ in range(writers)]
    errors: list[BaseException] = []

    def write(catalog: Any, chunk: list[Any]) -> None:
        try:
            for registration in chunk:
                catalog.register(registration)
        except BaseException as exc:  # reported after the threads end
            errors.append(exc)

    start = time.perf_counter()
    threads = [threading.Thread(target=write, args=(c, chunk)) for c, chunk in zip(catalogs, chunks, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    for catalog in catalogs:
        catalog.close()
    if errors:
        raise errors[0]
    return len(registrations) / seconds


def part_catalog(tmp: Path, items: int, pages: int, writers: int, postgres_url: str | None) -> dict[str, Any]:
    results: dict[str, Any] = {"items": items, "pages_per_item": pages, "writers": writers}
    with throwaway_postgres(tmp / "pg") if postgres_url is None else _given(postgres_url) as pg_url:
        backends = {"sqlite": f"sqlite:///{tmp / 'capacity.sqlite3'}"}
        if pg_url:
            backends["postgresql"] = pg_url
        for name, url in backends.items():
            from digitize.storage.catalog import Catalog

            Catalog(url).close()  # the schema, before the clock
            one = _register_rate(url, _registrations(tmp, items, pages, f"{name}-one"), 1)
            many = _register_rate(url, _registrations(tmp, items, pages, f"{name}-many"), writers)
            results[name] = {"registrations_per_second_one_writer": one,
                             f"registrations_per_second_{writers}_writers": many}
    return results


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


def part_store(tmp: Path, count: int) -> dict[str, Any]:
    import numpy as np

    from digitize.storage.local import LocalObjectStore

    store = LocalObjectStore(tmp / "store")
    rng = np.random.default_rng(0)
    results: dict[str, Any] = {}
    for name, size in (("page pdf 110 kB", 110_000), ("master 4 MB", 4_000_000)):
        source = tmp / f"object-{size}"
        source.write_bytes(rng.integers(0, 255, size, dtype=np.uint8).tobytes())
        start = time.perf_counter()
        for n in range(count):
            store.put_file(f"bench/{size}/{n}", source, content_type="application/octet-stream")
        seconds = time.perf_counter() - start
        results[name] = {"objects_per_second": count / seconds, "mb_per_second": count * size / seconds / 1e6}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--pages", type=int, nargs="+", default=[3, 12],
                        help="pages of the real runs (part pages); two sizes split fixed from per-page costs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=400, help="task runs of the Prefect load test")
    parser.add_argument("--concurrency", type=int, default=8, help="task runs at once in the load test")
    parser.add_argument("--catalog-items", type=int, default=100)
    parser.add_argument("--catalog-pages", type=int, default=20, help="pages of prose per registered item")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--postgres-url", help="a PostgreSQL catalog URL (default: a throw-away server)")
    parser.add_argument("--store-objects", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from digitize.settings import apply_process_defaults

    apply_process_defaults()
    results: dict[str, Any] = {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="bench-capacity-") as name:
        tmp = Path(name)
        os.chmod(tmp, 0o755)  # the throw-away PostgreSQL runs as its own user
        if "pages" in args.parts:
            runs = [part_pages(tmp / f"run-{n}", n, args.workers) for n in sorted(set(args.pages))]
            results["pages"] = runs[-1]
            if len(runs) > 1:  # fixed and per-page parts of each process's CPU, from the smallest and largest run
                small, large = runs[0], runs[-1]
                results["pages"]["marginal_cpu_per_page"] = {
                    role: (large["cpu_per_page"][role] * large["pages"] - small["cpu_per_page"][role] * small["pages"])
                    / (large["pages"] - small["pages"])
                    for role in large["cpu_per_page"]
                }
                results["pages"]["fixed_cpu_per_run"] = {
                    role: small["cpu_per_page"][role] * small["pages"]
                    - results["pages"]["marginal_cpu_per_page"][role] * small["pages"]
                    for role in large["cpu_per_page"]
                }
                results["pages_runs"] = runs
            print("pages:", json.dumps(results["pages"], indent=1), flush=True)
        if "prefect" in args.parts:
            results["prefect"] = part_prefect(tmp, args.tasks, args.concurrency)
            print("prefect:", json.dumps(results["prefect"], indent=1), flush=True)
        if "page-tasks" in args.parts:
            results["page_tasks"] = part_page_tasks(tmp, args.tasks)
            print("page tasks:", json.dumps(results["page_tasks"], indent=1), flush=True)
        if "catalog" in args.parts:
            results["catalog"] = part_catalog(tmp, args.catalog_items, args.catalog_pages, args.writers,
                                              args.postgres_url)
            print("catalog:", json.dumps(results["catalog"], indent=1), flush=True)
        if "store" in args.parts:
            results["store"] = part_store(tmp, args.store_objects)
            print("store:", json.dumps(results["store"], indent=1), flush=True)
    results["load_after"] = os.getloadavg()[0]
    print(f"load average {results['load_before']:.1f} before, {results['load_after']:.1f} after, "
          f"{results['cpus']} CPUs (a shared machine: figures are noisy)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    _model(results)
    return 0


def _model(results: dict[str, Any]) -> None:
    """Workers one flow can feed before each part saturates one core (or its measured rate)."""
    pages = results.get("pages")
    if not pages:
        return
    per_page = pages.get("marginal_cpu_per_page", pages["cpu_per_page"])
    worker = per_page["page workers"]
    print(f"\nworker CPU per page {worker:.2f} s: one worker makes {1 / worker:.2f} pages/s")
    for part in ("flow", "prefect server"):
        cost = per_page[part]
        fixed = pages.get("fixed_cpu_per_run", {}).get(part)
        if cost > 0:
            print(f"{part}: {cost * 1000:.0f} ms CPU per page" + (f" (+ {fixed:.1f} s per run)" if fixed else "")
                  + f" -> one core feeds {worker / cost:.0f} workers")
    prefect = results.get("prefect")
    if prefect and prefect.get("recorded_task_runs_per_second"):
        rate = prefect["recorded_task_runs_per_second"]
        print(f"prefect server records {rate:.0f} task runs/s -> {rate * worker:.0f} workers at one task run per page")
    catalog = results.get("catalog")
    if catalog:
        for backend in ("sqlite", "postgresql"):
            if backend in catalog:
                rate = catalog[backend]["registrations_per_second_one_writer"]
                per_page = rate * catalog["pages_per_item"]
                print(f"catalog {backend}: {rate:.1f} items/s of {catalog['pages_per_item']} pages = {per_page:.0f} "
                      f"pages/s -> {per_page * worker:.0f} workers")
    store = results.get("store")
    if store:
        mb = store["master 4 MB"]["mb_per_second"]
        per_page = pages["stored_bytes_per_page"] / 1e6
        print(f"local store {mb:.0f} MB/s, {per_page:.2f} MB stored per page -> {mb / per_page * worker:.0f} workers")


if __name__ == "__main__":
    raise SystemExit(main())
