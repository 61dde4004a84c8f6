"""Review decisions in the METS: approve and reject add a PREMIS event (who, when, why) to the stored METS.

A real item (one rendered page, real Tesseract) is assembled, published
held in review into a local object store and a SQLite catalog, then
approved or rejected; the stored METS, the manifest, the catalog rows and
``digitize audit`` must all agree afterwards, and nothing of the old METS
may be lost.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from digitize.archive.schemas import validation_errors
from digitize.assembly.item import assemble_item, plan_pages
from digitize.checksums import sha256_file
from digitize.delivery.audit import audit_store
from digitize.delivery.publish import publish_item
from digitize.delivery.review import ReviewState, approve, reject
from digitize.delivery.review_mets import METS_UPDATED
from digitize.errors import ReviewError
from digitize.pipeline.page import process_page
from digitize.samples.corpus import paragraphs
from digitize.samples.render import render_page, scan_like
from digitize.scanners.batch import read_item
from digitize.settings import AuditSettings, Settings
from digitize.storage.catalog import Catalog, ReviewDecision
from digitize.storage.local import LocalObjectStore

pytestmark = [pytest.mark.needs_tesseract, pytest.mark.slow]

P = "{http://www.loc.gov/premis/v3}"
HELD = ReviewDecision(ReviewState.IN_REVIEW, "digitize publish policy (review-all)",
                      reason="every item is reviewed (review.publish = review-all)")


@pytest.fixture(scope="module")
def assembled(tmp_path_factory):
    """One small item, processed and assembled once (METS, bag) for every test here."""
    root = tmp_path_factory.mktemp("review-mets")
    folder = root / "batch" / "book-1"
    folder.mkdir(parents=True)
    (folder / "item.toml").write_text('title = "Нағыллар"\nauthors = ["Һ. Әлизадә"]\nyear = 1968\n', encoding="utf-8")
    for number in (1, 2):
        rendered = render_page(paragraphs(seed=number, n=1), dpi=200, seed=number)
        scan_like(rendered, skew_degrees=0.5, seed=number).save(folder / f"p{number}.png", dpi=(200, 200))
    settings = Settings(work_dir=root / "work", output_dir=root / "out")
    item = read_item(folder)
    pages = [process_page(job, settings) for job in plan_pages(item, settings)]
    outputs = assemble_item(item, pages, settings)
    return item, pages, outputs


@pytest.fixture
def held(assembled, tmp_path):
    item, pages, outputs = assembled
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    published = publish_item(item, outputs, pages, store, catalog, batch="b1", review=HELD)
    assert published.review_state == ReviewState.IN_REVIEW
    yield item.item_id, store, catalog
    catalog.close()


def _stored(store, key: str) -> bytes:
    with store.open_read(key) as stream:
        return stream.read()


def _mets_key(catalog: Catalog, identifier: str) -> str:
    return next(f.key for f in catalog.files(identifier) if f.role == "mets")


def _events(document: bytes) -> list[etree._Element]:
    return etree.fromstring(document).findall(f".//{P}premis/{P}event")


def _review_event(document: bytes, outcome: str) -> tuple[etree._Element, dict[str, str]]:
    """The METS's one review event with ``outcome`` and the agents it links to (identifier -> type, name)."""
    root = etree.fromstring(document)
    events = [e for e in root.iter(f"{P}event") if e.findtext(f"{P}eventIdentifier/{P}eventIdentifierValue",
                                                                 "").startswith("review-")
              and e.findtext(f"{P}eventOutcomeInformation/{P}eventOutcome") == outcome]
    assert len(events) == 1, [etree.tostring(e) for e in events]
    agents = {a.findtext(f"{P}agentIdentifier/{P}agentIdentifierValue"): a for a in root.iter(f"{P}agent")}
    links = events[0].iter(f"{P}linkingAgentIdentifier")
    values = [v for v in (link.findtext(f"{P}linkingAgentIdentifierValue") for link in links) if v is not None]
    linked = {v: agents[v].findtext(f"{P}agentType") or "" for v in values}
    names = {v: agents[v].findtext(f"{P}agentName") or "" for v in linked}
    return events[0], {**linked, **{f"name:{k}": n for k, n in names.items()}}


def _assert_consistent(store, catalog: Catalog, identifier: str, tmp_path: Path) -> None:
    """Catalog rows, manifest.json and the stored objects agree, and ``digitize audit`` finds nothing."""
    rows = {f.key: f for f in catalog.files(identifier)}
    manifest = json.loads(_stored(store, next(k for k, f in rows.items() if f.role == "manifest")))
    for entry in manifest["files"]:
        stored = store.stat(entry["key"])
        assert stored is not None and (stored.size, stored.sha256) == (entry["size"], entry["sha256"]), entry["key"]
        assert (rows[entry["key"]].size, rows[entry["key"]].sha256) == (entry["size"], entry["sha256"]), entry["key"]
    report = audit_store(store, catalog, AuditSettings(), items=[identifier], state_dir=tmp_path / "audit")
    assert report.ok, [p for i in report.items for p in i.problems]


def test_approve_adds_a_premis_event_with_the_person_to_the_stored_mets(held, tmp_path):
    identifier, store, catalog = held
    key = _mets_key(catalog, identifier)
    before = _stored(store, key)
    # Held by the publish policy: the stored METS already says so, with the policy as the agent.
    assert validation_errors(before, "mets", "mods", "premis") == []
    hold, policy = _review_event(before, "held")
    assert policy == {"software:" + HELD.actor: "software", "name:software:" + HELD.actor: HELD.actor}
    assert "review.publish = review-all" in hold.findtext(f"{P}eventDetailInformation/{P}eventDetail", "")
    bag_key = next(f.key for f in catalog.files(identifier) if f.role == "bag")
    bag_before = _stored(store, bag_key)

    item = approve(catalog, identifier, actor="Leyla Məmmədova", note="checked pages 1-2", store=store)

    assert item.review_state == ReviewState.PUBLISHED and item.public
    after = _stored(store, key)
    assert validation_errors(after, "mets", "mods", "premis") == []
    # Nothing of the old METS is lost: every earlier event is there, unchanged, plus one.
    old_events = [etree.tostring(e) for e in _events(before)]
    new_events = [etree.tostring(e) for e in _events(after)]
    assert new_events[: len(old_events)] == old_events and len(new_events) == len(old_events) + 1
    event, agents = _review_event(after, "approved")
    assert event.findtext(f"{P}eventType") == "validation"
    assert event.find(f"{P}eventType").get("authorityURI", "").endswith("/eventType")
    assert event.findtext(f"{P}eventOutcomeInformation/{P}eventOutcome") == "approved"
    assert event.findtext(f"{P}eventDateTime", "").startswith(f"{item.reviewed_at:%Y-%m-%d}")
    assert "checked pages 1-2" in event.findtext(f"{P}eventDetailInformation/{P}eventDetail", "")
    assert agents == {"person:Leyla Məmmədova": "person", "name:person:Leyla Məmmədova": "Leyla Məmmədova"}
    assert etree.fromstring(after).find("{http://www.loc.gov/METS/}metsHdr").get("LASTMODDATE")

    _assert_consistent(store, catalog, identifier, tmp_path)
    updated = [e for e in catalog.events(identifier) if e.kind == METS_UPDATED]
    assert [json.loads(e.detail or "{}")["outcome"] for e in updated] == ["held", "approved"]
    # The bag (the run's sealed transfer package) is kept as it was, and still opens.
    assert _stored(store, bag_key) == bag_before
    with zipfile.ZipFile(io.BytesIO(bag_before)) as z:
        assert z.testzip() is None


def test_reject_adds_the_reason_and_pages(held, tmp_path):
    identifier, store, catalog = held
    key = _mets_key(catalog, identifier)

    item = reject(catalog, identifier, actor="Rəşad", reason="rescan: page 2 is blurred", pages=(2,), store=store)

    assert item.review_state == ReviewState.REJECTED and not item.public
    after = _stored(store, key)
    assert validation_errors(after, "mets", "mods", "premis") == []
    event, agents = _review_event(after, "rejected")
    detail = event.findtext(f"{P}eventDetailInformation/{P}eventDetail", "")
    assert "reason: rescan: page 2 is blurred" in detail and "pages: 2" in detail
    assert agents["person:Rəşad"] == "person"
    _assert_consistent(store, catalog, identifier, tmp_path)


def test_a_mets_that_is_not_the_registered_one_is_not_touched_and_the_item_stays_in_review(held, tmp_path):
    identifier, store, catalog = held
    key = _mets_key(catalog, identifier)
    tampered = tmp_path / "tampered.mets.xml"
    tampered.write_bytes(_stored(store, key).replace(b"</mets:mets>", b"<!-- changed --></mets:mets>"))
    store.put_file(key, tampered, sha256=sha256_file(tampered), content_type="application/xml")
    rows_before = catalog.files(identifier)

    with pytest.raises(ReviewError, match=r"is not the registered one.*digitize audit"):
        approve(catalog, identifier, actor="Leyla", store=store)

    assert catalog.get(identifier).review_state == ReviewState.IN_REVIEW  # not published
    assert catalog.files(identifier) == rows_before
    assert _stored(store, key) == tampered.read_bytes()
    # the hold only (and the IIIF tiles' own record, made at publishing)
    assert [e.kind for e in catalog.events(identifier)] == ["registered", "held", METS_UPDATED, "iiif tiles"]


def test_an_unchanged_rerun_of_an_approved_item_keeps_the_decision_in_its_mets(held, assembled, tmp_path):
    identifier, store, catalog = held
    item, pages, outputs = assembled
    approve(catalog, identifier, actor="Leyla", store=store)
    with_decision = _stored(store, _mets_key(catalog, identifier))

    again = publish_item(item, outputs, pages, store, catalog, batch="b1", review=HELD)

    assert again.review_state == ReviewState.PUBLISHED  # the same content stays approved
    assert _stored(store, _mets_key(catalog, identifier)) == with_decision
    _review_event(with_decision, "approved")
    _assert_consistent(store, catalog, identifier, tmp_path)


def test_a_changed_rerun_of_a_decided_item_stores_the_runs_mets_and_goes_back_to_review(held, assembled, tmp_path):
    identifier, store, catalog = held
    item, pages, outputs = assembled
    reject(catalog, identifier, actor="Leyla", reason="fix metadata", store=store)

    again = publish_item(item, outputs, pages, store, catalog, batch="b2", review=HELD)  # another batch: a change

    assert again.review_state == ReviewState.IN_REVIEW
    # The run's METS with the new hold only: the rejection belonged to the version before.
    run_mets = next(f.path for f in outputs.files if f.role == "mets").read_bytes()
    stored = _stored(store, _mets_key(catalog, identifier))
    assert [etree.tostring(e) for e in _events(stored)][:-1] == [etree.tostring(e) for e in _events(run_mets)]
    _review_event(stored, "held")
    assert b"rejected" not in stored
    _assert_consistent(store, catalog, identifier, tmp_path)
