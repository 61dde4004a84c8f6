"""The hot-folder flow and its overnight deployment.

``digitize_inbox`` runs every complete batch of the inbox (see
:mod:`scanners.inbox` for the rule), one after the other, each as a
``digitize-batch`` sub-flow; batches left in processing/ by a crash run
first. A batch whose items are all done goes to done/, any other to
failed/, with its report beside it.

``inbox_deployment`` is the nightly schedule: a cron in the library's time
zone (``settings.schedule``), served by ``digitize schedule``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prefect import flow

from digitize.errors import DigitizeError
from digitize.flows.batch import digitize_batch
from digitize.scanners.inbox import HotFolder, Waiting
from digitize.settings import Settings, load_settings

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

__all__ = ["InboxRun", "digitize_inbox", "inbox_deployment", "hot_folder"]

log = logging.getLogger(__name__)


@dataclass
class InboxRun:
    """What one pass over the inbox did."""

    done: list[str]
    failed: list[str]
    waiting: list[Waiting]

    @property
    def ok(self) -> bool:
        return not self.failed


def hot_folder(settings: Settings) -> HotFolder:
    inbox = settings.inbox
    return HotFolder(inbox.root, quiet_seconds=inbox.quiet_seconds, ready_marker=inbox.ready_marker)


def _run_one(hot: HotFolder, batch: Path, settings: Settings, run: InboxRun) -> None:
    try:
        report = digitize_batch(str(batch), settings)
        ok, text = not report.failed, report.to_json()
    except DigitizeError as exc:  # the whole batch was unreadable
        ok, text = False, json.dumps({"batch": batch.name, "stage": exc.stage, "error": exc.message}, indent=1)
    except Exception as exc:  # never let one batch stop the night's work
        log.exception("batch %s crashed", batch.name)
        error = {"batch": batch.name, "stage": "internal", "error": f"{type(exc).__name__}: {exc}"}
        ok, text = False, json.dumps(error)
    final = hot.finish(batch, ok, text)
    (run.done if ok else run.failed).append(final.name)


@flow(name="digitize-inbox", log_prints=False)
def digitize_inbox(settings: Settings | None = None, config_file: str | None = None) -> InboxRun:
    """Process every complete batch in the hot folder; the rest wait, with the reason.

    Without ``settings`` (a scheduled run), they are read from the environment
    and ``config_file`` (else ``DIGITIZE_CONFIG``).
    """
    settings = settings or load_settings(Path(config_file) if config_file else None)
    hot = hot_folder(settings)
    hot.ensure()
    run = InboxRun([], [], [])
    for batch in hot.interrupted():
        log.warning("resuming %s (left in processing/ by an interrupted run)", batch.name)
        _run_one(hot, batch, settings, run)
    ready, run.waiting = hot.scan()
    for batch in ready:
        _run_one(hot, hot.take(batch), settings, run)
    return run


def inbox_deployment(settings: Settings, config_file: Path | None = None) -> RunnerDeployment:
    """The nightly run of the inbox, as a Prefect deployment (not yet registered).

    Each scheduled run reads its settings afresh, from the environment of the
    serving process and ``config_file`` (passed as a flow parameter).
    """
    from prefect.schedules import Cron

    schedule = settings.schedule
    deployment: RunnerDeployment = digitize_inbox.to_deployment(  # type: ignore[assignment]  # sync here
        parameters={"config_file": str(config_file.resolve())} if config_file else {},
        name=schedule.deployment_name,
        schedules=[Cron(schedule.cron, timezone=schedule.timezone)],
        description="Digitize every complete batch in the hot folder's inbox.",
        tags=["digitize"],
    )
    return deployment
