"""The archival half of an item's outputs, in one call from item assembly.

Order matters: ALTO per page first, then the MARC record, then METS (which
lists every file before it, with checksums), then the BagIt zip of all of
them (which therefore lists the METS, and carries it). The bag refers to
the item's other files where the store keeps them (``fetch.txt``, see
archive.bag) rather than holding a second copy of the masters.

Dates: nothing here reads the clock. The run's date (``run_day``) is
given by item assembly, which computes it once per item from the page
results (``assembly.item.run_day``), so assembling the same pages again
gives the same bytes, and so does a resumed run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from digitize.archive.alto import AltoSource, write_alto
from digitize.archive.bag import fetch_url, make_bag_zip
from digitize.archive.marc import marc_record, write_marc
from digitize.archive.mets import iso_day, write_mets
from digitize.archive.records import ItemRecord
from digitize.pipeline.model import OutputFile, PageResult
from digitize.scanners.batch import Item
from digitize.settings import Settings

__all__ = ["BAG_CARRIES", "write_archive", "ebook_urls", "item_prefix"]

log = logging.getLogger(__name__)

# The roles the bag carries inside its zip; it refers to every other file in the store. The
# METS, because the stored one gains review decisions after the run (delivery.review_mets)
# while the bag keeps the one it was sealed with.
BAG_CARRIES = frozenset({"mets"})


def item_prefix(identifier: str) -> str:
    """Where an item's files are kept in the store (the key layout: delivery/publish.py)."""
    return f"items/{identifier}/"


def ebook_urls(
    settings: Settings, item_id: str, files: Sequence[OutputFile]
) -> tuple[str | None, tuple[tuple[str, str, str], ...]]:
    """The item's page in the e-library and links to its e-book files (None/() without base_url)."""
    base = settings.web.base_url
    if not base:
        return None, ()
    base = base.rstrip("/")
    item_url = f"{base}/items/{quote(item_id)}"
    labels = {"pdf": "PDF", "pdfa": "PDF/A", "epub": "EPUB"}
    links = tuple(
        (f"{item_url}/files/{quote(f.key)}", f.content_type.split(";")[0], labels[f.role])
        for f in files
        if f.role in labels
    )
    return item_url, links


def write_archive(
    item: Item,
    pages: Sequence[PageResult],
    files: Sequence[OutputFile],
    record: ItemRecord,
    out: Path,
    settings: Settings,
    run_day: datetime,
) -> list[OutputFile]:
    """Write ALTO, MARC, METS and the bag for an assembled item; returns the new files.

    ``run_day``: the run's date, a day in UTC (see archive.mets.iso_day): dates in the package are days.
    """
    pages = sorted(pages, key=lambda p: p.seq)
    conf = settings.archive
    language = record.language or None
    new: list[OutputFile] = []

    for page in pages:
        if page.hocr is None:
            continue  # scores and art prints without OCR
        ocr = next((s for s in page.steps if s.name == "ocr"), None)
        engine, _, version = (ocr.settings.get("engine", "tesseract") if ocr else "tesseract").partition(" ")
        source = AltoSource(
            seq=page.seq,
            image_name=page.source.name,
            language=language,
            engine=engine,
            engine_version=version,
            model=str(ocr.settings.get("model", "")) if ocr else "",
            settings=f"page segmentation mode {ocr.settings.get('psm')}" if ocr and "psm" in ocr.settings else "",
            processing_date=iso_day(page.hocr.stat().st_mtime),
        )
        key = f"alto/{page.seq:04d}.xml"
        write_alto(page.hocr, out / key, source)
        new.append(OutputFile(out / key, key, "alto", "application/xml"))

    item_url, file_urls = ebook_urls(settings, item.item_id, files)
    if item_url is None:
        log.info("%s: settings.web.base_url is not set; the MARC record has no 856 link", item.item_id)
    marc = marc_record(
        record,
        len(pages),
        entered=run_day.strftime("%y%m%d"),
        organization=conf.organization,
        organization_code=conf.marc_organization_code,
        cataloging_language=conf.cataloging_language,
        item_url=item_url,
        file_urls=file_urls,
        reproduction_year=str(run_day.year),
    )
    mrc, marcxml = out / f"{item.item_id}.mrc", out / f"{item.item_id}.marc.xml"
    write_marc(marc, mrc, marcxml)
    new.append(OutputFile(mrc, mrc.name, "marc", "application/marc"))
    new.append(OutputFile(marcxml, marcxml.name, "marcxml", "application/marcxml+xml"))

    mets = out / f"{item.item_id}.mets.xml"
    write_mets(mets, item, pages, [*files, *new], record, conf.organization, run_day=run_day, url=item_url,
               cataloging_language=conf.cataloging_language)
    new.append(OutputFile(mets, mets.name, "mets", "application/xml"))

    if conf.bag:
        bag = out / f"{item.item_id}.bag.zip"
        info = {
            "Source-Organization": conf.organization,
            "External-Identifier": item.item_id,
            "External-Description": record.title,
            "Bagging-Date": run_day.strftime("%Y-%m-%d"),
        }
        if record.collection:
            info["Bag-Group-Identifier"] = record.collection
        if record.inventory_number:
            info["Internal-Sender-Identifier"] = record.inventory_number
        payload = [*files, *new]
        prefix = item_prefix(item.item_id)
        make_bag_zip(
            payload,
            bag,
            f"{item.item_id}.bag",
            info,
            run_day.timetuple()[:6],
            fetch_urls={
                f.key: fetch_url(settings.storage.url, prefix + f.key) for f in payload if f.role not in BAG_CARRIES
            },
        )
        new.append(OutputFile(bag, bag.name, "bag", "application/zip"))
    return new
