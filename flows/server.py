"""A Prefect API for runs without a Prefect server set up.

When ``PREFECT_API_URL`` is not set, Prefect would start a temporary server
in every process that runs a task, including each page worker. We start
one temporary server (on 127.0.0.1, analytics off) for the whole run and
point every worker process at it through the environment.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["prefect_api"]

log = logging.getLogger(__name__)


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
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
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

            APILogHandler.flush()
        except Exception:  # pragma: no cover - best effort before shutdown
            pass
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()
