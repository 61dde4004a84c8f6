"""The staff desk's commands: review (list, approve, reject) and staff accounts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from digitize.errors import DigitizeError, ExitCode
from digitize.settings import Settings

if TYPE_CHECKING:

    pass


from digitize.cli._app import (
    _fail,
    _settings,
    out,
    review_app,
    staff_app,
)

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


