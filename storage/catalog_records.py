"""Typed records the catalog takes and gives: what crosses from storage to the web and OAI-PMH.

Frozen dataclasses, so the e-library, the harvesting interface and the
CLI read attributes (``item.status``), never string keys.
"""

from __future__ import annotations

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
    "Registration",
    "RegisteredItem",
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


@dataclass(frozen=True)
class RegisteredItem:
    identifier: str
    created: bool  # False when an existing record was updated
    file_count: int
    page_count: int
