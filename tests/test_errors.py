"""The error hierarchy: every error a DigitizeError with a stage and an ExitCode; codes in --help."""

from __future__ import annotations

import ast
import importlib
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from digitize import errors
from digitize.errors import DigitizeError, ExitCode, exit_codes_help

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_FOLDERS = [
    "scanners",
    "pipeline",
    "transliteration",
    "assembly",
    "archive",
    "storage",
    "delivery",
    "elibrary",
    "flows",
    "samples",
]
# Exceptions that are deliberately not DigitizeErrors, with the reason.
OUTSIDE_THE_HIERARCHY = {
    ("elibrary/oai.py", "OAIError"): "an OAI-PMH protocol answer, caught inside respond()",
}


def test_exit_codes_keep_their_numbers() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "ITEM_FAILED": 1,
        "CONFIG": 2,
        "MISSING_DEPENDENCY": 3,
        "INTAKE": 4,
        "PROCESSING": 5,
        "TRANSLITERATION": 6,
        "STORAGE": 7,
        "CATALOG": 8,
        "AUDIT_FAILED": 9,
        "BATCH_LOCKED": 10,
        "REVIEW": 11,
    }


def _error_classes() -> list[type[DigitizeError]]:
    return [
        obj
        for name in errors.__all__
        if isinstance(obj := getattr(errors, name), type) and issubclass(obj, DigitizeError)
    ]


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (errors.DigitizeError, ExitCode.ITEM_FAILED),
        (errors.ConfigError, ExitCode.CONFIG),
        (errors.MissingDependencyError, ExitCode.MISSING_DEPENDENCY),
        (errors.IntakeError, ExitCode.INTAKE),
        (errors.MetadataError, ExitCode.INTAKE),
        (errors.PageReadError, ExitCode.INTAKE),
        (errors.ImageStageError, ExitCode.PROCESSING),
        (errors.OCRError, ExitCode.PROCESSING),
        (errors.OutputError, ExitCode.PROCESSING),
        (errors.TransliterationError, ExitCode.TRANSLITERATION),
        (errors.StorageError, ExitCode.STORAGE),
        (errors.VerificationError, ExitCode.STORAGE),
        (errors.CatalogError, ExitCode.CATALOG),
        (errors.AuditError, ExitCode.AUDIT_FAILED),
        (errors.BatchLockedError, ExitCode.BATCH_LOCKED),
        (errors.ReviewError, ExitCode.REVIEW),
    ],
)
def test_each_error_has_its_exit_code(cls: type[DigitizeError], code: ExitCode) -> None:
    assert cls.exit_code is code


def test_every_error_class_has_an_exit_code_enum_and_survives_pickling() -> None:
    for cls in _error_classes():
        assert isinstance(cls.exit_code, ExitCode), cls
        assert cls.exit_code != ExitCode.OK, cls
        error = cls(f"{cls.__name__}: the message")
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is cls and str(again) == error.message and again.exit_code is cls.exit_code


def _defined_exceptions() -> list[tuple[str, str, int]]:
    """(file, class, line) of every class in the project that derives from something named *Error/*Exception."""
    found = []
    files = sorted((ROOT / "digitize").glob("*.py")) + sorted((ROOT / "digitize" / "cli").glob("*.py"))
    for folder in PACKAGE_FOLDERS:
        files.extend(sorted((ROOT / folder).rglob("*.py")))
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = [ast.unparse(b).split(".")[-1] for b in node.bases]
            if any(b.endswith(("Error", "Exception")) for b in bases):
                found.append((path.relative_to(ROOT).as_posix(), node.name, node.lineno))
    return found


def test_every_project_exception_is_in_the_one_hierarchy() -> None:
    classes = _defined_exceptions()
    assert len(classes) > len(errors.__all__)  # the walk found the modules' own errors too
    strays = []
    for file, name, _ in classes:
        if (file, name) in OUTSIDE_THE_HIERARCHY:
            continue
        module = file.removesuffix(".py").replace("/", ".")
        module = module if module.startswith("digitize.") else f"digitize.{module}"
        cls = getattr(importlib.import_module(module), name)
        if not issubclass(cls, DigitizeError):
            strays.append(f"{file}:{name}")
        else:
            assert isinstance(cls.exit_code, ExitCode), f"{file}:{name}"
    assert strays == []


def test_help_lists_every_exit_code() -> None:
    text = exit_codes_help()
    for code in ExitCode:
        assert f"{code.value} {code.name}: {code.description}." in text
    result = subprocess.run(
        [sys.executable, "-m", "digitize.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "TERM": "dumb", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    for code in ExitCode:
        assert f"{code.value} {code.name}: {code.description}." in result.stdout
