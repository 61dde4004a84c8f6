"""The morning report: HTML and CSV from the batch reports, mailed by SMTP (a real local server, aiosmtpd)."""

from __future__ import annotations

import csv
import email
import io
import json
import logging
import socket
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitize.flows.morning import after_run, build_report, render_csv, render_html, report_since, send_report
from digitize.settings import Settings

from helpers.flows import art_batch, env_for, run_cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Mailbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 -- aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller.port, mailbox
    finally:
        controller.stop()


def _jpeg(path: Path, seed: int, size: tuple[int, int] = (120, 80)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG")


def _night(tmp_path: Path) -> Settings:
    """An output folder as a run leaves it: one batch report, a good item (held), a flagged one, a failed one."""
    out = tmp_path / "out"
    _jpeg(out / "good" / "thumbnail.jpg", 1)
    _jpeg(out / "flagged" / "thumbnail.jpg", 2)
    _jpeg(out / "flagged" / "access" / "0002.jpg", 3, (600, 900))
    report = {
        "batch": "night-1",
        "folder": str(tmp_path / "hot" / "processing" / "night-1"),
        "seconds": 42.5,
        "items": [
            {"identifier": "good", "status": "in review", "kind": "art", "pages": 1,
             "message": "registered, in review: new collection: every item is looked at",
             "output_dir": str(out / "good"), "qc": [], "seconds": 3.0},
            {"identifier": "flagged", "status": "done", "kind": "text", "pages": 2, "message": "registered",
             "output_dir": str(out / "flagged"), "qc": ["low-confidence"], "seconds": 9.0},
            {"identifier": "bad", "status": "failed", "kind": "art", "pages": 2, "stage": "intake",
             "message": "bad/p2.png: not a readable image (truncated file)", "output_dir": "", "qc": [],
             "seconds": 0.0},
        ],
        "pages": [
            {"item": "good", "seq": 1, "status": "done", "qc": []},
            {"item": "flagged", "seq": 1, "status": "done", "qc": []},
            {"item": "flagged", "seq": 2, "status": "done", "qc": ["low-confidence"], "confidence": 41.0},
        ],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "batch-night-1.json").write_text(json.dumps(report), encoding="utf-8")
    return Settings(output_dir=out, web={"base_url": "https://elib.example.org/"})


def test_report_lists_items_reasons_review_and_pictures(tmp_path):
    settings = _night(tmp_path)
    report = build_report(settings, datetime.now() - timedelta(hours=1))
    assert [i.identifier for i in report.items] == ["good", "flagged", "bad"]
    assert (report.count("in review"), report.count("done"), report.count("failed")) == (1, 1, 1)
    page = "\n".join(render_html(report).split())
    text = " ".join(render_html(report).split())

    assert "bad/p2.png: not a readable image (truncated file)" in text and "could not be taken in" in text
    assert "held for review: new collection: every item is looked at" in text
    assert "QC: low-confidence" in text and "page 2: low-confidence" in text
    assert text.count("data:image/jpeg;base64,") == 3  # two thumbnails, one flagged page's picture
    assert 'href="https://elib.example.org/staff/review/flagged"' in page
    assert "https://elib.example.org/staff/review/bad" not in page  # a failed item has no review page

    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert [(r["item"], r["status"]) for r in rows] == [("good", "in review"), ("flagged", "done"), ("bad", "failed")]
    assert "truncated file" in rows[2]["reason"] and rows[1]["flagged_pages"] == "page 2: low-confidence"


def test_report_outside_the_window_and_unreadable_reports(tmp_path):
    settings = _night(tmp_path)
    (Path(settings.output_dir) / "batch-broken.json").write_text("{not json", encoding="utf-8")
    assert build_report(settings, datetime.now() + timedelta(hours=1)).items == []
    report = build_report(settings, datetime.now() - timedelta(hours=1))
    assert len(report.items) == 3 and report.unreadable and "batch-broken.json" in report.unreadable[0]
    assert "batch-broken.json" in render_html(report)


def test_after_run_writes_todays_report_and_mails_it(tmp_path, smtp_server):
    port, mailbox = smtp_server
    settings = _night(tmp_path).model_copy(
        update={"smtp": Settings().smtp.model_copy(update={
            "host": "127.0.0.1", "port": port, "starttls": False, "to": ["desk@example.org", "head@example.org"],
        })}
    )
    path = after_run(settings)
    today = date.today().isoformat()
    assert path == Path(settings.output_dir) / "reports" / f"morning-{today}.html"
    assert "bad/p2.png" in path.read_text() and path.with_suffix(".csv").is_file()

    assert len(mailbox.messages) == 1 and mailbox.recipients[0] == ["desk@example.org", "head@example.org"]
    message = mailbox.messages[0]
    assert "1 failed" in message["Subject"] and "1 held for review" in message["Subject"]
    body = message.get_body(preferencelist=("html",))
    assert body is not None and "could not be taken in" in body.get_content()
    attachments = list(message.iter_attachments())
    assert [a.get_filename() for a in attachments] == [f"morning-{today}.csv"]
    assert attachments[0].get_content().replace("\r\n", "\n") == path.with_suffix(".csv").read_text().replace(
        "\r\n", "\n")


def test_smtp_down_is_a_warning_and_the_report_stays(tmp_path, caplog):
    settings = _night(tmp_path).model_copy(
        update={"smtp": Settings().smtp.model_copy(update={
            "host": "127.0.0.1", "port": _free_port(), "starttls": False, "to": ["desk@example.org"],
            "timeout_seconds": 5.0,
        })}
    )
    report = build_report(settings, datetime.now() - timedelta(hours=1))
    with caplog.at_level(logging.WARNING):
        assert send_report(report, "x.csv", settings) is False
        path = after_run(settings)
    assert path is not None and path.is_file()
    assert "not mailed" in caplog.text and "127.0.0.1" in caplog.text
    assert "refused" in caplog.text.lower()


def test_report_since_covers_several_days(tmp_path):
    settings = _night(tmp_path)
    first = date.today() - timedelta(days=3)
    report, html_path, csv_path, sent = report_since(settings, first, mail=True)
    assert not sent  # SMTP not configured: written only
    assert html_path.name == f"report-{first.isoformat()}-to-{date.today().isoformat()}.html"
    assert len(report.items) == 3 and csv_path.is_file()


@pytest.mark.needs_prefect
@pytest.mark.slow
def test_inbox_pass_writes_and_mails_the_morning_report(tmp_path, smtp_server):
    """A mixed batch through `digitize inbox --once`: the report lists both items, the reason and a thumbnail."""
    port, mailbox = smtp_server
    root = tmp_path / "hot"
    batch = art_batch(root / "inbox" / "mixed", {"good": 2, "bad": 2})
    (batch / "bad" / "p2.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not a picture" * 20)
    (batch / "READY").touch()
    env = env_for(
        tmp_path, DIGITIZE_INBOX__ROOT=str(root), DIGITIZE_SMTP__HOST="127.0.0.1", DIGITIZE_SMTP__PORT=str(port),
        DIGITIZE_SMTP__STARTTLS="false", DIGITIZE_SMTP__TO='["desk@example.org"]',
        DIGITIZE_WEB__BASE_URL="https://elib.example.org",
    )
    result = run_cli(["inbox", "--once"], env)
    assert result.returncode == 1, result.stderr.decode()[-3000:]  # as before: an item failed
    page = (tmp_path / "out" / "reports" / f"morning-{date.today().isoformat()}.html").read_text()
    text = " ".join(page.split())
    assert "good" in text and "p2.png" in text and "could not be taken in" in text, text[-3000:]
    assert '<img src="data:image/jpeg;base64,' in page and 'alt="thumbnail of good"' in page
    assert 'href="https://elib.example.org/staff/review/good"' in page
    assert "morning report:" in result.stdout.decode()

    assert len(mailbox.messages) == 1
    (attachment,) = mailbox.messages[0].iter_attachments()
    rows = list(csv.DictReader(io.StringIO(attachment.get_content())))
    assert {(r["item"], r["status"]) for r in rows} == {("good", "done"), ("bad", "failed")}
    assert "p2.png" in next(r for r in rows if r["item"] == "bad")["reason"]


@pytest.mark.needs_prefect
@pytest.mark.slow
def test_run_with_smtp_down_ends_as_before_with_a_warning(tmp_path):
    """`digitize run` with the mail server down: exit 0 as before, a warning, the report on disk; then `report`."""
    batch = art_batch(tmp_path / "batch", {"one": 1})
    env = env_for(
        tmp_path, DIGITIZE_SMTP__HOST="127.0.0.1", DIGITIZE_SMTP__PORT=str(_free_port()),
        DIGITIZE_SMTP__STARTTLS="false", DIGITIZE_SMTP__TO='["desk@example.org"]',
    )
    result = run_cli(["run", str(batch)], env)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    stderr = " ".join(result.stderr.decode().split())
    assert "the morning report was not mailed" in stderr and "127.0.0.1" in stderr
    today = date.today().isoformat()
    assert "one" in (tmp_path / "out" / "reports" / f"morning-{today}.html").read_text()

    since = (date.today() - timedelta(days=1)).isoformat()
    result = run_cli(["report", "--since", since, "--no-mail"], env)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    built = tmp_path / "out" / "reports" / f"report-{since}-to-{today}.html"
    assert built.is_file() and "one" in built.read_text()
    assert "1 done" in result.stdout.decode()
    result = run_cli(["report", "--since", "yesterday"], env)
    assert result.returncode != 0 and "YYYY-MM-DD" in result.stderr.decode()


_UNITS = Path(__file__).resolve().parents[1] / "deploy" / "systemd"


def test_systemd_units_are_hardened_and_bind_loopback():
    units = {p.name: p.read_text() for p in _UNITS.glob("*.service")}
    assert set(units) == {"digitize-serve.service", "digitize-schedule.service", "digitize-inbox.service",
                          "prefect-server.service"}
    for name, text in units.items():
        for option in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=", "EnvironmentFile="):
            assert option in text, f"{name}: {option} missing"
    assert "--host 127.0.0.1" in units["digitize-serve.service"]
    assert "--host 127.0.0.1" in units["prefect-server.service"]
    env = (_UNITS / "digitize.env").read_text() + (_UNITS / "prefect.env").read_text()
    assert "PREFECT_SERVER_ANALYTICS_ENABLED=false" in env and "DO_NOT_TRACK=1" in env
    assert "DIGITIZE_WEB__HOST=127.0.0.1" in env and "PREFECT_SERVER_API_HOST=127.0.0.1" in env


def test_systemd_units_verify(tmp_path):
    """systemd-analyze verify, with the installed paths pointed at this checkout (skipped without systemd)."""
    import shutil
    import subprocess
    import sys

    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    bin_dir = str(Path(sys.executable).parent)
    for unit in [*_UNITS.glob("*.service"), *_UNITS.glob("*.timer")]:
        text = unit.read_text().replace("/opt/digitize/.venv/bin", bin_dir).replace("/etc/digitize/", f"{_UNITS}/")
        (tmp_path / unit.name).write_text(text)
    names = sorted(str(p) for p in tmp_path.iterdir())
    result = subprocess.run(["systemd-analyze", "verify", *names], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
