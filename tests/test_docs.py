"""The documentation cannot drift: generated configuration, live links, a short front door."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from pathlib import Path

import pytest
from pydantic import BaseModel

from digitize.errors import ExitCode
from digitize.settings import Settings
from digitize.settings_doc import render_markdown, setting_fields

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DOC_FILES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def _links(path: Path) -> list[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return _LINK.findall(text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = unicodedata.normalize("NFC", heading.strip().lower())
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return {_slug(match) for match in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M)}


def test_configuration_doc_is_generated_from_the_settings_model() -> None:
    written = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert written == render_markdown(), (
        "docs/configuration.md differs from the settings model; regenerate it with "
        "`.venv/bin/python -m digitize.settings_doc > docs/configuration.md`"
    )


def test_every_setting_has_a_description_and_a_row() -> None:
    rendered = render_markdown()
    fields = setting_fields()
    assert len(fields) > 50
    for path, field in fields:
        name = ".".join(path)
        assert field.description and len(field.description) > 10, f"setting {name} has no description"
        env = "DIGITIZE_" + "__".join(part.upper() for part in path)
        assert f"| `{path[-1]}` |" in rendered and f"`{env}`" in rendered, name


def test_every_settings_section_says_what_it_is() -> None:
    def sections(model: type[BaseModel]) -> list[type[BaseModel]]:
        found = [model]
        for field in model.model_fields.values():
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                found.extend(sections(field.annotation))
        return found

    models = sections(Settings)
    assert len(models) >= 11
    for model in models:
        assert model.__doc__ and model.__doc__.strip(), model.__name__


def test_documented_environment_names_are_the_ones_settings_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIGITIZE_CONFIG", raising=False)
    monkeypatch.setenv("DIGITIZE_IMAGE__QUALITY__MIN_DPI", "123")
    monkeypatch.setenv("DIGITIZE_RUNS__PAGE_CRASH_LIMIT", "7")
    assert "`DIGITIZE_IMAGE__QUALITY__MIN_DPI`" in render_markdown()
    settings = Settings()
    assert settings.image.quality.min_dpi == 123
    assert settings.runs.page_crash_limit == 7


def test_readme_is_the_front_door() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode("utf-8")) < 10_000
    for command in ("bin/demo", "bin/test", 'bin/test -m "not slow"', ".venv/bin", "digitize run", "digitize serve"):
        assert command in readme, command
    for doc in ("pipeline", "outputs", "operations", "configuration", "architecture", "benchmarks"):
        assert f"](docs/{doc}.md)" in readme, doc


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda path: path.name)
def test_relative_links_point_at_existing_files_and_headings(path: Path) -> None:
    links = [link for link in _links(path) if not re.match(r"[a-z][a-z0-9+.-]*:", link)]
    assert links or path.name == "configuration.md"
    for link in links:
        target, _, anchor = link.partition("#")
        target_path = (path.parent / target).resolve() if target else path
        assert target_path.exists(), f"{path.name}: link to missing {link}"
        if anchor and target_path.suffix == ".md":
            assert anchor in _anchors(target_path), f"{path.name}: no heading #{anchor} in {target_path.name}"


def test_layer_contract_in_architecture_doc_matches_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(contract["layers"] for contract in contracts if contract["type"] == "layers")
    doc = (DOCS / "architecture.md").read_text(encoding="utf-8")
    block = doc.split("## The layer contract", 1)[1].split("```", 2)[1].strip("\n")
    assert block.splitlines() == list(layers)


def test_exit_codes_doc_matches_the_enum() -> None:
    doc = (DOCS / "operations.md").read_text(encoding="utf-8")
    for code in ExitCode:
        assert f"| {code.value} | `{code.name}` |" in doc, code
