"""``digitize tiles``: IIIF tiles for published items that have none, or have tiles of an earlier PDF."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer
from rich.markup import escape

from digitize.cli._app import _configure_logging, _fail, _settings, app, console, out
from digitize.errors import DigitizeError, ExitCode


@app.command()
def tiles(
    identifiers: list[str] | None = typer.Argument(None, help="Items to make tiles for.", show_default=False),
    every: bool = typer.Option(False, "--all", help="Every registered item that is not withdrawn."),
    force: bool = typer.Option(
        False, "--force", help="Make the tiles again even when they are of the item's PDF (after a tiler change)."
    ),
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file."),
    storage_url: str | None = typer.Option(None, help="file://FOLDER or s3://BUCKET/PREFIX"),
    catalog_url: str | None = typer.Option(None, help="SQLAlchemy URL of the e-library catalog."),
    work_dir: Path | None = typer.Option(None, help="Where the PDF is read back and the tiles made (tiles/ in it)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="More log lines."),
) -> None:
    """Make and store the IIIF tiles (deep zoom) of published items, from their stored PDFs.

    Items published before tiles existed, or whose tiles are of an earlier PDF, show rendered pages
    without zoom until this is run. Items whose tiles are of their PDF are skipped (unless --force),
    so running it again is cheap. Exit 0 when every item has its tiles; otherwise the exit code of
    the failure (1 when items failed in different ways).
    """
    _configure_logging(verbose, prefect=False)
    names = list(dict.fromkeys(identifiers or []))
    if bool(names) == every:
        raise typer.BadParameter("name the items, or give --all (not both)", param_hint="IDENTIFIER... | --all")
    try:
        from digitize.delivery.tiles import tiles_for_stored_item, tiles_state
        from digitize.storage.catalog import Catalog
        from digitize.storage.factory import open_store

        settings = _settings(config, work_dir=work_dir, storage__url=storage_url, catalog__url=catalog_url)
        store = open_store(settings.storage)
        catalog = Catalog(settings.catalog.url)
    except DigitizeError as exc:
        _fail(exc)
    spool = Path(settings.work_dir) / "tiles"
    failed: list[ExitCode] = []
    made = 0
    try:
        for identifier in names or catalog.identifiers(include_withdrawn=True):
            try:
                state = tiles_state(catalog, identifier)
                if state.withdrawn and every:
                    continue
                if state.pdf_sha256 is None and every:  # registered without a PDF (web API): nothing to tile
                    continue
                if state.current and not force:
                    out.print(f"{escape(identifier)}: {state.reason}, nothing to do", soft_wrap=True)
                    continue
                console.print(f"{escape(identifier)}: {state.reason}; making them from its stored PDF")
                result = tiles_for_stored_item(store, catalog, identifier, spool)
            except DigitizeError as exc:
                console.print(f"[bold red]error[/] {escape(identifier)} ({exc.stage}): {escape(exc.message)}",
                              soft_wrap=True)
                failed.append(exc.exit_code)
                continue  # its work folder is kept: a re-run reuses the tiles made
            shutil.rmtree(spool / identifier, ignore_errors=True)
            made += 1
            out.print(
                f"[green]{escape(identifier)}[/]: {len(result.index.pages)} pages, {result.files} files, "
                f"{result.uploaded} stored ({result.bytes_uploaded / 1e6:.1f} MB) in "
                f"{result.seconds_making + result.seconds_uploading:.1f} s", soft_wrap=True,
            )
    finally:
        catalog.close()
    out.print(f"tiles made for {made} item(s)" + (f", {len(failed)} failed" if failed else ""))
    if not failed:
        raise typer.Exit(ExitCode.OK)
    raise typer.Exit(failed[0] if len(set(failed)) == 1 else ExitCode.ITEM_FAILED)
