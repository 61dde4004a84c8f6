"""The invisible text layer of a searchable PDF page.

Words are drawn in text render mode 3 (invisible) with a glyphless font,
each word placed on its line's baseline at its recognised position and
stretched horizontally (``Tz``) to the width of its box, so that selecting
text in a viewer highlights the printed word. The font is Tesseract's own
glyphless font (``pdf.ttf`` in tessdata): character codes are Unicode
(UTF-16BE, Identity-H) and ``/ToUnicode`` maps them back, so any script,
Cyrillic or Latin, extracts correctly. This is the same construction as
Tesseract's PDF renderer, written here because we need our own words
(for example the Latin transliteration) at Tesseract's positions.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import cast

import pikepdf

from digitize.errors import MissingDependencyError
from digitize.pipeline.hocr import OcrPage

__all__ = ["FONT_NAME", "add_text_layer", "layers_for", "text_layer_content"]

FONT_NAME = "/GlyphLessFont"
_CHAR_WIDTH = 500  # every glyph is half an em wide (/DW 500)
# With several layers each band's glyphs are this much taller than the band,
# so that neighbouring bands overlap a little: measured, poppler's layout
# analysis (pdftotext) then keeps each band's words together as a line.
_BAND_OVERLAP = 1.5



_TO_UNICODE = b"""/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
/CMapName /Adobe-Identity-UCS def
/CMapType 2 def
1 begincodespacerange
<0000> <FFFF>
endcodespacerange
1 beginbfrange
<0000> <FFFF> <0000>
endbfrange
endcmap
CMapName currentdict /CMap defineresource pop
end
end
"""


@lru_cache(maxsize=2)
def _font_program(tessdata: Path) -> bytes:
    path = tessdata / "pdf.ttf"
    try:
        return path.read_bytes()
    except OSError as exc:
        raise MissingDependencyError(
            f"Tesseract's glyphless font {path} is missing; apt-get install tesseract-ocr"
        ) from exc


def _font(pdf: pikepdf.Pdf, tessdata: Path) -> pikepdf.Object:
    font_file = pikepdf.Stream(pdf, _font_program(tessdata))
    cid_to_gid = pikepdf.Stream(pdf, zlib.compress(b"\x00\x01" * 65536, 9))
    cid_to_gid.Filter = pikepdf.Name.FlateDecode
    descriptor = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.FontDescriptor,
            FontName=pikepdf.Name(FONT_NAME),
            Flags=5,
            FontBBox=[0, 0, _CHAR_WIDTH, 1000],
            ItalicAngle=0,
            Ascent=1000,
            Descent=-1,
            CapHeight=1000,
            StemV=80,
            FontFile2=font_file,
        )
    )
    cid_font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font,
            Subtype=pikepdf.Name.CIDFontType2,
            BaseFont=pikepdf.Name(FONT_NAME),
            CIDSystemInfo=pikepdf.Dictionary(Registry="Adobe", Ordering="Identity", Supplement=0),
            FontDescriptor=descriptor,
            DW=_CHAR_WIDTH,
            CIDToGIDMap=cid_to_gid,
        )
    )
    return pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font,
            Subtype=pikepdf.Name.Type0,
            BaseFont=pikepdf.Name(FONT_NAME),
            Encoding=pikepdf.Name("/Identity-H"),
            DescendantFonts=[cid_font],
            ToUnicode=pikepdf.Stream(pdf, _TO_UNICODE),
        )
    )


def _fmt(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"


def text_layer_content(
    page: OcrPage,
    words: Sequence[str] | Sequence[Sequence[str]],
    dpi: float,
    height_pt: float,
    font_key: str,
) -> bytes:
    """PDF content stream drawing words invisibly at ``page``'s word boxes.

    ``words`` is one layer (a word for each recognised word) or several
    layers (for example the printed script and its Latin transliteration).
    With n layers each line's height is split into n bands, the first layer
    on top: every layer's word lies over its printed word, and extractors
    read the layers of a line one after the other, never mixed.
    """
    layers = _as_layers(words)
    for layer in layers:
        if len(layer) != len(page.words):
            raise ValueError(f"{len(layer)} replacement words for {len(page.words)} recognised words")
    scale = 72.0 / dpi
    bands = len(layers)
    out = ["BT", "3 Tr"]
    start = 0
    for line in page.lines:
        lx0, ly0, _, ly1 = line.bbox
        slope, offset = line.baseline
        line_height = line.x_size or (ly1 - ly0)
        count = len(line.words)
        for band, layer in enumerate(layers):
            # Band b's baseline: the real baseline for the last band, raised
            # by a band height for each band above it.
            raise_px = (bands - 1 - band) * line_height / bands
            font_size = max(line_height / bands * scale * (_BAND_OVERLAP if bands > 1 else 1.0), 1.0)
            for index, word in enumerate(line.words):
                text = layer[start + index]
                x0, _, x1, _ = word.bbox
                if index + 1 < count:
                    text += " "  # a real space, so extractors see word breaks
                    target = line.words[index + 1].bbox[0] - x0
                else:
                    target = x1 - x0
                units = len(text.encode("utf-16-be")) // 2
                natural = units * font_size * _CHAR_WIDTH / 1000.0
                if natural <= 0 or target <= 0 or not text.strip():
                    continue
                stretch = 100.0 * (target * scale) / natural
                baseline_px = ly1 + slope * (x0 - lx0) + offset - raise_px
                x_pt = x0 * scale
                y_pt = height_pt - baseline_px * scale
                out.append(
                    f"{font_key} {_fmt(font_size)} Tf {_fmt(stretch)} Tz "
                    f"1 0 0 1 {_fmt(x_pt)} {_fmt(y_pt)} Tm <{text.encode('utf-16-be').hex()}> Tj"
                )
        start += count
    out.append("ET")
    return ("\n".join(out) + "\n").encode("ascii")


def _as_layers(words: Sequence[str] | Sequence[Sequence[str]]) -> list[Sequence[str]]:
    if not words or isinstance(words[0], str):
        return [cast("Sequence[str]", words)]  # one layer of words
    return list(words)


def layers_for(setting: str, original: Sequence[str], latin: Sequence[str]) -> list[Sequence[str]]:
    """The text layers for the ``pdf.text_layer`` setting: original, latin or both."""
    if setting == "original":
        return [original]
    if setting == "latin":
        return [latin]
    if setting == "both":
        return [original, latin]
    raise ValueError(f"unknown text layer setting {setting!r}")


def add_text_layer(
    pdf: pikepdf.Pdf,
    page: pikepdf.Page,
    ocr: OcrPage,
    words: Sequence[str] | Sequence[Sequence[str]],
    dpi: float,
    tessdata: Path,
) -> None:
    """Append an invisible text layer to a PDF page drawn from an image of ``dpi``.

    A page without recognised words gets no font and no text: nothing to
    search, and nothing for PDF/A to check.
    """
    if not ocr.words:
        return
    font_key = "/FGlyphLess"
    if pikepdf.Name.Resources not in page.obj:
        page.obj[pikepdf.Name.Resources] = pikepdf.Dictionary()
    resources = page.obj[pikepdf.Name.Resources]
    if pikepdf.Name.Font not in resources:
        resources[pikepdf.Name.Font] = pikepdf.Dictionary()
    resources[pikepdf.Name.Font][pikepdf.Name(font_key)] = _font(pdf, tessdata)
    height_pt = float(page.mediabox[3]) - float(page.mediabox[1])
    content = text_layer_content(ocr, words, dpi, height_pt, font_key)
    page.contents_add(pikepdf.Stream(pdf, content), prepend=False)
