"""What a batch run reports: per item and per page, as JSON and as a Prefect table.

The quality flags here are for review, not rejection; their thresholds
come from the settings (``image.quality``), the one set of QC thresholds.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Protocol

from digitize.errors import DigitizeError
from digitize.pipeline.model import PageResult
from digitize.settings import QualitySettings

__all__ = [
    "BatchReport",
    "ItemOutcome",
    "PageOutcome",
    "ProgressListener",
    "failure",
    "notify",
    "publish_artifact",
    "qc_flags",
    "set_progress_listener",
]

log = logging.getLogger(__name__)

# A page skewed more than this is flagged for a look at its straightening.
LARGE_SKEW = 5.0
IN_REVIEW = "in review"  # an item's status when the publish policy holds it (delivery.review.ReviewState)


@dataclass
class PageOutcome:
    item: str
    seq: int
    status: str  # "done" or "failed"
    qc: list[str] = field(default_factory=list)
    confidence: float | None = None
    skew_degrees: float | None = None
    words: int = 0
    seconds: float = 0.0
    message: str = ""


@dataclass
class ItemOutcome:
    identifier: str
    status: str  # "done" (published), "in review" (held by the publish policy) or "failed"
    kind: str = ""
    pages: int = 0
    message: str = ""
    stage: str = ""
    output_dir: str = ""
    pdf_url: str | None = None
    uploaded_objects: int = 0
    mean_confidence: float | None = None
    qc: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class BatchReport:
    batch: str
    folder: str
    items: list[ItemOutcome] = field(default_factory=list)
    pages: list[PageOutcome] = field(default_factory=list)
    seconds: float = 0.0
    page_seconds: float = 0.0  # from the first page submitted to the last page (and item) done
    crashed_workers: int = 0
    # A catalog fault (at the start or the end of the run): what the catalog said and how to go on, and
    # the items not registered because of it. Written only when there was one: a normal report is unchanged.
    catalog: str = ""
    not_registered: list[str] = field(default_factory=list)

    @property
    def done(self) -> list[ItemOutcome]:
        return [i for i in self.items if i.status == "done"]

    @property
    def in_review(self) -> list[ItemOutcome]:
        """Items stored and registered but held for a person (``digitize review list``): not failures."""
        return [i for i in self.items if i.status == IN_REVIEW]

    @property
    def failed(self) -> list[ItemOutcome]:
        return [i for i in self.items if i.status not in ("done", IN_REVIEW)]

    def to_json(self) -> str:
        data = asdict(self)
        if not self.catalog and not self.not_registered:
            del data["catalog"], data["not_registered"]
        return json.dumps(data, ensure_ascii=False, indent=1)


class ProgressListener(Protocol):
    """What the CLI shows while a batch runs (the flow calls it in its own thread)."""

    def start(self, batch: str, pages: int) -> None: ...
    def page_done(self, item_id: str, seq: int, ok: bool) -> None: ...
    def item_done(self, outcome: ItemOutcome) -> None: ...


_listener: ProgressListener | None = None


def set_progress_listener(listener: ProgressListener | None) -> None:
    """Show progress of flows run in this process (``None``: stop showing)."""
    global _listener
    _listener = listener


def notify(method: str, *args: object) -> None:
    """Tell the progress listener, if any; a display problem never stops a batch."""
    if _listener is not None:
        try:
            getattr(_listener, method)(*args)
        except Exception:
            log.debug("progress listener failed", exc_info=True)


def failure(exc: BaseException) -> tuple[str, str]:
    """The stage and message of a failure, for the report."""
    if isinstance(exc, DigitizeError):
        return exc.stage, exc.message
    return "internal", f"{type(exc).__name__}: {exc}"


def qc_flags(kind: str, page: PageResult, quality: QualitySettings | None = None) -> list[str]:
    """Review flags of a finished page (``quality``: the settings' thresholds, default the defaults)."""
    thresholds = quality or QualitySettings()
    flags = []
    if kind == "text":
        if page.word_count == 0:
            flags.append("no-text")
        elif page.mean_confidence is not None and page.mean_confidence < thresholds.min_confidence:
            flags.append("low-confidence")
        if abs(page.skew_degrees) > LARGE_SKEW:
            flags.append("large-skew")
    return flags


def publish_artifact(report: BatchReport) -> None:
    """A table of items and pages in the Prefect UI for this flow run."""
    from prefect.artifacts import create_table_artifact

    links = {i.identifier: i.pdf_url or i.output_dir for i in report.items}
    rows = [
        {
            "item": i.identifier,
            "page": "",
            "status": i.status,
            "qc": ", ".join(i.qc),
            "ocr confidence": i.mean_confidence,
            "seconds": i.seconds,
            "details": (f"({i.stage}) " if i.stage and i.status not in ("done", IN_REVIEW) else "") + i.message,
            "link": links.get(i.identifier) or "",
        }
        for i in report.items
    ] + [
        {
            "item": p.item,
            "page": p.seq,
            "status": p.status,
            "qc": ", ".join(p.qc),
            "ocr confidence": p.confidence,
            "seconds": p.seconds,
            "details": p.message,
            "link": "",
        }
        for p in report.pages
    ]
    key = "digitize-" + "".join(c if c.isalnum() else "-" for c in report.batch.lower()).strip("-")[:80]
    try:
        create_table_artifact(
            table=rows,
            key=key,
            description=(
                f"Batch **{report.batch}**: {len(report.done)} item(s) done, {len(report.failed)} failed, "
                f"{len(report.pages)} page(s), {report.seconds:.0f} s, {report.crashed_workers} worker crash(es)."
            ),
        )
    except Exception:  # the report file is written already; the UI table is a convenience
        log.warning("could not create the Prefect artifact for batch %s", report.batch, exc_info=True)
