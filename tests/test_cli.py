"""The command line: translit through stdin/stdout, check, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DIGITIZE = [sys.executable, "-m", "digitize.cli"]


def _run(args, data: bytes = b"", **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(DIGITIZE + args, input=data, capture_output=True, timeout=120, **kwargs)


def test_translit_line_for_line():
    result = _run(["translit"], "Азәрбајҹан Республикасы\r\nБакы шәһәри\n\nЧАЈ".encode())
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == "Azərbaycan Respublikası\r\nBakı şəhəri\n\nÇAY"


def test_translit_empty_input():
    result = _run(["translit"], b"")
    assert result.returncode == 0 and result.stdout == b""


def test_translit_invalid_utf8_names_the_offset():
    result = _run(["translit"], "аб".encode() + b"\xff rest")
    assert result.returncode == 6
    assert b"byte offset 4" in result.stderr


@pytest.mark.needs_tesseract
def test_check_reports_tesseract_and_models():
    result = _run(["check"])
    assert result.returncode == 0, result.stderr
    assert b"Cyrillic" in result.stdout


def test_bad_config_file_is_a_clear_error(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("workers = [")
    result = _run(["check", "--config", str(config)])
    assert result.returncode == 2
    assert str(config).encode() in result.stderr


def test_missing_batch_folder(tmp_path):
    result = _run(["run", str(tmp_path / "nope")], env=_isolated_env(tmp_path))
    assert result.returncode == 4
    assert b"does not exist" in result.stderr


def _isolated_env(tmp_path: Path) -> dict:
    import os

    env = dict(os.environ)
    env.update(
        DIGITIZE_WORK_DIR=str(tmp_path / "work"),
        DIGITIZE_OUTPUT_DIR=str(tmp_path / "out"),
        DIGITIZE_STORAGE__URL=f"file://{tmp_path / 'store'}",
        DIGITIZE_CATALOG__URL=f"sqlite:///{tmp_path / 'catalog.sqlite3'}",
    )
    return env


def test_core_does_not_import_prefect():
    code = (
        "import sys, digitize.scanners.batch, digitize.pipeline.page, digitize.assembly.item, "
        "digitize.delivery.publish, "
        "digitize.archive.package, digitize.storage.catalog, digitize.storage.factory, digitize.transliteration\n"
        "assert 'prefect' not in sys.modules, 'core imported prefect'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
