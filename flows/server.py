"""A Prefect API for runs without a Prefect server set up.

When ``PREFECT_API_URL`` is not set, Prefect would start a temporary server
in every process that runs a task, including each page worker. We start
one temporary server (on 127.0.0.1, analytics off) for the whole run and
point every worker process at it through the environment.

The server is a child process that must not outlive the run: on Linux the
kernel kills it (``PR_SET_PDEATHSIG``) when the process that started it
dies, even by ``kill -9``, so no orphaned server keeps its port and
database open. Elsewhere it is stopped at exit as Prefect does.

A persistent server (:mod:`flows.local_server`, ``digitize server start``)
is used instead when it runs, or started for the run and left running when
``runs.start_server`` is set: it spares each run the temporary server's
5-10 s before the first page.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitize.errors import ConfigError
from digitize.flows.children import die_with_parent
from digitize.settings import Settings

if TYPE_CHECKING:
    from prefect.server.api.server import SubprocessASGIServer

__all__ = ["launch_persistent_server", "prefect_api", "require_prefect_server"]

log = logging.getLogger(__name__)


def _server_class() -> type[SubprocessASGIServer]:
    from prefect.server.api.server import SubprocessASGIServer

    class ChildServer(SubprocessASGIServer):
        """Prefect's temporary server, started so that it dies with this process."""

        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            if not sys.platform.startswith("linux"):
                return super()._run_uvicorn_command()
            parent = os.getpid()
            real_popen: Callable[..., subprocess.Popen[Any]] = subprocess.Popen

            def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
                started: subprocess.Popen[Any] = real_popen(
                    *args, preexec_fn=lambda: die_with_parent(parent), **kwargs
                )
                return started

            # Prefect builds the command line; only the way the process starts changes.
            import prefect.server.api.server as module

            setattr(module, "subprocess", _PopenWith(popen))  # noqa: B010 - a module attribute Prefect does not export
            try:
                return super()._run_uvicorn_command()
            finally:
                setattr(module, "subprocess", subprocess)  # noqa: B010

    return ChildServer


class _PopenWith:
    """The ``subprocess`` module as Prefect's server module sees it, with another ``Popen``."""

    def __init__(self, popen: Callable[..., subprocess.Popen[Any]]) -> None:
        self.Popen = popen

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)


@contextmanager
def prefect_api(timeout: int = 120, settings: Settings | None = None) -> Iterator[str]:
    """Yield the Prefect API URL: the configured one, the persistent server's, or a temporary server's.

    Order: ``PREFECT_API_URL`` if set; else the persistent server of the data
    folder if it runs (or, with ``runs.start_server``, once started for this
    run and left running); else a temporary server for this run only.
    """
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        try:
            yield configured
        finally:
            _flush_logs()  # the command may then end without the interpreter's exit handlers (cli/_batch.py)
        return
    persistent = _persistent_api(settings, timeout)
    if persistent is not None:
        with _using(persistent):
            yield persistent
        return
    os.environ.setdefault("PREFECT_SERVER_API_HOST", "127.0.0.1")
    home = os.environ.get("PREFECT_HOME")
    if home:  # the temporary server cannot create its database in a missing folder
        Path(home).expanduser().mkdir(parents=True, exist_ok=True)
    server = _server_class()()
    server.start(timeout=timeout)
    log.info("temporary Prefect server at %s", server.api_url)
    try:
        with _using(server.api_url):
            yield server.api_url
    finally:
        server.stop()


def launch_persistent_server(settings: Settings) -> str | None:
    """Start the persistent server now if this run will use it and none runs; do not wait for it.

    ``digitize run`` calls this first, so that the server comes up while
    Prefect is imported and the first pages run; :func:`prefect_api` then
    waits for it to answer. Nothing happens when ``PREFECT_API_URL`` is set
    or ``runs.start_server`` is off. Returns the API URL of a server started
    now (None: none was started).
    """
    if os.environ.get("PREFECT_API_URL") or not settings.runs.start_server:
        return None
    from digitize.flows.local_server import launch_server, server_folder

    record, started = launch_server(server_folder(), port=settings.runs.server_port)
    return record.api_url if started else None


def _persistent_api(settings: Settings | None, timeout: float) -> str | None:
    """The persistent server's API URL, started now if the settings say so; None: use a temporary one."""
    from digitize.flows.local_server import running_api_url, server_folder, start_server

    folder = server_folder()
    url = running_api_url(folder)
    if url is not None or settings is None or not settings.runs.start_server:
        return url
    record, _ = start_server(folder, port=settings.runs.server_port, timeout=timeout)
    return record.api_url


@contextmanager
def _using(api_url: str) -> Iterator[None]:
    """Point this process (Prefect's settings) and its worker processes (the environment) at ``api_url``."""
    os.environ["PREFECT_API_URL"] = api_url  # for worker processes
    from prefect.context import refresh_global_settings_context
    from prefect.settings import PREFECT_API_URL, temporary_settings

    # Prefect's threads that do not inherit this context read the global settings, made when Prefect
    # was imported. Without this refresh, Prefect's process-pool runner (used for pages until issue 18)
    # forwarded its workers' task-run events from such a thread, which found no API URL and started a
    # temporary server of its own: the events went there, not here, and every run paid for a second
    # server. Any such thread now sees the URL.
    refresh_global_settings_context()
    try:
        with temporary_settings(updates={PREFECT_API_URL: api_url}):  # for this process
            yield
    finally:
        _flush_logs()
        os.environ.pop("PREFECT_API_URL", None)
        refresh_global_settings_context()


def _flush_logs() -> None:
    """Send the run's log lines and events still queued for the API before the server goes away.

    The former call, ``APILogHandler.flush()`` on the class, raised a
    TypeError in Prefect 3 (flush became an instance method) that was
    swallowed, so nothing was flushed. The worker that ships the lines is
    drained directly, as the handler's own flush does, at most 5 s; in
    Prefect 3 this drains every queue service of the process (they share one
    registry), the events worker that carries task-run states included.
    """
    from prefect.logging.handlers import APILogWorker

    try:
        APILogWorker.drain_all(timeout=5)
    except (RuntimeError, OSError) as exc:  # pragma: no cover - the server went away first
        log.warning("the last log lines of the run could not be sent to the Prefect API: %s", exc)


def require_prefect_server(api_url: str, timeout: float = 5.0) -> None:
    """Refuse, in one paragraph, to serve a schedule when the Prefect server does not answer.

    Without this check ``prefect.serve`` retried and logged every failed
    connection: 373 lines of tracebacks for one wrong URL.
    """
    import httpx

    health = api_url.rstrip("/") + "/health"
    try:
        response = httpx.get(health, timeout=timeout)
        response.raise_for_status()
    except (httpx.HTTPError, ValueError) as exc:
        raise ConfigError(
            f"no Prefect server answers at PREFECT_API_URL={api_url} ({health}: {type(exc).__name__}"
            f"{': ' + str(exc) if str(exc) else ''}). digitize schedule needs a running Prefect server to keep "
            "the schedule: start one with `prefect server start --host 127.0.0.1` (it listens on "
            "http://127.0.0.1:4200/api) or correct PREFECT_API_URL, then run digitize schedule again."
        ) from exc
