"""Metadata without hand-typing: import item.toml files from sheets and MARC."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from digitize.errors import DigitizeError, ExitCode

if TYPE_CHECKING:

    from digitize.scanners.sheets import ImportOutcome


from digitize.cli._app import (
    _fail,
    console,
    metadata_app,
    out,
)


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


