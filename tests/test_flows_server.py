"""No process outlives a `digitize run` killed with kill -9: not its temporary Prefect server, not its page workers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from helpers.flows import art_batch, env_for

pytestmark = [pytest.mark.needs_prefect, pytest.mark.slow]


def _session(sid: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if os.getsid(process.pid) == sid and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
            continue
    return found


def test_kill_minus_9_of_the_run_leaves_no_server_or_worker_behind(tmp_path):
    batch = art_batch(tmp_path / "batch", {"long": 60})
    env = env_for(tmp_path)
    work = tmp_path / "work"
    process = subprocess.Popen(
        [sys.executable, "-m", "digitize.cli", "run", str(batch)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "run.log").open("wb"),
        start_new_session=True,  # its own session: every process it starts is found by the session id
    )
    sid = process.pid
    try:
        deadline = time.monotonic() + 120

        def serving() -> bool:  # pages start on the workers before the server is up: wait for both
            for found in _session(sid):
                with contextlib.suppress(psutil.Error):
                    if "uvicorn" in " ".join(found.cmdline()):
                        return True
            return False

        while not (list(work.glob("long/pages/*/page.json")) and serving()):
            assert process.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no page finished in time"
            time.sleep(0.05)
        running = _session(sid)
        commands = [" ".join(p.cmdline()) for p in running]
        assert any("uvicorn" in c and "prefect.server" in c for c in commands), commands  # the server is up
        assert len(running) >= 3, commands  # the command, its server, page workers

        os.kill(process.pid, signal.SIGKILL)  # the command only, as the OOM killer would
        process.wait(timeout=10)
        deadline = time.monotonic() + 20
        while (left := _session(sid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert left == [], [" ".join(p.cmdline()) for p in left]
    finally:
        for leftover in _session(sid):  # never leave a process behind, even when the test fails
            leftover.kill()
