"""A Prefect API for runs without a Prefect server set up.

When ``PREFECT_API_URL`` is not set, Prefect would start a temporary server
in every process that runs a task, including each page worker. We start
one temporary server (on 127.0.0.1, analytics off) for the whole run and
point every worker process at it through the environment.

The server is a child process that must not outlive the run: on Linux the
kernel kills it (``PR_SET_PDEATHSIG``) when the process that started it
dies, even by ``kill -9``, so no orphaned server keeps its port and
database open. Elsewhere it is stopped at exit as Prefect does.
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

if TYPE_CHECKING:
    from prefect.server.api.server import SubprocessASGIServer

__all__ = ["prefect_api", "require_prefect_server"]

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
def prefect_api(timeout: int = 120) -> Iterator[str]:
    """Yield the Prefect API URL, starting a local temporary server if needed."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        yield configured
        return
    os.environ.setdefault("PREFECT_SERVER_API_HOST", "127.0.0.1")
    home = os.environ.get("PREFECT_HOME")
    if home:  # the temporary server cannot create its database in a missing folder
        Path(home).expanduser().mkdir(parents=True, exist_ok=True)
    server = _server_class()()
    server.start(timeout=timeout)
    os.environ["PREFECT_API_URL"] = server.api_url  # for worker processes
    log.info("temporary Prefect server at %s", server.api_url)
    from prefect.settings import PREFECT_API_URL, temporary_settings

    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):  # for this process
            yield server.api_url
    finally:
        try:
            from prefect.logging.handlers import APILogHandler

            # Prefect 3 made flush an instance method: this call raises TypeError, swallowed below, so
            # nothing is flushed (behaviour kept in the refactor; reported to the lead).
            APILogHandler.flush()  # type: ignore[call-arg]
        except Exception:  # pragma: no cover - best effort before shutdown
            pass
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()


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
