"""Review before publishing: the policy, the catalog's review states, hidden items, the CLI, a real batch."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from digitize.cli import app
from digitize.delivery.review import (
    ReviewState,
    approve,
    failed_pages,
    policy_decision,
    reject,
    review_queue,
    review_reasons,
)
from digitize.errors import ExitCode, ReviewError
from digitize.pipeline.model import PageQuality, PageResult
from digitize.settings import QualitySettings, Settings
from digitize.storage import catalog_schema
from digitize.storage.catalog import Catalog, ReviewDecision
from digitize.storage.local import LocalObjectStore

from helpers.catalog_data import make_registration
from helpers.flows import env_for, run_cli

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx2
    from fastapi.testclient import TestClient

from digitize.elibrary import create_app

LIMITS = QualitySettings()
HELD = ReviewDecision(
    ReviewState.IN_REVIEW, "digitize publish policy (review-flagged)",
    reason="page 2: resolution 150 dpi < 250", pages=(2,),
)


def _page(seq: int, *, rescan: bool = False, confidence: float | None = 90.0) -> PageResult:
    quality = PageQuality(
        contrast=100.0, focus=1.0, ink_share=0.1, dpi=150.0 if rescan else 300.0, skew_degrees=0.0,
        turned_degrees=0, ocr_confidence=confidence, blank=False, rescan=rescan,
        reasons=("resolution 150 dpi < 250",) if rescan else (),
    )
    return PageResult("book", seq, Path("p.tif"), 0, 100, 100, 300.0, Path("p.pdf"),
                      mean_confidence=confidence, quality=quality)


# -- the policy ---------------------------------------------------------------


def test_policy_holds_flagged_failed_and_low_confidence_items_and_publishes_the_rest():
    clean = [_page(1), _page(2)]
    assert review_reasons(clean, LIMITS) == ()
    assert policy_decision("review-flagged", ()).to_state is ReviewState.PUBLISHED

    flagged = [_page(1), _page(2, rescan=True)]
    reasons = review_reasons(flagged, LIMITS)
    assert reasons == ("page 2: resolution 150 dpi < 250",)
    held = policy_decision("review-flagged", reasons, flagged=(2,))
    assert held.to_state is ReviewState.IN_REVIEW and held.pages == (2,) and "150 dpi" in (held.reason or "")

    low = review_reasons([_page(1, confidence=30.0)], LIMITS)
    assert low == ("mean OCR confidence 30 < 60",)
    failed = policy_decision("review-flagged", review_reasons(clean, LIMITS, failed=(3,)), failed=(3,))
    assert failed.to_state is ReviewState.IN_REVIEW and failed.failed_pages == (3,)
    assert "pages that failed: 3" in (failed.reason or "")


def test_policy_always_and_review_all():
    reasons = review_reasons([_page(1, rescan=True)], LIMITS)
    assert policy_decision("always", reasons).to_state is ReviewState.PUBLISHED
    everything = policy_decision("review-all", ())
    assert everything.to_state is ReviewState.IN_REVIEW and "review-all" in (everything.reason or "")
    # a page that failed is never published unseen, whatever the policy
    assert policy_decision("always", ("pages that failed: 1",), failed=(1,)).to_state is ReviewState.IN_REVIEW
    with pytest.raises(ValueError, match="unknown publish policy"):
        policy_decision("sometimes", ())
    with pytest.raises(ValueError, match="review-flagged"):
        Settings(review={"publish": "sometimes"})


# -- the catalog and the decisions ---------------------------------------------


@pytest.fixture
def library(tmp_path):
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    held = make_registration(tmp_path, "blurred", "Ағ китаб", ["Һ. Әлизадә"], 1968,
                             pages=["Бир варды.", "Шаһ Аббас."], store=store)
    catalog.register(_with_review(held, HELD))
    catalog.register(make_registration(tmp_path, "clean", "Гара китаб", ["Һ. Әлизадә"], 1969,
                                       pages=["Бир јохду."], store=store))
    yield catalog, store
    catalog.close()


def _with_review(registration, decision):
    from dataclasses import replace

    return replace(registration, review=decision)


def _visible(catalog: Catalog, store, identifier: str) -> dict[str, int]:
    """What a reader gets for ``identifier`` from each route, and whether search and OAI list it."""
    with TestClient(create_app(Settings(), catalog=catalog, store=store)) as client:
        files = catalog.files(identifier)
        pdf = next(f.key for f in files if f.content_type == "application/pdf")
        name = pdf.removeprefix(f"items/{identifier}/")
        oai = client.get("/oai", params={"verb": "ListRecords", "metadataPrefix": "oai_dc"}).text
        record = client.get("/oai", params={
            "verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": f"oai:elibrary.local:{identifier}",
        }).text
        return {
            "page": client.get(f"/items/{identifier}").status_code,
            "api": client.get(f"/api/items/{identifier}").status_code,
            "file": client.get(f"/items/{identifier}/files/{name}").status_code,
            "page_image": client.get(f"/items/{identifier}/pages/1.png").status_code,
            "search": int(identifier in client.get("/api/items", params={"q": "китаб"}).text),
            "html_search": int(f'href="/items/{identifier}' in client.get("/", params={"q": "китаб"}).text),
            "oai_list": int(f":{identifier}<" in oai),
            "oai_record": int("idDoesNotExist" not in record),
        }


HIDDEN = {"page": 404, "api": 404, "file": 404, "page_image": 404, "search": 0, "html_search": 0,
          "oai_list": 0, "oai_record": 0}


def test_item_in_review_is_hidden_everywhere_and_approval_publishes_it_with_an_event(library):
    catalog, store = library
    assert catalog.get("blurred").review_state == "in review"
    assert [i.identifier for i in review_queue(catalog)] == ["blurred"]
    assert _visible(catalog, store, "blurred") == HIDDEN
    assert _visible(catalog, store, "clean")["page"] == 200 and _visible(catalog, store, "clean")["oai_list"] == 1
    assert catalog.identifiers() == ["clean"]
    assert [e.kind for e in catalog.events("blurred")] == ["registered", "held"]

    item = approve(catalog, "blurred", actor="leyla", note="blur is readable")
    assert item.public and item.reviewed_by == "leyla"
    shown = _visible(catalog, store, "blurred")
    assert shown["page"] == shown["api"] == shown["file"] == 200
    assert (shown["search"], shown["html_search"], shown["oai_list"], shown["oai_record"]) == (1, 1, 1, 1), shown
    event = catalog.events("blurred")[-1]
    detail = json.loads(event.detail or "")
    assert event.kind == "approved"
    assert detail == {
        "eventType": "review", "outcome": "approved", "agent": "leyla", "from": "in review", "to": "published",
        "reason": "page 2: resolution 150 dpi < 250", "pages": [], "failed_pages": [], "note": "blur is readable",
    }
    assert review_queue(catalog) == []
    # nothing was lost on the way: the same files and page texts as registered
    assert len(list(catalog.page_texts("blurred"))) == 2 and catalog.files("blurred")
    with pytest.raises(ReviewError, match="it is published, not in review") as refused:
        approve(catalog, "blurred", actor="leyla")
    assert refused.value.exit_code is ExitCode.REVIEW


def test_rejected_item_stays_hidden_with_its_reason_and_a_rerun_goes_through_the_policy(library, tmp_path):
    catalog, store = library
    with pytest.raises(ReviewError, match=r"page\(s\) 7 do not exist"):
        reject(catalog, "blurred", actor="rauf", reason="rescan", pages=(7,))
    with pytest.raises(ReviewError, match="needs a reason"):
        reject(catalog, "blurred", actor="rauf", reason=" ")
    item = reject(catalog, "blurred", actor="rauf", reason="rescan pages 2: blurred", pages=(2,))
    assert item.review_state == "rejected" and not item.public
    assert _visible(catalog, store, "blurred") == HIDDEN
    detail = json.loads(catalog.events("blurred")[-1].detail or "")
    assert (detail["outcome"], detail["agent"], detail["reason"], detail["pages"]) == (
        "rejected", "rauf", "rescan pages 2: blurred", [2])
    with pytest.raises(ReviewError, match="it is rejected, not in review"):
        approve(catalog, "blurred", actor="leyla")
    with pytest.raises(ReviewError, match="not in review"):
        reject(catalog, "blurred", actor="rauf", reason="again")
    # processed again, the same content: back through the policy (published now that nothing is flagged)
    again = make_registration(tmp_path, "blurred", "Ағ китаб", ["Һ. Әлизадә"], 1968,
                              pages=["Бир варды.", "Шаһ Аббас."], store=store)
    catalog.register(_with_review(again, policy_decision("review-flagged", ())))
    assert catalog.get("blurred").public
    assert _visible(catalog, store, "blurred")["page"] == 200


def test_item_with_a_failed_page_cannot_be_approved(library, tmp_path):
    catalog, store = library
    decision = policy_decision("review-flagged", ("pages that failed: 2",), failed=(2,))
    catalog.register(_with_review(
        make_registration(tmp_path, "torn", "Јыртыг китаб", [], 1970, pages=["Бир.", ""], store=store), decision,
    ))
    assert failed_pages(catalog, "torn") == (2,)
    with pytest.raises(ReviewError, match=r"pages 2 failed.*digitize review reject torn") as refused:
        approve(catalog, "torn", actor="leyla")
    assert refused.value.exit_code is ExitCode.REVIEW
    assert catalog.get("torn").review_state == "in review"  # unchanged
    assert [e.kind for e in catalog.events("torn")] == ["registered", "held"]


def test_existing_items_become_published_by_the_migration(tmp_path):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(Path(catalog_schema.__file__).with_name("migrations")))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
        conn.execute(text(
            "INSERT INTO items (identifier, title, authors, authors_latin, kind, page_count, content_hash, "
            "manifest_key, store, status, registered_at, updated_at) VALUES ('old', 'Old', '[]', '[]', 'text', 1, "
            "'', 'items/old/manifest.json', 'file:///x', 'available', '2020-01-01', '2020-01-01')"
        ))
    engine.dispose()
    catalog = Catalog(url)
    try:
        item = catalog.get("old")
        assert item is not None and item.review_state == "published" and item.public
        assert catalog.identifiers() == ["old"] and catalog.search(text="old").total == 1
    finally:
        catalog.close()


# -- the CLI -------------------------------------------------------------------


def test_review_commands(library, tmp_path):
    catalog, _ = library
    url = catalog.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    listed = runner.invoke(app, ["review", "list", "--catalog-url", url])
    assert listed.exit_code == 0, listed.output
    assert "blurred" in listed.output and "150 dpi" in listed.output and "clean" not in listed.output
    shown = runner.invoke(app, ["catalog"], env={"DIGITIZE_CATALOG__URL": url, "COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    rows = {line.split("│")[1].strip(): line for line in shown.output.splitlines() if line.count("│") > 2}
    assert "in review" in rows["blurred"] and "published" in rows["clean"]

    refused = runner.invoke(app, ["review", "approve", "nosuch", "--as", "leyla", "--catalog-url", url])
    assert refused.exit_code == ExitCode.REVIEW and "no such item" in refused.output

    bad_pages = runner.invoke(app, ["review", "reject", "blurred", "--reason", "x", "--pages", "two",
                                    "--catalog-url", url])
    assert bad_pages.exit_code == 2 and "page numbers" in bad_pages.output

    rejected = runner.invoke(app, ["review", "reject", "blurred", "--reason", "rescan pages 2", "--pages", "2",
                                   "--as", "rauf", "--catalog-url", url])
    assert rejected.exit_code == 0, rejected.output
    assert catalog.get("blurred").review_state == "rejected" and catalog.get("blurred").reviewed_by == "rauf"
    again = runner.invoke(app, ["review", "approve", "blurred", "--catalog-url", url])
    assert again.exit_code == ExitCode.REVIEW and "rejected, not in review" in again.output
    assert "no item is waiting" in runner.invoke(app, ["review", "list", "--catalog-url", url]).output


# -- a real batch ---------------------------------------------------------------


def _text_item(folder: Path, title: str, kind: str) -> None:
    from digitize.samples.degrade import degrade

    folder.mkdir(parents=True)
    (folder / "item.toml").write_text(f'title = "{title}"\nyear = 1962\n', encoding="utf-8")
    page = degrade(kind, seed=3)  # low_resolution: the page at 150 dpi
    image: Image.Image = page.image
    image.save(folder / "p1.png", dpi=(page.dpi, page.dpi))


@pytest.mark.slow
def test_batch_holds_the_blurred_item_in_review_and_publishes_the_clean_one(tmp_path):
    batch = tmp_path / "batch"
    _text_item(batch / "blurred", "Буланыг", "low_resolution")
    _text_item(batch / "clean", "Тәмиз", "clean")
    env = env_for(tmp_path)
    result = run_cli(["run", str(batch)], env, timeout=600)
    stdout = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    assert "1 in review" in stdout and "digitize review list" in stdout
    report = json.loads((tmp_path / "out" / "batch-batch.json").read_text(encoding="utf-8"))
    status = {i["identifier"]: (i["status"], i["message"]) for i in report["items"]}
    assert status["clean"][0] == "done"
    assert status["blurred"][0] == "in review" and "150 dpi" in status["blurred"][1]

    catalog = Catalog(env["DIGITIZE_CATALOG__URL"])
    store = LocalObjectStore(tmp_path / "store")
    try:
        assert catalog.get("blurred").review_state == "in review" and catalog.get("clean").public
        assert catalog.files("blurred"), "held, but stored and registered: nothing lost"
        assert _visible(catalog, store, "blurred") == HIDDEN
        listed = run_cli(["review", "list"], env)
        assert listed.returncode == 0 and "blurred" in listed.stdout.decode()
        approved = run_cli(["review", "approve", "blurred", "--as", "leyla"], env)
        assert approved.returncode == 0, approved.stderr.decode()
        shown = _visible(catalog, store, "blurred")
        assert shown["page"] == 200 and shown["search"] == shown["oai_list"] == 1
        # the METS gets the decision first (delivery.review_mets), then the item is published
        assert [e.kind for e in catalog.events("blurred")] == [
            "registered", "held", "mets updated", "iiif tiles", "mets updated", "approved"]
        # a re-run of the approved, unchanged item keeps it published
        assert run_cli(["run", str(batch)], env, timeout=600).returncode == 0
        assert catalog.get("blurred").public
    finally:
        catalog.close()
