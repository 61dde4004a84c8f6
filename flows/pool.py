"""Page worker processes on this machine, started before the orchestration.

Measured (bench/throughput.py), a run spent its first seconds importing
Prefect, reaching (or starting) a Prefect server and creating the flow run
before a worker process was even started, and each worker then imported
Prefect again to run its page task. Here the workers are plain processes
that run the core page function and never import Prefect: ``digitize run``
starts them at once and gives them the first pages of the batch
(:meth:`PagePool.head_start`) while the flow comes up; the flow's page
tasks then run in threads of the flow process and wait for the page's
result from the pool, so every page still has its Prefect task run, with
its state, time and retries, and the flow run its record and artifacts.

A worker process that dies breaks the pool (``BrokenProcessPool``) as it
broke Prefect's process pool: :mod:`flows.rounds` then runs the pages not
finished on a fresh pool. Workers die with the process that started them
(``PR_SET_PDEATHSIG``) and start with the project's process defaults.

Nothing here imports Prefect.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from digitize.errors import DigitizeError
from digitize.files import atomic_write_text
from digitize.flows.children import die_with_parent
from digitize.flows.faults import inject_fault
from digitize.pipeline.model import PageJob, PageResult
from digitize.settings import Settings, apply_process_defaults

__all__ = [
    "STARTED",
    "PagePool",
    "discard_head_start",
    "freeze_loaded_objects",
    "head_start",
    "page_work",
    "scratch_dir",
    "set_head_start",
    "staged_page_work",
    "start_worker",
    "started_ahead",
    "take_head_start",
]

log = logging.getLogger(__name__)

STARTED = ".started"  # written by a page as it starts on a worker: "this page was in flight"
_Key = tuple[str, int]


def start_worker(parent: int) -> None:
    """Initialiser of a page worker process: die with ``parent``, then set the process defaults."""
    die_with_parent(parent)
    apply_process_defaults()


def _mark_started(job: PageJob) -> None:
    job.work_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(job.work_dir / STARTED, str(os.getpid()))


def page_work(job: PageJob, settings: Settings) -> PageResult:
    """One page on a worker that shares the flow's disk."""
    from digitize.pipeline.page import process_page

    _mark_started(job)
    inject_fault(job)
    return process_page(job, settings)


def scratch_dir(settings: Settings) -> Path:
    """The worker's own folder for staged pages: never the flow's work folder."""
    if settings.runs.scratch_dir is not None:
        return Path(settings.runs.scratch_dir)
    try:
        from distributed import get_worker

        return Path(get_worker().local_directory) / "digitize-pages"
    except (ImportError, ValueError):  # not on a Dask worker
        return Path(tempfile.gettempdir()) / "digitize-pages"


def staged_page_work(job: PageJob, settings: Settings) -> PageResult:
    """A page on a worker that sees only the object store (see :mod:`delivery.staging`)."""
    from digitize.delivery.staging import process_staged_page
    from digitize.storage.factory import open_store

    if settings.runs.task_runner == "process":  # same machine: the crash bookkeeping can use the work folder
        _mark_started(job)
    inject_fault(job)
    return process_staged_page(job, settings, open_store(settings.storage), scratch_dir(settings))


def _fork_is_safe() -> bool:
    """Fork only a process with one thread, on a system whose multiprocessing offers it."""
    return threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()


def _warm() -> int:
    """Load the page stages (OpenCV, Tesseract's bindings, the PDF libraries) before the first page."""
    import digitize.pipeline.page  # noqa: F401

    return os.getpid()


class PagePool:
    """``workers`` page processes; a page submitted twice (head start, then the flow) runs once."""

    def __init__(self, workers: int, *, staged: bool = False, fork: bool = False) -> None:
        self.workers = max(1, workers)
        self.staged = staged
        # Spawn, as Prefect's process pool did, once the process has threads (Prefect's), where fork is
        # unsafe. The command's head start forks while it is still one thread: a forked worker starts in
        # milliseconds and imports nothing twice (a spawned one starts a new interpreter and imports the
        # command's modules again, 0.3-0.5 s of each worker's CPU before its first page).
        method = "fork" if fork and _fork_is_safe() else "spawn"
        self._executor = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context(method),
            initializer=start_worker, initargs=(os.getpid(),),
        )
        self._early: dict[_Key, Future[PageResult]] = {}
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Start every worker process now and let it load the page stages."""
        for _ in range(self.workers):
            self._executor.submit(_warm)

    def head_start(self, jobs: list[PageJob], settings: Settings) -> int:
        """Start these pages now, before the flow asks for them; return how many were started."""
        work = staged_page_work if self.staged else page_work
        with self._lock:
            for job in jobs:
                self._early[(job.item_id, job.seq)] = self._executor.submit(work, job, settings)
        return len(jobs)

    def started_ahead(self, job: PageJob) -> bool:
        """Was this page started ahead, and not yet asked for?"""
        with self._lock:
            return (job.item_id, job.seq) in self._early

    def submit(self, job: PageJob, settings: Settings) -> Future[PageResult]:
        """The page's future: the one started ahead for it, else a new one."""
        with self._lock:
            early = self._early.pop((job.item_id, job.seq), None)
        if early is not None:
            return early
        return self._executor.submit(staged_page_work if self.staged else page_work, job, settings)

    def run(self, job: PageJob, settings: Settings) -> PageResult:
        """Process the page on a worker and wait for its result (called in a page task's thread)."""
        result = self.submit(job, settings).result()
        log.info("page %s#%d: done on a page worker", job.item_id, job.seq)
        return result

    def shutdown(self) -> None:
        """Stop the workers; pages started ahead but never asked for are cancelled or left to finish."""
        with self._lock:
            self._early.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> PagePool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()


# The pool the command started before the flow, handed to the flow's first round of pages.
_head_start: PagePool | None = None


def set_head_start(pool: PagePool | None) -> None:
    """Hand a started pool (with its head-start pages) to the next run of the flow in this process."""
    global _head_start
    _head_start = pool


def take_head_start(workers: int, staged: bool) -> PagePool | None:
    """The pool started ahead, if it fits this round (same number of workers, same kind of page)."""
    global _head_start
    pool, _head_start = _head_start, None
    if pool is None:
        return None
    if pool.workers != max(1, workers) or pool.staged != staged:
        pool.shutdown()
        return None
    return pool


def started_ahead(job: PageJob) -> bool:
    """Is this page running (or done) in the pool started ahead? The flow then gives it a task, not a resume."""
    return _head_start is not None and _head_start.started_ahead(job)


def _pages_to_start(batch_dir: Path, settings: Settings, count: int) -> list[PageJob]:
    """The first ``count`` pages of the batch not finished before, in the order the flow submits them."""
    from digitize.assembly.item import plan_pages
    from digitize.pipeline.page import finished_page
    from digitize.scanners.batch import read_batch
    from digitize.transliteration.identifier import identifier_from_name

    batch = read_batch(batch_dir, settings.image.max_image_pixels, identifier_from_name=identifier_from_name)
    jobs: list[PageJob] = []
    for item in batch.items:
        for job in plan_pages(item, settings):
            if finished_page(job, settings) is None:
                jobs.append(job)
                if len(jobs) >= count:
                    return jobs
    return jobs


@contextmanager
def head_start(batch_dir: Path, settings: Settings) -> Iterator[PagePool | None]:
    """Start the page workers and the batch's first pages now, for the flow that comes next in this process.

    Only for pages on this machine's pool with the flow's disk (not Dask, not
    pages staged through the store, which the flow uploads first). A batch
    that cannot be read is left to the flow, which reports it; the workers
    started are used all the same. The pool is stopped at the end unless the
    flow took it.
    """
    if settings.runs.task_runner != "process" or settings.runs.stage_through_store:
        yield None
        return
    # The modules that plan the pages (read here) and process them (in the workers), loaded once before the
    # fork: each forked worker has them at once instead of loading them again (3-page runs, three each way:
    # 8.4 against 8.65 CPU s for the whole command, medians; the same wall clock within the machine's noise).
    import digitize.assembly.item  # noqa: F401
    import digitize.pipeline.page  # noqa: F401

    freeze_loaded_objects()
    pool = PagePool(settings.workers, fork=True)
    set_head_start(pool)
    try:
        pool.warm()
        try:
            started = pool.head_start(_pages_to_start(batch_dir, settings, max(8, 4 * pool.workers)), settings)
            log.info("%d page(s) started ahead of the flow", started)
        except (DigitizeError, OSError) as exc:  # the flow reads the batch again and reports what is wrong
            log.info("no page started ahead: %s", exc)
        yield pool
    finally:
        discard_head_start()


def freeze_loaded_objects() -> None:
    """Leave the objects loaded so far (modules, classes) out of every later garbage collection.

    Measured (issue 18): a full collection in the flow process, which
    ``assembly.pdfa`` runs to free a closed PDF at once, walked every object
    of Prefect, SQLAlchemy and pydantic: 0.30 of the 0.48 CPU seconds that
    assembling a 3-page item took. Frozen, those long-lived objects are not
    walked (nor, after a fork, touched: the workers share their memory pages
    with the command, as Python's documentation recommends before a fork).
    """
    gc.freeze()


def discard_head_start() -> None:
    """Stop a pool started ahead that no flow took (the run ended before its pages)."""
    global _head_start
    pool, _head_start = _head_start, None
    if pool is not None:
        pool.shutdown()
