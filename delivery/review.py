"""Review before publishing: the publish policy, the review queue, approving and rejecting.

Every item is ``processed`` → ``in review`` → ``published``, or
``rejected`` (with a reason: rescan pages N, fix metadata) and then
processed again, when a re-run of it goes back through the policy. The
policy (``settings.review.publish``):

* ``always``: every processed item is published at once (as before review states);
* ``review-flagged`` (the default): an item with a page flagged for
  re-scanning (``PageQuality.rescan``), a page that failed, or a mean OCR
  confidence below ``image.quality.min_confidence`` waits in review;
  everything else is published;
* ``review-all``: every item waits for a person.

The state is kept in the catalog (``items.review_state``) and only
published items are shown to readers (``CatalogItem.public``). Each
decision (held, approved, rejected) is an event in the catalog's events
table, after PREMIS: who, when, why, from which state to which, the pages.
An item with pages that failed cannot be approved: it has to be rescanned.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Sequence

from digitize.errors import ReviewError
from digitize.pipeline.model import PageResult
from digitize.settings import QualitySettings
from digitize.storage.catalog import Catalog, CatalogItem, ReviewDecision, ReviewState
from digitize.storage.objects import ObjectStore

__all__ = [
    "POLICIES",
    "ReviewState",
    "approve",
    "default_actor",
    "failed_pages",
    "flagged_pages",
    "policy_decision",
    "reject",
    "review_queue",
    "review_reasons",
]

POLICIES = ("always", "review-flagged", "review-all")
POLICY_AGENT = "digitize publish policy"  # the agent of a decision the software takes


def review_reasons(
    pages: Sequence[PageResult],
    quality: QualitySettings,
    *,
    failed: Sequence[int] = (),
    mean_confidence: float | None = None,
) -> tuple[str, ...]:
    """Why a person should look at an item before readers do (empty: nothing to look at).

    ``pages`` are the finished pages, ``failed`` the numbers of pages that
    failed; ``mean_confidence`` is the item's mean OCR confidence (None:
    computed from the pages that have one).
    """
    reasons: list[str] = []
    if failed:
        reasons.append(f"pages that failed: {_numbers(failed)}")
    for page in sorted(pages, key=lambda p: p.seq):
        if page.quality is not None and page.quality.rescan:
            why = "; ".join(page.quality.reasons) or "flagged for re-scanning"
            reasons.append(f"page {page.seq}: {why}")
    if mean_confidence is None:
        confidences = [p.mean_confidence for p in pages if p.mean_confidence is not None]
        mean_confidence = sum(confidences) / len(confidences) if confidences else None
    if mean_confidence is not None and mean_confidence < quality.min_confidence:
        reasons.append(f"mean OCR confidence {mean_confidence:.0f} < {quality.min_confidence:.0f}")
    return tuple(reasons)


def flagged_pages(pages: Sequence[PageResult]) -> tuple[int, ...]:
    """The pages quality control flagged for re-scanning."""
    return tuple(sorted(p.seq for p in pages if p.quality is not None and p.quality.rescan))


def policy_decision(
    policy: str, reasons: Sequence[str], *, failed: Sequence[int] = (), flagged: Sequence[int] = ()
) -> ReviewDecision:
    """What the policy does with a processed item: publish it, or hold it in review with the reasons."""
    if policy not in POLICIES:
        raise ValueError(f"unknown publish policy {policy!r}: use one of {', '.join(POLICIES)}")
    if policy == "always" and not failed:
        return ReviewDecision(ReviewState.PUBLISHED, POLICY_AGENT)
    if policy == "review-flagged" and not reasons and not failed:
        return ReviewDecision(ReviewState.PUBLISHED, POLICY_AGENT)
    why = "; ".join(reasons) if reasons else "every item is reviewed (review.publish = review-all)"
    return ReviewDecision(
        ReviewState.IN_REVIEW, f"{POLICY_AGENT} ({policy})", reason=why,
        pages=tuple(sorted(flagged)), failed_pages=tuple(sorted(failed)),
    )


def review_queue(catalog: Catalog) -> list[CatalogItem]:
    """Items waiting in review, longest waiting first."""
    return catalog.in_review_state(ReviewState.IN_REVIEW)


def failed_pages(catalog: Catalog, identifier: str) -> tuple[int, ...]:
    """The pages that failed when the item was last processed (from the policy's ``held`` event)."""
    for event in reversed(catalog.events(identifier)):
        if event.kind in ("registered", "updated", "replaced"):
            return ()
        if event.kind == "held" and event.detail:
            return tuple(int(n) for n in json.loads(event.detail).get("failed_pages", ()))
    return ()


def approve(
    catalog: Catalog, identifier: str, *, actor: str, note: str | None = None, store: ObjectStore | None = None
) -> CatalogItem:
    """Publish an item waiting in review; ReviewError when it is not in review or has pages that failed.

    With ``store``, the decision is first added to the item's stored METS as
    a PREMIS event (``delivery.review_mets``), before the item becomes public.
    """
    item = _in_review(catalog, identifier, "approve")
    failed = failed_pages(catalog, identifier)
    if failed:
        raise ReviewError(
            f"{identifier} cannot be approved: pages {_numbers(failed)} failed when it was processed, so it "
            f"is not complete. Reject it for rescanning (digitize review reject {identifier} --reason "
            f"\"rescan\" --pages {','.join(map(str, failed))}), then process it again"
        )
    decision = ReviewDecision(
        ReviewState.PUBLISHED, _actor(actor), reason=item.review_reason, note=note, from_state=ReviewState.IN_REVIEW
    )
    return _decide(catalog, identifier, decision, store)


def reject(
    catalog: Catalog, identifier: str, *, actor: str, reason: str, pages: tuple[int, ...] = (),
    store: ObjectStore | None = None,
) -> CatalogItem:
    """Hold an item back for good until it is processed again (rescan pages, fix metadata).

    With ``store``, the rejection is added to the item's stored METS too (see ``approve``).
    """
    if not reason.strip():
        raise ReviewError(f"rejecting {identifier} needs a reason (what to do: rescan pages N, fix metadata …)")
    item = _in_review(catalog, identifier, "reject")
    bad = [n for n in pages if n < 1 or n > max(item.page_count, 1)]
    if bad:
        raise ReviewError(
            f"{identifier} has pages 1 to {item.page_count}: page(s) {_numbers(bad)} do not exist (--pages)"
        )
    decision = ReviewDecision(
        ReviewState.REJECTED, _actor(actor), reason=reason.strip(), pages=tuple(sorted(set(pages))),
        from_state=ReviewState.IN_REVIEW,
    )
    return _decide(catalog, identifier, decision, store)


def default_actor() -> str:
    """Who decides when no name is given: the operating-system user."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a container)
        return f"uid {os.getuid()}"


def _actor(actor: str) -> str:
    if not actor.strip():
        raise ReviewError("a review decision needs the name of who takes it (--as NAME)")
    return actor.strip()


def _in_review(catalog: Catalog, identifier: str, verb: str) -> CatalogItem:
    item = catalog.get(identifier)
    if item is None:
        raise ReviewError(f"cannot {verb} {identifier}: there is no such item in the catalog ({catalog.where})")
    if not item.available:
        raise ReviewError(f"cannot {verb} {identifier}: it was withdrawn")
    if item.review_state != ReviewState.IN_REVIEW:
        raise ReviewError(f"cannot {verb} {identifier}: it is {item.review_state}, not in review{_since(item)}")
    return item


def _decide(
    catalog: Catalog, identifier: str, decision: ReviewDecision, store: ObjectStore | None = None
) -> CatalogItem:
    if store is not None:  # the METS first: a published item's METS never changes afterwards
        from digitize.delivery.review_mets import record_decision_in_mets

        record_decision_in_mets(store, catalog, identifier, decision)
    item = catalog.set_review(identifier, decision)
    if item is None:
        raise ReviewError(f"{identifier} disappeared from the catalog while it was being reviewed")
    if item.review_state != decision.to_state or item.reviewed_by != decision.actor:
        raise ReviewError(f"{identifier} was decided by someone else meanwhile: it is {item.review_state}"
                          f"{_since(item)}")
    return item


def _since(item: CatalogItem) -> str:
    if item.reviewed_by and item.reviewed_at:
        return f" ({item.reviewed_by}, {item.reviewed_at:%Y-%m-%d %H:%M} UTC)"
    return ""


def _numbers(numbers: Sequence[int]) -> str:
    return ", ".join(str(n) for n in sorted(numbers))
