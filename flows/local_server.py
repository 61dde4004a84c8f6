"""A local Prefect server that outlives the runs: started once, reused by every run.

A temporary server costs every ``digitize run`` 5-10 s of wall clock and
about 10 CPU seconds before the first page (bench/throughput.py). This
server is started on demand (``digitize server start``, or by a run when
``runs.start_server`` is set), listens on 127.0.0.1 only, has analytics
and the UI off, and keeps its database, log and pid/port file in the data
folder, so the Prefect record of every run (flow run, task runs,
artifacts) stays in one place: ``DATA/prefect/``.

The record file ``server.json`` names the process and its port; a record
whose process is gone, or is another program, is stale and is removed. The
server runs in its own session, so it survives the command that started
it; ``digitize server stop`` ends it.

Nothing here imports Prefect: ``digitize server status`` answers at once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from digitize.errors import ConfigError
from digitize.files import atomic_write_text
from digitize.settings import PRIVACY_ENV, data_home

__all__ = [
    "ServerRecord",
    "ServerStatus",
    "launch_server",
    "running_api_url",
    "server_folder",
    "server_status",
    "start_server",
    "stop_server",
]

log = logging.getLogger(__name__)

_RECORD = "server.json"
_LOCK = "server.lock"
_LOG = "server.log"
_APP = "prefect.server.api.server:create_app"  # what the command line of our server names


@dataclass(frozen=True)
class ServerRecord:
    """The pid/port file of the persistent server."""

    pid: int
    port: int
    api_url: str
    prefect_home: str
    log: str
    started: str


@dataclass(frozen=True)
class ServerStatus:
    """What ``digitize server status`` reports."""

    folder: Path
    record: ServerRecord | None
    running: bool  # the recorded process is alive and is our server
    healthy: bool  # it answers /api/health
    problem: str | None = None  # why a record was found stale


def server_folder(home: Path | None = None) -> Path:
    """``DATA/prefect``: the server's record, log and Prefect home (its database)."""
    return (home or data_home()) / "prefect"


def _read_record(folder: Path) -> ServerRecord | None:
    try:
        data = json.loads((folder / _RECORD).read_text(encoding="utf-8"))
        return ServerRecord(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        log.warning("%s is unreadable (%s); treated as stale", folder / _RECORD, exc)
        return ServerRecord(pid=0, port=0, api_url="", prefect_home="", log="", started="")


def _is_our_server(pid: int, port: int) -> bool:
    """Is ``pid`` alive and the uvicorn process of a Prefect server on ``port``?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's: not ours
        return False
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:  # no /proc (not Linux): trust the pid
        return True
    return _APP.encode() in args and str(port).encode() in args


def _healthy(api_url: str, timeout: float = 2.0) -> bool:
    import httpx

    try:
        return httpx.get(api_url + "/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def server_status(folder: Path | None = None, *, check_health: bool = True) -> ServerStatus:
    """The recorded server and whether it runs and answers; a stale record is removed."""
    folder = folder or server_folder()
    record = _read_record(folder)
    if record is None:
        return ServerStatus(folder, None, False, False)
    if not _is_our_server(record.pid, record.port):
        problem = (
            f"stale record removed: process {record.pid} is gone or is not a Prefect server"
            if record.pid else "unreadable record removed"
        )
        (folder / _RECORD).unlink(missing_ok=True)
        return ServerStatus(folder, record, False, False, problem)
    return ServerStatus(folder, record, True, _healthy(record.api_url) if check_health else False)


def running_api_url(folder: Path | None = None) -> str | None:
    """The API URL of the persistent server if it runs and answers, else None."""
    status = server_status(folder)
    return status.record.api_url if status.running and status.healthy and status.record else None


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One start or stop at a time (two runs starting the server at once start it once)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / _LOCK, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _check_port(port: int) -> None:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise ConfigError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc})") from exc
            raise ConfigError(
                f"port {port} on 127.0.0.1 is in use by another program, so the Prefect server cannot listen there. "
                f"Stop that program, or choose another port: digitize server start --port {port + 1} "
                "(or runs.server_port in the settings; 0 picks a free port)."
            ) from exc


def _server_env(prefect_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PRIVACY_ENV)  # nothing phones home, whatever this shell has
    env.pop("PREFECT_API_URL", None)  # the server is not a client of another server
    env.update(
        PREFECT_HOME=str(prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_UI_ENABLED="false",  # the record is read through the API; no web UI assets to serve
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_LOGGING_SERVER_LEVEL=os.environ.get("PREFECT_LOGGING_SERVER_LEVEL", "WARNING"),
    )
    return env


def _command(port: int) -> list[str]:
    import importlib.util

    spec = importlib.util.find_spec("prefect")
    if spec is None or spec.origin is None:  # pragma: no cover - prefect is a dependency
        raise ConfigError("Prefect is not installed in this environment: run bin/setup")
    app_dir = str(Path(spec.origin).parent.parent)
    # The command Prefect's own temporary server uses, without its ephemeral mode.
    return [
        sys.executable, "-m", "uvicorn", "--app-dir", app_dir, "--factory", _APP,
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--lifespan", "on",
    ]


def start_server(folder: Path | None = None, port: int = 0, timeout: float = 120.0) -> tuple[ServerRecord, bool]:
    """Start the persistent server unless it runs; return its record and whether it was started now.

    ``port`` 0 picks a free port. A port in use, or a server that does not
    answer within ``timeout`` seconds, is a :class:`ConfigError` naming the
    log file.
    """
    folder = folder or server_folder()
    with _locked(folder):
        status = server_status(folder)
        if status.running and status.record is not None:
            if status.healthy or _wait_healthy(status.record.api_url, status.record.pid, timeout):
                return status.record, False
            raise ConfigError(
                f"the Prefect server (pid {status.record.pid}) runs but does not answer at {status.record.api_url}; "
                f"see {status.record.log}, then digitize server stop and start again"
            )
        record, process = _launch(folder, port)
        api_url = record.api_url
        if not _wait_healthy(api_url, process.pid, timeout, process):
            code = process.poll()
            _terminate(process.pid, 5.0)
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                process.wait(timeout=1)
            (folder / _RECORD).unlink(missing_ok=True)
            log_path = Path(record.log)
            tail = _tail(log_path)
            raise ConfigError(
                f"the Prefect server did not answer at {api_url} within {timeout:.0f} s"
                + (f" (it exited with code {code})" if code is not None else "")
                + f"; its log {log_path} ends: {tail}"
            )
        log.info("Prefect server started at %s (pid %d)", api_url, process.pid)
        return record, True


def launch_server(folder: Path | None = None, port: int = 0) -> tuple[ServerRecord, bool]:
    """Start the persistent server unless it runs, without waiting for it to answer.

    Return its record and whether it was started now.

    A run calls this first thing, so that the server starts while Prefect is
    imported and the first pages are processed; :func:`start_server` then
    waits for it (measured: the server takes 5-10 s of wall clock to answer).
    """
    folder = folder or server_folder()
    with _locked(folder):
        status = server_status(folder, check_health=False)
        if status.running and status.record is not None:
            return status.record, False
        record, _ = _launch(folder, port)
        return record, True


def _launch(folder: Path, port: int) -> tuple[ServerRecord, subprocess.Popen[bytes]]:
    """Start the server process and write its record (the caller holds the lock)."""
    if port:
        _check_port(port)
    chosen = port or _free_port()
    prefect_home = folder / "home"
    prefect_home.mkdir(parents=True, exist_ok=True)
    log_path = folder / _LOG
    with open(log_path, "ab") as log_file:
        log_file.write(f"--- {datetime.now(UTC).isoformat()} starting on 127.0.0.1:{chosen}\n".encode())
        log_file.flush()
        process = subprocess.Popen(
            _command(chosen), env=_server_env(prefect_home), stdin=subprocess.DEVNULL,
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True, cwd=folder,
        )
    record = ServerRecord(
        pid=process.pid, port=chosen, api_url=f"http://127.0.0.1:{chosen}/api", prefect_home=str(prefect_home),
        log=str(log_path), started=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    atomic_write_text(folder / _RECORD, json.dumps(asdict(record), indent=1))
    return record, process


def _wait_healthy(
    api_url: str, pid: int, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        if process is None and not _is_alive(pid):
            return False
        if _healthy(api_url, timeout=1.0):
            return True
        time.sleep(0.1)
    return False


def _is_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):  # a server this process launched, which has exited: reap it
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it when it is our child (a test's, a run's)
        if not _is_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def stop_server(folder: Path | None = None, timeout: float = 10.0) -> ServerRecord | None:
    """Stop the recorded server; return its record, or None when none was running."""
    folder = folder or server_folder()
    with _locked(folder):
        status = server_status(folder, check_health=False)
        if not status.running or status.record is None:
            return None
        _terminate(status.record.pid, timeout)
        (folder / _RECORD).unlink(missing_ok=True)
        log.info("Prefect server (pid %d) stopped", status.record.pid)
        return status.record


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty)"
