"""How catalog rows are shown to readers and API clients (plain data, no HTTP)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from digitize.storage.catalog import CatalogFile, CatalogItem

__all__ = ["api_item_view", "download_entry"]


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
