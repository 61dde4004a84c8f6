"""The Prefect flow over a scanned batch: batch → item → page.

It only orchestrates: every task is a few lines around one core function
(:func:`pipeline.page.process_page`, :func:`assembly.item.assemble_item`,
:func:`delivery.publish.publish_item`), and tasks pass paths and small
dataclasses, never images.

* Pages of all items go to a page runner (a process pool here, or a Dask
  cluster; :mod:`flows.runners`), at most ``settings.workers`` at once, one
  Tesseract thread each. An item is assembled and published as soon as its
  last page is done.
* Items are isolated: a failing page, assembly or upload fails its item,
  with the reason, and never the batch.
* Retries: errors that say retrying can help (object storage, a crashed
  recognizer) are retried with backoff; an unreadable page is not.
* A worker process that dies (kill -9, segfault, out of memory) breaks a
  process pool and every page in it. The pages that were not finished go to
  a fresh pool after a backoff; a page that was in flight in two crashes is
  then run alone, and one whose worker died ``runs.page_crash_limit`` times
  fails its item with that reason. Finished pages are never redone: each
  page's result is keyed by its inputs (see :mod:`pipeline.page`), and a
  finished page gets no task at all.
* On a Dask cluster elsewhere, page tasks see only the object store: scans
  go up once, pages come back through it (:mod:`delivery.staging`). A
  killed Dask worker is Dask's to handle (its nanny restarts it, the page
  runs again); a page Dask gives up on (``KilledWorker``) runs once more
  on its own (Dask blames every page assigned to a dying worker), and
  fails its item only if it kills its worker alone too.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import queue
import shutil
import signal
import tempfile
import time
from collections import Counter
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from digitize.errors import DigitizeError
from digitize.settings import Settings, load_settings
from digitize.flows.runners import page_runner
from digitize.pipeline import tesseract
from digitize.assembly.item import assemble_item, plan_pages
from digitize.pipeline.model import ItemOutputs, PageJob, PageResult
from digitize.pipeline.page import finished_page, process_page
from digitize.scanners.batch import Item, read_batch
from digitize.storage.catalog import Catalog
from digitize.storage.factory import open_store
from digitize.delivery.publish import PublishedItem, publish_item
from digitize.delivery.staging import fetch_page, process_staged_page, stage_sources

__all__ = [
    "ItemOutcome",
    "PageOutcome",
    "BatchReport",
    "WorkerCrashError",
    "ProgressListener",
    "digitize_batch",
    "run_batch",
    "set_progress_listener",
]

log = logging.getLogger(__name__)

_LASTING_OS_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.ENOENT}
_STARTED = ".started"  # written by a page task as it starts: "this page was in flight"
FAULT_ENV = "DIGITIZE_FAULT_KILL_PAGE"  # tests: "ITEM#SEQ" or "ITEM#SEQ*N" / "*always"
FAULT_COUNTER_ENV = "DIGITIZE_FAULT_COUNTER_DIR"  # tests: where the kill count is kept (default: the page's folder)


class WorkerCrashError(DigitizeError):
    """The worker process died while processing a page, too many times."""

    stage = "page"
    exit_code = 5


class ProgressListener(Protocol):
    """What the CLI shows while a batch runs (the flow calls it in its own thread)."""

    def start(self, batch: str, pages: int) -> None: ...
    def page_done(self, item_id: str, seq: int, ok: bool) -> None: ...
    def item_done(self, outcome: "ItemOutcome") -> None: ...


_listener: ProgressListener | None = None


def set_progress_listener(listener: ProgressListener | None) -> None:
    """Show progress of flows run in this process (``None``: stop showing)."""
    global _listener
    _listener = listener


def _notify(method: str, *args) -> None:
    if _listener is not None:
        try:
            getattr(_listener, method)(*args)
        except Exception:  # a display problem never stops a batch
            log.debug("progress listener failed", exc_info=True)


def _retry_if_retryable(task, task_run, state) -> bool:
    """Retry only what can get better: never an unreadable page."""
    try:
        state.result()
    except DigitizeError as exc:
        return exc.retryable
    except OSError as exc:  # a full or read-only disk does not clear up in seconds
        return exc.errno not in _LASTING_OS_ERRORS
    except Exception:  # an unexpected error (e.g. a lost connection) may be transient
        return True
    return False


def _inject_fault(job: PageJob) -> None:
    """Test hook: kill this worker process (SIGKILL) on a chosen page.

    ``DIGITIZE_FAULT_KILL_PAGE=ITEM#SEQ`` kills once, ``ITEM#SEQ*N`` the
    first N times, ``ITEM#SEQ*always`` every time. The count is kept in the
    page's work folder (or ``DIGITIZE_FAULT_COUNTER_DIR``, for workers that
    do not share the flow's disk), so it survives the killed process.
    """
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    target, _, times = spec.partition("*")
    if target != f"{job.item_id}#{job.seq}":
        return
    folder = os.environ.get(FAULT_COUNTER_ENV)
    counter = Path(folder) / f"{job.item_id}-{job.seq}.fault-kills" if folder else job.work_dir / ".fault-kills"
    counter.parent.mkdir(parents=True, exist_ok=True)
    done = int(counter.read_text()) if counter.exists() else 0
    if times != "always" and done >= int(times or 1):
        return
    counter.write_text(str(done + 1))
    os.kill(os.getpid(), signal.SIGKILL)


@task(
    name="page",
    task_run_name="page {job.item_id}#{job.seq}",
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=_retry_if_retryable,
    cache_policy=NO_CACHE,
)
def page_task(job: PageJob, settings: Settings) -> PageResult:
    job.work_dir.mkdir(parents=True, exist_ok=True)
    (job.work_dir / _STARTED).write_text(str(os.getpid()))
    _inject_fault(job)
    return process_page(job, settings)


def stages_through_store(settings: Settings) -> bool:
    """Do page tasks exchange scans and pages through the object store (no shared disk)?"""
    runs = settings.runs
    if runs.stage_through_store is not None:
        return runs.stage_through_store
    return runs.task_runner == "dask" and bool(runs.dask_address)


def _scratch_dir(settings: Settings) -> Path:
    """The worker's own folder for staged pages: never the flow's work folder."""
    if settings.runs.scratch_dir is not None:
        return Path(settings.runs.scratch_dir)
    try:
        from distributed import get_worker

        return Path(get_worker().local_directory) / "digitize-pages"
    except (ImportError, ValueError):  # not on a Dask worker
        return Path(tempfile.gettempdir()) / "digitize-pages"


@task(
    name="staged-page",
    task_run_name="page {job.item_id}#{job.seq}",
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=_retry_if_retryable,
    cache_policy=NO_CACHE,
)
def staged_page_task(job: PageJob, settings: Settings) -> PageResult:
    """A page on a worker that sees only the object store (see :mod:`delivery.staging`)."""
    if settings.runs.task_runner == "process":  # same machine: the crash bookkeeping can use the work folder
        job.work_dir.mkdir(parents=True, exist_ok=True)
        (job.work_dir / _STARTED).write_text(str(os.getpid()))
    _inject_fault(job)
    return process_staged_page(job, settings, open_store(settings.storage), _scratch_dir(settings))


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
class PageOutcome:
    item: str
    seq: int
    status: str  # "done" or "failed"
    qc: list[str] = field(default_factory=list)
    confidence: float | None = None
    skew_degrees: float | None = None
    words: int = 0
    seconds: float = 0.0
    message: str = ""


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
    qc: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class BatchReport:
    batch: str
    folder: str
    items: list[ItemOutcome] = field(default_factory=list)
    pages: list[PageOutcome] = field(default_factory=list)
    seconds: float = 0.0
    page_seconds: float = 0.0  # from the first page submitted to the last page (and item) done
    crashed_workers: int = 0

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


# Quality flags shown in the report; thresholds are for review, not rejection.
LOW_CONFIDENCE = 70.0
LARGE_SKEW = 5.0


def _qc_flags(kind: str, page: PageResult) -> list[str]:
    flags = []
    if kind == "text":
        if page.word_count == 0:
            flags.append("no-text")
        elif page.mean_confidence is not None and page.mean_confidence < LOW_CONFIDENCE:
            flags.append("low-confidence")
        if abs(page.skew_degrees) > LARGE_SKEW:
            flags.append("large-skew")
    return flags


# --- pages: rounds on fresh runners until every page is done or failed ---------


def _is_pool_crash(exc: BaseException) -> bool:
    return isinstance(exc, BrokenProcessPool)


def _is_killed_worker(exc: BaseException) -> bool:
    """Dask gave up on a task whose worker died ``allowed-failures`` times."""
    return type(exc).__name__ == "KilledWorker" and type(exc).__module__.startswith("distributed")


def _was_in_flight(job: PageJob) -> bool:
    """Did this page start, and not finish, in the crashed round?"""
    started = job.work_dir / _STARTED
    if not started.exists():
        return False
    finished = job.work_dir / "page.json"
    return not finished.exists() or finished.stat().st_mtime_ns < started.stat().st_mtime_ns


PageCallback = Callable[[PageJob, "PageResult | BaseException"], None]


def _in_window(runner, page, jobs: list[PageJob], settings: Settings, window: int):
    """Submit at most ``window`` pages at a time; yield ``(job, result or exception)`` as each ends.

    Only the pages in flight have a future (and a Prefect task run) at any
    time, so the flow's memory does not grow with the length of the batch.
    ``send(False)`` stops submitting; the pages not submitted are then
    yielded with a BrokenProcessPool, as if lost with the pool.
    """
    finished: queue.SimpleQueue = queue.SimpleQueue()
    waiting = iter(jobs)
    in_flight = 0
    submitting = True

    def submit_next() -> bool:
        job = next(waiting, None)
        if job is None:
            return False
        try:
            future = runner.submit(page, {"job": job, "settings": settings})
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
        if error is None:
            try:
                value = future.result(raise_on_failure=False)
            except Exception as exc:  # the runner itself failed (e.g. BrokenProcessPool)
                value = exc
        else:
            value = error
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
    jobs: list[PageJob], settings: Settings, workers: int, on_page: PageCallback, killed_before: set
) -> tuple[list[PageJob], list[PageJob]]:
    """Run pages on a fresh runner; return the pages lost to a crashed pool, and the
    pages Dask gave up on for the first time (to be tried again alone)."""
    for job in jobs:
        (job.work_dir / _STARTED).unlink(missing_ok=True)
    lost: list[PageJob] = []
    killed: list[PageJob] = []
    page = staged_page_task if stages_through_store(settings) else page_task
    with page_runner(settings, workers) as runner:
        finished = _in_window(runner, page, jobs, settings, window=max(8, 4 * workers))
        for job, value in finished:
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


def _run_pages(jobs: list[PageJob], settings: Settings, on_page: PageCallback) -> int:
    """Run every page to a result or a failure; return how many worker crashes were seen."""
    crashes: Counter[tuple[str, int]] = Counter()
    pending = list(jobs)
    limit = max(1, settings.runs.page_crash_limit)
    killed_before: set[tuple[str, int]] = set()  # pages Dask gave up on once
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


# --- the flow ----------------------------------------------------------------


def _identifier_conflict(catalog: Catalog, item: Item, batch: str, settings: Settings) -> str | None:
    """Two batches with the same item identifier: refuse the second, unless told to replace."""
    if settings.runs.replace_items:
        return None
    existing = catalog.get(item.item_id)
    if existing is None or existing["content_hash"] == item.content_hash or existing["batch"] == batch:
        return None
    return (
        f"{item.folder}: identifier {item.item_id!r} is already registered from batch {existing['batch']!r} "
        "with different scans or metadata; give this item another identifier (identifier = \"...\" in "
        "item.toml), or set DIGITIZE_RUNS__REPLACE_ITEMS=true to replace the registered item"
    )


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

    catalog = Catalog(settings.catalog.url)
    batch_id = catalog.start_batch(batch.name, str(batch.folder))
    items: list[Item] = []
    for item in batch.items:
        problem = None
        try:
            if item.kind == "text":  # the model, checked once, with a message naming the package
                tesseract.check_model(
                    item.metadata.ocr_model or settings.ocr.model_for(item.metadata.language, item.metadata.script),
                    settings.ocr.tessdata,
                )
            conflict = _identifier_conflict(catalog, item, batch.name, settings)
            if conflict:
                problem = ("intake", conflict)
        except DigitizeError as exc:
            problem = (exc.stage, exc.message)
        if problem:
            report.items.append(ItemOutcome(item.item_id, "failed", kind=item.kind, pages=len(item.pages),
                                            stage=problem[0], message=problem[1]))
        else:
            items.append(item)

    jobs = {item.item_id: plan_pages(item, settings) for item in items}
    by_id = {item.item_id: item for item in items}
    results: dict[str, dict[int, PageResult | BaseException]] = {item.item_id: {} for item in items}
    _notify("start", batch.name, sum(len(j) for j in jobs.values()))

    def on_page(job: PageJob, value: PageResult | BaseException) -> None:
        done = results[job.item_id]
        done[job.seq] = value
        _notify("page_done", job.item_id, job.seq, not isinstance(value, BaseException))
        if len(done) == len(jobs[job.item_id]):
            outcome = _finish_item(by_id[job.item_id], done, settings, batch.name, report)
            _notify("item_done", outcome)

    staged = stages_through_store(settings)
    store = open_store(settings.storage) if staged else None
    page_started = time.perf_counter()
    all_jobs: list[PageJob] = []
    for item in items:
        item_jobs = jobs[item.item_id]
        if staged:
            try:
                stage_sources(item_jobs, store)
            except DigitizeError as exc:  # this item's scans could not be staged: it fails, the rest go on
                for job in item_jobs:
                    on_page(job, exc)
                continue
        for job in item_jobs:
            finished = finished_page(job, settings)  # resume: no task at all for a finished page
            if finished is not None:
                on_page(job, finished)
            else:
                all_jobs.append(job)

    def on_staged_page(job: PageJob, value: PageResult | BaseException) -> None:
        if isinstance(value, PageResult):
            try:
                value = fetch_page(job, value, store)
            except DigitizeError as exc:
                value = exc
        on_page(job, value)

    report.crashed_workers = _run_pages(all_jobs, settings, on_staged_page if staged else on_page)
    report.page_seconds = round(time.perf_counter() - page_started, 2)
    position = {item.item_id: n for n, item in enumerate(batch.items)}
    report.items.sort(key=lambda i: position.get(i.identifier, -1))  # stable: intake problems first
    report.pages.sort(key=lambda p: (position.get(p.item, -1), p.seq))

    report.seconds = round(time.perf_counter() - started, 2)
    catalog.finish_batch(batch_id, len(report.done), len(report.failed))
    catalog.close()
    summary = Path(settings.output_dir) / f"batch-{batch.name}.json"
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text(report.to_json(), encoding="utf-8")
    _publish_artifact(report)
    return report


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
            stage, message = _failure(value)
            report.pages.append(PageOutcome(item.item_id, seq, "failed", message=f"({stage}) {message}"))
        else:
            report.pages.append(
                PageOutcome(
                    item.item_id, seq, "done", _qc_flags(item.kind, value), value.mean_confidence,
                    round(value.skew_degrees, 2), value.word_count, round(sum(value.seconds.values()), 2),
                )
            )
    outcome.qc = sorted({flag for p in report.pages if p.item == item.item_id for flag in p.qc})
    errors = [v for v in ordered if isinstance(v, BaseException)]
    if errors:
        outcome.stage, outcome.message = _failure(errors[0])
        if len(errors) > 1:
            outcome.message += f" (and {len(errors) - 1} more failed pages)"
        return outcome
    pages = [v for v in ordered if isinstance(v, PageResult)]
    shortage = _disk_shortage(item, pages, settings)
    if shortage:
        outcome.stage, outcome.message = "output", shortage
        return outcome
    outputs = assemble_task(item, pages, settings, return_state=True).result(raise_on_failure=False)
    if isinstance(outputs, BaseException):
        outcome.stage, outcome.message = _failure(outputs)
        return outcome
    outcome.output_dir = str(outputs.folder)
    outcome.mean_confidence = outputs.mean_confidence
    published = publish_task(item, outputs, pages, settings, batch, return_state=True).result(raise_on_failure=False)
    if isinstance(published, BaseException):
        outcome.stage, outcome.message = _failure(published)
        return outcome
    outcome.status = "done"
    outcome.pdf_url = published.pdf_url
    outcome.uploaded_objects = published.uploaded
    outcome.message = "registered" if published.registered.created else "updated"
    outcome.seconds = round(time.perf_counter() - started, 2)
    return outcome


def _disk_shortage(item: Item, pages: list[PageResult], settings: Settings) -> str | None:
    """Refuse to assemble onto a disk that cannot hold the item.

    qpdf (inside pikepdf) aborts the whole process when a write fails with
    "No space left on device" instead of raising; checked here, a full disk
    fails the item with a clear reason and the batch goes on.
    """
    def size(path: Path | None) -> int:
        try:
            return path.stat().st_size if path else 0
        except OSError:
            return 0

    # the joined PDF is written twice (joined, then final) plus texts and hOCR copies
    need = sum(3 * size(p.pdf) + 3 * size(p.text) + size(p.hocr) for p in pages) + 1_000_000
    folder = Path(settings.output_dir)
    probe = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return None
    if free >= need:
        return None
    return (
        f"{folder}: not enough free disk space to assemble {item.item_id} (needs about {need / 1e6:.1f} MB, "
        f"{free / 1e6:.1f} MB free; No space left on device); free some space, then run or re-queue the batch "
        "again: finished pages are kept"
    )


def _publish_artifact(report: BatchReport) -> None:
    """A table of items and pages in the Prefect UI for this flow run."""
    from prefect.artifacts import create_table_artifact

    links = {i.identifier: i.pdf_url or i.output_dir for i in report.items}
    rows = [
        {
            "item": i.identifier,
            "page": "",
            "status": i.status,
            "qc": ", ".join(i.qc),
            "ocr confidence": i.mean_confidence,
            "seconds": i.seconds,
            "details": (f"({i.stage}) " if i.stage and i.status != "done" else "") + i.message,
            "link": links.get(i.identifier) or "",
        }
        for i in report.items
    ] + [
        {
            "item": p.item,
            "page": p.seq,
            "status": p.status,
            "qc": ", ".join(p.qc),
            "ocr confidence": p.confidence,
            "seconds": p.seconds,
            "details": p.message,
            "link": "",
        }
        for p in report.pages
    ]
    key = "digitize-" + "".join(c if c.isalnum() else "-" for c in report.batch.lower()).strip("-")[:80]
    try:
        create_table_artifact(
            table=rows,
            key=key,
            description=(
                f"Batch **{report.batch}**: {len(report.done)} item(s) done, {len(report.failed)} failed, "
                f"{len(report.pages)} page(s), {report.seconds:.0f} s, {report.crashed_workers} worker crash(es)."
            ),
        )
    except Exception:  # the report file is written already; the UI table is a convenience
        log.warning("could not create the Prefect artifact for batch %s", report.batch, exc_info=True)


def run_batch(batch_dir: Path, settings: Settings) -> BatchReport:
    """Run the batch flow (page workers as configured in ``settings``)."""
    return digitize_batch(str(batch_dir), settings)
