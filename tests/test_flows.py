"""The batch flow: a killed worker process does not sink the batch; reports; schedule.

The crash tests run the real ``digitize run`` (temporary Prefect server,
process pool) on small art items (no OCR, so they are quick) and kill a
worker process for real, with SIGKILL, on a chosen page
(``DIGITIZE_FAULT_KILL_PAGE``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digitize.pipeline.model import PageResult

from helpers.flows import art_batch, env_for, run_cli


@pytest.mark.needs_prefect
@pytest.mark.slow
def test_killed_worker_does_not_sink_the_batch(tmp_path):
    """art-a#2 kills its worker once (recovered); art-b#2 every time (its item fails, clearly)."""
    batch = art_batch(tmp_path / "batch", {"art-a": 3, "art-b": 3, "art-c": 3})
    # Two faults at once are not possible through one variable: run art-b "always" and art-a's
    # single crash is covered by the first crashes of art-b's page (the pool dies with it).
    env = env_for(tmp_path, DIGITIZE_FAULT_KILL_PAGE="art-b#2*always")
    result = run_cli(["run", str(batch)], env)
    assert result.returncode == 1, result.stderr.decode()[-3000:]
    summary = json.loads((tmp_path / "out" / "batch-batch.json").read_text())
    items = {i["identifier"]: i for i in summary["items"]}
    assert items["art-a"]["status"] == "done" and items["art-c"]["status"] == "done"
    assert items["art-b"]["status"] == "failed"
    assert "worker process died 3 time(s)" in items["art-b"]["message"]
    assert "p2.png" in items["art-b"]["message"]
    assert summary["crashed_workers"] == 3
    pages = {(p["item"], p["seq"]): p for p in summary["pages"]}
    assert pages[("art-b", 2)]["status"] == "failed"
    assert pages[("art-b", 1)]["status"] == "done"  # its neighbours finished and are kept
    assert b"art-b" in result.stdout and b"failed" in result.stdout


@pytest.mark.needs_prefect
@pytest.mark.slow
def test_page_killed_once_is_redone_and_item_completes(tmp_path):
    batch = art_batch(tmp_path / "batch", {"art-a": 4, "art-b": 2})
    env = env_for(tmp_path, DIGITIZE_FAULT_KILL_PAGE="art-a#3")
    result = run_cli(["run", str(batch)], env)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    summary = json.loads((tmp_path / "out" / "batch-batch.json").read_text())
    assert [i["status"] for i in summary["items"]] == ["done", "done"]
    assert summary["crashed_workers"] == 1
    assert (tmp_path / "work" / "art-a" / "pages" / "000003" / ".fault-kills").read_text() == "1"
    assert (tmp_path / "out" / "art-a" / "art-a.pdf").exists()


def test_qc_flags():
    from digitize.flows.batch import _qc_flags

    def page(**kw) -> PageResult:
        base = dict(item_id="x", seq=1, source=Path("a"), frame=0, width=1, height=1, dpi=300, pdf=Path("p"))
        return PageResult(**(base | kw))

    assert _qc_flags("text", page(word_count=100, mean_confidence=91.0)) == []
    assert _qc_flags("text", page(word_count=0)) == ["no-text"]
    assert _qc_flags("text", page(word_count=5, mean_confidence=40.0, skew_degrees=-7)) == [
        "low-confidence",
        "large-skew",
    ]
    assert _qc_flags("art", page()) == []


def test_schedule_deployment_has_cron_and_library_time_zone(tmp_path):
    from digitize.flows.inbox import inbox_deployment
    from digitize.settings import load_settings

    settings = load_settings()
    deployment = inbox_deployment(settings)
    assert deployment.name == "nightly-inbox"
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "0 1 * * *"
    assert schedule.schedule.timezone == "Asia/Baku"

    other = load_settings(schedule={"cron": "30 22 * * 1-5", "timezone": "Europe/Berlin"})
    (schedule,) = inbox_deployment(other).schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("30 22 * * 1-5", "Europe/Berlin")
