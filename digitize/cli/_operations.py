"""Commands around the runs: audit, check, catalog, serve, translit, sample, config show, report."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from digitize.errors import ConfigError, DigitizeError, ExitCode
from digitize.settings import describe_settings

if TYPE_CHECKING:

    pass


from digitize.cli._app import (
    _configure_logging,
    _fail,
    _safe_url,
    _settings,
    app,
    config_app,
    console,
    out,
)


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
def reindex(
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file."),
    catalog_url: str | None = typer.Option(None, help="SQLAlchemy URL of the e-library catalog."),
) -> None:
    """Rebuild the catalog's full-text index from the stored page texts (after an upgrade, or to repair it)."""
    from digitize.storage.catalog import Catalog

    try:
        settings = _settings(config, catalog__url=catalog_url)
        catalog = Catalog(settings.catalog.url)
        count = catalog.reindex(lambda done, total: console.print(f"indexed {done} of {total} items"))
        catalog.close()
    except DigitizeError as exc:
        _fail(exc)
    out.print(f"full-text index of {escape(_safe_url(settings.catalog.url))} rebuilt: {count} items")
    raise typer.Exit(ExitCode.OK)


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


