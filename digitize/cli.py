"""The ``digitize`` command. Only here do errors become exit codes.

Messages are one paragraph in plain words; a traceback only with -v.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from digitize.errors import ConfigError, DigitizeError, ExitCode, IntakeError, exit_codes_help
from digitize.settings import Settings, apply_process_defaults, describe_settings, load_settings, mask_secrets

if TYPE_CHECKING:
    from rich.progress import TaskID

    from digitize.flows.report import BatchReport, ItemOutcome
    from digitize.scanners.sheets import ImportOutcome

HELP = (
    "Digitize library scans: deskewed, OCR'd, transliterated e-books (PDF/A, EPUB), preservation packages, "
    "the object store and the e-library catalog."
)
app = typer.Typer(
    add_completion=False, no_args_is_help=True, help=HELP, epilog=exit_codes_help(),
    context_settings={"help_option_names": ["-h", "--help"]}, pretty_exceptions_enable=False,
)
config_app = typer.Typer(no_args_is_help=True, help="The settings in effect.")
app.add_typer(config_app, name="config")
review_app = typer.Typer(
    no_args_is_help=True,
    help="Items waiting for a person before readers see them (settings: review.publish): list, approve, reject.",
)
app.add_typer(review_app, name="review")
staff_app = typer.Typer(
    no_args_is_help=True,
    help="People's accounts for the e-library's staff pages (review at /staff/review): add, list, disable.",
)
app.add_typer(staff_app, name="staff")
metadata_app = typer.Typer(
    no_args_is_help=True, help="Write item.toml files from a sheet (CSV, XLSX) or a MARC 21 export."
)
app.add_typer(metadata_app, name="metadata")
console = Console(stderr=True)
out = Console()
_quiet = False
_verbose = False


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("digitize")
    except PackageNotFoundError:  # pragma: no cover - a source tree without an install
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        out.print(f"digitize {_version()}")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _start(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Only errors and the final summary: no progress bar, no start lines."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="More log lines, and the full traceback of an unexpected error."
    ),
) -> None:
    global _quiet, _verbose
    _quiet, _verbose = quiet, verbose
    # Before any command loads OpenCV or Tesseract (they read their thread
    # limits when loaded), and before page workers inherit the environment.
    apply_process_defaults()


def _say(message: str) -> None:
    """A start line on stderr, unless --quiet."""
    if not _quiet:
        console.print(message, soft_wrap=True)


def _settings(config: Path | None, **overrides: Any) -> Settings:
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if "__" in key:
            part, name = key.split("__", 1)
            nested.setdefault(part, {})[name] = value
        else:
            nested[key] = value
    return load_settings(config, **nested)


def _configure_logging(verbose: bool, *, basic: bool = True, prefect: bool = True) -> None:
    """Log level for our loggers and Prefect's (unless the operator set Prefect's)."""
    level = "INFO" if verbose or _verbose else "WARNING"
    if prefect:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", level)
    if basic:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _fail(exc: DigitizeError) -> None:
    console.print(f"[bold red]error[/] ({exc.stage}): {escape(exc.message)}", soft_wrap=True)
    raise typer.Exit(exc.exit_code)


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
        from digitize.flows.batch import report_path, run_batch
        from digitize.flows.server import prefect_api
        from digitize.pipeline import tesseract
        from digitize.scanners.run_lock import batch_lock
        from digitize.storage.factory import open_store

        info = tesseract.probe(settings.ocr.tessdata)
        store = open_store(settings.storage)
        # taken before Prefect starts, so that a second run stops at once; the flow takes it again (re-entrant)
        with batch_lock(settings.work_dir, batch_dir, wait=wait):
            _say(
                f"batch [bold]{escape(str(batch_dir))}[/] · Tesseract {info.version} · {settings.workers} page workers"
            )
            with prefect_api(), _progress():
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
    summary and then hung until killed. Everything is written and printed
    by now (reports, catalog, storage), so nothing is lost by leaving here.
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
            console=console, transient=False, disable=_quiet,
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
        with prefect_api():
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


@app.command()
def audit(
    item: str | None = typer.Argument(None, help="Audit only this item (default: every registered item)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file."),
    sample: int | None = typer.Option(None, "--sample", min=1, help="Audit N items chosen at random."),
    sample_percent: float | None = typer.Option(
        None, "--sample-percent", min=0.0, max=100.0, help="Audit P percent of the items, chosen at random."
    ),
    restart: bool = typer.Option(False, "--restart", help="Start a new round instead of resuming an interrupted one."),
    abort_stale_uploads: bool = typer.Option(
        False, "--abort-stale-uploads",
        help="Abort unfinished S3 multipart uploads older than audit.stale_upload_hours.",
    ),
    threads: int | None = typer.Option(None, help="Objects read at once (audit.threads)."),
    work_dir: Path | None = typer.Option(None, help="Where the resume state is kept."),
    output_dir: Path | None = typer.Option(None, help="Where audit-<date>.json goes."),
    storage_url: str | None = typer.Option(None, help="file://FOLDER or s3://BUCKET/PREFIX"),
    catalog_url: str | None = typer.Option(None, help="SQLAlchemy URL of the e-library catalog."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="More log lines."),
) -> None:
    """Re-read every stored object against its manifest and the catalog; exit 9 on any loss."""
    _configure_logging(verbose, prefect=False)
    if sample is not None and sample_percent is not None:
        raise typer.BadParameter("give --sample or --sample-percent, not both", param_hint="--sample")
    if item is not None and (sample is not None or sample_percent is not None):
        raise typer.BadParameter("an ITEM and a sample exclude each other", param_hint="--sample")
    try:
        from digitize.delivery.audit import audit_store, choose_items, write_report
        from digitize.errors import AuditError
        from digitize.storage.catalog import Catalog
        from digitize.storage.factory import open_store

        settings = _settings(
            config, work_dir=work_dir, output_dir=output_dir, storage__url=storage_url, catalog__url=catalog_url,
            audit__threads=threads,
        )
        store = open_store(settings.storage)
        catalog = Catalog(settings.catalog.url)
        registered = catalog.identifiers(include_withdrawn=True)
        if item is not None:
            if item not in registered:
                raise AuditError(f"no item {item!r} in the catalog at {_safe_url(settings.catalog.url)}")
            chosen, scope = [item], f"item:{item}"
        elif sample is not None or sample_percent is not None:
            chosen = choose_items(registered, sample=sample, sample_percent=sample_percent)
            scope = f"sample:{sample}" if sample is not None else f"sample:{sample_percent}%"
        else:
            chosen, scope = registered, "all"
        console.print(f"auditing {len(chosen)} item(s) in [bold]{escape(store.describe())}[/]")
        report = audit_store(
            store, catalog, settings.audit, items=chosen, scope=scope, state_dir=Path(settings.work_dir),
            restart=restart, abort_stale_uploads=abort_stale_uploads, find_orphans=item is None,
        )
        report_path = write_report(report, Path(settings.output_dir))
        catalog.close()
    except DigitizeError as exc:
        _fail(exc)

    table = Table(title=f"audit of {len(report.items)} item(s): {len(report.failed_items)} with problems")
    for column in ("item", "object", "problem", "details"):
        table.add_column(column, overflow="fold")
    for result in report.failed_items:
        for problem in result.problems:
            table.add_row(escape(result.identifier), escape(problem.key), problem.kind, escape(problem.detail))
    for problem in report.orphans:
        table.add_row("(none)", escape(problem.key), problem.kind, escape(problem.detail))
    if table.rows:
        out.print(table)
    for entry in report.uploads:
        state = "aborted" if entry.aborted else ("stale" if entry.stale else "in progress")
        note = f" ({escape(entry.error)})" if entry.error else ""
        out.print(
            f"unfinished upload {escape(entry.upload.key)} ({entry.upload.upload_id}), "
            f"started {entry.upload.initiated:%Y-%m-%d %H:%M} UTC: {state}{note}"
        )
    objects = sum(result.objects for result in report.items)
    out.print(
        f"{'[green]pass[/]' if report.ok else '[red]FAIL[/]'}: {len(report.items)} items, {objects} objects, "
        f"{report.bytes_read / 1e6:.1f} MB read in {report.seconds:.1f} s"
        + (f" ({len(report.resumed)} items from the interrupted round)" if report.resumed else "")
    )
    out.print(f"report:   {report_path}")
    raise typer.Exit(ExitCode.OK if report.ok else ExitCode.AUDIT_FAILED)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


@app.command()
def translit(
    year: int | None = typer.Option(None, help="Publication year of the text, when known (chooses the alphabet)."),
    alphabet: str | None = typer.Option(
        None, help="Cyrillic alphabet of the text: 1939 (Й) or 1958 (Ј). Wins over --year; default: detected."
    ),
    lexicon: list[Path] | None = typer.Option(
        None, help="Extra exceptions lexicon (cyrillic<TAB>latin per line); may be repeated."
    ),
) -> None:
    """Transliterate Azerbaijani Cyrillic text on stdin into Latin on stdout, line for line."""
    from digitize.transliteration.engine import Transliterator
    from digitize.transliteration.stream import transliterate_stream

    if alphabet is not None and alphabet not in ("1939", "1958"):
        raise typer.BadParameter("must be 1939 or 1958", param_hint="--alphabet")
    try:
        engine = Transliterator(year=year, alphabet=alphabet, lexicon=lexicon or None)
        transliterate_stream(sys.stdin.buffer, sys.stdout.buffer, transliterator=engine)
    except DigitizeError as exc:
        sys.stdout.flush()
        _fail(exc)


@app.command()
def sample(
    dest: Path = typer.Argument(..., help="Folder to write the sample batch into."),
    seed: int = typer.Option(0, help="Seed of the generated pages (the same seed gives the same batch)."),
    pages: int = typer.Option(3, help="Pages per sample book."),
) -> None:
    """Write the bundled sample batch (generated, with ground truth)."""
    from digitize.samples.batch import make_sample_batch

    batch = make_sample_batch(dest, seed=seed, pages_per_book=pages)
    out.print(f"sample batch written to {batch.path}")


@app.command()
def check(config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file.")) -> None:
    """Pre-flight: test Tesseract and its models, the work and output folders, the object store (a probe
    object written, read back and deleted), the catalog and the Prefect API, each with a short timeout.

    One line per check, OK or FAIL with the fix; the exit code is the first failure's (storage 7, catalog 8,
    missing dependency 3, settings 2).
    """
    from digitize.delivery.preflight import all_checks

    try:
        settings = _settings(config)
    except DigitizeError as exc:
        _fail(exc)
    results = all_checks(settings)
    for result in results:
        if result.ok:
            out.print(f"[green]OK  [/] {escape(result.name)}: {escape(result.detail)}", soft_wrap=True)
        else:
            out.print(f"[bold red]FAIL[/] {escape(result.name)}: {escape(result.detail)}", soft_wrap=True)
            out.print(f"     fix: {escape(result.fix or '')}", soft_wrap=True)
    failed = [result for result in results if not result.ok]
    if failed:
        console.print(f"[bold red]{len(failed)} of {len(results)} checks failed[/]")
        raise typer.Exit(failed[0].exit_code)


@app.command("catalog")
def catalog_list(config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file.")) -> None:
    """List the items registered in the e-library catalog."""
    from digitize.storage.catalog import Catalog

    try:
        settings = _settings(config)
        catalog = Catalog(settings.catalog.url)
    except DigitizeError as exc:
        _fail(exc)
    table = Table(title="e-library catalog")
    for column in ("identifier", "title", "title (Latin)", "year", "kind", "pages", "status"):
        table.add_column(column, overflow="fold")
    for identifier in catalog.identifiers(include_withdrawn=True):
        item = catalog.get(identifier)
        if item is None:  # withdrawn and deleted between the two calls
            continue
        table.add_row(
            escape(identifier), escape(item.title), escape(item.title_latin or ""), str(item.year or ""),
            # withdrawn, else where review has it: in review, published, rejected
            item.kind, str(item.page_count), item.review_state if item.status == "available" else item.status,
        )
    out.print(table)
    catalog.close()


@app.command()
def serve(
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file."),
    host: str | None = typer.Option(None, help="Address to listen on (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port to listen on (default 8080)."),
    storage_url: str | None = typer.Option(None, help="file://FOLDER or s3://BUCKET/PREFIX"),
    catalog_url: str | None = typer.Option(None, help="SQLAlchemy URL of the e-library catalog."),
) -> None:
    """Run the e-library web service: search, item pages, JSON API, OAI-PMH."""
    _configure_logging(True, prefect=False)
    try:
        settings = _settings(
            config, web__host=host, web__port=port, storage__url=storage_url, catalog__url=catalog_url
        )
        import uvicorn

        from digitize.elibrary import create_app

        web_app = create_app(settings)
    except DigitizeError as exc:
        _fail(exc)
    writes = "enabled (token set)" if settings.web.token else "disabled (no DIGITIZE_WEB__TOKEN)"
    console.print(
        f"e-library on http://{settings.web.host}:{settings.web.port}/ · catalog {_safe_url(settings.catalog.url)}"
        f" · writes {writes}"
    )
    uvicorn.run(web_app, host=settings.web.host, port=settings.web.port, log_level="info", server_header=False)


@config_app.command("show")
def config_show(
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file."),
) -> None:
    """Print every setting in effect and where its value came from (default, file, environment, option).

    Secrets (tokens, keys, passwords in URLs) are masked.
    """
    try:
        values = describe_settings(config)
    except DigitizeError as exc:
        _fail(exc)
    chosen = config or os.environ.get("DIGITIZE_CONFIG")
    table = Table(title=f"settings in effect (file: {escape(str(chosen)) if chosen else 'none'})", title_justify="left")
    for column in ("setting", "value", "source"):
        table.add_column(column, overflow="fold")
    for value in values:
        table.add_row(escape(value.name), escape(value.value), escape(value.source))
    out.print(table)


_AS_HELP = "Who decides (recorded in the review event); default: the operating-system user."


def _review_catalog(config: Path | None, catalog_url: str | None) -> Any:
    from digitize.storage.catalog import Catalog

    settings = _settings(config, catalog__url=catalog_url)
    return Catalog(settings.catalog.url, busy_timeout=settings.catalog.busy_timeout_seconds)


def _review_store(config: Path | None) -> Any:
    """The object store holding the items' METS, which gets each decision as a PREMIS event."""
    from digitize.storage.factory import open_store

    return open_store(_settings(config).storage)


@review_app.command("list")
def review_list(
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file."),
    catalog_url: str | None = typer.Option(None, help="SQLAlchemy URL of the e-library catalog."),
) -> None:
    """The items waiting in review, longest waiting first: id, title, reasons, since when."""
    from digitize.delivery.review import review_queue

    try:
        catalog = _review_catalog(config, catalog_url)
        try:
            waiting = review_queue(catalog)
        finally:
            catalog.close()
    except DigitizeError as exc:
        _fail(exc)
    if not waiting:
        out.print("no item is waiting in review")
        raise typer.Exit(ExitCode.OK)
    table = Table(title=f"{len(waiting)} item(s) in review", title_justify="left")
    for column in ("id", "title", "reasons", "since"):
        table.add_column(column, overflow="fold")
    for item in waiting:
        since = item.reviewed_at or item.updated_at
        table.add_row(escape(item.identifier), escape(item.title), escape(item.review_reason or ""),
                      f"{since:%Y-%m-%d %H:%M} UTC")
    out.print(table)
    out.print("approve: digitize review approve ID; reject: digitize review reject ID --reason TEXT [--pages 3,5]")


@review_app.command("approve")
def review_approve(
    identifier: str = typer.Argument(..., help="The item's identifier (see digitize review list)."),
    note: str | None = typer.Option(None, "--note", help="A note kept with the decision."),
    actor: str | None = typer.Option(None, "--as", help=_AS_HELP),
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file."),
    catalog_url: str | None = typer.Option(None, help="SQLAlchemy URL of the e-library catalog."),
) -> None:
    """Publish an item waiting in review: readers see it in search, on its page and in OAI-PMH."""
    from digitize.delivery.review import approve, default_actor

    try:
        catalog = _review_catalog(config, catalog_url)
        try:
            item = approve(catalog, identifier, actor=actor if actor is not None else default_actor(), note=note,
                           store=_review_store(config))
        finally:
            catalog.close()
    except DigitizeError as exc:
        _fail(exc)
    out.print(f"{escape(item.identifier)}: published (approved by {escape(item.reviewed_by or '')})")


@review_app.command("reject")
def review_reject(
    identifier: str = typer.Argument(..., help="The item's identifier (see digitize review list)."),
    reason: str = typer.Option(..., "--reason", help='What has to be done, e.g. "rescan pages 3 and 5: blurred".'),
    pages: str | None = typer.Option(None, "--pages", help="Pages to rescan, e.g. 3,5."),
    actor: str | None = typer.Option(None, "--as", help=_AS_HELP),
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file."),
    catalog_url: str | None = typer.Option(None, help="SQLAlchemy URL of the e-library catalog."),
) -> None:
    """Hold an item back until it is processed again (rescan pages, fix metadata); readers never see it."""
    from digitize.delivery.review import default_actor, reject

    numbers: tuple[int, ...] = ()
    if pages:
        try:
            numbers = tuple(int(part) for part in pages.replace(" ", "").split(",") if part)
        except ValueError:
            message = f"{pages!r} is not a list of page numbers such as 3,5"
            raise typer.BadParameter(message, param_hint="--pages") from None
    try:
        catalog = _review_catalog(config, catalog_url)
        try:
            item = reject(catalog, identifier, actor=actor if actor is not None else default_actor(),
                          reason=reason, pages=numbers, store=_review_store(config))
        finally:
            catalog.close()
    except DigitizeError as exc:
        _fail(exc)
    out.print(f"{escape(item.identifier)}: rejected ({escape(item.review_reason or '')}); "
              "it stays hidden until it is processed again")


def _staff_catalog(config: Path | None, catalog_url: str | None) -> tuple[Settings, Any]:
    from digitize.storage.catalog import Catalog

    settings = _settings(config, catalog__url=catalog_url)
    return settings, Catalog(settings.catalog.url, busy_timeout=settings.catalog.busy_timeout_seconds)


def _read_password() -> str:
    """The new password: typed twice at a terminal, else the first line of standard input (never an argument)."""
    if sys.stdin.isatty():
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    return sys.stdin.readline().rstrip("\r\n")


@staff_app.command("add")
def staff_add(
    username: str = typer.Argument(..., help="Sign-in name: lower-case letters, digits, '.', '_', '-'."),
    role: str = typer.Option("reviewer", "--role", help="reviewer or admin."),
    display_name: str | None = typer.Option(None, "--name", help="The name shown in pages (default: USERNAME)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file."),
    catalog_url: str | None = typer.Option(None, help="SQLAlchemy URL of the e-library catalog."),
) -> None:
    """Add a staff account; the password is asked for (or read from standard input), never given as an argument."""
    from digitize.storage.accounts import check_password, check_username, create_user

    try:
        settings, catalog = _staff_catalog(config, catalog_url)
        try:
            check_username(username)
            password = check_password(_read_password(), settings.staff.min_password_chars)
            user = create_user(catalog, username, password, role=role, display_name=display_name,
                               min_password_chars=settings.staff.min_password_chars)
        finally:
            catalog.close()
    except DigitizeError as exc:
        _fail(exc)
    out.print(f"staff account {escape(user.username)} ({user.role}) added; sign in at /staff/login")


@staff_app.command("list")
def staff_list(
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file."),
    catalog_url: str | None = typer.Option(None, help="SQLAlchemy URL of the e-library catalog."),
) -> None:
    """The staff accounts: name, role, since when, disabled or not."""
    from digitize.storage.accounts import list_users

    try:
        _, catalog = _staff_catalog(config, catalog_url)
        try:
            users = list_users(catalog)
        finally:
            catalog.close()
    except DigitizeError as exc:
        _fail(exc)
    table = Table(title=f"{len(users)} staff account(s)", title_justify="left")
    for column in ("username", "name", "role", "created", "disabled"):
        table.add_column(column, overflow="fold")
    for user in users:
        disabled = f"{user.disabled_at:%Y-%m-%d %H:%M} UTC" if user.disabled_at else ""
        table.add_row(escape(user.username), escape(user.display_name), user.role,
                      f"{user.created_at:%Y-%m-%d %H:%M} UTC", disabled)
    out.print(table)


@staff_app.command("disable")
def staff_disable(
    username: str = typer.Argument(..., help="The account to disable (its sessions end at once)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file."),
    catalog_url: str | None = typer.Option(None, help="SQLAlchemy URL of the e-library catalog."),
) -> None:
    """Disable a staff account: it can no longer sign in; it is kept, so past decisions still name it."""
    from digitize.storage.accounts import disable_user

    try:
        _, catalog = _staff_catalog(config, catalog_url)
        try:
            user = disable_user(catalog, username)
        finally:
            catalog.close()
    except DigitizeError as exc:
        _fail(exc)
    out.print(f"staff account {escape(user.username)} disabled")


@app.command("report")
def morning_report(
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file."),
    since: str | None = typer.Option(None, help="First day to cover, YYYY-MM-DD (default: today)."),
    mail: bool = typer.Option(True, "--mail/--no-mail", help="Mail it when SMTP is configured (settings.smtp)."),
) -> None:
    """Build the morning report (HTML and CSV) over every batch report since a day; mail it if configured."""
    from datetime import date

    _configure_logging(False, prefect=False)
    try:
        settings = _settings(config)
        try:
            first = date.fromisoformat(since) if since else date.today()
        except ValueError as exc:
            raise ConfigError(f"--since {since!r}: not a date; write it as YYYY-MM-DD") from exc
        from digitize.flows.morning import report_since

        report, html_path, csv_path, sent = report_since(settings, first, mail=mail)
    except DigitizeError as exc:
        _fail(exc)
    out.print(escape(report.summary), soft_wrap=True)
    out.print(f"report:   {escape(str(html_path))}", soft_wrap=True)
    out.print(f"table:    {escape(str(csv_path))}", soft_wrap=True)
    if sent:
        out.print(f"mailed to {escape(', '.join(settings.smtp.to))}", soft_wrap=True)
    raise typer.Exit(ExitCode.OK)


@metadata_app.command("import")
def metadata_import(
    sheet: Path = typer.Argument(..., help="A CSV or XLSX sheet, one row per item (a header row first)."),
    batch_dir: Path = typer.Argument(..., help="The batch folder holding the item folders."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace item.toml files that exist."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be written; write nothing."),
) -> None:
    """item.toml for each row of a sheet, matched by folder name or inventory number.

    Columns: item.toml keys or common library names (Başlıq, Заглавие, Title …); ';' separates authors.

    A bad row is named and skipped, the others are written; exit code 4 if any row was refused.
    """
    from digitize.scanners.sheets import import_sheet

    try:
        outcomes = import_sheet(sheet, batch_dir, overwrite=overwrite, dry_run=dry_run)
    except DigitizeError as exc:
        _fail(exc)
    _print_import(outcomes, dry_run)


@metadata_app.command("import-marc")
def metadata_import_marc(
    marc_file: Path = typer.Argument(..., help="MARC 21 (.mrc) or MARCXML exported by the library system."),
    batch_dir: Path = typer.Argument(..., help="The batch folder holding the item folders."),
    match: str = typer.Option(
        "any", "--match", help="Which number names a record's folder: any, 001, 090 (call number) or 852 (holdings)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace item.toml files that exist."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be written; write nothing."),
) -> None:
    """item.toml for each MARC record whose inventory number names an item folder."""
    from digitize.scanners.marc_import import import_marc

    if match not in ("any", "001", "090", "852"):
        raise typer.BadParameter("must be any, 001, 090 or 852", param_hint="--match")
    try:
        outcomes = import_marc(marc_file, batch_dir, match=match, overwrite=overwrite, dry_run=dry_run)  # type: ignore[arg-type]
    except DigitizeError as exc:
        _fail(exc)
    _print_import(outcomes, dry_run)


def _print_import(outcomes: list[ImportOutcome], dry_run: bool) -> None:
    from digitize.scanners.sheets import ImportStatus

    for outcome in outcomes:
        style = {"refused": "bold red", "kept": "yellow"}.get(outcome.status.value, "green")
        console.print(f"[{style}]{outcome.status.value}[/] {escape(outcome.message)}", soft_wrap=True)
        if dry_run and outcome.status is ImportStatus.WOULD_WRITE:
            out.print(escape(outcome.toml), end="", soft_wrap=True, highlight=False)
    counts = {status: sum(o.status is status for o in outcomes) for status in ImportStatus}
    console.print(", ".join(f"{n} {status.value}" for status, n in counts.items() if n) or "no rows")
    if counts[ImportStatus.REFUSED]:
        raise typer.Exit(ExitCode.INTAKE)


def main() -> None:
    """The console script: an unexpected error is one line; its traceback only with -v."""
    try:
        app()
    except Exception as exc:
        if {"-v", "--verbose"} & set(sys.argv[1:]):
            raise
        console.print(
            f"[bold red]error[/]: unexpected {type(exc).__name__}: {escape(str(exc))} "
            "(run again with -v for the full traceback, and please report it)",
            soft_wrap=True,
        )
        raise SystemExit(ExitCode.PROCESSING) from None


if __name__ == "__main__":  # pragma: no cover
    main()
