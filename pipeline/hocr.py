"""Reading Tesseract's hOCR into plain words, lines and paragraphs.

hOCR keeps each word's box and confidence; everything downstream (the PDF
text layer, plain text, the Latin transliteration, later ALTO and EPUB) is
built from these objects so that all of them agree word for word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from digitize.errors import OutputError

__all__ = ["BBox", "OcrWord", "OcrLine", "OcrPage", "parse_hocr", "page_text", "word_confidence"]

BBox = tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels, y down

_LINE_CLASSES = {"ocr_line", "ocr_textfloat", "ocr_header", "ocr_caption"}
_PROPERTY = re.compile(r"\s*([a-z_]+)\s+([^;]*)")


@dataclass(frozen=True)
class OcrWord:
    text: str
    bbox: BBox
    confidence: float | None


@dataclass(frozen=True)
class OcrLine:
    bbox: BBox
    words: tuple[OcrWord, ...]
    baseline: tuple[float, float] = (0.0, 0.0)  # slope, offset from bbox bottom
    x_size: float | None = None  # line height in pixels, per Tesseract
    paragraph: int = 0


@dataclass(frozen=True)
class OcrPage:
    width: int
    height: int
    lines: tuple[OcrLine, ...]

    @property
    def words(self) -> list[OcrWord]:
        return [word for line in self.lines for word in line.words]


def _properties(title: str | None) -> dict[str, str]:
    return {m.group(1): m.group(2).strip() for m in _PROPERTY.finditer(title or "")}


def word_confidence(title: str | None) -> float | None:
    """Tesseract's confidence (``x_wconf``) from an ``ocrx_word``'s title, None if absent."""
    return _wconf(_properties(title))


def _wconf(props: dict[str, str]) -> float | None:
    return float(props["x_wconf"]) if "x_wconf" in props else None


def _bbox(props: dict[str, str]) -> BBox:
    x0, y0, x1, y1 = (int(v) for v in props["bbox"].split())
    return (x0, y0, x1, y1)


def _local(tag: object) -> str:
    return tag.split("}")[-1] if isinstance(tag, str) else ""


def parse_hocr(source: Path | str | bytes) -> OcrPage:
    """Parse one hOCR page (a file path or the document text)."""
    try:
        if isinstance(source, Path):
            root = etree.parse(str(source), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
        else:
            data = source.encode() if isinstance(source, str) else source
            root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise OutputError(f"{source if isinstance(source, Path) else 'hOCR'}: not well-formed hOCR ({exc})") from exc

    page_el = next((el for el in root.iter() if el.get("class") == "ocr_page"), None)
    if page_el is None:
        return OcrPage(0, 0, ())
    page_box = _bbox(_properties(page_el.get("title")))
    lines: list[OcrLine] = []
    paragraph = -1
    for el in page_el.iter():
        cls = el.get("class")
        if cls == "ocr_par":
            paragraph += 1
        if cls not in _LINE_CLASSES:
            continue
        props = _properties(el.get("title"))
        words = []
        for word_el in el.iter():
            if word_el.get("class") != "ocrx_word":
                continue
            text = "".join(word_el.itertext()).strip()
            if not text:
                continue
            wprops = _properties(word_el.get("title"))
            conf = _wconf(wprops)
            words.append(OcrWord(text, _bbox(wprops), conf))
        if not words:
            continue
        baseline = (0.0, 0.0)
        if "baseline" in props:
            slope, offset = (float(v) for v in props["baseline"].split()[:2])
            baseline = (slope, offset)
        x_size = float(props["x_size"]) if "x_size" in props else None
        lines.append(OcrLine(_bbox(props), tuple(words), baseline, x_size, max(paragraph, 0)))
    return OcrPage(page_box[2] - page_box[0], page_box[3] - page_box[1], tuple(lines))


def page_text(page: OcrPage, words: list[str] | None = None) -> str:
    """Plain text of a page: words by spaces, lines by newlines, paragraphs by a blank line.

    ``words`` replaces the recognised words one for one (used for the Latin
    transliteration, so both texts have the same shape).
    """
    replacement = iter(words) if words is not None else None
    out: list[str] = []
    previous_paragraph = None
    for line in page.lines:
        if previous_paragraph is not None and line.paragraph != previous_paragraph:
            out.append("")
        previous_paragraph = line.paragraph
        texts = [next(replacement) if replacement else w.text for w in line.words]
        out.append(" ".join(texts))
    return "\n".join(out) + ("\n" if out else "")
