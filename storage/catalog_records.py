"""Typed records the catalog takes and gives: what crosses from storage to the web and OAI-PMH.

Frozen dataclasses, so the e-library, the harvesting interface and the
CLI read attributes (``item.status``), never string keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path

from digitize.archive.records import ItemRecord
from digitize.storage.search import Snippet

__all__ = [
    "CatalogEvent",
    "CatalogFile",
    "CatalogItem",
    "CatalogPage",
    "ChangedItem",
    "KeptObject",
    "Refusal",
    "Registration",
    "RegisteredItem",
    "Replacement",
    "ReviewDecision",
    "ReviewState",
    "FacetCount",
    "SearchHit",
    "SearchQuery",
    "SearchResult",
    "SearchSort",
    "Viewer",
]


class ReviewState(StrEnum):
    """Where an item is on its way to readers (``delivery.review`` decides and changes it).

    ``processed`` is the state a registration passes through while the
    publish policy decides; only ``published`` items are ever shown to readers.
    """

    PROCESSED = "processed"
    IN_REVIEW = "in review"
    PUBLISHED = "published"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ReviewDecision:
    """A change of an item's review state: who, why, from which state to which (a PREMIS event).

    ``detail`` is what the catalog's events table keeps (JSON, after PREMIS).
    """

    to_state: ReviewState
    actor: str
    reason: str | None = None
    pages: tuple[int, ...] = ()
    note: str | None = None
    from_state: ReviewState = ReviewState.PROCESSED
    failed_pages: tuple[int, ...] = ()  # pages that failed processing: such an item cannot be approved

    @property
    def event_kind(self) -> str:
        """The catalog event's kind: held, approved, rejected or published."""
        if self.to_state is ReviewState.IN_REVIEW:
            return "held"
        if self.to_state is ReviewState.REJECTED:
            return "rejected"
        return "approved" if self.from_state is ReviewState.IN_REVIEW else "published"

    def detail(self) -> str:
        return json.dumps(
            {
                "eventType": "review",
                "outcome": self.event_kind,
                "agent": self.actor,
                "from": self.from_state.value,
                "to": self.to_state.value,
                "reason": self.reason,
                "pages": list(self.pages),
                "failed_pages": list(self.failed_pages),
                "note": self.note,
            },
            ensure_ascii=False,
        )


@dataclass(frozen=True)
class Viewer:
    """Who asks to read an item's files, page images and texts (the web works it out once per request).

    ``in_reading_room``: the client address is in ``web.reading_room_networks``
    (``elibrary.deps.get_viewer`` decides, trusting a forwarded address only
    from ``web.trusted_proxies``); ``is_staff``: a signed-in staff member.
    """

    ip: str | None = None
    is_staff: bool = False
    in_reading_room: bool = False


@dataclass(frozen=True)
class Refusal:
    """Why a viewer may not read an item's files: ``reason`` (a code the web words in each language) and its values.

    ``reason``: ``unpublished``, ``embargo`` (``until``), ``staff``, ``reading-room`` or ``unknown-access``
    (``access``); ``str()`` gives the English sentence the CLI and logs show.
    """

    reason: str
    identifier: str
    until: date | None = None
    access: str | None = None

    def __str__(self) -> str:
        item = f"item {self.identifier!r}"
        if self.reason == "unpublished":
            return f"{item} is not published"
        if self.reason == "embargo" and self.until is not None:
            return f"{item} is under embargo until {self.until.isoformat()}: only its description is shown until then"
        if self.reason == "staff":
            return f"{item} may be read by library staff only: sign in as staff"
        if self.reason == "reading-room":
            return f"{item} may be read in the library's reading room only (from its computers)"
        return f"{item} has an unknown access level {self.access!r}: refused to be safe"


@dataclass(frozen=True)
class CatalogItem:
    """An item as the catalog holds it: its descriptive record, where its files are, its status."""

    identifier: str
    title: str
    title_latin: str | None
    authors: tuple[str, ...]
    authors_latin: tuple[str, ...]
    year: int | None
    language: str | None
    script: str | None
    kind: str
    inventory_number: str | None
    collection: str | None
    page_count: int
    mean_ocr_confidence: float | None
    content_hash: str
    pdf_key: str | None
    manifest_key: str
    store: str
    batch: str | None
    status: str  # available | withdrawn
    registered_at: datetime
    updated_at: datetime
    # The item folder it was last registered from (absolute); None: not recorded
    # (registered before catalog revision 0003, or through the web API).
    source: str | None = None
    # Review (catalog revision 0004): only a published item is shown to readers.
    review_state: str = ReviewState.PUBLISHED.value
    review_reason: str | None = None
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    # Rights and access (catalog revision 0005; see ``scanners/rights.py``) and the library record.
    rights: str | None = None
    access: str = "public"  # public | reading-room | staff
    embargo_until: date | None = None
    publisher: str | None = None
    place: str | None = None
    edition: str | None = None
    series: str | None = None
    volume: str | None = None
    subjects: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    parallel_titles: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        """Not withdrawn (it may still be waiting for review: see ``public``)."""
        return self.status == "available"

    @property
    def public(self) -> bool:
        """May readers see it (search, item page, files, JSON API, OAI-PMH)? Published and not withdrawn.

        The one place that decides visibility by state; access and embargo
        narrow it further (``readable_by``).
        """
        return self.status == "available" and self.review_state == ReviewState.PUBLISHED

    def refusal(self, viewer: Viewer, today: date | None = None) -> str | None:
        """Why ``viewer`` may not read the files, page images and texts (in words); None when they may.

        The one rule every web route asks (through ``readable_by``): the item
        must be public (published, not withdrawn); staff read everything
        public; others only after the embargo (``today`` in UTC), and only a
        public item, or a reading-room item from the reading room.
        Metadata is not restricted: it is shown whatever this says.
        """
        reason = self.refusal_reason(viewer, today)
        return None if reason is None else str(reason)

    def refusal_reason(self, viewer: Viewer, today: date | None = None) -> Refusal | None:
        """``refusal`` as a record: the web words it in the reader's language."""
        if not self.public:
            return Refusal("unpublished", self.identifier)
        if viewer.is_staff:
            return None
        today = today or datetime.now(UTC).date()
        if self.embargo_until is not None and today < self.embargo_until:
            return Refusal("embargo", self.identifier, until=self.embargo_until)
        if self.access == "staff":
            return Refusal("staff", self.identifier)
        if self.access == "reading-room" and not viewer.in_reading_room:
            return Refusal("reading-room", self.identifier)
        if self.access not in ("public", "reading-room"):
            return Refusal("unknown-access", self.identifier, access=self.access)
        return None

    def readable_by(self, viewer: Viewer, today: date | None = None) -> bool:
        """May ``viewer`` read the item's files, page images and texts? (see ``refusal``)"""
        return self.refusal(viewer, today) is None

    def record(self) -> ItemRecord:
        """The item's descriptive record (for Dublin Core)."""
        return ItemRecord(
            identifier=self.identifier,
            title=self.title,
            title_latin=self.title_latin,
            authors=self.authors,
            authors_latin=self.authors_latin,
            year=self.year,
            language=self.language,
            script=self.script,
            kind=self.kind,
            inventory_number=self.inventory_number,
            collection=self.collection,
            page_count=self.page_count,
            mean_ocr_confidence=self.mean_ocr_confidence,
            content_hash=self.content_hash,
            rights=self.rights,
            access=self.access,
            embargo_until=self.embargo_until,
            publisher=self.publisher,
            place=self.place,
            edition=self.edition,
            series=self.series,
            volume=self.volume,
            subjects=self.subjects,
            notes=self.notes,
            parallel_titles=self.parallel_titles,
        )


@dataclass(frozen=True)
class ChangedItem:
    """An item in a harvest list, with its place in the list (change time, row id)."""

    item: CatalogItem
    position: tuple[datetime, int]


@dataclass(frozen=True)
class CatalogEvent:
    identifier: str
    kind: str
    at: datetime
    batch: str | None
    detail: str | None


class SearchSort(StrEnum):
    """How results are ordered: by relevance (the default for a query), title (Azerbaijani order) or year."""

    RELEVANCE = "relevance"
    TITLE = "title"
    YEAR = "year"
    YEAR_DESC = "year-desc"


@dataclass(frozen=True)
class SearchQuery:
    """What a reader asks for; every field is optional and they combine with AND.

    ``text`` matches title, authors, collection, identifiers and the full text;
    ``title`` and ``author`` match only those fields. Words match in either
    script and without diacritics (``seki`` finds ``şəki`` and ``шәки``), as
    prefixes from three letters on (``kitab`` finds ``kitablar``); see
    ``storage.search.query_terms``. The page text of an item matches only
    for a ``viewer`` who may read it (``CatalogItem.refusal``; None: an
    anonymous reader outside the reading room); its metadata matches for
    everyone. ``facets``: count the matches by decade, collection, kind,
    language and script.
    """

    text: str = ""
    title: str = ""
    author: str = ""
    year: int | None = None
    year_from: int | None = None
    year_to: int | None = None
    kind: str | None = None
    collection: str | None = None
    include_withdrawn: bool = False
    limit: int = 20
    offset: int = 0
    language: str | None = None
    script: str | None = None
    sort: SearchSort = SearchSort.RELEVANCE
    viewer: Viewer | None = None
    facets: bool = False


@dataclass(frozen=True)
class SearchHit:
    """Where a found item holds the query's words: its pages (best first) and a passage of the best one."""

    identifier: str
    pages: tuple[int, ...] = ()
    snippet: Snippet | None = None
    in_metadata: bool = False


@dataclass(frozen=True)
class FacetCount:
    """One value of a facet and how many found items have it (``value`` as the query's field takes it)."""

    value: str
    label: str
    count: int


@dataclass(frozen=True)
class SearchResult:
    """The items found (one page of them), ``total`` in all, and per item where the words are.

    ``hits`` has one entry per item, in the same order; ``facets`` maps
    ``decade``, ``collection``, ``kind``, ``language``, ``script`` to counts
    (empty unless the query asked for them); ``notice`` says why a query
    found nothing by its form (no letter or digit in it); ``suggestion`` is
    the query with a misspelt word replaced by the nearest word the index
    holds, when nothing was found. ``total_exact`` False: more items may
    match than a search reads (``Catalog.search``); ``total`` and the
    facets' counts are then those of the items read ("at least").
    """

    total: int
    items: list[CatalogItem]
    query: SearchQuery
    hits: list[SearchHit] = field(default_factory=list)
    facets: dict[str, list[FacetCount]] = field(default_factory=dict)
    notice: str | None = None
    suggestion: str | None = None
    total_exact: bool = True


@dataclass(frozen=True)
class CatalogFile:
    key: str
    role: str
    size: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class CatalogPage:
    """A page's texts, read from files only when registration writes them."""

    seq: int
    text_path: Path | None
    latin_path: Path | None
    mean_confidence: float | None
    skew_degrees: float | None
    # Texts given directly (the web API's registration) instead of by path.
    original_text: str | None = None
    latin_text: str | None = None


@dataclass(frozen=True)
class Registration:
    identifier: str
    record: ItemRecord  # the item record (archive.records)
    files: tuple[CatalogFile, ...]
    pages: tuple[CatalogPage, ...]
    manifest_key: str
    pdf_key: str | None
    store: str  # where the files are, e.g. "s3://bucket/prefix" (no secrets)
    batch: str | None = None
    source: str | None = None  # the item folder (absolute) the files come from
    replaces: Replacement | None = None  # masters of the registered version that this one replaces
    # The publish policy's decision (delivery.review): published, or held in
    # review with the reasons. None: published, no decision recorded (the web API).
    review: ReviewDecision | None = None


@dataclass(frozen=True)
class KeptObject:
    """A master of a replaced version, copied (and verified) to its version key."""

    key: str  # where it was
    kept_as: str  # where it is kept now
    size: int
    sha256: str


@dataclass(frozen=True)
class Replacement:
    """A registration that replaces the masters of the registered version (a PREMIS replacement event).

    ``reason`` is why it was allowed: ``replace_items`` (asked for) or a
    rescan in the same folder. ``kept`` are the old masters that changed or
    went away, kept under ``version_prefix``; the masters that did not change
    stay where they are. The registered version's descriptive side (title,
    batch, source) is read from the catalog when the event is recorded.
    """

    reason: str
    version_prefix: str
    old_content_hash: str
    kept: tuple[KeptObject, ...]

    def detail(self, old_title: str, old_batch: str | None, old_source: str | None, new: Registration) -> str:
        """The event's detail (JSON, after PREMIS): the old and the new content, and where the old is kept."""
        return json.dumps(
            {
                "eventType": "replacement",
                "reason": self.reason,
                "kept_under": self.version_prefix,
                "old": {
                    "content_hash": self.old_content_hash,
                    "title": old_title,
                    "batch": old_batch,
                    "source": old_source,
                    "masters": [{"key": k.key, "kept_as": k.kept_as, "sha256": k.sha256} for k in self.kept],
                },
                "new": {
                    "content_hash": new.record.content_hash,
                    "title": new.record.title,
                    "batch": new.batch,
                    "source": new.source,
                    "masters": [{"key": f.key, "sha256": f.sha256} for f in new.files if f.role == "master"],
                },
            },
            ensure_ascii=False,
        )


@dataclass(frozen=True)
class RegisteredItem:
    identifier: str
    created: bool  # False when an existing record was updated
    file_count: int
    page_count: int
