"""A registered book whose pages carry real ALTO word boxes, for search inside and the viewer.

Each page is an image with its words drawn where its ALTO file says they
are (ALTO written by the project's own writer, ``archive.alto``), put into
the item's PDF, so a highlight drawn from a hit's box sits on the printed
word in the browser. Pages are ``PAGE_SIZE`` pixels (twice the PDF's
points: 144 dpi), the page image ``/items/<id>/pages/<n>.png`` 900 px wide.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import img2pdf
from PIL import Image, ImageDraw

from digitize.archive.alto import AltoSource, write_alto
from digitize.pipeline.hocr import OcrLine, OcrPage, OcrWord
from digitize.samples.render import find_font
from digitize.storage.catalog import Catalog, CatalogFile, Registration
from digitize.storage.objects import ObjectStore

from helpers.catalog_data import make_registration

PAGE_SIZE = (840, 1190)
MARGIN, TOP, LINE_HEIGHT, FONT_PX = 70, 120, 54, 30


def layout_page(lines: list[str]) -> tuple[Image.Image, OcrPage]:
    """The page image with ``lines`` drawn, and the same words with their boxes as OCR would give them."""
    image = Image.new("L", PAGE_SIZE, 250)
    draw = ImageDraw.Draw(image)
    font = find_font(FONT_PX)
    ocr_lines = []
    for number, line in enumerate(lines):
        y = TOP + number * LINE_HEIGHT
        x = float(MARGIN)
        words = []
        for text in line.split():
            left, top, right, bottom = draw.textbbox((x, y), text, font=font)
            draw.text((x, y), text, font=font, fill=20)
            words.append(OcrWord(text, (int(left), int(top), int(right) + 1, int(bottom) + 1), 91.0))
            x = right + font.getlength(" ")
        if words:
            box = (words[0].bbox[0], min(w.bbox[1] for w in words), words[-1].bbox[2], max(w.bbox[3] for w in words))
            ocr_lines.append(OcrLine(box, tuple(words), paragraph=0))
    return image, OcrPage(PAGE_SIZE[0], PAGE_SIZE[1], tuple(ocr_lines))


def register_alto_item(
    folder: Path,
    catalog: Catalog,
    store: ObjectStore,
    identifier: str,
    title: str,
    pages: list[list[str]],
    **record_changes: object,
) -> Registration:
    """Register (published) a book of ``pages`` (each a list of printed lines) with its PDF and ALTO stored."""
    texts = ["\n".join(lines) for lines in pages]
    registration = make_registration(folder, identifier, title, ["Һ. Әлизадә"], 1968, pages=texts, store=store)
    work = folder / f"alto-{identifier}"
    work.mkdir(parents=True, exist_ok=True)
    prefix = f"items/{identifier}/"
    images: list[bytes] = []
    files: list[CatalogFile] = []
    for seq, lines in enumerate(pages, start=1):
        image, ocr = layout_page(lines)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", dpi=(144, 144))
        images.append(buffer.getvalue())
        alto = work / f"{seq:04d}.xml"
        write_alto(ocr, alto, AltoSource(seq=seq, image_name=f"page-{seq}.png", language="az"))
        stored = store.put_file(f"{prefix}alto/{seq:04d}.xml", alto, content_type="application/xml")
        files.append(CatalogFile(stored.key, "alto", stored.size, stored.sha256, "application/xml"))
    # The processing report gives each page's size as OCR saw it: the manifest's canvas sizes (archive.iiif).
    report = work / "report.json"
    report.write_text(json.dumps({"pages": [
        {"seq": seq, "width": PAGE_SIZE[0], "height": PAGE_SIZE[1]} for seq in range(1, len(pages) + 1)
    ]}), encoding="utf-8")
    stored = store.put_file(f"{prefix}report.json", report, content_type="application/json")
    files.append(CatalogFile(stored.key, "report", stored.size, stored.sha256, "application/json"))
    pdf = work / f"{identifier}.pdf"
    pdf.write_bytes(img2pdf.convert(images))
    stored_pdf = store.put_file(f"{prefix}{identifier}.pdf", pdf, content_type="application/pdf")
    for entry in registration.files:
        if entry.role == "pdf":
            files.append(CatalogFile(stored_pdf.key, "pdf", stored_pdf.size, stored_pdf.sha256, "application/pdf"))
        else:
            files.append(entry)
    registration = replace(registration, files=tuple(files))
    if record_changes:
        registration = replace(registration, record=replace(registration.record, **record_changes))
    catalog.register(registration)
    return registration
