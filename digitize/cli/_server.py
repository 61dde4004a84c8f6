"""``digitize server start|stop|status``: the persistent local Prefect server that runs reuse."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from digitize.cli._app import _configure_logging, _fail, _settings, app, out
from digitize.errors import DigitizeError, ExitCode

server_app = typer.Typer(
    no_args_is_help=True,
    help="The local Prefect server that runs reuse (127.0.0.1, analytics off; its record in DATA/prefect): "
    "start, stop, status. Without it each run starts a temporary server (5-10 s).",
)
app.add_typer(server_app, name="server")


@server_app.command("start")
def server_start(
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file."),
    port: int | None = typer.Option(None, help="Port on 127.0.0.1 (runs.server_port; 0: a free port)."),
    timeout: float = typer.Option(120.0, help="Seconds to wait for the server to answer."),
) -> None:
    """Start the server in the background unless it runs; print its API URL."""
    _configure_logging(False, prefect=False)
    from digitize.flows.local_server import server_folder, start_server

    try:
        settings = _settings(config, runs__server_port=port)
        record, started = start_server(server_folder(), port=settings.runs.server_port, timeout=timeout)
    except DigitizeError as exc:
        _fail(exc)
    verb = "started" if started else "already running"
    out.print(f"Prefect server {verb}: {record.api_url} (pid {record.pid}; log {escape(record.log)})", soft_wrap=True)
    out.print(f"digitize run uses it; for other Prefect clients: PREFECT_API_URL={record.api_url}", soft_wrap=True)
    raise typer.Exit(ExitCode.OK)


@server_app.command("stop")
def server_stop() -> None:
    """Stop the server (runs then start a temporary server of their own, unless runs.start_server)."""
    _configure_logging(False, prefect=False)
    from digitize.flows.local_server import server_folder, stop_server

    record = stop_server(server_folder())
    if record is None:
        out.print("no Prefect server was running")
    else:
        out.print(f"Prefect server stopped (pid {record.pid}, {record.api_url})")
    raise typer.Exit(ExitCode.OK)


@server_app.command("status")
def server_status() -> None:
    """Whether the server runs and answers; exit code 0 when it does, 1 when not."""
    _configure_logging(False, prefect=False)
    from digitize.flows.local_server import server_folder, server_status

    status = server_status(server_folder())
    if status.problem:
        out.print(escape(status.problem), soft_wrap=True)
    record = status.record
    if status.running and record is not None:
        health = "answers" if status.healthy else "[red]does not answer[/] (see its log)"
        out.print(
            f"Prefect server running: {record.api_url} (pid {record.pid}, since {record.started}), {health}; "
            f"record {escape(str(status.folder))}; log {escape(record.log)}",
            soft_wrap=True,
        )
        raise typer.Exit(ExitCode.OK if status.healthy else ExitCode.ITEM_FAILED)
    out.print(
        f"no Prefect server running (record folder {escape(str(status.folder))}); start one: digitize server start",
        soft_wrap=True,
    )
    raise typer.Exit(ExitCode.ITEM_FAILED)
