"""The hot-folder flow and its overnight deployment.

``digitize_inbox`` runs every complete batch of the inbox (see
:mod:`scanners.inbox` for the rule), one after the other, each as a
``digitize-batch`` sub-flow; batches left in processing/ by a crash run
first. The good items of a batch go to done/, the failed ones to failed/
(a mixed batch is split per item; see :mod:`scanners.inbox`), the batch
report beside each; then the day's morning report is rewritten (and mailed
if configured, :mod:`flows.morning`). ``InboxRun.lines`` says what happened
to each item in plain words, one line per item.

``inbox_deployment`` is the nightly schedule: a cron in the library's time
zone (``settings.schedule``), served by ``digitize schedule``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from prefect import flow

from digitize.errors import DigitizeError
from digitize.flows.batch import digitize_batch
from digitize.flows.morning import after_run, plain_reason, review_reason
from digitize.flows.report import IN_REVIEW, BatchReport
from digitize.scanners.inbox import HotFolder, Waiting, item_identifiers
from digitize.settings import Settings, load_settings

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

__all__ = ["InboxRun", "ItemLine", "digitize_inbox", "failed_folders", "inbox_deployment", "hot_folder"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ItemLine:
    """What happened to one item (or to a whole batch that could not be read), in plain words."""

    batch: str  # the batch's name in done/ or failed/
    item: str  # "" for the batch as a whole
    ok: bool
    text: str
    where: Path | None  # its folder now

    def __str__(self) -> str:
        name = f"{self.batch}/{self.item}" if self.item else self.batch
        where = f" (now in {self.where})" if self.where else ""
        return f"{'done' if self.ok else 'failed':<7} {name}: {self.text}{where}"


@dataclass
class InboxRun:
    """What one pass over the inbox did."""

    done: list[str]  # batches (or their good halves) now in done/
    failed: list[str]  # batches (or their failed halves) now in failed/
    waiting: list[Waiting]
    items: list[ItemLine] = field(default_factory=list)
    morning_report: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failed

    def lines(self) -> list[str]:
        """One line per item processed, then one per batch waiting, in plain words."""
        return [str(line) for line in self.items] + [f"waiting {w.name}: {w.reason}" for w in self.waiting]


def hot_folder(settings: Settings) -> HotFolder:
    inbox = settings.inbox
    return HotFolder(inbox.root, quiet_seconds=inbox.quiet_seconds, ready_marker=inbox.ready_marker)


def _run_one(hot: HotFolder, batch: Path, settings: Settings, run: InboxRun) -> None:
    try:
        report = digitize_batch(str(batch), settings)
    except DigitizeError as exc:  # the whole batch was unreadable
        _whole_batch_failed(hot, batch, run, exc.stage, exc.message)
        return
    except Exception as exc:  # never let one batch stop the night's work
        log.exception("batch %s crashed", batch.name)
        _whole_batch_failed(hot, batch, run, "internal", f"{type(exc).__name__}: {exc}")
        return
    folders = item_identifiers(batch)
    finished = hot.split(batch, failed_folders(report, folders), report.to_json())
    if finished.done is not None:
        run.done.append(finished.done.name)
    if finished.failed is not None:
        run.failed.append(finished.failed.name)
    run.items.extend(_item_lines(report, batch, folders, finished.done, finished.failed, set(finished.failed_items)))


def failed_folders(report: BatchReport, folders: dict[str, tuple[str, ...]]) -> list[str]:
    """The item folders that go to failed/: a folder stays with the good items only if its item is done.

    Done means published or stored and held for review; an item folder the
    report does not name at all goes to failed/ too, for a person to look at.
    """
    failed_ids = {i.identifier for i in report.failed}
    good_ids = {i.identifier for i in report.items} - failed_ids
    return [f for f, names in folders.items() if failed_ids & set(names) or not good_ids & set(names)]


def _whole_batch_failed(hot: HotFolder, batch: Path, run: InboxRun, stage: str, message: str) -> None:
    text = json.dumps({"batch": batch.name, "stage": stage, "error": message}, indent=1)
    final = hot.finish(batch, False, text)
    run.failed.append(final.name)
    run.items.append(ItemLine(final.name, "", False, plain_reason(stage, message), final))


def _item_lines(report: BatchReport, origin: Path, folders: dict[str, tuple[str, ...]], done: Path | None,
                failed: Path | None, moved: set[str]) -> list[ItemLine]:
    folder_of = {name: folder for folder, names in folders.items() for name in names}
    failed_items = report.failed
    lines = []
    for item in report.items:
        folder = folder_of.get(item.identifier)
        area = failed if folder in moved else done
        where = area / folder if area is not None and folder is not None else area
        batch = area.name if area is not None else report.batch
        ok = item not in failed_items
        if ok and item.status == IN_REVIEW:
            why = review_reason(item.message) or "a person decides"
            text = f"stored, {item.pages} page(s), held for review ({why})"
        elif ok:
            text = f"published, {item.pages} page(s)"
            if item.qc:
                text += f"; quality control flagged: {', '.join(item.qc)}"
        else:
            text = plain_reason(item.stage, item.message)
            if folder is not None and where is not None:  # name the file where staff will find it now
                text = text.replace(str(origin / folder), str(where))
        lines.append(ItemLine(batch, item.identifier, ok, text, where))
    return lines


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
    if run.done or run.failed:
        run.morning_report = after_run(settings)
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
