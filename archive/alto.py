"""ALTO 4 per page, from the page's hOCR.

Blocks are hOCR paragraphs, lines are hOCR lines, strings are hOCR words
with their boxes and confidences (WC = Tesseract's x_wconf / 100). The
coordinates are pixels of the image Tesseract read (the deskewed page), as
``MeasurementUnit`` pixel says. A page with no recognised word is still a
valid ALTO file: a page with an empty print space.

Written with lxml's incremental writer, one element at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from lxml import etree

from digitize.files import atomic_path
from digitize.pipeline.hocr import OcrLine, OcrPage, parse_hocr

__all__ = ["ALTO_NS", "AltoSource", "write_alto"]

ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_SCHEMA_LOCATION = f"{ALTO_NS} http://www.loc.gov/standards/alto/v4/alto-4-2.xsd"


@dataclass(frozen=True)
class AltoSource:
    """What the ALTO file says about where its text came from."""

    seq: int
    image_name: str  # the master file the page was scanned into
    language: str | None = None  # BCP 47 / ISO 639 code for LANG
    engine: str = "tesseract"
    engine_version: str = ""
    model: str = ""
    settings: str = ""  # e.g. "psm 3"
    processing_date: str | None = None  # ISO date/dateTime of the OCR


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _box(bbox: tuple[int, int, int, int]) -> dict[str, str]:
    x0, y0, x1, y1 = bbox
    return {"HPOS": _num(x0), "VPOS": _num(y0), "WIDTH": _num(max(0, x1 - x0)), "HEIGHT": _num(max(0, y1 - y0))}


def _baseline(line: OcrLine) -> str | None:
    slope, offset = line.baseline
    x0, _, x1, y1 = line.bbox
    if (slope, offset) == (0.0, 0.0):
        return None
    # hOCR: y = y1 + offset + slope * (x - x0), in the line's own frame.
    return f"{_num(x0)},{_num(y1 + offset)} {_num(x1)},{_num(y1 + offset + slope * (x1 - x0))}"


def _union(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def write_alto(hocr: Path | OcrPage, dest: Path, source: AltoSource) -> int:
    """Write one page's ALTO file; returns the number of words (String elements)."""
    page = hocr if isinstance(hocr, OcrPage) else parse_hocr(hocr)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        words = _write(page, tmp, source)
    return words


def _write(page: OcrPage, tmp: Path, source: AltoSource) -> int:
    words = 0
    nsmap = {None: ALTO_NS, "xsi": _XSI}
    with etree.xmlfile(str(tmp), encoding="UTF-8") as xf:
        xf.write_declaration()
        root = {f"{{{_XSI}}}schemaLocation": _SCHEMA_LOCATION, "SCHEMAVERSION": "4.2"}
        with xf.element(f"{{{ALTO_NS}}}alto", root, nsmap=nsmap):
            xf.write(_description(source), pretty_print=True)
            page_attrs = {"ID": f"P{source.seq}", "PHYSICAL_IMG_NR": str(source.seq),
                          "WIDTH": str(page.width), "HEIGHT": str(page.height), "PROCESSINGREFS": "OCR"}
            confidences = [w.confidence for w in page.words if w.confidence is not None]
            if confidences:
                page_attrs["PC"] = _num(sum(confidences) / len(confidences) / 100)
            with xf.element(f"{{{ALTO_NS}}}Layout"):
                with xf.element(f"{{{ALTO_NS}}}Page", page_attrs):
                    space = {"ID": f"P{source.seq}_PS", "HPOS": "0", "VPOS": "0",
                             "WIDTH": str(page.width), "HEIGHT": str(page.height)}
                    with xf.element(f"{{{ALTO_NS}}}PrintSpace", space):
                        line_no = 0
                        for block_no, (_, group) in enumerate(groupby(page.lines, key=lambda line: line.paragraph), 1):
                            lines = list(group)
                            block_attrs = {"ID": f"P{source.seq}_B{block_no}",
                                           **_box(_union([line.bbox for line in lines]))}
                            block = etree.Element(f"{{{ALTO_NS}}}TextBlock", block_attrs, nsmap={None: ALTO_NS})
                            if source.language:
                                block.set("LANG", source.language)
                            for line in lines:
                                line_no += 1
                                words += _add_line(block, line, f"P{source.seq}_L{line_no}")
                            xf.write(block, pretty_print=True)
    return words


def _description(source: AltoSource) -> etree._Element:
    desc = etree.Element(f"{{{ALTO_NS}}}Description", nsmap={None: ALTO_NS})
    _sub("MeasurementUnit", desc, "pixel")
    info = _sub("sourceImageInformation", desc)
    _sub("fileName", info, source.image_name)
    proc = etree.SubElement(desc, f"{{{ALTO_NS}}}Processing", ID="OCR")
    _sub("processingCategory", proc, "contentGeneration")
    if source.processing_date:
        _sub("processingDateTime", proc, source.processing_date)
    _sub("processingStepDescription", proc, "optical character recognition (LSTM) of the deskewed page")
    settings = "; ".join(s for s in (f"model {source.model}" if source.model else "", source.settings) if s)
    if settings:
        _sub("processingStepSettings", proc, settings)
    software = _sub("processingSoftware", proc)
    _sub("softwareName", software, source.engine)
    if source.engine_version:
        _sub("softwareVersion", software, source.engine_version)
    return desc


def _sub(tag: str, parent: etree._Element, text: str | None = None) -> etree._Element:
    el: etree._Element = etree.SubElement(parent, f"{{{ALTO_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def _add_line(block: etree._Element, line: OcrLine, line_id: str) -> int:
    attrs = {"ID": line_id, **_box(line.bbox)}
    baseline = _baseline(line)
    if baseline:
        attrs["BASELINE"] = baseline
    el = etree.SubElement(block, f"{{{ALTO_NS}}}TextLine", attrs)
    for index, word in enumerate(line.words):
        if index:
            previous = line.words[index - 1].bbox
            gap = {"HPOS": _num(previous[2]), "VPOS": _num(min(previous[1], word.bbox[1])),
                   "WIDTH": _num(max(0, word.bbox[0] - previous[2]))}
            etree.SubElement(el, f"{{{ALTO_NS}}}SP", gap)
        string = {"ID": f"{line_id}_W{index + 1}", **_box(word.bbox), "CONTENT": word.text}
        if word.confidence is not None:
            string["WC"] = _num(min(100.0, max(0.0, word.confidence)) / 100)
        etree.SubElement(el, f"{{{ALTO_NS}}}String", string)
    return len(line.words)
