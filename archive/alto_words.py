"""Reading the words and their boxes back out of an ALTO file.

The writer (``archive.alto``) keeps Tesseract's words with their pixel
boxes; search inside a book needs exactly those boxes to highlight a hit
on the page image. Boxes stay in the ALTO file's own unit: the page's
``WIDTH``/``HEIGHT`` are in the same unit, so a caller scales a box to
any image of the page by the ratio of sizes, whatever the unit is
(``pixel`` in our files, ``mm10`` or ``inch1200`` in others').

A word hyphenated at a line end is read as one word over two boxes: by
ALTO's ``SUBS_CONTENT`` where the file gives it, else from a part ending
in a hyphen as the last word of its line (how our files keep it, since
Tesseract does not mark hyphenation), so ``нефт-`` / ``чилик`` is found
as ``нефтчилик``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from digitize.errors import StorageError

__all__ = ["AltoBox", "AltoPage", "AltoWord", "read_alto_words"]

_HYPHENS = ("-", "\u00ad", "\u2010", "\u00ac", "\u2e17")  # hyphen-minus, soft hyphen, hyphen, not sign, double oblique


@dataclass(frozen=True)
class AltoBox:
    """One box on the page, in the ALTO file's unit (x, y: top left corner)."""

    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class AltoWord:
    """A word as printed (``text``: the parts joined, without the line-end hyphen) and the boxes it covers."""

    text: str
    boxes: tuple[AltoBox, ...]
    line: int  # number of the line it starts on, from 0 in reading order


@dataclass(frozen=True)
class AltoPage:
    """The words of one page in reading order, and the page's size in the same unit as the boxes."""

    width: float
    height: float
    words: tuple[AltoWord, ...]


@dataclass(frozen=True)
class _Part:
    text: str
    box: AltoBox
    subs_type: str | None
    subs_content: str | None


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _number(element: etree._Element, name: str) -> float:
    try:
        return float(element.get(name) or 0)
    except ValueError:
        return 0.0


def _box(element: etree._Element) -> AltoBox:
    return AltoBox(
        _number(element, "HPOS"), _number(element, "VPOS"), _number(element, "WIDTH"), _number(element, "HEIGHT")
    )


def read_alto_words(data: bytes, *, name: str = "ALTO file") -> AltoPage:
    """The words of an ALTO page (any ALTO version: elements are matched by local name).

    Raises ``StorageError`` naming ``name`` when the bytes are not XML or
    hold no ALTO page.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise StorageError(f"{name} is not well-formed XML ({exc}); run digitize audit on the item") from exc
    page = next((el for el in root.iter() if _local(el.tag) == "Page"), None)
    if page is None:
        raise StorageError(f"{name} has no ALTO Page element; run digitize audit on the item")
    lines: list[list[_Part]] = []
    for line in page.iter():
        if _local(line.tag) != "TextLine":
            continue
        parts = [
            _Part(el.get("CONTENT") or "", _box(el), el.get("SUBS_TYPE"), el.get("SUBS_CONTENT"))
            for el in line
            if _local(el.tag) == "String" and (el.get("CONTENT") or "").strip()
        ]
        if parts:
            lines.append(parts)
    return AltoPage(_number(page, "WIDTH"), _number(page, "HEIGHT"), tuple(_join_hyphenated(lines)))


def _join_hyphenated(lines: list[list[_Part]]) -> list[AltoWord]:
    words: list[AltoWord] = []
    skip_first = False
    for number, parts in enumerate(lines):
        for index, part in enumerate(parts):
            if index == 0 and skip_first:
                skip_first = False
                continue
            last = index == len(parts) - 1
            following = lines[number + 1][0] if last and number + 1 < len(lines) else None
            if following is not None and part.subs_type == "HypPart1" and part.subs_content:
                words.append(AltoWord(part.subs_content, (part.box, following.box), number))
                skip_first = True
            elif following is not None and part.text.endswith(_HYPHENS) and len(part.text) > 1:
                words.append(AltoWord(part.text[:-1] + following.text, (part.box, following.box), number))
                skip_first = True
            else:
                words.append(AltoWord(part.text, (part.box,), number))
    return words
