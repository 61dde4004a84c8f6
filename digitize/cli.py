"""The ``digitize`` command. Only here do errors become exit codes."""

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
from digitize.settings import Settings, apply_process_defaults, load_settings

if TYPE_CHECKING:
    from rich.progress import TaskID

    from digitize.flows.report import BatchReport, ItemOutcome

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, epilog=exit_codes_help())
console = Console(stderr=True)
out = Console()


@app.callback()
def _start() -> None:
    # Before any command loads OpenCV or Tesseract (they read their thread
    # limits when loaded), and before page workers inherit the environment.
    apply_process_defaults()


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
    level = "INFO" if verbose else "WARNING"
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
    verbose: bool = typer.Option(False, "--verbose", "-v"),
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
        if not batch_dir.is_dir():
            raise IntakeError(f"{batch_dir}: batch folder does not exist or is not a folder")
        from digitize.flows.batch import report_path, run_batch
        from digitize.flows.server import prefect_api
        from digitize.pipeline import tesseract
        from digitize.scanners.run_lock import batch_lock
        from digitize.storage.factory import open_store

        info = tesseract.probe(settings.ocr.tessdata)
        store = open_store(settings.storage)
        # taken before Prefect starts, so that a second run stops at once; the flow takes it again (re-entrant)
        with batch_lock(settings.work_dir, batch_dir, wait=wait):
            console.print(
                f"batch [bold]{escape(str(batch_dir))}[/] · Tesseract {info.version} · {settings.workers} page workers"
            )
            with prefect_api(), _progress():
                report = run_batch(batch_dir, settings, wait_for_lock=wait)
    except DigitizeError as exc:
        _fail(exc)

    _print_report(report)
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
    title = f"batch {report.batch}: {len(report.done)} done, {len(report.failed)} failed ({report.seconds:.0f} s)"
    if getattr(report, "crashed_workers", 0):
        title += f", {report.crashed_workers} worker crash(es) recovered or recorded"
    table = Table(title=title)
    for column in ("item", "kind", "pages", "status", "details"):
        table.add_column(column, overflow="fold")
    for item in report.items:
        status = "[green]done[/]" if item.status == "done" else "[red]failed[/]"
        if item.status != "done":
            details = item.message
        elif item.mean_confidence is None:
            details = f"{item.message}; no OCR ({item.kind}: kept lossless)" if item.kind != "text" else item.message
        else:
            details = f"{item.message}; mean OCR confidence {item.mean_confidence:.1f}"
        if item.status != "done" and item.stage:
            details = f"({item.stage}) {details}"
        if getattr(item, "qc", None):
            details += f" [QC: {', '.join(item.qc)}]"
        table.add_row(escape(item.identifier), item.kind, str(item.pages or ""), status, escape(details))
    out.print(table)


class _RichProgress:
    """Pages done, as a rich progress bar on stderr (see flows.report.ProgressListener)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=False,
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
        if outcome.status != "done":
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
    verbose: bool = typer.Option(False, "--verbose", "-v"),
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
                for name in run.done:
                    out.print(f"[green]done[/]    {escape(name)}")
                for name in run.failed:
                    report_file = hot.area("failed") / (name + ".report.json")
                    out.print(f"[red]failed[/]  {escape(name)}  (report: {report_file})")
                for waiting in run.waiting:
                    out.print(f"waiting {escape(waiting.name)}: {escape(waiting.reason)}")
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
        if not os.environ.get("PREFECT_API_URL"):
            raise ConfigError(
                "digitize schedule needs a Prefect server to keep the schedule: start one with "
                "`prefect server start --host 127.0.0.1` and set PREFECT_API_URL=http://127.0.0.1:4200/api"
            )
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
    verbose: bool = typer.Option(False, "--verbose", "-v"),
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
    seed: int = typer.Option(0),
    pages: int = typer.Option(3, help="Pages per sample book."),
) -> None:
    """Write the bundled sample batch (generated, with ground truth)."""
    from digitize.samples.batch import make_sample_batch

    batch = make_sample_batch(dest, seed=seed, pages_per_book=pages)
    out.print(f"sample batch written to {batch.path}")


@app.command()
def check(config: Path | None = typer.Option(None, "--config", "-c")) -> None:
    """Check that Tesseract, its models and the storage settings are usable."""
    from digitize.pipeline import tesseract
    from digitize.storage.factory import open_store

    try:
        settings = _settings(config)
        info = tesseract.probe(settings.ocr.tessdata)
        out.print(f"Tesseract {info.version}, models in {info.tessdata}: {', '.join(info.models)}")
        for model in sorted(set(settings.ocr.models.values()) | {settings.ocr.default_model}):
            tesseract.check_model(model, settings.ocr.tessdata)
        out.print(f"storage: {open_store(settings.storage).describe()}")
        out.print(f"catalog: {_safe_url(settings.catalog.url)}")
    except DigitizeError as exc:
        _fail(exc)


@app.command("catalog")
def catalog_list(config: Path | None = typer.Option(None, "--config", "-c")) -> None:
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
            item.kind, str(item.page_count), item.status,
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


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
