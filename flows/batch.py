"""The Prefect flow over a scanned batch.

It only orchestrates: every task is a few lines around one core function
(:func:`pipeline.page.process_page`, :func:`pipeline.item.assemble_item`,
:func:`storage.publish.publish_item`), and tasks pass paths and small
dataclasses, never images. Pages of all items go to a pool of worker
processes (one Tesseract thread each); an item is assembled and published
as soon as its pages are done. A failing page fails its item, with the
reason, and never the batch. Only errors that say retrying can help
(object storage, a crashed recognizer) are retried.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ProcessPoolTaskRunner

from digitize.errors import DigitizeError
from digitize.settings import Settings, load_settings
from pipeline import tesseract
from pipeline.item import assemble_item, plan_pages
from pipeline.model import ItemOutputs, PageJob, PageResult
from pipeline.page import process_page
from scanners.batch import Item, read_batch
from storage.catalog import Catalog
from storage.factory import open_store
from storage.publish import PublishedItem, publish_item

__all__ = ["ItemOutcome", "BatchReport", "digitize_batch", "run_batch"]

log = logging.getLogger(__name__)


def _retry_if_retryable(task, task_run, state) -> bool:
    """Retry only what can get better: never an unreadable page."""
    try:
        state.result()
    except DigitizeError as exc:
        return exc.retryable
    except Exception:  # an unexpected crash (e.g. a killed worker) may be transient
        return True
    return False


@task(
    name="page",
    task_run_name="page {job.item_id}#{job.seq}",
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=_retry_if_retryable,
    cache_policy=NO_CACHE,
)
def page_task(job: PageJob, settings: Settings) -> PageResult:
    return process_page(job, settings)


@task(name="assemble", task_run_name="assemble {item.item_id}", cache_policy=NO_CACHE)
def assemble_task(item: Item, pages: list[PageResult], settings: Settings) -> ItemOutputs:
    return assemble_item(item, pages, settings)


@task(
    name="publish",
    task_run_name="publish {item.item_id}",
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=_retry_if_retryable,
    cache_policy=NO_CACHE,
)
def publish_task(
    item: Item, outputs: ItemOutputs, pages: list[PageResult], settings: Settings, batch: str
) -> PublishedItem:
    store = open_store(settings.storage)
    catalog = Catalog(settings.catalog.url)
    try:
        return publish_item(item, outputs, pages, store, catalog, batch=batch)
    finally:
        catalog.close()


@dataclass
class ItemOutcome:
    identifier: str
    status: str  # "done" or "failed"
    kind: str = ""
    pages: int = 0
    message: str = ""
    stage: str = ""
    output_dir: str = ""
    pdf_url: str | None = None
    uploaded_objects: int = 0
    mean_confidence: float | None = None


@dataclass
class BatchReport:
    batch: str
    folder: str
    items: list[ItemOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def done(self) -> list[ItemOutcome]:
        return [i for i in self.items if i.status == "done"]

    @property
    def failed(self) -> list[ItemOutcome]:
        return [i for i in self.items if i.status != "done"]

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)


def _failure(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, DigitizeError):
        return exc.stage, exc.message
    return "internal", f"{type(exc).__name__}: {exc}"


@flow(name="digitize-batch", flow_run_name="batch {batch_dir}", log_prints=False)
def digitize_batch(batch_dir: str, settings: Settings | None = None) -> BatchReport:
    """Process every item of a batch folder; one item's failure never stops the rest.

    ``settings`` defaults to the environment and ``DIGITIZE_CONFIG`` (what a
    scheduled deployment uses).
    """
    started = time.perf_counter()
    settings = settings or load_settings()
    batch = read_batch(Path(batch_dir), settings.image.max_image_pixels)
    report = BatchReport(batch.name, str(batch.folder))
    for problem in batch.problems:
        report.items.append(ItemOutcome(problem.item_id, "failed", message=problem.message, stage=problem.stage))

    # Check the models once, up front, with a message naming the package.
    for item in batch.items:
        if item.kind == "text":
            tesseract.check_model(
                item.metadata.ocr_model or settings.ocr.model_for(item.metadata.language, item.metadata.script),
                settings.ocr.tessdata,
            )

    catalog = Catalog(settings.catalog.url)
    batch_id = catalog.start_batch(batch.name, str(batch.folder))
    submitted = {item.item_id: [page_task.submit(job, settings) for job in plan_pages(item, settings)] for item in batch.items}

    for item in batch.items:
        outcome = ItemOutcome(item.item_id, "failed", kind=item.kind, pages=len(item.pages))
        results = [future.result(raise_on_failure=False) for future in submitted[item.item_id]]
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            outcome.stage, outcome.message = _failure(errors[0])
            if len(errors) > 1:
                outcome.message += f" (and {len(errors) - 1} more failed pages)"
            report.items.append(outcome)
            continue
        outputs = assemble_task.submit(item, results, settings).result(raise_on_failure=False)
        if isinstance(outputs, BaseException):
            outcome.stage, outcome.message = _failure(outputs)
            report.items.append(outcome)
            continue
        outcome.output_dir = str(outputs.folder)
        outcome.mean_confidence = outputs.mean_confidence
        published = publish_task.submit(item, outputs, results, settings, batch.name).result(raise_on_failure=False)
        if isinstance(published, BaseException):
            outcome.stage, outcome.message = _failure(published)
            report.items.append(outcome)
            continue
        outcome.status = "done"
        outcome.pdf_url = published.pdf_url
        outcome.uploaded_objects = published.uploaded
        outcome.message = "registered" if published.registered.created else "updated"
        report.items.append(outcome)

    report.seconds = round(time.perf_counter() - started, 2)
    catalog.finish_batch(batch_id, len(report.done), len(report.failed))
    catalog.close()
    summary = Path(settings.output_dir) / f"batch-{batch.name}.json"
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text(report.to_json(), encoding="utf-8")
    return report


def run_batch(batch_dir: Path, settings: Settings) -> BatchReport:
    """Run the flow with page workers as configured (process pool)."""
    runner = ProcessPoolTaskRunner(max_workers=max(1, settings.workers))
    return digitize_batch.with_options(task_runner=runner)(str(batch_dir), settings)
