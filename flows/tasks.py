"""The Prefect tasks of a batch: each a few lines around one core function.

Tasks pass page jobs (ids and paths), results and the settings object,
never images. Only errors that say retrying can help are retried.
"""

from __future__ import annotations

import errno
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from digitize.assembly.item import assemble_item
from digitize.delivery.publish import PublishedItem, publish_item
from digitize.delivery.review import flagged_pages, policy_decision, review_reasons
from digitize.errors import DigitizeError
from digitize.flows.pool import STARTED, PagePool, page_work, staged_page_work
from digitize.pipeline.model import ItemOutputs, PageJob, PageResult
from digitize.scanners.batch import Item
from digitize.settings import Settings
from digitize.storage.catalog import Catalog
from digitize.storage.factory import open_store

__all__ = [
    "STARTED",
    "assemble_task",
    "page_task",
    "pooled_page_task",
    "publish_task",
    "retry_if_retryable",
    "staged_page_task",
    "stages_through_store",
]

_LASTING_OS_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.ENOENT}


def retry_if_retryable(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only what can get better: never an unreadable page, nor a broken pool (the rounds handle it)."""
    try:
        state.result()
    except BrokenProcessPool:
        return False
    except DigitizeError as exc:
        return exc.retryable
    except OSError as exc:  # a full or read-only disk does not clear up in seconds
        return exc.errno not in _LASTING_OS_ERRORS
    except Exception:  # an unexpected error (e.g. a lost connection) may be transient
        return True
    return False


# The options every page task shares: its run's name, two retries with backoff for what can get better, no cache
# (a page's result is kept in its work folder, keyed by its inputs: see pipeline.page).
_PAGE_TASK: dict[str, Any] = {
    "task_run_name": "page {job.item_id}#{job.seq}",
    "retries": 2,
    "retry_delay_seconds": [2, 10],
    "retry_condition_fn": retry_if_retryable,
    "cache_policy": NO_CACHE,
}


@task(name="page", **_PAGE_TASK)
def page_task(job: PageJob, settings: Settings) -> PageResult:
    return page_work(job, settings)


@task(name="page", **_PAGE_TASK)
def pooled_page_task(job: PageJob, settings: Settings, pool: PagePool) -> PageResult:
    """A page on this machine's worker pool (:mod:`flows.pool`); the task runs in a thread of the flow."""
    return pool.run(job, settings)


def stages_through_store(settings: Settings) -> bool:
    """Do page tasks exchange scans and pages through the object store (no shared disk)?"""
    runs = settings.runs
    if runs.stage_through_store is not None:
        return runs.stage_through_store
    return runs.task_runner == "dask" and bool(runs.dask_address)


@task(name="staged-page", **_PAGE_TASK)
def staged_page_task(job: PageJob, settings: Settings) -> PageResult:
    """A page on a worker that sees only the object store (see :mod:`delivery.staging`)."""
    return staged_page_work(job, settings)


@task(name="assemble", task_run_name="assemble {item.item_id}", cache_policy=NO_CACHE)
def assemble_task(item: Item, pages: list[PageResult], settings: Settings) -> ItemOutputs:
    return assemble_item(item, pages, settings)


@task(
    name="publish",
    task_run_name="publish {item.item_id}",
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_if_retryable,
    cache_policy=NO_CACHE,
)
def publish_task(
    item: Item, outputs: ItemOutputs, pages: list[PageResult], settings: Settings, batch: str
) -> PublishedItem:
    store = open_store(settings.storage)
    catalog = Catalog(settings.catalog.url, busy_timeout=settings.catalog.busy_timeout_seconds)
    reasons = review_reasons(pages, settings.image.quality, mean_confidence=outputs.mean_confidence)
    review = policy_decision(settings.review.publish, reasons, flagged=flagged_pages(pages))
    try:
        replace = settings.runs.replace_items
        return publish_item(item, outputs, pages, store, catalog, batch=batch, replace_items=replace, review=review)
    finally:
        catalog.close()
