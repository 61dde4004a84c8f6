"""Typed records the catalog takes and gives: what crosses from storage to the web and OAI-PMH.

Frozen dataclasses, so the e-library, the harvesting interface and the
CLI read attributes (``item.status``), never string keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from digitize.archive.records import ItemRecord

__all__ = [
    "CatalogEvent",
    "CatalogFile",
    "CatalogItem",
    "CatalogPage",
    "ChangedItem",
    "KeptObject",
    "Registration",
    "RegisteredItem",
    "Replacement",
    "SearchQuery",
    "SearchResult",
]


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

    @property
    def available(self) -> bool:
        return self.status == "available"

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


@dataclass(frozen=True)
class SearchQuery:
    """What a reader asks for; every field is optional and they combine with AND.

    ``text`` matches title, authors, collection, identifiers and the full text;
    ``title`` and ``author`` match only those fields. Words match anywhere
    (substrings), in either script.
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


@dataclass(frozen=True)
class SearchResult:
    total: int
    items: list[CatalogItem]
    query: SearchQuery


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
