"""Pages in rounds on fresh runners, until every page is done or failed.

A worker process that dies (kill -9, segfault, out of memory) breaks a
process pool and every page in it. The pages that were not finished go to
a fresh pool after a backoff; a page that was in flight in two crashes is
then run alone, and one whose worker died ``runs.page_crash_limit`` times
fails its item with that reason. On a Dask cluster, a page Dask gives up on
(``KilledWorker``) runs once more on its own (Dask blames every page
assigned to a dying worker), and fails only if it kills its worker alone too.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from collections import Counter
from collections.abc import Callable, Generator
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner

from digitize.errors import DigitizeError, ExitCode
from digitize.flows.pool import PagePool, take_head_start
from digitize.flows.runners import page_runner, thread_runner
from digitize.flows.tasks import STARTED, page_task, pooled_page_task, staged_page_task, stages_through_store
from digitize.pipeline.model import PageJob, PageResult
from digitize.settings import Settings

__all__ = ["PageCallback", "WorkerCrashError", "run_pages"]

log = logging.getLogger(__name__)

PageCallback = Callable[[PageJob, "PageResult | BaseException"], None]
_PageKey = tuple[str, int]
# What ``_in_window`` yields: a page and its result or exception; ``None`` answers a ``send(False)``.
_Finished = Generator["tuple[PageJob, PageResult | BaseException] | None", "bool | None", None]


class WorkerCrashError(DigitizeError):
    """The worker process died while processing a page, too many times."""

    stage = "page"
    exit_code = ExitCode.PROCESSING


def _is_pool_crash(exc: BaseException) -> bool:
    return isinstance(exc, BrokenProcessPool)


def _is_killed_worker(exc: BaseException) -> bool:
    """Dask gave up on a task whose worker died ``allowed-failures`` times."""
    return type(exc).__name__ == "KilledWorker" and type(exc).__module__.startswith("distributed")


def _was_in_flight(job: PageJob) -> bool:
    """Did this page start, and not finish, in the crashed round?"""
    started = job.work_dir / STARTED
    if not started.exists():
        return False
    finished = job.work_dir / "page.json"
    return not finished.exists() or finished.stat().st_mtime_ns < started.stat().st_mtime_ns


def _in_window(
    runner: TaskRunner[Any], page: Any, jobs: list[PageJob], settings: Settings, window: int,
    extra: dict[str, Any] | None = None,
) -> _Finished:
    """Submit at most ``window`` pages at a time; yield ``(job, result or exception)`` as each ends.

    Only the pages in flight have a future (and a Prefect task run) at any
    time, so the flow's memory does not grow with the length of the batch.
    ``send(False)`` stops submitting; the pages not submitted are then
    yielded with a BrokenProcessPool, as if lost with the pool.
    """
    finished: queue.SimpleQueue[tuple[PageJob, PrefectFuture[PageResult] | None, BaseException | None]] = (
        queue.SimpleQueue()
    )
    waiting = iter(jobs)
    in_flight = 0
    submitting = True

    def submit_next() -> bool:
        job = next(waiting, None)
        if job is None:
            return False
        try:
            future = runner.submit(page, {"job": job, "settings": settings, **(extra or {})})
        except Exception as exc:  # e.g. the pool broke between two pages
            finished.put((job, None, exc))
            return True
        future.add_done_callback(lambda done, job=job: finished.put((job, done, None)))
        return True

    for _ in range(window):
        if not submit_next():
            break
        in_flight += 1
    while in_flight:
        job, future, error = finished.get()
        in_flight -= 1
        value: PageResult | BaseException
        if error is not None:
            value = error
        else:
            assert future is not None  # put with a future whenever there is no error
            try:
                value = future.result(raise_on_failure=False)
            except Exception as exc:  # the runner itself failed (e.g. BrokenProcessPool)
                value = exc
        del future
        if (yield job, value) is False:
            submitting = False
            yield None  # the value of send()
        if submitting and submit_next():
            in_flight += 1
    for job in waiting:
        if (yield job, BrokenProcessPool("not submitted: the worker pool broke")) is False:
            yield None


def _run_round(
    jobs: list[PageJob], settings: Settings, workers: int, on_page: PageCallback, killed_before: set[_PageKey]
) -> tuple[list[PageJob], list[PageJob]]:
    """Run pages on a fresh runner; return the pages lost to a crashed pool, and the
    pages Dask gave up on for the first time (to be tried again alone)."""
    lost: list[PageJob] = []
    killed: list[PageJob] = []
    staged = stages_through_store(settings)
    window = max(8, 4 * workers)
    with contextlib.ExitStack() as stack:
        pool: PagePool | None = None
        if settings.runs.task_runner != "dask":  # this machine's pool, perhaps started ahead with the first pages
            pool = stack.enter_context(take_head_start(workers, staged) or PagePool(workers, staged=staged))
        for job in jobs:
            if pool is None or not pool.started_ahead(job):  # a page started ahead may be running now
                (job.work_dir / STARTED).unlink(missing_ok=True)
        page: Any
        if pool is None:
            runner = stack.enter_context(page_runner(settings, workers))
            page, extra = (staged_page_task if staged else page_task), None
        else:
            runner = stack.enter_context(thread_runner(window))
            page, extra = pooled_page_task, {"pool": pool}
        finished = _in_window(runner, page, jobs, settings, window=window, extra=extra)
        for entry in finished:
            if entry is None:  # pragma: no cover - only answers send(), consumed there
                continue
            job, value = entry
            if isinstance(value, BaseException) and _is_pool_crash(value):
                lost.append(job)
                finished.send(False)  # a broken pool takes no more pages: the rest go to the next round
                continue
            if isinstance(value, BaseException) and _is_killed_worker(value):
                # Dask counts a worker's death against every page assigned to that worker, so
                # an innocent neighbour of the culprit can be given up on too: such a page is
                # tried once more on its own, and only a page that kills its worker alone fails.
                if (job.item_id, job.seq) not in killed_before:
                    killed.append(job)
                    continue
                value = WorkerCrashError(
                    f"{job.label}: the Dask worker process died while processing this page, every time it "
                    f"was tried ({value}); killed, out of memory, or a crash in Tesseract or an image "
                    "library. Check the scan, then run the batch again: finished pages are kept."
                )
            on_page(job, value)
    return lost, killed


def run_pages(jobs: list[PageJob], settings: Settings, on_page: PageCallback) -> int:
    """Run every page to a result or a failure; return how many worker crashes were seen."""
    crashes: Counter[_PageKey] = Counter()
    pending = list(jobs)
    limit = max(1, settings.runs.page_crash_limit)
    killed_before: set[_PageKey] = set()  # pages Dask gave up on once
    crash_rounds = idle_rounds = 0
    while pending:
        # A page in flight during two crashes runs alone: either it is the
        # culprit, or it gets a clean run without its neighbour.
        def alone(j: PageJob) -> bool:
            return crashes[(j.item_id, j.seq)] >= 2 or (j.item_id, j.seq) in killed_before

        shared = [j for j in pending if not alone(j)]
        groups = ([(shared, settings.workers)] if shared else []) + [([j], 1) for j in pending if alone(j)]
        pending = []
        for group, workers in groups:
            lost, killed = _run_round(group, settings, workers, on_page, killed_before)
            for job in killed:
                killed_before.add((job.item_id, job.seq))
                pending.append(job)
            if killed:
                log.warning("Dask gave up on %d page(s) after a worker died; each runs again alone", len(killed))
            if not lost:
                continue
            crash_rounds += 1
            in_flight = [j for j in lost if _was_in_flight(j)]
            idle_rounds = 0 if in_flight else idle_rounds + 1
            log.warning(
                "a worker process died; %d page(s) were in flight, %d to run again",
                len(in_flight),
                len(lost),
            )
            for job in in_flight:
                crashes[(job.item_id, job.seq)] += 1
            for job in lost:
                count = crashes[(job.item_id, job.seq)]
                if count >= limit or idle_rounds >= limit:
                    on_page(
                        job,
                        WorkerCrashError(
                            f"{job.label}: the worker process died {count} time(s) while processing this page "
                            "(killed, out of memory, or a crash in Tesseract or an image library); "
                            "the page was not tried again. Check the scan, then run the batch again: "
                            "finished pages are kept."
                        ),
                    )
                else:
                    pending.append(job)
        if pending:
            delay = min(settings.runs.crash_backoff_seconds * 2 ** (crash_rounds - 1), 30.0)
            log.warning("running %d page(s) again in %.0f s on fresh worker processes", len(pending), delay)
            time.sleep(delay)
    return crash_rounds
