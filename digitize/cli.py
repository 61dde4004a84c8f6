"""The ``digitize`` command. Only here do errors become exit codes."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from digitize.errors import DigitizeError, IntakeError
from digitize.settings import load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(stderr=True)
out = Console()


def _settings(config: Optional[Path], **overrides):
    nested: dict = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if "__" in key:
            part, name = key.split("__", 1)
            nested.setdefault(part, {})[name] = value
        else:
            nested[key] = value
    return load_settings(config, **nested)


def _fail(exc: DigitizeError) -> None:
    console.print(f"[bold red]error[/] ({exc.stage}): {escape(exc.message)}", soft_wrap=True)
    raise typer.Exit(exc.exit_code)


@app.command()
def run(
    batch_dir: Path = typer.Argument(..., help="Folder with one sub-folder per item."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML settings file."),
    workers: Optional[int] = typer.Option(None, help="Pages processed at once."),
    work_dir: Optional[Path] = typer.Option(None, help="Where intermediate files go."),
    output_dir: Optional[Path] = typer.Option(None, help="Where finished items go."),
    storage_url: Optional[str] = typer.Option(None, help="file://FOLDER or s3://BUCKET/PREFIX"),
    catalog_url: Optional[str] = typer.Option(None, help="SQLAlchemy URL of the e-library catalog."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Process a scanned batch: deskew, OCR, transliterate, build PDFs, store and register."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
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
        from flows.batch import run_batch
        from flows.server import prefect_api
        from pipeline import tesseract
        from storage.factory import open_store

        info = tesseract.probe(settings.ocr.tessdata)
        store = open_store(settings.storage)
        console.print(f"batch [bold]{escape(str(batch_dir))}[/] · Tesseract {info.version} · {settings.workers} page workers")
        with prefect_api():
            report = run_batch(batch_dir, settings)
    except DigitizeError as exc:
        _fail(exc)

    table = Table(title=f"batch {report.batch}: {len(report.done)} done, {len(report.failed)} failed ({report.seconds:.0f} s)")
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
        table.add_row(escape(item.identifier), item.kind, str(item.pages or ""), status, escape(details))
    out.print(table)
    out.print(f"outputs:  {Path(settings.output_dir).resolve()}")
    out.print(f"storage:  {store.describe()}")
    out.print(f"catalog:  {_safe_url(settings.catalog.url)}")
    raise typer.Exit(0 if not report.failed else 1)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


@app.command()
def translit(
    year: Optional[int] = typer.Option(None, help="Publication year of the text, when known."),
) -> None:
    """Transliterate Azerbaijani Cyrillic text on stdin into Latin on stdout, line for line."""
    from transliteration.stream import transliterate_stream

    try:
        transliterate_stream(sys.stdin.buffer, sys.stdout.buffer, year=year)
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
    from samples.batch import make_sample_batch

    batch = make_sample_batch(dest, seed=seed, pages_per_book=pages)
    out.print(f"sample batch written to {batch.path}")


@app.command()
def check(config: Optional[Path] = typer.Option(None, "--config", "-c")) -> None:
    """Check that Tesseract, its models and the storage settings are usable."""
    from pipeline import tesseract
    from storage.factory import open_store

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
def catalog_list(config: Optional[Path] = typer.Option(None, "--config", "-c")) -> None:
    """List the items registered in the e-library catalog."""
    from storage.catalog import Catalog

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
        table.add_row(
            escape(identifier), escape(item["title"]), escape(item["title_latin"] or ""), str(item["year"] or ""),
            item["kind"], str(item["page_count"]), item["status"],
        )
    out.print(table)
    catalog.close()


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
