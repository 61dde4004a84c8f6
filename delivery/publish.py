"""Publishing an item: store every file, verify it, then register it once.

Key layout in the store (under the store's prefix)::

    items/<identifier>/<identifier>.pdf           searchable PDF
    items/<identifier>/masters/<scan file>        the scans exactly as received
    items/<identifier>/text/original/0001.txt     page text, printed script
    items/<identifier>/text/latin/0001.txt        page text, Latin script
    items/<identifier>/<identifier>.original.txt  whole text, pages split by form feed
    items/<identifier>/<identifier>.latin.txt
    items/<identifier>/ocr/0001.hocr              OCR with word boxes
    items/<identifier>/record.json, dc.xml        descriptive metadata
    items/<identifier>/report.json                per-page processing report
    items/<identifier>/manifest.json              every file above: size, SHA-256 (stored last)

The catalog is written only after every object is stored and verified;
if anything fails, nothing is registered, and a re-run uploads only what is
missing or changed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from digitize.archive.records import ItemRecord
from digitize.files import atomic_write_text
from digitize.pipeline.model import ItemOutputs, PageResult
from digitize.scanners.batch import Item
from digitize.storage.catalog import Catalog, CatalogFile, CatalogPage, RegisteredItem, Registration
from digitize.storage.objects import ObjectStore, StoredObject

__all__ = ["PublishedItem", "publish_item", "item_prefix"]

log = logging.getLogger(__name__)


def item_prefix(identifier: str) -> str:
    return f"items/{identifier}/"


@dataclass(frozen=True)
class PublishedItem:
    identifier: str
    objects: int
    uploaded: int  # objects actually sent (0 on an unchanged re-run)
    bytes_uploaded: int
    registered: RegisteredItem
    manifest_url: str
    pdf_url: str | None


def publish_item(
    item: Item,
    outputs: ItemOutputs,
    pages: Sequence[PageResult],
    store: ObjectStore,
    catalog: Catalog,
    batch: str | None = None,
) -> PublishedItem:
    """Store and verify all files of an item, then register it in the catalog."""
    prefix = item_prefix(item.item_id)
    stored: list[tuple[str, str, StoredObject]] = []
    for output in outputs.files:
        # Masters carry the checksum taken at intake and checked at assembly
        # (OutputFile.sha256): the store checks the bytes it receives against
        # it (fixity from scanner to archive).
        known = output.sha256 if output.role == "master" else None
        obj = store.put_file(prefix + output.key, output.path, sha256=known, content_type=output.content_type)
        stored.append((output.role, output.content_type, obj))

    manifest = {
        "identifier": item.item_id,
        "content_hash": item.content_hash,
        "files": [
            {"key": obj.key, "role": role, "size": obj.size, "sha256": obj.sha256} for role, _, obj in stored
        ],
    }
    manifest_path = outputs.folder / "manifest.json"
    atomic_write_text(manifest_path, json.dumps(manifest, ensure_ascii=False, indent=1))
    manifest_obj = store.put_file(prefix + "manifest.json", manifest_path, content_type="application/json")
    stored.append(("manifest", "application/json", manifest_obj))

    # Every object is now in the store as we sent it: put_file verified each
    # one (upload checked, or an identical object found), so the item may
    # become visible to readers.
    record_path = outputs.folder / "record.json"
    record = ItemRecord.from_mapping(json.loads(record_path.read_text(encoding="utf-8")))
    pdf_key = prefix + outputs.pdf.name if outputs.pdf else None
    registration = Registration(
        identifier=item.item_id,
        record=record,
        files=tuple(CatalogFile(obj.key, role, obj.size, obj.sha256, ctype) for role, ctype, obj in stored),
        pages=tuple(
            CatalogPage(p.seq, p.text, p.text_latin, p.mean_confidence, p.skew_degrees)
            for p in sorted(pages, key=lambda p: p.seq)
        ),
        manifest_key=manifest_obj.key,
        pdf_key=pdf_key,
        store=store.describe(),
        batch=batch,
    )
    registered = catalog.register(registration)
    uploaded = [obj for _, _, obj in stored if obj.uploaded]
    return PublishedItem(
        identifier=item.item_id,
        objects=len(stored),
        uploaded=len(uploaded),
        bytes_uploaded=sum(obj.size for obj in uploaded),
        registered=registered,
        manifest_url=store.url_for(manifest_obj.key),
        pdf_url=store.url_for(pdf_key) if pdf_key else None,
    )
