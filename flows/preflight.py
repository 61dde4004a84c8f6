"""Checks before work: an identifier taken by another item, a disk too full to assemble."""

from __future__ import annotations

import shutil
from pathlib import Path

from digitize.delivery.publish import identity_conflict
from digitize.pipeline.model import PageResult
from digitize.scanners.batch import Item
from digitize.settings import Settings
from digitize.storage.catalog import Catalog

__all__ = ["disk_shortage", "identifier_conflict"]


def identifier_conflict(catalog: Catalog, item: Item, batch: str, settings: Settings) -> str | None:
    """Another item under a registered identifier: refuse it before any page work, unless told to replace.

    Content decides, not the batch name (``batch`` is not compared: two
    batch folders called ``scans`` are common); the rule is
    ``delivery.publish.identity_conflict``.
    """
    return identity_conflict(catalog, item, replace_items=settings.runs.replace_items)


def disk_shortage(item: Item, pages: list[PageResult], settings: Settings) -> str | None:
    """Refuse to assemble onto a disk that cannot hold the item.

    qpdf (inside pikepdf) aborts the whole process when a write fails with
    "No space left on device" instead of raising; checked here, a full disk
    fails the item with a clear reason and the batch goes on.
    """

    def size(path: Path | None) -> int:
        try:
            return path.stat().st_size if path else 0
        except OSError:
            return 0

    # the joined PDF is written twice (joined, then final) plus texts and hOCR copies
    need = sum(3 * size(p.pdf) + 3 * size(p.text) + size(p.hocr) for p in pages) + 1_000_000
    folder = Path(settings.output_dir)
    probe = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return None
    if free >= need:
        return None
    return (
        f"{folder}: not enough free disk space to assemble {item.item_id} (needs about {need / 1e6:.1f} MB, "
        f"{free / 1e6:.1f} MB free; No space left on device); free some space, then run or re-queue the batch "
        "again: finished pages are kept"
    )
