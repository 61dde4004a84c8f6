"""The Typer application, its global options and what every command shares.

Only the CLI turns errors into exit codes: each command catches the
project's errors and leaves with the error's ExitCode.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

from digitize.errors import DigitizeError, ExitCode, exit_codes_help
from digitize.settings import Settings, apply_process_defaults, load_settings

if TYPE_CHECKING:

    pass


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


def is_quiet() -> bool:
    """Was -q given (no start lines, no progress bar)?"""
    return _quiet


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




def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]




# Set by main(): the process is the console script, which a command may end without the interpreter's teardown.
console_script = False


def main() -> None:
    """The console script: an unexpected error is one line; its traceback only with -v."""
    global console_script
    console_script = True
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


