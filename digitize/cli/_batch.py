"""Commands that process batches: run, inbox, schedule (with the run's progress and summary)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from digitize.errors import ConfigError, DigitizeError, ExitCode, IntakeError
from digitize.settings import Settings, mask_secrets

if TYPE_CHECKING:
    from rich.progress import TaskID

    from digitize.flows.report import BatchReport, ItemOutcome


from digitize.cli._app import (
    _configure_logging,
    _fail,
    _safe_url,
    _say,
    _settings,
    app,
    console,
    is_quiet,
    out,
)


@app.command()
def run(
    batch_dir: Path = typer.Argument(..., help="Folder with one sub-folder per item."),
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file."),
    workers: int | None = typer.Option(None, help="Pages processed at once."),
    work_dir: Path | None = typer.Option(None, help="Where intermediate files go."),
    output_dir: Path | None = typer.Option(None, help="Where finished items go."),
    storage_url: str | None = typer.Option(None, help="file://FOLDER or s3://BUCKET/PREFIX"),
    catalog_url: str | None = typer.Option(None, help="SQLAlchemy URL of the e-library catalog."),
    wait: bool = typer.Option(
        False, "--wait", help="If another run is processing this batch, wait for it (default: stop at once)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="More log lines (Prefect's too)."),
) -> None:
    """Process a scanned batch: deskew, OCR, transliterate, build PDFs, store and register.

    One run per batch at a time: a second run of the same batch stops at once
    naming the run that holds it (exit code 10), or waits for it with --wait.
    """
    _configure_logging(verbose)
    try:
        settings = _settings(
            config,
            workers=workers,
            work_dir=work_dir,
            output_dir=output_dir,
            storage__url=storage_url,
            catalog__url=catalog_url,
        )
        items, page_files = _batch_outline(batch_dir)
        # at once, before the slow start (Prefect's import and server, the Tesseract probe)
        _say(
            f"starting batch [bold]{escape(batch_dir.name)}[/]: {items} item(s), {page_files} page file(s), "
            f"{settings.workers} page workers"
        )
        _say(_data_line(settings))
        from digitize.delivery.preflight import first_failure_error, run_checks

        # before Prefect is even imported: a store that is down stops the run at once, before any page
        refused = first_failure_error(run_checks(settings))
        if refused is not None:
            raise refused
        from digitize.flows.pool import head_start
        from digitize.flows.server import launch_persistent_server
        from digitize.scanners.run_lock import batch_lock

        launched = launch_persistent_server(settings)  # runs.start_server: it comes up while the pages start
        if launched:
            _say(f"Prefect server started at {launched}, left running for the next runs (digitize server stop)")

        # taken before Prefect starts, so that a second run stops at once; the flow takes it again (re-entrant);
        # then the page workers and the first pages start while Prefect and the flow come up (flows/pool.py)
        with batch_lock(settings.work_dir, batch_dir, wait=wait), head_start(batch_dir, settings):
            from digitize.flows.batch import report_path, run_batch
            from digitize.flows.pool import freeze_loaded_objects
            from digitize.flows.server import prefect_api
            from digitize.pipeline import tesseract
            from digitize.storage.factory import open_store

            freeze_loaded_objects()  # Prefect's modules too: the run's garbage collections skip them

            info = tesseract.probe(settings.ocr.tessdata)
            store = open_store(settings.storage)
            _say(
                f"batch [bold]{escape(str(batch_dir))}[/] · Tesseract {info.version} · {settings.workers} page workers"
            )
            with prefect_api(settings=settings), _progress():
                report = run_batch(batch_dir, settings, wait_for_lock=wait)
    except DigitizeError as exc:
        _fail(exc)

    _print_report(report)
    from digitize.flows.morning import after_run

    morning = after_run(settings)  # today's morning report, mailed if configured; never fails the run
    if morning is not None:
        out.print(f"morning report: {morning}", soft_wrap=True)
    out.print(f"outputs:  {Path(settings.output_dir).resolve()}")
    out.print(f"storage:  {store.describe()}")
    out.print(f"catalog:  {_safe_url(settings.catalog.url)}")
    code = ExitCode.OK if not report.failed else ExitCode.ITEM_FAILED
    if report.catalog:
        console.print(f"[bold red]error[/] (catalog): {escape(_catalog_paragraph(report))} The batch report: "
                      f"{escape(str(report_path(report, settings).resolve()))}.", soft_wrap=True)
        code = ExitCode.CATALOG
    if report.crashed_workers:
        _leave_now(code)
    from digitize.cli import _app

    if _app.console_script:  # measured: the interpreter's teardown of Prefect, SQLAlchemy, OpenCV took 0.6 CPU s
        _leave_now(code)
    raise typer.Exit(code)


def _batch_outline(batch_dir: Path) -> tuple[int, int]:
    """Item folders and page files of a batch, counted without reading them; a wrong folder refused at once.

    Before Prefect starts: an item folder or an empty folder passed as the
    batch is a plain message, not a flow failure's traceback.
    """
    from digitize.scanners.images import PAGE_SUFFIXES
    from digitize.scanners.metadata import METADATA_FILENAME

    if not batch_dir.is_dir():
        raise IntakeError(f"{batch_dir}: batch folder does not exist or is not a folder")
    if (batch_dir / METADATA_FILENAME).is_file():
        parent = batch_dir.resolve().parent
        raise IntakeError(
            f"{batch_dir} is an item folder (it has {METADATA_FILENAME}); pass its parent, the batch folder: "
            f"digitize run {parent}"
        )
    folders = [sub for sub in batch_dir.iterdir() if sub.is_dir() and not sub.name.startswith(".")]
    if not folders:
        raise IntakeError(
            f"{batch_dir}: the batch holds no item folders; a batch is a folder with one sub-folder per item, "
            f"each with its {METADATA_FILENAME} and page images"
        )
    pages = sum(
        1 for sub in folders for path in sub.iterdir() if path.is_file() and path.suffix.lower() in PAGE_SUFFIXES
    )
    return len(folders), pages


def _data_line(settings: Settings) -> str:
    """Which folders this run uses: the data defaults are anchored, but the operator must see where."""
    return (
        f"data: work {escape(str(Path(settings.work_dir).absolute()))} · outputs "
        f"{escape(str(Path(settings.output_dir).absolute()))} · storage {escape(mask_secrets(settings.storage.url))} · "
        f"catalog {escape(_safe_url(settings.catalog.url))}"
    )


def _catalog_paragraph(report: BatchReport) -> str:
    """One paragraph on a catalog fault: what the catalog said, what was done, what was not registered."""
    missing = report.not_registered
    registered = [i.identifier for i in report.done]
    processed = any(i.output_dir for i in report.items if i.identifier in missing)
    text = f"{report.catalog.rstrip('.')}."
    if registered:
        text += f" Registered: {', '.join(registered)}."
    if missing and processed:
        text += (
            f" Processed, stored and verified but not registered: {', '.join(missing)}. Nothing is lost: run the "
            "batch again once the catalog accepts writes; finished pages and stored files are kept and only the "
            "registration is redone."
        )
    elif missing:
        text += (
            f" No page was processed and nothing was registered ({', '.join(missing)}). Run the batch again once "
            "the catalog accepts writes (check that no other program holds it, that its file and folder are "
            "writable, or that its server is running)."
        )
    return text


def _leave_now(code: int) -> None:
    """End the process without the interpreter's exit handlers.

    After a worker process was killed, its broken pool can leave a thread
    that concurrent.futures joins at exit: a CI run printed the batch's
    summary and then hung until killed. And after every run, the
    interpreter's teardown of the modules a run loads cost 0.6 s of CPU
    (bench/throughput.py, issue 18). Everything is written and printed by
    now (reports, catalog, storage; the page workers are stopped, and
    Prefect's queued log lines and events were sent as the run's API
    context closed: flows/server.py), so nothing is lost by leaving here.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _print_report(report: BatchReport) -> None:
    """The final summary of a batch: one row per item, failures with their reason."""
    waiting = len(getattr(report, "in_review", ()))
    held = f", {waiting} in review" if waiting else ""
    title = (f"batch {report.batch}: {len(report.done)} done{held}, {len(report.failed)} failed "
             f"({report.seconds:.0f} s)")
    if getattr(report, "crashed_workers", 0):
        title += f", {report.crashed_workers} worker crash(es) recovered or recorded"
    table = Table(title=title)
    for column in ("item", "kind", "pages", "status", "details"):
        table.add_column(column, overflow="fold")
    for item in report.items:
        status = {"done": "[green]done[/]", "in review": "[yellow]in review[/]"}.get(item.status, "[red]failed[/]")
        if item.status != "done":
            details = item.message
        elif item.mean_confidence is None:
            details = f"{item.message}; no OCR ({item.kind}: kept lossless)" if item.kind != "text" else item.message
        else:
            details = f"{item.message}; mean OCR confidence {item.mean_confidence:.1f}"
        if item.status not in ("done", "in review") and item.stage:
            details = f"({item.stage}) {details}"
        if getattr(item, "qc", None):
            details += f" [QC: {', '.join(item.qc)}]"
        table.add_row(escape(item.identifier), item.kind, str(item.pages or ""), status, escape(details))
    out.print(table)
    if waiting:
        out.print(f"{waiting} item(s) wait for a person before readers see them: digitize review list")


class _RichProgress:
    """Pages done, as a rich progress bar on stderr (see flows.report.ProgressListener)."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(),
            console=console, transient=False, disable=is_quiet(),
        )
        self.task: TaskID | None = None
        self.failed = 0

    def start(self, batch: str, pages: int) -> None:
        self.progress.start()
        self.failed = 0
        self.task = self.progress.add_task(f"{batch}: pages", total=pages)

    def page_done(self, item_id: str, seq: int, ok: bool) -> None:
        self.failed += not ok
        if self.task is not None:
            self.progress.advance(self.task)

    def item_done(self, outcome: ItemOutcome) -> None:
        if outcome.status == "in review":
            self.progress.console.print(f"[yellow]in review[/] {escape(outcome.identifier)}: {escape(outcome.message)}")
        elif outcome.status != "done":
            self.progress.console.print(f"[red]failed[/] {escape(outcome.identifier)}: {escape(outcome.message)}")

    def stop(self) -> None:
        self.progress.stop()


@contextmanager
def _progress() -> Iterator[_RichProgress]:
    from digitize.flows.report import set_progress_listener

    listener = _RichProgress()
    set_progress_listener(listener)
    try:
        yield listener
    finally:
        set_progress_listener(None)
        listener.stop()


@app.command()
def inbox(
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file."),
    root: Path | None = typer.Option(None, help="Hot folder root (inbox/, processing/, done/, failed/)."),
    once: bool = typer.Option(False, "--once", help="One pass over the inbox, then exit."),
    poll_seconds: float = typer.Option(60.0, help="Between passes, when not --once."),
    requeue: str | None = typer.Option(None, help="Move failed/NAME back to the inbox, then exit."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="More log lines (Prefect's too)."),
) -> None:
    """Process every complete batch in the hot folder (see README: Operations)."""
    import time as _time

    _configure_logging(verbose)
    try:
        settings = _settings(config, inbox__root=root)
        from digitize.flows.inbox import digitize_inbox, hot_folder
        from digitize.flows.server import prefect_api

        hot = hot_folder(settings)
        hot.ensure()
        if requeue:
            dest = hot.requeue(requeue)
            out.print(f"re-queued: {dest}")
            raise typer.Exit(ExitCode.OK)
        failed = False
        with prefect_api(settings=settings):
            while True:
                with _progress():
                    run = digitize_inbox(settings)
                for line in run.items:  # one line per item, in plain words
                    out.print(escape(str(line)), soft_wrap=True, highlight=False)
                for name in run.done:
                    out.print(f"[green]done[/]    {escape(name)}")
                for name in run.failed:
                    report_file = hot.area("failed") / (name + ".report.json")
                    out.print(f"[red]failed[/]  {escape(name)}  (report: {report_file})")
                for waiting in run.waiting:
                    out.print(f"waiting {escape(waiting.name)}: {escape(waiting.reason)}")
                if run.morning_report is not None:
                    out.print(f"morning report: {escape(str(run.morning_report))}", soft_wrap=True)
                failed = failed or not run.ok
                if once:
                    break
                _time.sleep(poll_seconds)
    except DigitizeError as exc:
        _fail(exc)
    raise typer.Exit(ExitCode.ITEM_FAILED if failed else ExitCode.OK)


@app.command()
def schedule(
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file."),
    cron: str | None = typer.Option(None, help='Cron line (default "0 1 * * *").'),
    timezone: str | None = typer.Option(None, help="Time zone of the cron line (default Asia/Baku)."),
) -> None:
    """Serve the nightly inbox run: needs a Prefect server (PREFECT_API_URL); runs until stopped."""
    _configure_logging(True, basic=False)
    try:
        settings = _settings(config, schedule__cron=cron, schedule__timezone=timezone)
        api_url = os.environ.get("PREFECT_API_URL")
        if not api_url:
            raise ConfigError(
                "digitize schedule needs a Prefect server to keep the schedule: start one with "
                "`prefect server start --host 127.0.0.1` and set PREFECT_API_URL=http://127.0.0.1:4200/api"
            )
        from digitize.flows.server import require_prefect_server

        require_prefect_server(api_url)
        from prefect import serve

        from digitize.flows.inbox import inbox_deployment

        deployment = inbox_deployment(settings, config)
        console.print(
            f"serving deployment [bold]digitize-inbox/{escape(deployment.name)}[/]: "
            f"cron {escape(settings.schedule.cron)} ({escape(settings.schedule.timezone)}), "
            f"hot folder {escape(str(settings.inbox.root))}"
        )
        serve(deployment)
    except DigitizeError as exc:
        _fail(exc)


