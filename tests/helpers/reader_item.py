"""A small book for the reader-output tests (PDF/A, EPUB, reflow), made once per test session.

Pages are typeset like a printed book: a running head at the top, the page
number at the foot, a word hyphenated at a line end, and a paragraph that
runs on to the next page; one page is blank (an empty OCR page). The title
has XML-special, right-to-left and combining characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from digitize.assembly.item import assemble_item, plan_pages
from digitize.pipeline.model import ItemOutputs, PageResult
from digitize.pipeline.page import process_page
from digitize.samples.render import find_font
from digitize.scanners.batch import Item, read_item
from digitize.settings import Settings

TITLE = 'Азәрбајҹан <тарихи> & "нефт" — עברית e\u0301'
HEADER = "АЗӘРБАЈҸАН ТАРИХИ"
FIRST_PRINTED = 27  # page numbers printed at the foot: 27, 28, (blank 29), 30

# Body text of the pages: one paragraph running across pages 1-2, with
# "нефтчилик" split as "нефт-" / "чилик" at a line end on page 1 and
# "китабхана" split as "китаб-" / "хана" across the page break.
PAGE_LINES = [
    [
        "Бакы Азәрбајҹанын пајтахты вә ән бөјүк",
        "шәһәридир. Шәһәр Хәзәр дәнизинин гәрб",
        "саһилиндә јерләшир. Бурада гәдим нефт-",
        "чилик мәркәзи вә бөјүк лиман вардыр. Бу",
        "ҝүн Бакы бөјүк сәнаје, елм вә мәдәнијјәт",
        "мәркәзидир вә шәһәрдә чохлу китаб-",
    ],
    [
        "хана вә музеј фәалијјәт ҝөстәрир. Онларын",
        "арасында Милли китабхана хүсуси јер тутур.",
        "    Хәзәр дүнјанын ән бөјүк гапалы су",
        "һөвзәсидир. Дәнизин саһилләриндә Бакы,",
        "Сумгајыт вә Ләнкәран шәһәрләри јерләшир.",
    ],
    [],  # a blank page
    [
        "Өлкәнин әразисинин тәхминән јарысыны",
        "дағлар тутур. Шималда Бөјүк Гафгаз сыра",
        "дағлары узаныр.",
    ],
]


@dataclass(frozen=True)
class ReaderItem:
    item: Item
    pages: list[PageResult]
    outputs: ItemOutputs
    settings: Settings


def _render(lines: list[str], number: int, dpi: int = 300) -> Image.Image:
    width, height = round(5.0 * dpi), round(7.0 * dpi)
    image = Image.new("L", (width, height), 250)
    draw = ImageDraw.Draw(image)
    if not lines:
        return image  # blank page: no head, no number, no text
    body = find_font(round(12 * dpi / 72))
    small = find_font(round(9 * dpi / 72))
    margin = round(0.6 * dpi)
    head_w = draw.textlength(HEADER, font=small)
    draw.text(((width - head_w) / 2, round(0.35 * dpi)), HEADER, font=small, fill=20)
    y = round(1.0 * dpi)
    for line in lines:
        indent = round(0.3 * dpi) if line.startswith("    ") else 0
        draw.text((margin + indent, y), line.strip(), font=body, fill=20)
        y += round(12 * 1.4 * dpi / 72)
    label = str(number)
    draw.text(((width - draw.textlength(label, font=small)) / 2, height - round(0.5 * dpi)), label, font=small, fill=20)
    return image


def make_reader_item(base: Path, text_layer: str = "original") -> ReaderItem:
    folder = base / "batch" / "book-rdr"
    if not folder.exists():
        folder.mkdir(parents=True)
        toml = TITLE.replace("\\", "\\\\").replace('"', '\\"')
        (folder / "item.toml").write_text(
            f'title = "{toml}"\nauthors = ["Һ. Әлизадә"]\nyear = 1968\nlanguage = "az"\nscript = "Cyrl"\n',
            encoding="utf-8",
        )
        for index, lines in enumerate(PAGE_LINES):
            _render(lines, FIRST_PRINTED + index).save(folder / f"page-{index + 1}.png", dpi=(300, 300))
    settings = Settings(work_dir=base / f"work-{text_layer}", output_dir=base / f"out-{text_layer}")
    settings = settings.model_copy(update={"pdf": settings.pdf.model_copy(update={"text_layer": text_layer})})
    item = read_item(folder)
    pages = [process_page(job, settings) for job in plan_pages(item, settings)]
    return ReaderItem(item, pages, assemble_item(item, pages, settings), settings)
