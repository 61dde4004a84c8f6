"""Catalog registrations for tests, without running the pipeline.

``make_registration`` builds what ``delivery.publish`` would register; given
a store it also stores a small generated PDF and the page texts, so the web
service has real files to show and stream.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from digitize.archive.records import ItemRecord
from digitize.storage.catalog import CatalogFile, CatalogPage, Registration
from digitize.storage.objects import ObjectStore
from digitize.transliteration import transliterate_text

POSTGRES_ENV = "DIGITIZE_TEST_POSTGRES_URL"


def postgres_catalog_url(fresh: bool = False) -> str | None:
    """The PostgreSQL test database (None: not configured); ``fresh`` empties it first."""
    url = os.environ.get(POSTGRES_ENV)
    if url and fresh:
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    return url


def small_pdf(texts: list[str]) -> bytes:
    """A PDF with one page per text (at least one), each page framed and numbered (for thumbnails)."""
    import img2pdf
    from PIL import Image, ImageDraw

    images = []
    for number in range(1, max(len(texts), 1) + 1):
        image = Image.new("L", (420, 595), 255)
        draw = ImageDraw.Draw(image)
        draw.rectangle((20, 20, 400, 575), outline=0, width=3)
        draw.text((40, 40), f"page {number}", fill=0)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", dpi=(72, 72))
        images.append(buffer.getvalue())
    return img2pdf.convert(images)


def make_registration(
    folder: Path,
    identifier: str,
    title: str,
    authors: list[str],
    year: int | None,
    *,
    pages: list[str] | None = None,
    script: str = "Cyrl",
    kind: str = "text",
    collection: str | None = "Test collection",
    store: ObjectStore | None = None,
) -> Registration:
    pages = list(pages or [])
    record = ItemRecord(
        identifier=identifier,
        title=title,
        title_latin=transliterate_text(title),
        authors=tuple(authors),
        authors_latin=tuple(transliterate_text(a) for a in authors),
        year=year,
        language="az",
        script=script,
        kind=kind,
        inventory_number=f"INV-{identifier}",
        collection=collection,
        page_count=len(pages),
        content_hash=str(abs(hash((title, tuple(pages))))),
    )
    prefix = f"items/{identifier}/"
    files: list[CatalogFile] = []
    if store is not None:
        work = folder / f"files-{identifier}"
        work.mkdir(parents=True, exist_ok=True)
        outputs = [(f"{identifier}.pdf", "pdf", "application/pdf", small_pdf(pages))]
        outputs.append(
            (f"{identifier}.latin.txt", "text-latin", "text/plain; charset=utf-8",
             "\f".join(transliterate_text(p) for p in pages).encode())
        )
        for name, role, ctype, data in outputs:
            path = work / name
            path.write_bytes(data)
            obj = store.put_file(prefix + name, path, content_type=ctype)
            files.append(CatalogFile(obj.key, role, obj.size, obj.sha256, ctype))
    else:
        files.append(CatalogFile(prefix + f"{identifier}.pdf", "pdf", 1, "0" * 64, "application/pdf"))
    files.append(CatalogFile(prefix + "manifest.json", "manifest", 1, "1" * 64, "application/json"))
    return Registration(
        identifier=identifier,
        record=record,
        files=tuple(files),
        pages=tuple(
            CatalogPage(seq, None, None, 90.0, 0.5, original_text=p, latin_text=transliterate_text(p))
            for seq, p in enumerate(pages, start=1)
        ),
        manifest_key=prefix + "manifest.json",
        pdf_key=prefix + f"{identifier}.pdf",
        store=store.describe() if store is not None else "file://test",
    )
