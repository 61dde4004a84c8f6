"""Review decisions in the METS: each approval, rejection or hold becomes a PREMIS event of the item.

The catalog's events table records every decision; the METS is the
archival record that travels with the item, so it gets the same decision
as a PREMIS event: eventType ``validation`` (id.loc.gov: comparing an
object with a standard and noting compliance or exceptions; here the
library's quality rules, checked by a person or by the publish policy),
the date, the outcome (approved, rejected, held), the detail (reason,
pages, note) and the agent: a ``person`` with the reviewer's name, or the
publish policy (``software``) for a hold.

Order, so that nothing is lost and nothing published changes silently:

1. the stored METS is read and checked against the catalog's SHA-256
   (a METS that is not the registered one is not touched);
2. the event is appended and the new METS validated (METS, MODS, PREMIS
   schemas);
3. the new METS is stored (verified), then manifest.json with the METS's
   new size and SHA-256, then the catalog's file rows (one transaction,
   with a ``mets updated`` event); only then does the caller change the
   review state. A failure in between leaves the item in review with a
   stored METS one event ahead of the catalog: ``digitize audit`` names
   the mismatch, approving refuses it (not the registered METS), and a
   re-run of the item puts the run's METS back.

Publishing the same content again keeps the METS with the decisions
(``decided_files``): the run's METS would otherwise overwrite it.

The METS change is append-only (every earlier byte of content is kept; the
new event and ``LASTMODDATE`` are added), so no earlier version is copied
to ``versions/``: the store keeps versions of masters, which a decision
does not change.

The BagIt zip is not re-made. It is the transfer package sealed at the
run (its tag manifests fix the METS as made then); re-making it here means
reading every master back from the store. A decision changes the item's
provenance record, which is the stored METS and the catalog; a bag made
for a transfer later is made from them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from digitize.archive.mets import append_premis_event
from digitize.archive.premis import Agent, Event
from digitize.archive.schemas import validation_errors
from digitize.checksums import sha256_file
from digitize.errors import OutputError, ReviewError
from digitize.files import atomic_write_bytes
from digitize.storage.catalog import Catalog, CatalogFile, ReviewDecision, ReviewState
from digitize.storage.objects import ObjectStore

__all__ = ["METS_UPDATED", "REVIEW_EVENT_TYPE", "decided_files", "decision_event", "record_decision_in_mets"]

log = logging.getLogger(__name__)

REVIEW_EVENT_TYPE = "validation"
METS_UPDATED = "mets updated"  # the catalog event of a METS that gained a decision
_OUTCOMES = {"approved": "approved", "rejected": "rejected", "held": "held", "published": "approved"}


def decision_event(decision: ReviewDecision, when: datetime, number: int) -> tuple[Event, Agent]:
    """The PREMIS event and agent of a decision (``number``: the item's n-th review event)."""
    person = decision.from_state is ReviewState.IN_REVIEW
    agent = Agent(
        identifier=f"{'person' if person else 'software'}:{decision.actor}",
        name=decision.actor,
        type="person" if person else "software",
    )
    detail = ["review before publishing"]
    if decision.reason:
        detail.append(f"reason: {decision.reason}")
    if decision.pages:
        detail.append(f"pages: {', '.join(map(str, decision.pages))}")
    if decision.failed_pages:
        detail.append(f"pages that failed: {', '.join(map(str, decision.failed_pages))}")
    if decision.note:
        detail.append(f"note: {decision.note}")
    kind = decision.event_kind
    event = Event(
        identifier=f"review-{number}",
        type=REVIEW_EVENT_TYPE,
        date=when.astimezone(UTC).isoformat(timespec="seconds"),
        detail="; ".join(detail),
        outcome=_OUTCOMES.get(kind, kind),
        outcome_note=f"{decision.from_state.value} -> {decision.to_state.value}",
        agents=((agent.identifier, "authorizer" if person else "executing program"),),
    )
    return event, agent


def record_decision_in_mets(
    store: ObjectStore, catalog: Catalog, identifier: str, decision: ReviewDecision, *, when: datetime | None = None
) -> CatalogFile | None:
    """Append the decision to the item's stored METS; store it, the manifest and the catalog rows.

    Returns the METS's new catalog file (None: the item has no METS, e.g.
    registered by the web API). Raises ReviewError when the stored METS or
    manifest is not what the catalog registered, or the new METS is not
    schema-valid; nothing is changed then.
    """
    when = when or datetime.now(UTC)
    files = catalog.files(identifier)
    mets = next((f for f in files if f.role == "mets"), None)
    if mets is None:
        log.info("%s has no METS: the %s decision is recorded in the catalog only", identifier, decision.event_kind)
        return None
    manifest = next((f for f in files if f.role == "manifest"), None)
    old = _read_registered(store, mets, identifier)
    number = old.count(b"<premis:eventIdentifierValue>review-") + 1
    event, agent = decision_event(decision, when, number)
    try:
        new = append_premis_event(old, event, [agent], event.date)
    except OutputError as exc:
        raise ReviewError(f"{identifier}: the decision cannot be added to its METS ({mets.key}): {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="digitize-review-") as work:
        path = Path(work) / Path(mets.key).name
        atomic_write_bytes(path, new)
        errors = validation_errors(path, "mets", "mods", "premis")
        if errors:
            raise ReviewError(
                f"{identifier}: the METS with the {decision.event_kind} event is not schema-valid, nothing was "
                f"changed: {'; '.join(errors[:3])}"
            )
        stored = store.put_file(mets.key, path, sha256=sha256_file(path), content_type=mets.content_type)
        changed = [CatalogFile(mets.key, mets.role, stored.size, stored.sha256, mets.content_type)]
        if manifest is not None:
            listing = json.loads(_read_registered(store, manifest, identifier))
            for entry in listing.get("files", ()):
                if entry.get("key") == mets.key:
                    entry["size"], entry["sha256"] = stored.size, stored.sha256
            manifest_path = Path(work) / "manifest.json"
            atomic_write_bytes(manifest_path, json.dumps(listing, ensure_ascii=False, indent=1).encode("utf-8"))
            kept = store.put_file(manifest.key, manifest_path, content_type=manifest.content_type)
            changed.append(CatalogFile(manifest.key, manifest.role, kept.size, kept.sha256, manifest.content_type))
    detail = json.dumps({"key": mets.key, "event": event.identifier, "outcome": event.outcome,
                         "sha256": stored.sha256, "previous": {f.key: f.sha256 for f in (mets, manifest) if f}},
                        ensure_ascii=False)
    if not catalog.update_files(identifier, changed, METS_UPDATED, detail):
        raise ReviewError(f"{identifier} disappeared from the catalog while its METS was being updated")
    log.info("%s: %s event %s added to %s", identifier, decision.event_kind, event.identifier, mets.key)
    return changed[0]


def decided_files(catalog: Catalog, identifier: str) -> dict[str, str]:
    """Files that gained a decision since the item was last registered: key -> the run's SHA-256.

    Publishing the item again (``delivery.publish``) keeps the stored METS
    and manifest with the decisions when the run's files are these and
    nothing else changed, instead of putting the run's METS back over them.
    """
    decided: dict[str, str] = {}
    for event in reversed(catalog.events(identifier)):
        if event.kind in ("registered", "updated", "replaced"):
            break
        if event.kind == METS_UPDATED and event.detail:
            decided.update(json.loads(event.detail).get("previous", {}))  # the earliest one wins
    return decided


def _read_registered(store: ObjectStore, file: CatalogFile, identifier: str) -> bytes:
    """The stored bytes of a registered file, checked against the catalog's SHA-256."""
    with store.open_read(file.key) as stream:
        data = stream.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != file.sha256 or len(data) != file.size:
        raise ReviewError(
            f"{identifier}: the stored {file.key} is not the registered one (SHA-256 {digest[:12]}…, "
            f"{len(data)} bytes; the catalog has {file.sha256[:12]}…, {file.size} bytes), so the review decision "
            f"was not added to it. Run digitize audit {identifier} and re-run the item"
        )
    return data
