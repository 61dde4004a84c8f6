"""``digitize bag fetch``: the complete BagIt bag of a stored item, made from the store and validated."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from digitize.cli._app import _configure_logging, _fail, _settings, app, out
from digitize.errors import DigitizeError, ExitCode

bag_app = typer.Typer(
    no_args_is_help=True,
    help="An item's BagIt package: the stored bag.zip lists every file and refers to the stored ones "
    "(fetch.txt); fetch makes the complete bag.",
)
app.add_typer(bag_app, name="bag")


@bag_app.command("fetch")
def bag_fetch(
    item: str = typer.Argument(..., help="The item's identifier."),
    dest: Path = typer.Argument(..., help="Folder to write the complete bag into (<id>.bag/ inside it)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file."),
    storage_url: str | None = typer.Option(None, help="file://FOLDER or s3://BUCKET/PREFIX"),
    catalog_url: str | None = typer.Option(None, help="SQLAlchemy URL of the e-library catalog."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="More log lines."),
) -> None:
    """Unpack ITEM's bag into DEST, fetch the files it names from the store, validate it with bagit.

    Exit 9 when the complete bag is not valid (a stored file is not what the bag's manifests say).
    """
    _configure_logging(verbose, prefect=False)
    try:
        from digitize.delivery.bags import fetch_bag
        from digitize.storage.catalog import Catalog
        from digitize.storage.factory import open_store

        settings = _settings(config, storage__url=storage_url, catalog__url=catalog_url)
        store = open_store(settings.storage)
        catalog = Catalog(settings.catalog.url)
        try:
            bag = fetch_bag(store, item, dest, catalog)
        finally:
            catalog.close()
    except DigitizeError as exc:
        _fail(exc)
    out.print(
        f"[green]valid[/]: {escape(str(bag.folder))} ({bag.fetched} file(s) fetched, "
        f"{bag.payload_bytes / 1e6:.1f} MB of payload)", soft_wrap=True,
    )
    raise typer.Exit(ExitCode.OK)
