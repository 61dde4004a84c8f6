"""How catalog rows are shown to readers and API clients (plain data, no HTTP)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from digitize.storage.catalog import CatalogFile, CatalogItem

__all__ = ["ARCHIVAL_GROUPS", "READING_ROLES", "api_item_view", "archival_groups", "download_entry"]

# What a reader opens: the PDF (read in the browser) and the EPUB (for e-readers).
READING_ROLES = ("pdf", "epub")
# Everything else the item keeps, grouped for the "Archival files" heading, in this order.
# The group names are msgids the item page translates.
ARCHIVAL_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("records", ("mets", "marc", "marcxml", "dublin-core", "record")),
    ("texts", ("text-original", "text-latin", "alto", "hocr", "text-original-page", "text-latin-page")),
    ("images", ("access-copy", "thumbnail", "master")),
    ("package", ("bag", "report")),
)


def download_entry(identifier: str, f: CatalogFile) -> dict[str, Any]:
    """A stored file as the item page and the API list it, with its download path."""
    name = f.key.removeprefix(f"items/{identifier}/")
    return {
        "name": name,
        "role": f.role,
        "size": f.size,
        "sha256": f.sha256,
        "content_type": f.content_type,
        "path": f"/items/{quote(identifier)}/files/{quote(name)}",
    }


def archival_groups(downloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The item's files other than the PDF and EPUB, in named groups (files of unknown roles go last, as "other")."""
    grouped: dict[str, list[dict[str, Any]]] = {name: [] for name, _roles in ARCHIVAL_GROUPS}
    grouped["other"] = []
    for entry in downloads:
        role = str(entry["role"])
        if role in READING_ROLES:
            continue
        group = next((name for name, roles in ARCHIVAL_GROUPS if role in roles), None)
        if group is None:
            group = "texts" if role.startswith("text-") else "other"
        grouped[group].append(entry)
    return [
        {"name": name, "files": entries, "size": sum(int(f["size"]) for f in entries)}
        for name, entries in grouped.items()
        if entries
    ]


def api_item_view(item: CatalogItem, root: str) -> dict[str, Any]:
    """The public fields of a catalog item, with its page and API addresses under ``root``."""
    return {
        "identifier": item.identifier,
        "title": item.title,
        "title_latin": item.title_latin,
        "authors": list(item.authors),
        "authors_latin": list(item.authors_latin),
        "year": item.year,
        "language": item.language,
        "script": item.script,
        "kind": item.kind,
        "inventory_number": item.inventory_number,
        "collection": item.collection,
        "page_count": item.page_count,
        "status": item.status,
        "registered_at": item.registered_at.isoformat(),
        "updated_at": item.updated_at.isoformat(),
        "url": f"{root}/items/{quote(item.identifier)}",
        "api_url": f"{root}/api/items/{quote(item.identifier)}",
    }
