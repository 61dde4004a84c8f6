"""A command line people expect: --version, -h everywhere, plain one-paragraph messages, progress at once.

Before issue 16: no --version and no -h; an item folder or an empty folder
passed as the batch printed ~25 lines of Prefect traceback after Prefect had
started; ``digitize schedule`` against a Prefect server that does not answer
printed 373 lines; the first line of a run came after ~12 silent seconds.
"""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from digitize.cli import app
from digitize.errors import ExitCode

from helpers.flows import art_batch, env_for

DIGITIZE = [sys.executable, "-m", "digitize.cli"]
LEAKS = ("Traceback", "Error logging to API", "All connection attempts failed", "prefect", "Prefect flow")


def _cli(args: list[str], env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(DIGITIZE + args, env=env, capture_output=True, text=True, timeout=timeout)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return env_for(tmp_path, COLUMNS="400", **extra)


def _commands() -> list[tuple[str, Any]]:
    """Every command and sub-command, by its full name (Typer's own click: duck-typed)."""
    found: list[tuple[str, Any]] = []

    def walk(command: Any, name: str) -> None:
        found.append((name, command))
        if hasattr(command, "commands"):
            for sub_name, sub in command.commands.items():
                walk(sub, f"{name} {sub_name}".strip())

    walk(typer.main.get_command(app), "")
    return found


def test_version() -> None:
    result = _cli(["--version"], dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("digitize ") and result.stdout.split()[1][0].isdigit()


@pytest.mark.parametrize("name", [name for name, _ in _commands()], ids=lambda name: name or "digitize")
def test_dash_h_is_help_on_every_command(name: str) -> None:
    args = [*name.split(), "-h"]
    short = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    long = CliRunner().invoke(app, [*name.split(), "--help"], env={"COLUMNS": "200"})
    assert short.exit_code == 0, short.output
    assert short.output == long.output
    assert "Usage:" in short.output


def test_top_level_help_has_no_internal_note_and_lists_exit_codes() -> None:
    result = CliRunner().invoke(app, ["-h"], env={"COLUMNS": "200"})
    assert "Only here do errors become exit codes" not in result.output
    assert "Exit codes" in result.output and "--version" in result.output and "--quiet" in result.output


@pytest.mark.parametrize("name", [name for name, _ in _commands()], ids=lambda name: name or "digitize")
def test_every_option_has_a_help_text(name: str) -> None:
    command = dict(_commands())[name]
    missing = [param.name for param in command.params if param.param_type_name == "option" and not param.help]
    assert missing == [], f"digitize {name}: options without a help text: {missing}"


def test_an_item_folder_passed_as_the_batch_is_refused_before_prefect(tmp_path: Path) -> None:
    batch = art_batch(tmp_path / "batch", {"book-1": 1})
    started = time.monotonic()
    result = _cli(["run", str(batch / "book-1")], _env(tmp_path))
    seconds = time.monotonic() - started
    assert result.returncode == ExitCode.INTAKE, result.stderr
    assert "is an item folder (it has item.toml); pass its parent, the batch folder: digitize run" in result.stderr
    assert str(batch.resolve()) in result.stderr
    assert not any(leak in result.stderr for leak in LEAKS), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert seconds < 3, f"{seconds:.1f} s: Prefect was started"
    assert sorted(p.name for p in (batch / "book-1").iterdir()) == ["item.toml", "p1.png"]  # nothing lost
    assert not (tmp_path / "out").exists()


def test_an_empty_batch_is_refused_before_prefect(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "notes.txt").write_text("scanned on Monday\n", encoding="utf-8")
    started = time.monotonic()
    result = _cli(["run", str(batch)], _env(tmp_path))
    seconds = time.monotonic() - started
    assert result.returncode == ExitCode.INTAKE, result.stderr
    assert "the batch holds no item folders" in result.stderr
    assert not any(leak in result.stderr for leak in LEAKS), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert seconds < 3, f"{seconds:.1f} s: Prefect was started"
    assert (batch / "notes.txt").read_text(encoding="utf-8") == "scanned on Monday\n"


def test_quiet_keeps_the_error(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    batch.mkdir()
    result = _cli(["-q", "run", str(batch)], _env(tmp_path))
    assert result.returncode == ExitCode.INTAKE
    assert "holds no item folders" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_schedule_without_a_prefect_server_is_one_paragraph(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}/api"
    started = time.monotonic()
    result = _cli(["schedule"], _env(tmp_path, PREFECT_API_URL=url), timeout=60)
    assert result.returncode == ExitCode.CONFIG, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"{len(lines)} lines:\n{result.stderr}"
    assert f"no Prefect server answers at PREFECT_API_URL={url}" in result.stderr
    assert "prefect server start" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 15


@pytest.mark.slow
def test_run_says_what_is_starting_at_once_and_shows_an_eta(tmp_path: Path) -> None:
    batch = art_batch(tmp_path / "batch", {"art-1": 2, "art-2": 1})
    started = time.monotonic()
    process = subprocess.Popen(
        [*DIGITIZE, "run", str(batch)], env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    assert selector.select(timeout=10), "nothing printed in 10 s"
    first = process.stderr.readline()
    first_seconds = time.monotonic() - started
    stdout, rest = process.communicate(timeout=300)
    total_seconds = time.monotonic() - started
    assert process.returncode == 0, first + rest
    assert first.startswith("starting batch batch: 2 item(s), 3 page file(s), 2 page workers"), first
    # before Prefect's server and the page workers: at once, not ~12 s later
    assert first_seconds < 3 and first_seconds < total_seconds / 2, (first_seconds, total_seconds)
    assert "data: work " + str(tmp_path / "work") in rest
    assert "ETA" in rest and "3/3" in rest, rest
    assert "2 done, 0 failed" in stdout
