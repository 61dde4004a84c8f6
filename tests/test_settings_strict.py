"""Strict, discoverable settings: a typo is refused with the nearest name, data folders never follow the cwd.

Before issue 16 ``[storage] urll``, ``DIGITIZE_STORAGE__URLL`` and
``DIGITIZE_WORKERZ`` were ignored silently (the default was used), and the
data defaults were relative to the current folder, so ``digitize catalog``
run from elsewhere made an empty catalog there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from digitize.errors import ConfigError, ExitCode
from digitize.settings import Settings, describe_settings, load_settings

DIGITIZE = [sys.executable, "-m", "digitize.cli"]


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without DIGITIZE_ settings, the data folder in tmp_path."""
    env = {key: value for key, value in os.environ.items() if not key.upper().startswith("DIGITIZE_")}
    env["DIGITIZE_HOME"] = str(tmp_path / "home")
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def _cli(args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(DIGITIZE + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture(autouse=True)
def _no_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DIGITIZE_CONFIG", raising=False)
    monkeypatch.setenv("DIGITIZE_HOME", str(tmp_path / "home"))


def _sections() -> list[tuple[str, str]]:
    """Each section of the settings file with one of its keys."""
    found = []
    for name, field in Settings.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            found.append((name, next(iter(model.model_fields))))
    return found


def test_storage_urll_in_the_file_is_refused_with_did_you_mean(tmp_path: Path) -> None:
    config = tmp_path / "digitize.toml"
    config.write_text('[storage]\nurll = "s3://bucket/x"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert "`urll` is not known" in caught.value.message
    assert "did you mean `url`?" in caught.value.message
    assert str(config) in caught.value.message


@pytest.mark.parametrize(("section", "key"), _sections(), ids=[s for s, _ in _sections()])
def test_a_typo_in_every_section_is_refused(tmp_path: Path, section: str, key: str) -> None:
    typo = key + "x"
    config = tmp_path / "digitize.toml"
    config.write_text(f"[{section}]\n{typo} = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert f"[{section}] setting `{typo}` is not known" in caught.value.message
    assert f"did you mean `{key}`?" in caught.value.message


def test_a_nested_section_typo_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "digitize.toml"
    config.write_text("[image.quality]\nmin_dpii = 200\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[image.quality\] setting `min_dpii` is not known; did you mean `min_dpi`"):
        load_settings(config)


def test_a_top_level_typo_in_the_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "digitize.toml"
    config.write_text("workerz = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="setting `workerz` is not known; did you mean `workers`"):
        load_settings(config)


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("DIGITIZE_WORKERZ", "DIGITIZE_WORKERS"), ("DIGITIZE_STORAGE__URLL", "DIGITIZE_STORAGE__URL"),
     ("DIGITIZE_IMAGE__QUALITY__MIN_DPII", "DIGITIZE_IMAGE__QUALITY__MIN_DPI")],
)
def test_an_unknown_environment_variable_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, suggestion: str
) -> None:
    monkeypatch.setenv(name, "3")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert f"environment variable {name} names no setting; did you mean `{suggestion}`?" in caught.value.message


def test_known_variables_and_free_tables_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGITIZE_WORKERS", "3")
    monkeypatch.setenv("DIGITIZE_IMAGE__QUALITY__MIN_DPI", "123")
    monkeypatch.setenv("DIGITIZE_OCR__MODELS__xx", "rus")  # a key of a free table, not a setting name
    monkeypatch.setenv("DIGITIZE_TEST_POSTGRES_URL", "postgresql://x")  # the test suite's own variable
    settings = load_settings()
    assert settings.workers == 3
    assert settings.image.quality.min_dpi == 123
    assert settings.ocr.models["xx"] == "rus"


@pytest.mark.parametrize(
    ("env", "config_text", "words"),
    [
        ({"DIGITIZE_WORKERZ": "3"}, None, ["DIGITIZE_WORKERZ", "did you mean `DIGITIZE_WORKERS`?"]),
        ({"DIGITIZE_STORAGE__URLL": "file:///x"}, None, ["DIGITIZE_STORAGE__URLL", "`DIGITIZE_STORAGE__URL`"]),
        ({}, '[storage]\nurll = "file:///x"\n', ["`urll` is not known", "did you mean `url`?"]),
        ({"DIGITIZE_WORKERS": "many"}, None, ["setting `workers` (DIGITIZE_WORKERS)", "integer"]),
    ],
    ids=["env-top", "env-nested", "file", "bad-value"],
)
def test_the_command_exits_2_naming_the_key(
    tmp_path: Path, env: dict[str, str], config_text: str | None, words: list[str]
) -> None:
    args = ["config", "show"]
    if config_text is not None:
        config = tmp_path / "digitize.toml"
        config.write_text(config_text, encoding="utf-8")
        args += ["--config", str(config)]
    result = _cli(args, _clean_env(tmp_path, **env))
    assert result.returncode == ExitCode.CONFIG, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    for leak in ("Traceback", "errors.pydantic.dev", "Extra inputs are not permitted", "validation error"):
        assert leak not in result.stderr, result.stderr


def test_data_defaults_are_anchored_to_digitize_home_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    home = tmp_path / "home"
    settings = load_settings()
    assert settings.work_dir == home / "work"
    assert settings.output_dir == home / "output"
    assert settings.storage.url == f"file://{home / 'store'}"
    assert settings.catalog.url == f"sqlite:///{home / 'catalog.sqlite3'}"
    assert settings.inbox.root == home / "hotfolder"


def test_without_digitize_home_the_xdg_data_folder_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIGITIZE_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert load_settings().work_dir == tmp_path / "xdg" / "digitize" / "work"


def test_catalog_from_another_folder_creates_nothing_there(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = _cli(["catalog"], _clean_env(tmp_path), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert list(elsewhere.iterdir()) == []  # before: ./digitize-data/catalog.sqlite3 appeared here
    assert (tmp_path / "home" / "catalog.sqlite3").is_file()


def test_config_show_names_sources_and_masks_secrets(tmp_path: Path) -> None:
    config = tmp_path / "digitize.toml"
    config.write_text('workers = 3\n[archive]\norganization = "National Library"\n', encoding="utf-8")
    env = _clean_env(
        tmp_path,
        DIGITIZE_CATALOG__URL="postgresql+psycopg://librarian:pw-s3cr3t@db.local/elib",
        DIGITIZE_WEB__TOKEN="tok-s3cr3t",
        DIGITIZE_STORAGE__SECRET_ACCESS_KEY="key-s3cr3t",
        DIGITIZE_ARCHIVE__ORGANIZATION="From the environment",
    )
    result = _cli(["config", "show", "--config", str(config)], env)
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:4]]
            for line in result.stdout.splitlines() if line.count("│") >= 4}
    assert rows["workers"] == ["3", "file"]
    assert f"file: {config}" in " ".join(result.stdout.split())
    assert rows["archive.organization"] == ["From the environment", "environment"]  # environment wins over file
    assert rows["catalog.url"] == ["postgresql+psycopg://librarian:***@db.local/elib", "environment"]
    assert rows["web.token"] == ["**********", "environment"]
    assert rows["storage.secret_access_key"] == ["**********", "environment"]
    assert rows["work_dir"] == [str(tmp_path / "home" / "work"), "default"]
    assert "s3cr3t" not in result.stdout + result.stderr


def test_describe_settings_names_options() -> None:
    values = {value.name: value for value in describe_settings(None, workers=5)}
    assert (values["workers"].value, values["workers"].source) == ("5", "option")
    assert values["pdf.max_dpi"].source == "default"
