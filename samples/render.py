"""Synthetic book pages and the ways a flatbed scanner spoils them.

A page is typeset like a small Soviet-era book (A5, serif, justified, first
lines indented) and comes back with its ground truth line by line, so OCR
output can be scored exactly. The degradations are small pure functions, one
defect each, so a test or benchmark can apply exactly the defect it studies.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from digitize.errors import MissingDependencyError

from .corpus import ALPHABET_LETTERS

__all__ = [
    "FONT_CANDIDATES",
    "FontNotFoundError",
    "RenderedPage",
    "blur",
    "dark_border",
    "find_font",
    "font_has_glyphs",
    "font_path",
    "jpeg_artifacts",
    "noise",
    "render_page",
    "render_score_page",
    "scan_like",
    "skew",
    "uneven_light",
    "yellow_paper",
]

log = logging.getLogger(__name__)

#: Serif fonts with the whole Azerbaijani Cyrillic alphabet, best first.
#: DejaVu is deliberately absent: it has no Ҝ ҝ Ҹ ҹ.
FONT_CANDIDATES: tuple[Path, ...] = (
    Path("/usr/share/fonts/opentype/urw-base35/C059-Roman.otf"),
    Path("/usr/share/fonts/type1/urw-base35/C059-Roman.t1"),
    Path("/usr/share/fonts/opentype/urw-base35/P052-Roman.otf"),
    Path("/usr/share/fonts/type1/urw-base35/P052-Roman.t1"),
    Path("/usr/share/fonts/opentype/urw-base35/NimbusRoman-Regular.otf"),
    Path("/usr/share/fonts/type1/urw-base35/NimbusRoman-Regular.t1"),
    Path("/usr/share/fonts/truetype/noto/NotoSerif-Regular.ttf"),
)

# Everything a page prints besides letters.
_REQUIRED_GLYPHS = ALPHABET_LETTERS + "0123456789.,;:-«»'"

# A code point no font maps, so it renders as the font's .notdef glyph.
_UNMAPPED = "\U0010fffd"

# Basic layout needs no libraqm, so a seed lays out the same everywhere.
_LAYOUT = ImageFont.Layout.BASIC


class FontNotFoundError(MissingDependencyError, RuntimeError):
    """No installed font can print the Azerbaijani Cyrillic alphabet."""


def _glyph_bitmap(font: ImageFont.FreeTypeFont, text: str) -> np.ndarray:
    left, top, right, bottom = font.getbbox(text)
    # FreeType boxes are whole pixels (the stubs allow floats for other fonts).
    image = Image.new("L", (max(1, int(right - left)), max(1, int(bottom - top))), 0)
    ImageDraw.Draw(image).text((-left, -top), text, font=font, fill=255)
    return np.asarray(image)


def font_has_glyphs(font: ImageFont.FreeTypeFont, chars: str) -> bool:
    """True when every character in ``chars`` has a real glyph in ``font``.

    A missing character is drawn as the font's .notdef glyph (usually a box)
    or as nothing, so we compare each glyph with the one for an unmapped code
    point. This needs only Pillow, unlike reading the cmap with fontTools.
    """
    notdef = _glyph_bitmap(font, _UNMAPPED)
    for char in chars:
        if char.isspace():
            continue
        glyph = _glyph_bitmap(font, char)
        if not glyph.any():
            return False
        if glyph.shape == notdef.shape and np.array_equal(glyph, notdef):
            return False
    return True


@lru_cache(maxsize=1)
def font_path() -> Path:
    """The first font in ``FONT_CANDIDATES`` that is installed and complete."""
    for path in FONT_CANDIDATES:
        if not path.is_file():
            continue
        try:
            probe = ImageFont.truetype(str(path), 48, layout_engine=_LAYOUT)
        except OSError:
            log.debug("cannot load font %s", path)
            continue
        if font_has_glyphs(probe, _REQUIRED_GLYPHS):
            log.debug("sample pages use font %s", path)
            return path
        log.debug("font %s lacks Azerbaijani Cyrillic glyphs", path)
    raise FontNotFoundError(
        "No serif font with every Azerbaijani Cyrillic letter (Ә Ғ Ј Ҝ Ҹ Һ Ө Ү) "
        "is installed; install the Debian package fonts-urw-base35 "
        "(or fonts-noto-core)."
    )


def find_font(size_px: int) -> ImageFont.FreeTypeFont:
    """A serif font ``size_px`` pixels high that has every Azerbaijani glyph.

    Raises FontNotFoundError (a RuntimeError) naming the Debian packages when
    none of ``FONT_CANDIDATES`` qualifies.
    """
    return ImageFont.truetype(str(font_path()), size_px, layout_engine=_LAYOUT)


@dataclass(frozen=True)
class RenderedPage:
    """A page image and the text printed on it, line by line as laid out."""

    image: Image.Image  # mode "L", black ink on (nearly) white paper
    text: str  # ``"\n".join(lines)``
    lines: list[str]
    dpi: int


def _wrap(words: list[str], font: ImageFont.FreeTypeFont, first: float, rest: float) -> list[list[str]]:
    """Greedy word wrap; the first line of a paragraph is narrower (indent)."""
    space = font.getlength(" ")
    lines: list[list[str]] = []
    current: list[str] = []
    used = 0.0
    for word in words:
        width = font.getlength(word)
        limit = first if not lines else rest
        if current and used + space + width > limit:
            lines.append(current)
            current, used = [word], width
        else:
            used += (space if current else 0.0) + width
            current.append(word)
    if current:
        lines.append(current)
    return lines


def render_page(
    text_paragraphs: list[str],
    *,
    dpi: int = 300,
    width_in: float = 5.8,
    height_in: float = 8.3,
    font_pt: float = 11,
    seed: int = 0,
) -> RenderedPage:
    """Typeset paragraphs on an A5 page: justified, first lines indented.

    Text that does not fit is left out, and so is its ground truth: ``lines``
    holds exactly what is printed. ``seed`` varies the paper and ink tone a
    little, as between two copies of a book.
    """
    rng = np.random.default_rng(seed)
    paper = int(rng.integers(246, 253))
    ink = int(rng.integers(10, 40))

    width, height = round(width_in * dpi), round(height_in * dpi)
    margin_x = round(0.65 * dpi)
    top, bottom = round(0.7 * dpi), height - round(0.8 * dpi)
    size_px = round(font_pt * dpi / 72)
    font = find_font(size_px)
    line_height = round(size_px * 1.25)
    indent = round(size_px * 1.5)
    measure = width - 2 * margin_x
    max_gap = 3 * font.getlength(" ")

    image = Image.new("L", (width, height), paper)
    draw = ImageDraw.Draw(image)
    printed: list[str] = []
    y = top
    for paragraph in text_paragraphs:
        wrapped = _wrap(paragraph.split(), font, measure - indent, measure)
        for number, words in enumerate(wrapped):
            if y + line_height > bottom:
                break
            x0 = margin_x + (indent if number == 0 else 0)
            widths = [font.getlength(word) for word in words]
            free = (measure - (x0 - margin_x)) - sum(widths)
            last = number == len(wrapped) - 1
            gap = font.getlength(" ")
            if not last and len(words) > 1:
                gap = min(free / (len(words) - 1), max_gap)
            x = float(x0)
            for word, word_width in zip(words, widths, strict=True):
                draw.text((round(x), y), word, font=font, fill=ink)
                x += word_width + gap
            printed.append(" ".join(words))
            y += line_height
        if y + line_height > bottom:
            break
    return RenderedPage(image=image, text="\n".join(printed), lines=printed, dpi=dpi)


def render_score_page(
    title: str,
    subtitle: str,
    *,
    dpi: int = 300,
    width_in: float = 5.8,
    height_in: float = 8.3,
    seed: int = 0,
) -> RenderedPage:
    """A page of sheet music: a printed title, then staves of quarter notes.

    Enough like an engraved score for layout analysis to see staves and note
    heads rather than text; the ground truth is only the two title lines.
    """
    rng = np.random.default_rng(seed)
    width, height = round(width_in * dpi), round(height_in * dpi)
    margin_x = round(0.6 * dpi)
    space = round(0.07 * dpi)  # distance between two staff lines
    line_w = max(2, space // 8)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)

    title_font = find_font(round(18 * dpi / 72))
    sub_font = find_font(round(11 * dpi / 72))
    y = round(0.6 * dpi)
    draw.text((width / 2, y), title, font=title_font, fill=0, anchor="mt")
    y += round(title_font.size * 1.6)
    draw.text((width - margin_x, y), subtitle, font=sub_font, fill=0, anchor="rt")
    y += round(sub_font.size * 2.5)

    head_w, head_h = round(space * 1.3), space
    while y + 8 * space < height - round(0.6 * dpi):
        bottom_line = y + 4 * space
        for k in range(5):
            ly = y + k * space
            draw.rectangle((margin_x, ly, width - margin_x, ly + line_w - 1), fill=0)
        draw.rectangle((margin_x, y, margin_x + line_w, bottom_line + line_w - 1), fill=0)
        x = margin_x + 2 * space
        in_bar = 0
        while x + 3 * space < width - margin_x:
            step = int(rng.integers(-2, 11))  # half-spaces above the bottom line
            cy = bottom_line - step * space / 2 + line_w / 2
            for ledger in range(-2, step - 1, -2) if step < 0 else range(10, step + 1, 2):
                ledger_y = bottom_line - ledger * space / 2
                draw.rectangle((x - space * 0.4, ledger_y, x + head_w + space * 0.4, ledger_y + line_w - 1), fill=0)
            draw.ellipse((x, cy - head_h / 2, x + head_w, cy + head_h / 2), fill=0)
            if step < 4:  # stem up on the right
                draw.rectangle((x + head_w - line_w, cy - 3.5 * space, x + head_w, cy), fill=0)
            else:  # stem down on the left
                draw.rectangle((x, cy, x + line_w, cy + 3.5 * space), fill=0)
            x += round(space * 3.2)
            in_bar += 1
            if in_bar == 4:
                bx = x - space
                draw.rectangle((bx, y, bx + line_w, bottom_line + line_w - 1), fill=0)
                x += space
                in_bar = 0
        end = width - margin_x - line_w  # closing bar line of the staff
        draw.rectangle((end, y, end + line_w, bottom_line + line_w - 1), fill=0)
        y += 11 * space
    lines = [title, subtitle]
    return RenderedPage(image=image, text="\n".join(lines), lines=lines, dpi=dpi)


def _white(image: Image.Image) -> int | tuple[int, ...]:
    return (255,) * len(image.getbands()) if len(image.getbands()) > 1 else 255


def skew(image: Image.Image, degrees: float, *, expand: bool = False) -> Image.Image:
    """Rotate about the centre, as a page laid crooked on the glass.

    Positive ``degrees`` turn the page counter-clockwise: a printed line then
    rises to the right by that angle. With ``expand=False`` (the default) the
    image keeps its size and the corners that leave it are cut off, which our
    margins allow up to about 5 degrees; ``expand=True`` grows the canvas to
    keep the whole page. Uncovered corners are white, like a scanner lid.
    """
    return image.rotate(
        degrees,
        resample=Image.Resampling.BICUBIC,
        expand=expand,
        fillcolor=_white(image),
    )


def noise(image: Image.Image, amount: float, *, seed: int = 0) -> Image.Image:
    """Salt-and-pepper speckle: dust and toner specks on ``amount`` of the pixels.

    Two thirds of the hit pixels turn dark (dust), one third white (dropouts).
    Sparse speckle rather than Gaussian grain keeps compressed files small.
    """
    rng = np.random.default_rng(seed)
    pixels = np.array(image)
    hit = rng.random(pixels.shape[:2]) < amount
    count = int(hit.sum())
    values = np.where(rng.random(count) < 2 / 3, rng.integers(0, 90, count), 255).astype(np.uint8)
    pixels[hit] = values[:, None] if pixels.ndim == 3 else values
    return Image.fromarray(pixels)


def blur(image: Image.Image, radius: float) -> Image.Image:
    """Gaussian blur of ``radius`` pixels: a page not quite flat on the glass."""
    return image.filter(ImageFilter.GaussianBlur(radius))


def uneven_light(image: Image.Image, strength: float, *, seed: int = 0) -> Image.Image:
    """Darken away from a bright spot, as under an uneven lamp or a lifted lid.

    ``strength`` is how much darker the farthest corner gets (0.3 means 30 %).
    The spot's position comes from ``seed``.
    """
    rng = np.random.default_rng(seed)
    pixels = np.asarray(image).astype(np.float32)
    h, w = pixels.shape[:2]
    cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    distance = np.hypot(xx - cx, yy - cy)
    light = 1.0 - strength * (distance / distance.max()) ** 2
    if pixels.ndim == 3:
        light = light[..., None]
    return Image.fromarray(np.clip(pixels * light, 0, 255).astype(np.uint8))


def dark_border(image: Image.Image, px: int, *, sides: str = "ltrb") -> Image.Image:
    """Black bands ``px`` wide on the given sides (l, t, r, b), where the scan
    caught the glass beyond a page smaller than the scanner bed."""
    out = image.copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    dark = (25,) * len(out.getbands()) if len(out.getbands()) > 1 else 25
    boxes = {
        "l": (0, 0, px - 1, h - 1),
        "t": (0, 0, w - 1, px - 1),
        "r": (w - px, 0, w - 1, h - 1),
        "b": (0, h - px, w - 1, h - 1),
    }
    if px > 0:
        for side in sides:
            draw.rectangle(boxes[side], fill=dark)
    return out


def yellow_paper(image: Image.Image) -> Image.Image:
    """An RGB copy printed on aged, yellowed paper with brown-black ink."""
    gray = np.asarray(image.convert("L")).astype(np.float32)[..., None] / 255.0
    ink = np.array([38, 32, 26], dtype=np.float32)
    paper = np.array([236, 223, 184], dtype=np.float32)
    return Image.fromarray((ink + (paper - ink) * gray).round().astype(np.uint8))


def jpeg_artifacts(image: Image.Image, quality: int) -> Image.Image:
    """The image after a round trip through JPEG at ``quality`` (1-95)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    decoded = Image.open(buffer)  # not "as": Pillow 12's Image.__enter__ is untyped (iiif-prezi3 caps Pillow at 12.0)
    with decoded:
        return decoded.convert(image.mode)


def scan_like(page: RenderedPage, *, skew_degrees: float, seed: int = 0) -> Image.Image:
    """A typical flatbed scan of ``page``: laid a little crooked, a few specks."""
    return noise(skew(page.image, skew_degrees), 0.0008, seed=seed)
