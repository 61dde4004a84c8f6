"""The morning report: what the night's runs did, for the staff desk, as HTML and CSV, mailed if configured.

Read from the batch reports (``batch-<name>.json``, :mod:`flows.report`)
in the output folder, so that it covers ``digitize run`` and the hot folder
alike and can be rebuilt at any time (``digitize report --since DATE``).
Written after every run and every inbox pass that processed a batch, as
``<output_dir>/reports/morning-<date>.html`` and ``.csv``: the day's
report, covering every batch report written that day (local time), so
that a second run in the same night adds to it. Per run, like the batch
report: never archived, never stored.

Per item: status, pages, time, the reason of a failure in plain words, the
review state when the run recorded one (else the QC flags), the item's
thumbnail and small pictures of its flagged pages (JPEGs embedded as
``data:`` URIs, so that the mail is one self-contained file), and a link to
its review page ``<web.base_url>/staff/review/<identifier>``.

Mailing (``settings.smtp``) never fails a run: a refused or unreachable
server is logged as a warning and the report stays on disk.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import logging
import smtplib
from dataclasses import dataclass
from datetime import date, datetime, time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from digitize.files import atomic_write_text
from digitize.settings import Settings

__all__ = [
    "BatchSummary",
    "FlaggedPage",
    "MorningReport",
    "ReportItem",
    "after_run",
    "build_report",
    "plain_reason",
    "render_csv",
    "render_html",
    "render_text",
    "review_reason",
    "report_folder",
    "report_since",
    "send_report",
    "write_report",
]

log = logging.getLogger(__name__)

# What each error stage means, in the words of the staff desk.
_STAGE_WORDS = {
    "intake": "could not be taken in",
    "image": "a page image could not be read or processed",
    "ocr": "text recognition failed",
    "output": "its files could not be made",
    "transliteration": "the Latin text could not be made",
    "storage": "could not be stored",
    "catalog": "could not be registered in the catalog",
    "run": "the batch was busy in another run",
    "settings": "the settings are wrong",
    "setup": "a program is missing",
    "internal": "an unexpected error (see the log)",
}

IN_REVIEW = "in review"


def plain_reason(stage: str, message: str) -> str:
    """A failure in plain words: what went wrong, then what the program said."""
    words = _STAGE_WORDS.get(stage, f"failed at {stage}" if stage else "failed")
    return f"{words}: {message}" if message else words


def review_reason(message: str) -> str | None:
    """Why an item is held, from its report message ("registered, in review: <reason>")."""
    marker = f"{IN_REVIEW}: "
    return message.split(marker, 1)[1] or None if marker in message else None


@dataclass(frozen=True)
class FlaggedPage:
    """A page to look at: flagged by quality control, or failed."""

    seq: int
    status: str
    flags: tuple[str, ...]
    message: str
    picture: str | None  # a data: URI of a small JPEG, when one could be made


@dataclass(frozen=True)
class ReportItem:
    batch: str
    identifier: str
    status: str  # "done", "failed" or "in review"
    kind: str
    pages: int
    seconds: float
    stage: str
    reason: str  # plain words; empty for a done item
    qc: tuple[str, ...]
    review_reason: str | None
    thumbnail: str | None  # data: URI
    flagged: tuple[FlaggedPage, ...]
    link: str | None  # the review page


@dataclass(frozen=True)
class BatchSummary:
    name: str
    report_file: Path
    finished: datetime
    seconds: float
    items: tuple[ReportItem, ...]


@dataclass(frozen=True)
class MorningReport:
    title: str
    since: datetime
    until: datetime
    batches: tuple[BatchSummary, ...]
    unreadable: tuple[str, ...] = ()  # batch reports that could not be read, with the reason

    @property
    def items(self) -> list[ReportItem]:
        return [i for b in self.batches for i in b.items]

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)

    @property
    def pages(self) -> int:
        return sum(i.pages for i in self.items)

    @property
    def seconds(self) -> float:
        return sum(b.seconds for b in self.batches)

    @property
    def summary(self) -> str:
        return (
            f"{len(self.batches)} batch(es), {len(self.items)} item(s): {self.count('done')} done, "
            f"{self.count('failed')} failed, {self.count(IN_REVIEW)} held for review; {self.pages} page(s), "
            f"{self.seconds:.0f} s"
        )


# --- reading the batch reports ---------------------------------------------


def build_report(settings: Settings, since: datetime, until: datetime | None = None, title: str = "") -> MorningReport:
    """Every batch report in the output folder written from ``since`` (local time) to ``until``."""
    until = until or datetime.now()
    output = Path(settings.output_dir)
    batches: list[BatchSummary] = []
    unreadable: list[str] = []
    pictures = _PictureBudget(settings.report.max_thumbnails)
    for path in sorted(output.glob("batch-*.json")) if output.is_dir() else []:
        try:
            finished = datetime.fromtimestamp(path.stat().st_mtime)
            if not since <= finished <= until:
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
            batches.append(_batch(path, finished, data, settings, pictures))
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("%s: cannot read this batch report (%s)", path, exc)
            unreadable.append(f"{path.name}: {exc}")
    batches.sort(key=lambda b: (b.finished, b.name))
    title = title or f"Digitization report {since:%Y-%m-%d}"
    return MorningReport(title, since, until, tuple(batches), tuple(unreadable))


class _PictureBudget:
    """At most ``left`` page pictures per report, so that the mail stays small."""

    def __init__(self, left: int) -> None:
        self.left = left

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def _batch(path: Path, finished: datetime, data: dict[str, Any], settings: Settings, pictures: _PictureBudget
           ) -> BatchSummary:
    pages_of: dict[str, list[dict[str, Any]]] = {}
    for page in data.get("pages", []):
        pages_of.setdefault(str(page["item"]), []).append(page)
    items = tuple(_item(str(data["batch"]), raw, pages_of.get(str(raw["identifier"]), []), settings, pictures)
                  for raw in data.get("items", []))
    return BatchSummary(str(data["batch"]), path, finished, float(data.get("seconds") or 0.0), items)


def _item(batch: str, raw: dict[str, Any], pages: list[dict[str, Any]], settings: Settings,
          pictures: _PictureBudget) -> ReportItem:
    identifier = str(raw["identifier"])
    status = str(raw.get("status") or "failed")
    if status == "done" and raw.get("review_state") == IN_REVIEW:
        status = IN_REVIEW
    done = status in ("done", IN_REVIEW)  # stored and registered; "in review": held for a person
    if not done:
        status = "failed"
    stage, message = str(raw.get("stage") or ""), str(raw.get("message") or "")
    folder = _output_folder(raw, identifier, settings) if done else None
    flagged = []
    for page in sorted(pages, key=lambda p: int(p["seq"])):
        flags = tuple(str(f) for f in page.get("qc") or ())
        if page.get("status") == "done" and not flags:
            continue
        seq = int(page["seq"])
        picture = _page_picture(folder, identifier, seq, settings) if folder and pictures.take() else None
        flagged.append(FlaggedPage(seq, str(page.get("status")), flags, str(page.get("message") or ""), picture))
    thumbnail = _data_uri((folder / "thumbnail.jpg").read_bytes()) if folder and (folder / "thumbnail.jpg").is_file() \
        else None
    base = (settings.web.base_url or "").rstrip("/")
    return ReportItem(
        batch=batch,
        identifier=identifier,
        status=status,
        kind=str(raw.get("kind") or ""),
        pages=int(raw.get("pages") or 0),
        seconds=float(raw.get("seconds") or 0.0),
        stage=stage,
        reason="" if done else plain_reason(stage, message),
        qc=tuple(str(f) for f in raw.get("qc") or ()),
        review_reason=str(raw.get("review_reason") or "") or (review_reason(message) if status == IN_REVIEW else None),
        thumbnail=thumbnail,
        flagged=tuple(flagged),
        link=f"{base}/staff/review/{identifier}" if done else None,
    )


def _output_folder(raw: dict[str, Any], identifier: str, settings: Settings) -> Path | None:
    for candidate in (Path(str(raw.get("output_dir") or "")), Path(settings.output_dir) / identifier):
        if str(candidate) not in ("", ".") and candidate.is_dir():
            return candidate
    return None


def _data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def _page_picture(folder: Path, identifier: str, seq: int, settings: Settings) -> str | None:
    """A small JPEG of one page: its access copy if there is one, else the page of the item's PDF."""
    from PIL import Image

    size = settings.report.thumbnail_px
    try:
        access = folder / "access" / f"{seq:04d}.jpg"
        if access.is_file():
            with Image.open(access) as opened:
                image = opened.convert("RGB")
        else:
            import pypdfium2

            pdf = folder / f"{identifier}.pdf"
            if not pdf.is_file():
                return None
            document = pypdfium2.PdfDocument(str(pdf))
            try:
                page = document[seq - 1]
                width, height = page.get_size()
                image = page.render(scale=size / max(width, height)).to_pil().convert("RGB")
            finally:
                document.close()
        image.thumbnail((size, size))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=70, optimize=True)
    except Exception as exc:  # a picture is a convenience: the page is listed without it
        log.warning("%s page %d: no picture for the report (%s)", identifier, seq, exc)
        return None
    return _data_uri(buffer.getvalue())


# --- rendering -----------------------------------------------------------------

_CSV_COLUMNS = ("batch", "item", "status", "kind", "pages", "seconds", "stage", "reason", "review", "qc",
                "flagged_pages", "link")

_STYLE = (
    "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}"
    ".failed{background:#fde8e8}.review{background:#fff6d6}figure{display:inline-block;margin:4px}"
    "figcaption{font-size:small}"
)


def _review_text(item: ReportItem) -> str:
    if item.status == IN_REVIEW:
        return f"held for review: {item.review_reason}" if item.review_reason else "held for review"
    return f"QC: {', '.join(item.qc)}" if item.qc else ""


def _page_text(page: FlaggedPage) -> str:
    return f"page {page.seq}: " + (", ".join(page.flags) if page.flags else f"{page.status} {page.message}".strip())


def render_html(report: MorningReport) -> str:
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>{e(report.title)}</title><style>{_STYLE}</style>'
        "</head><body>",
        f"<h1>{e(report.title)}</h1>",
        f"<p>{e(f'{report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M}')}: {e(report.summary)}.</p>",
    ]
    if not report.batches:
        out.append("<p>No batch was processed.</p>")
    for batch in report.batches:
        out.append(f"<h2>Batch {e(batch.name)}</h2><p>finished {batch.finished:%Y-%m-%d %H:%M}, "
                   f"{batch.seconds:.0f} s; report: <code>{e(str(batch.report_file))}</code></p>")
        out.append("<table><tr><th></th><th>item</th><th>status</th><th>pages</th><th>seconds</th>"
                   "<th>reason / review</th><th>pages to look at</th></tr>")
        for item in batch.items:
            css = {"failed": "failed", IN_REVIEW: "review"}.get(item.status, "")
            thumb = f'<img src="{item.thumbnail}" alt="thumbnail of {e(item.identifier)}">' if item.thumbnail else ""
            name = e(item.identifier)
            if item.link:
                name = f'<a href="{e(item.link)}">{name}</a>'
            figures = []
            for page in item.flagged:
                picture = f'<img src="{page.picture}" alt="page {page.seq}">' if page.picture else ""
                if picture and item.link:
                    picture = f'<a href="{e(item.link)}">{picture}</a>'
                figures.append(f"<figure>{picture}<figcaption>{e(_page_text(page))}</figcaption></figure>")
            out.append(
                f'<tr class="{css}"><td>{thumb}</td><td>{name}</td><td>{e(item.status)}</td><td>{item.pages}</td>'
                f"<td>{item.seconds:.1f}</td><td>{e(item.reason or _review_text(item))}</td>"
                f"<td>{''.join(figures)}</td></tr>"
            )
        out.append("</table>")
    if report.unreadable:
        out.append("<h2>Batch reports that could not be read</h2><ul>")
        out.extend(f"<li>{e(u)}</li>" for u in report.unreadable)
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def render_csv(report: MorningReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(_CSV_COLUMNS)
    for item in report.items:
        writer.writerow([
            item.batch, item.identifier, item.status, item.kind, item.pages, f"{item.seconds:.2f}", item.stage,
            item.reason, _review_text(item), " ".join(item.qc), "; ".join(_page_text(p) for p in item.flagged),
            item.link or "",
        ])
    return buffer.getvalue()


def render_text(report: MorningReport) -> str:
    """The mail's plain-text part: one line per item."""
    lines = [report.title, report.summary, ""]
    for item in report.items:
        detail = item.reason or _review_text(item) or f"{item.pages} page(s)"
        lines.append(f"{item.status:<9} {item.batch}/{item.identifier}: {detail}")
    return "\n".join(lines) + "\n"


# --- writing and mailing ------------------------------------------------------


def write_report(report: MorningReport, folder: Path, stem: str) -> tuple[Path, Path]:
    """``folder/<stem>.html`` and ``.csv``, each written atomically."""
    html_path, csv_path = folder / f"{stem}.html", folder / f"{stem}.csv"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(html_path, render_html(report))
    atomic_write_text(csv_path, render_csv(report))
    return html_path, csv_path


def send_report(report: MorningReport, csv_name: str, settings: Settings) -> bool:
    """Mail the report (HTML body, CSV attached) if SMTP is configured; False if not sent. Never raises."""
    smtp = settings.smtp
    if not smtp.host or not smtp.to:
        return False
    message = EmailMessage()
    message["Subject"] = f"{report.title}: {report.summary}"
    message["From"] = smtp.sender
    message["To"] = ", ".join(smtp.to)
    message.set_content(render_text(report))
    message.add_alternative(render_html(report), subtype="html")
    message.add_attachment(render_csv(report).encode("utf-8"), maintype="text", subtype="csv", filename=csv_name)
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds) as client:
            if smtp.starttls:
                client.starttls()
            if smtp.user:
                client.login(smtp.user, smtp.password.get_secret_value() if smtp.password else "")
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("the morning report was not mailed: SMTP server %s:%d said %s; it is on disk (%s)",
                    smtp.host, smtp.port, exc or type(exc).__name__, csv_name)
        return False
    log.info("morning report mailed to %s", ", ".join(smtp.to))
    return True


def report_folder(settings: Settings) -> Path:
    return Path(settings.output_dir) / "reports"


def after_run(settings: Settings, now: datetime | None = None) -> Path | None:
    """Rewrite today's morning report (and mail it if configured); the HTML's path, or None if it failed.

    Called at the end of ``digitize run`` and of an inbox pass: a problem
    here is logged and never changes how the run ends.
    """
    now = now or datetime.now()
    try:
        report = build_report(settings, datetime.combine(now.date(), time()), now,
                              title=f"Morning report {now:%Y-%m-%d}")
        html_path, csv_path = write_report(report, report_folder(settings), f"morning-{now:%Y-%m-%d}")
    except Exception as exc:  # the batch reports are written already; this is their summary
        log.warning("the morning report could not be written (%s)", exc, exc_info=True)
        return None
    send_report(report, csv_path.name, settings)
    return html_path


def report_since(settings: Settings, since: date, now: datetime | None = None, mail: bool = True
                 ) -> tuple[MorningReport, Path, Path, bool]:
    """``digitize report --since DATE``: one report over every batch report from that day to now."""
    now = now or datetime.now()
    stem = f"morning-{now:%Y-%m-%d}" if since == now.date() else f"report-{since:%Y-%m-%d}-to-{now:%Y-%m-%d}"
    title = (f"Morning report {now:%Y-%m-%d}" if since == now.date()
             else f"Digitization report {since:%Y-%m-%d} to {now:%Y-%m-%d}")
    report = build_report(settings, datetime.combine(since, time()), now, title=title)
    html_path, csv_path = write_report(report, report_folder(settings), stem)
    sent = send_report(report, csv_path.name, settings) if mail else False
    return report, html_path, csv_path, sent

