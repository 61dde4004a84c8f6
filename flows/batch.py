"""The Prefect flow over a scanned batch: batch → item → page.

It only orchestrates: every task is a few lines around one core function
(:mod:`flows.tasks`), and tasks pass paths and small dataclasses, never
images.

* Pages of all items go to a page runner (a process pool here,
  :mod:`flows.pool`, or a Dask cluster, :mod:`flows.runners`), at most
  ``settings.workers`` at once, one Tesseract thread each. ``digitize run``
  starts the pool and the first pages before the flow comes up; their page
  tasks then wait for them. An item is assembled and published as soon as
  its last page is done.
* Items are isolated: a failing page, assembly or upload fails its item,
  with the reason, and never the batch.
* Retries: errors that say retrying can help (object storage, a crashed
  recognizer) are retried with backoff; an unreadable page is not.
* A worker process that dies breaks a process pool; the pages not finished
  run again in fresh rounds (:mod:`flows.rounds`). Finished pages are never
  redone: each page's result is keyed by its inputs (see
  :mod:`pipeline.page`), and a finished page gets no task at all.
* On a Dask cluster elsewhere, page tasks see only the object store: scans
  go up once, pages come back through it (:mod:`delivery.staging`).
* The report (:mod:`flows.report`) is written as JSON beside the outputs and
  shown as a table in the Prefect UI.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from prefect import flow

from digitize.assembly.item import plan_pages
from digitize.delivery.staging import fetch_page, stage_sources
from digitize.errors import CatalogError, DigitizeError
from digitize.files import atomic_write_text
from digitize.flows.pool import started_ahead
from digitize.flows.preflight import disk_shortage, identifier_conflict
from digitize.flows.report import (
    BatchReport,
    ItemOutcome,
    PageOutcome,
    ProgressListener,
    failure,
    notify,
    publish_artifact,
    qc_flags,
    set_progress_listener,
)
from digitize.flows.rounds import WorkerCrashError, run_pages
from digitize.flows.tasks import assemble_task, publish_task, stages_through_store
from digitize.pipeline import tesseract
from digitize.pipeline.model import PageJob, PageResult
from digitize.pipeline.page import finished_page
from digitize.scanners.batch import Batch, Item, read_batch
from digitize.scanners.run_lock import batch_lock
from digitize.settings import Settings, load_settings
from digitize.storage.catalog import Catalog
from digitize.storage.factory import open_store
from digitize.transliteration.identifier import identifier_from_name

__all__ = [
    "ItemOutcome",
    "PageOutcome",
    "BatchReport",
    "WorkerCrashError",
    "ProgressListener",
    "digitize_batch",
    "report_path",
    "run_batch",
    "set_progress_listener",
]

log = logging.getLogger(__name__)

# Kept for callers of the former single module (tests/test_flows.py); the rule lives in flows.report.
_qc_flags = qc_flags


@flow(name="digitize-batch", flow_run_name="batch {batch_dir}", log_prints=False)
def digitize_batch(batch_dir: str, settings: Settings | None = None, wait_for_lock: bool = False) -> BatchReport:
    """Process every item of a batch folder; one item's failure never stops the rest.

    ``settings`` defaults to the environment and ``DIGITIZE_CONFIG`` (what a
    scheduled deployment uses). One run per batch at a time: another run of
    the same batch raises :class:`~digitize.errors.BatchLockedError`, or with
    ``wait_for_lock`` is waited for (its finished pages are then reused).

    A catalog that fails at the start (locked, read-only, unreachable) ends
    the run before any page is processed; one that fails at the end leaves
    the items stored but not registered. Either way the report is written
    and says so (``report.catalog``, ``report.not_registered``).
    """
    started = time.perf_counter()
    settings = settings or load_settings()
    with batch_lock(settings.work_dir, batch_dir, wait=wait_for_lock):
        batch = read_batch(Path(batch_dir), settings.image.max_image_pixels, identifier_from_name=identifier_from_name)
        report = BatchReport(batch.name, str(batch.folder))
        for problem in batch.problems:
            report.items.append(ItemOutcome(problem.item_id, "failed", message=problem.message, stage=problem.stage))
        try:
            catalog = Catalog(settings.catalog.url, busy_timeout=settings.catalog.busy_timeout_seconds)
        except CatalogError as exc:
            return _catalog_failed_at_start(batch, exc, settings, report, started)
        try:
            try:
                batch_id = catalog.start_batch(batch.name, str(batch.folder))
            except CatalogError as exc:
                return _catalog_failed_at_start(batch, exc, settings, report, started)
            _run_items(batch, catalog, settings, report)
            report.seconds = round(time.perf_counter() - started, 2)
            try:
                catalog.finish_batch(batch_id, len(report.done) + len(report.in_review), len(report.failed))
            except CatalogError as exc:
                report.catalog = exc.message
        finally:
            catalog.close()
        not_registered = [i for i in report.items if i.stage == "catalog"]
        if not_registered:
            report.not_registered = [i.identifier for i in not_registered]
            report.catalog = report.catalog or not_registered[0].message.removeprefix(_NOT_REGISTERED)
        return _write_report(report, settings)


_NOT_REGISTERED = "stored and verified, not registered: "


def _catalog_failed_at_start(
    batch: Batch, exc: CatalogError, settings: Settings, report: BatchReport, started: float
) -> BatchReport:
    """No page is processed when the catalog cannot record the run: each item is reported as not done."""
    log.error("the catalog failed at the start of batch %s: %s", batch.name, exc.message)
    report.catalog = exc.message
    for item in batch.items:
        report.items.append(
            ItemOutcome(item.item_id, "failed", kind=item.kind, pages=len(item.pages), stage="catalog",
                        message="not processed: the catalog could not record the run")
        )
        report.not_registered.append(item.item_id)
    report.seconds = round(time.perf_counter() - started, 2)
    return _write_report(report, settings)


def report_path(report: BatchReport, settings: Settings) -> Path:
    """Where the batch report is written: ``<output_dir>/batch-<name>.json``."""
    return Path(settings.output_dir) / f"batch-{report.batch}.json"


def _write_report(report: BatchReport, settings: Settings) -> BatchReport:
    summary = report_path(report, settings)
    summary.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(summary, report.to_json())
    publish_artifact(report)
    return report


def _run_items(batch: Batch, catalog: Catalog, settings: Settings, report: BatchReport) -> None:
    """Intake checks, then every page and item of the batch, into ``report``."""
    items: list[Item] = []
    for item in batch.items:
        refused: tuple[str, str] | None = None
        try:
            if item.kind == "text":  # the model, checked once, with a message naming the package
                tesseract.check_model(
                    item.metadata.ocr_model or settings.ocr.model_for(item.metadata.language, item.metadata.script),
                    settings.ocr.tessdata,
                )
            conflict = identifier_conflict(catalog, item, batch.name, settings)
            if conflict:
                refused = ("intake", conflict)
        except DigitizeError as exc:
            refused = (exc.stage, exc.message)
        if refused:
            report.items.append(ItemOutcome(item.item_id, "failed", kind=item.kind, pages=len(item.pages),
                                            stage=refused[0], message=refused[1]))
        else:
            items.append(item)

    jobs = {item.item_id: plan_pages(item, settings) for item in items}
    by_id = {item.item_id: item for item in items}
    results: dict[str, dict[int, PageResult | BaseException]] = {item.item_id: {} for item in items}
    notify("start", batch.name, sum(len(j) for j in jobs.values()))

    def on_page(job: PageJob, value: PageResult | BaseException) -> None:
        done = results[job.item_id]
        done[job.seq] = value
        notify("page_done", job.item_id, job.seq, not isinstance(value, BaseException))
        if len(done) == len(jobs[job.item_id]):
            outcome = _finish_item(by_id[job.item_id], done, settings, batch.name, report)
            notify("item_done", outcome)

    store = open_store(settings.storage) if stages_through_store(settings) else None
    page_started = time.perf_counter()
    all_jobs: list[PageJob] = []
    for item in items:
        item_jobs = jobs[item.item_id]
        if store is not None:
            try:
                stage_sources(item_jobs, store)
            except DigitizeError as exc:  # this item's scans could not be staged: it fails, the rest go on
                for job in item_jobs:
                    on_page(job, exc)
                continue
        for job in item_jobs:
            # resume: no task at all for a page finished before this run (one started ahead by this run has one)
            finished = None if started_ahead(job) else finished_page(job, settings)
            if finished is not None:
                on_page(job, finished)
            else:
                all_jobs.append(job)

    def on_staged_page(job: PageJob, value: PageResult | BaseException) -> None:
        if isinstance(value, PageResult) and store is not None:
            try:
                value = fetch_page(job, value, store)
            except DigitizeError as exc:
                value = exc
        on_page(job, value)

    report.crashed_workers = run_pages(all_jobs, settings, on_staged_page if store is not None else on_page)
    report.page_seconds = round(time.perf_counter() - page_started, 2)
    position = {item.item_id: n for n, item in enumerate(batch.items)}
    report.items.sort(key=lambda i: position.get(i.identifier, -1))  # stable: intake problems first
    report.pages.sort(key=lambda p: (position.get(p.item, -1), p.seq))


def _finish_item(
    item: Item, done: dict[int, PageResult | BaseException], settings: Settings, batch: str, report: BatchReport
) -> ItemOutcome:
    """Assemble and publish an item whose pages are all finished; record the outcome."""
    started = time.perf_counter()
    outcome = ItemOutcome(item.item_id, "failed", kind=item.kind, pages=len(item.pages))
    report.items.append(outcome)
    ordered = [done[seq] for seq in sorted(done)]
    for seq, value in sorted(done.items()):
        if isinstance(value, BaseException):
            stage, message = failure(value)
            report.pages.append(PageOutcome(item.item_id, seq, "failed", message=f"({stage}) {message}"))
        else:
            report.pages.append(
                PageOutcome(
                    item.item_id, seq, "done", qc_flags(item.kind, value, settings.image.quality),
                    value.mean_confidence, round(value.skew_degrees, 2), value.word_count,
                    round(sum(value.seconds.values()), 2),
                )
            )
    outcome.qc = sorted({flag for p in report.pages if p.item == item.item_id for flag in p.qc})
    errors = [v for v in ordered if isinstance(v, BaseException)]
    if errors:
        outcome.stage, outcome.message = failure(errors[0])
        if len(errors) > 1:
            outcome.message += f" (and {len(errors) - 1} more failed pages)"
        return outcome
    pages = [v for v in ordered if isinstance(v, PageResult)]
    shortage = disk_shortage(item, pages, settings)
    if shortage:
        outcome.stage, outcome.message = "output", shortage
        return outcome
    outputs = assemble_task(item, pages, settings, return_state=True).result(raise_on_failure=False)
    if isinstance(outputs, BaseException):
        outcome.stage, outcome.message = failure(outputs)
        return outcome
    outcome.output_dir = str(outputs.folder)
    outcome.mean_confidence = outputs.mean_confidence
    published = publish_task(item, outputs, pages, settings, batch, return_state=True).result(raise_on_failure=False)
    if isinstance(published, BaseException):
        outcome.stage, outcome.message = failure(published)
        if isinstance(published, CatalogError) and published.message.startswith("registering "):
            # the registration comes last, after every file was stored and verified
            outcome.message = _NOT_REGISTERED + outcome.message
        return outcome
    outcome.status = "done" if published.review_state == "published" else published.review_state
    outcome.pdf_url = published.pdf_url
    outcome.uploaded_objects = published.uploaded
    outcome.message = "registered" if published.registered.created else "updated"
    if outcome.status != "done":  # held by the publish policy: stored and registered, not shown to readers
        outcome.message += f", {published.review_state}: {published.review_reason or 'waiting for a person'}"
    outcome.seconds = round(time.perf_counter() - started, 2)
    return outcome


def run_batch(batch_dir: Path, settings: Settings, *, wait_for_lock: bool = False) -> BatchReport:
    """Run the batch flow (page workers as configured in ``settings``)."""
    return digitize_batch(str(batch_dir), settings, wait_for_lock)
