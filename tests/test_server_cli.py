"""`digitize server start|stop|status`: a persistent local Prefect server, reused by runs, never orphaned by a test.

Each test has its own data folder (``DIGITIZE_HOME``); the fixture stops
whatever server a test started, even when the test fails.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from digitize.errors import ExitCode

from helpers.flows import DIGITIZE, art_batch, env_for

pytestmark = [pytest.mark.needs_prefect, pytest.mark.slow]


def _cli(args: list[str], env: dict[str, str], timeout: int = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(DIGITIZE + args, env=env, capture_output=True, text=True, timeout=timeout)


def _record(home: Path) -> dict[str, object]:
    return json.loads((home / "prefect" / "server.json").read_text())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/cmdline").exists() and b"prefect.server" in Path(f"/proc/{pid}/cmdline").read_bytes()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A data folder of the test's own; any server recorded in it is stopped at the end."""
    folder = tmp_path / "home"
    folder.mkdir()
    yield folder
    from digitize.flows.local_server import server_folder, stop_server

    stop_server(server_folder(folder))


@pytest.fixture
def env(tmp_path: Path, home: Path) -> dict[str, str]:
    return env_for(tmp_path, DIGITIZE_HOME=str(home))


def test_start_status_reuse_stop(home: Path, env: dict[str, str]) -> None:
    stopped = _cli(["server", "status"], env)
    assert stopped.returncode == ExitCode.ITEM_FAILED and "no Prefect server running" in stopped.stdout

    started = _cli(["server", "start"], env)
    assert started.returncode == 0, started.stderr
    record = _record(home)
    pid, url = int(str(record["pid"])), str(record["api_url"])
    assert "started" in started.stdout and url in started.stdout
    assert url.startswith("http://127.0.0.1:")
    assert httpx.get(url + "/health", timeout=5).status_code == 200
    assert (home / "prefect" / "home").is_dir()  # the database lives in the data folder

    again = _cli(["server", "start"], env)  # reused, not a second server
    assert again.returncode == 0 and "already running" in again.stdout
    assert int(str(_record(home)["pid"])) == pid

    status = _cli(["server", "status"], env)
    assert status.returncode == 0 and "answers" in status.stdout and str(pid) in status.stdout

    stop = _cli(["server", "stop"], env)
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert not _alive(pid)
    assert not (home / "prefect" / "server.json").exists()
    assert "no Prefect server was running" in _cli(["server", "stop"], env).stdout


def test_a_stale_pid_file_is_removed_and_a_new_server_started(home: Path, env: dict[str, str]) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs
    folder = home / "prefect"
    folder.mkdir()
    (folder / "server.json").write_text(json.dumps({
        "pid": dead.pid, "port": 1, "api_url": "http://127.0.0.1:1/api", "prefect_home": "", "log": "", "started": "",
    }))
    status = _cli(["server", "status"], env)
    assert status.returncode == ExitCode.ITEM_FAILED and "stale record removed" in status.stdout
    assert not (folder / "server.json").exists()

    (folder / "server.json").write_text("{not json")  # a damaged record is stale too
    started = _cli(["server", "start"], env)
    assert started.returncode == 0, started.stderr
    assert _record(home)["pid"] != dead.pid


def test_a_port_in_use_is_a_clear_error(home: Path, env: dict[str, str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _cli(["server", "start", "--port", str(port)], env)
    assert result.returncode == ExitCode.CONFIG
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (home / "prefect" / "server.json").exists()


def test_a_run_uses_the_running_server_and_keeps_its_record(tmp_path: Path, home: Path, env: dict[str, str]) -> None:
    assert _cli(["server", "start"], env).returncode == 0
    url = str(_record(home)["api_url"])
    batch = art_batch(tmp_path / "batch", {"art-a": 2})
    run = _cli(["run", str(batch)], env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Starting temporary server" not in run.stderr  # no temporary server, in the flow nor in a thread

    with httpx.Client(base_url=url, timeout=10) as api:
        flows = api.post("/flow_runs/filter", json={}).json()
        assert [f["state_type"] for f in flows] == ["COMPLETED"]
        flow_id = flows[0]["id"]
        tasks = api.post("/task_runs/filter", json={"flow_runs": {"id": {"any_": [flow_id]}}}).json()
        names = sorted(t["name"] for t in tasks)
        assert names == ["assemble art-a", "page art-a#1", "page art-a#2", "publish art-a"], names
        assert {t["state_type"] for t in tasks} == {"COMPLETED"}
        artifacts = api.post("/artifacts/filter", json={"flow_runs": {"id": {"any_": [flow_id]}}}).json()
        assert artifacts, "the batch report is an artifact of the flow run"


def test_by_default_a_run_starts_the_server_leaves_it_for_the_next_and_stop_ends_it(
    tmp_path: Path, home: Path, env: dict[str, str]
) -> None:
    default = {k: v for k, v in env.items() if k != "DIGITIZE_RUNS__START_SERVER"}  # runs.start_server: default
    batch = art_batch(tmp_path / "batch", {"art-b": 1})
    run = _cli(["run", str(batch)], default)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Starting temporary server" not in run.stderr
    assert "left running for the next runs (digitize server stop)" in run.stdout + run.stderr
    record = _record(home)
    pid = int(str(record["pid"]))
    assert _alive(pid)  # outlives the run, for the next one
    assert str(record["api_url"]).startswith("http://127.0.0.1:")
    assert _cli(["server", "status"], default).returncode == 0

    again = _cli(["run", str(art_batch(tmp_path / "batch2", {"art-c": 1}))], default)
    assert again.returncode == 0, again.stderr[-3000:]
    assert int(str(_record(home)["pid"])) == pid  # the same server, reused
    with httpx.Client(base_url=str(record["api_url"]), timeout=10) as api:
        flows = api.post("/flow_runs/filter", json={}).json()
        assert sorted(f["state_type"] for f in flows) == ["COMPLETED", "COMPLETED"]

    stopped = _cli(["server", "stop"], default)
    assert stopped.returncode == 0 and f"pid {pid}" in stopped.stdout
    assert not _alive(pid)
    assert not (home / "prefect" / "server.json").exists()


def test_runs_start_server_false_uses_a_temporary_server(tmp_path: Path, home: Path, env: dict[str, str]) -> None:
    batch = art_batch(tmp_path / "batch", {"art-d": 1})
    run = _cli(["run", str(batch)], {**env, "DIGITIZE_RUNS__START_SERVER": "false"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert not (home / "prefect" / "server.json").exists()  # nothing left running


def test_a_launched_server_is_not_waited_for_then_waited_for_and_never_launched_twice(home: Path) -> None:
    from digitize.flows.local_server import launch_server, server_folder, start_server

    folder = server_folder(home)
    record, launched = launch_server(folder)  # returns at once: the run goes on with its pages meanwhile
    assert launched and record.api_url.startswith("http://127.0.0.1:")
    assert launch_server(folder) == (record, False)  # launched, perhaps not answering yet: not launched twice
    started, now = start_server(folder)  # waits for it
    assert started.pid == record.pid and now is False
    assert httpx.get(record.api_url + "/health", timeout=10).status_code == 200
