"""Two-page spreads: a book scanner shoots both pages of an opening at once.

Splitting (``find_gutter``, ``half``): the gutter between the pages is a
vertical band near the middle with no text, usually darkened by the shadow
of the spine. We look for it in the middle third of the frame: the column
window with the least ink after the background is divided out, and within
it the darkest column of the raw scan (the spine's shadow). Each half then
goes through the page stages as a page of its own.

Detection (``examine``, for item.toml ``spreads = "auto"``): a frame is a
spread when, on a reduced copy cut out of the scanner bed and deskewed,

* it is clearly wider than tall and its text lines run across (a page
  lying sideways is a single page: orientation turns it);
* there are text lines on both sides of a text-free band near the middle
  (a regular row profile: a picture or a score beside text is one page);
* that band is wide: both pages' inner margins together. Measured in text
  line pitches (so independent of resolution and type size) it is 7-11.5
  pitches on generated openings with 0.65 in inner margins (3.3-3.6 with
  tight 0.3 in margins), while two columns of one page are 0.9-2.9
  pitches apart (gaps up to 0.6 in; bench/spreads.py). A band narrower
  than ``_GAP_PITCHES`` (down to ``_SHADOW_GAP_PITCHES``) is taken only
  with the spine's shadow in it; thin strokes (a column rule, the fold's
  line) are not shadow.

Planning (``split_decisions``): only frames whose header says they are
clearly wider than tall are decoded, at reduced size; portrait frames cost
a header read. A wide frame the detector found nothing against (a spread
with a blank page or a page of pictures) is split when most wide frames of
its size in the item are spreads found (at least two). Decisions are kept
in the item's work folder, keyed by the scan's SHA-256 and frame, so
planning again (assembly, a resumed run) reads them instead of decoding
again, and always gives the same pages. The file carries the SHA-256 of its
decisions: one damaged on disk (emptied by a power cut, a flipped bit) is
not believed; the frames are examined again, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from digitize.files import atomic_write_text
from digitize.pipeline import crop, deskew, orientation
from digitize.pipeline.shrink import shrink

if TYPE_CHECKING:
    from digitize.scanners.batch import Item

__all__ = [
    "DETECTOR_VERSION",
    "SpreadEvidence",
    "examine",
    "find_gutter",
    "frame_sizes",
    "half",
    "looks_like_spread",
    "split_decisions",
]

log = logging.getLogger(__name__)

# Bump when the detector's answers change: cached decisions are redone.
DETECTOR_VERSION = "1"

_ANALYSIS_WIDTH = 800  # find_gutter
_DETECT_WIDTH = 1000  # examine: a 300 dpi A4 opening becomes ~85 dpi, lines ~15 px apart
#: Width / height above which a frame may be a spread (two A5 pages: 1.41;
#: one A4 page turned: 1.41 too, so the shape alone never decides).
MIN_ASPECT = 1.15
_GAP_PITCHES = 3.5  # a band this wide (in line pitches) is a gutter
_SHADOW_GAP_PITCHES = 2.5  # ... or this wide with the spine's shadow in it
_SHADOW = 0.85  # band paper / neighbouring paper below this: a shadow
# Height of the row profile's autocorrelation peak at the line pitch, on
# each side: measured 0.71-0.93 on text (also a few lines, curled lines),
# 0 on a photograph.
_MIN_LINE_REGULARITY = 0.3
_MIN_SIDE_TEXT = 0.12  # each page's text spans at least this share of the width
_CACHE_NAME = "spreads.json"


def _small(grey: np.ndarray, width: int = _ANALYSIS_WIDTH) -> tuple[np.ndarray, float]:
    height, full = grey.shape
    factor = min(1.0, width / float(full))
    return shrink(grey, factor)


def _flatten(small: np.ndarray) -> np.ndarray:
    size = max(3, (min(small.shape) // 30) | 1)
    background = cv2.morphologyEx(small, cv2.MORPH_CLOSE, np.ones((size, size), np.uint8))
    return cv2.divide(small, np.maximum(background, 1), scale=255)


def _ink_columns(small: np.ndarray) -> np.ndarray:
    columns: np.ndarray = (_flatten(small) < 160).mean(axis=0)  # share of ink in each column
    return columns


def find_gutter(grey: np.ndarray) -> int:
    """The x (full resolution) where a spread divides into its two pages."""
    small, factor = _small(grey)
    width = small.shape[1]
    if width < 6:
        return int(grey.shape[1] // 2)
    ink = _ink_columns(small)
    lo, hi = width // 3, max(width // 3 + 1, 2 * width // 3)
    window = max(1, width // 50)
    smoothed = np.convolve(ink, np.ones(window) / window, mode="same")
    # Quietest column; among equally quiet ones prefer the one nearest the
    # middle and in the shadow of the spine.
    middle = smoothed[lo:hi]
    quiet = middle <= middle.min() + 0.005
    brightness = small.mean(axis=0)[lo:hi]
    distance = np.abs(np.arange(lo, hi) - width / 2.0) / width
    score = np.where(quiet, brightness / 255.0 + distance, np.inf)
    x = lo + int(np.argmin(score))
    return int(round(x / factor))


def half(picture: np.ndarray, gutter: int, part: int) -> np.ndarray:
    """The left (``part`` 0) or right (1) page of a spread."""
    if part == 0:
        return np.ascontiguousarray(picture[:, :gutter])
    return np.ascontiguousarray(picture[:, gutter:])


# --------------------------------------------------------------------------
# Detection


@dataclass(frozen=True)
class SpreadEvidence:
    """What the detector measured on a frame, and its answer."""

    spread: bool
    reason: str
    gap_pitches: float = 0.0  # width of the text-free band near the middle, in text line pitches
    gap_share: float = 0.0  # ... as a share of the page's width
    line_pitch_px: float = 0.0  # at the analysis size
    shadow: float = 1.0  # paper brightness in the band / beside it (below 1: darker)
    skew_degrees: float = 0.0


def _line_pitch(rows: np.ndarray) -> tuple[float, float]:
    """Distance between text lines, and how regular they are: the first
    strong peak of the row profile's autocorrelation and its height (0-1).
    (0, 0) when the profile has no period."""
    profile = rows - rows.mean()
    n = profile.size
    if n < 16 or not profile.any():
        return 0.0, 0.0
    spectrum = np.fft.rfft(profile, 2 * n)
    ac = np.fft.irfft(spectrum * np.conj(spectrum))[:n]
    ac /= ac[0]
    below = np.flatnonzero(ac < 0)
    if below.size == 0:
        return 0.0, 0.0
    start = int(below[0])
    stop = min(n // 3, start * 6 + 4)
    if stop <= start + 1:
        return 0.0, 0.0
    window = ac[start:stop]
    best = float(window.max())
    if best <= 0.1:
        return 0.0, 0.0
    # The first peak nearly as high as the highest: not a multiple of the pitch.
    peaks = [i for i in range(1, window.size - 1) if window[i] >= window[i - 1] and window[i] >= window[i + 1]]
    lag = next((i for i in peaks if window[i] >= 0.7 * best), int(np.argmax(window)))
    return float(start + lag), float(window[lag])


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of every run of True."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))  # edges come in pairs


def _merged(runs: list[tuple[int, int]], bridge: int) -> list[tuple[int, int]]:
    """Runs joined across gaps of at most ``bridge``: a short stroke left in
    the gutter (the fold's end, a speck) does not split it."""
    out: list[tuple[int, int]] = []
    for a, b in runs:
        if out and a - out[-1][1] <= bridge:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def examine(grey: np.ndarray) -> SpreadEvidence:
    """Measure whether a frame (8-bit grey, any size) is a two-page spread."""
    height, width = grey.shape
    if width < height * MIN_ASPECT:
        return SpreadEvidence(False, "not wider than tall")
    small, _ = _small(grey, _DETECT_WIDTH)
    box = crop.find_page(small)
    page = crop.crop(small, box)
    h, w = page.shape
    if w < h * MIN_ASPECT or h < 32:
        return SpreadEvidence(False, "the page inside the scanner bed is not wider than tall")
    edge_x = max(1, w // 50)
    if _text_ink(page, edge_x).mean() < 0.002:
        return SpreadEvidence(False, "no text")
    angle = deskew.estimate_skew(page)
    page = deskew.rotate(page, -angle)
    # Each half on its own: a spread with little text on one page can make
    # the whole frame's column profile look like text lines.
    halves = (page[:, : w // 2], page[:, w // 2 :])
    fuller = max(halves, key=lambda part: int((_flatten(part) < 160).sum()))
    if orientation.is_sideways(fuller):
        return SpreadEvidence(False, "text lines run up and down: a single page lying sideways", skew_degrees=angle)

    ink = _text_ink(page, edge_x)

    columns = np.convolve(ink.mean(axis=0), np.ones(3) / 3, mode="same")
    level = float(np.percentile(columns[columns > 0], 75)) if (columns > 0).any() else 0.0
    quiet = columns < max(0.002, 0.06 * level)
    quiet[:edge_x], quiet[-edge_x:] = False, False
    centre = [(a, b) for a, b in _merged(_runs(quiet), max(3, w // 60)) if 0.3 * w <= (a + b) / 2 <= 0.7 * w]
    if not centre:
        return SpreadEvidence(False, "no text-free band near the middle", skew_degrees=angle)
    start, stop = max(centre, key=lambda run: run[1] - run[0])
    texty = ~quiet
    left_text = texty[:start].sum() / w
    right_text = texty[stop:].sum() / w
    if min(left_text, right_text) < _MIN_SIDE_TEXT:
        return SpreadEvidence(False, "text on one side of the middle only", gap_share=(stop - start) / w,
                              skew_degrees=angle)

    sides = [_line_pitch(ink[:, :start].mean(axis=1)), _line_pitch(ink[:, stop:].mean(axis=1))]
    log.debug("spread detector: line pitch and regularity left %s, right %s", *sides)
    if min(regular for _, regular in sides) < _MIN_LINE_REGULARITY:
        # A picture, a table or a score beside the text is one page.
        return SpreadEvidence(False, "no text lines on one side of the middle", gap_share=(stop - start) / w,
                              skew_degrees=angle)
    pitch = float(np.mean([p for p, _ in sides]))
    gap = stop - start
    shadow = _shadow(page, ink, start, stop)
    gap_pitches = gap / pitch
    evidence = dict(gap_pitches=round(gap_pitches, 2), gap_share=round(gap / w, 4), line_pitch_px=round(pitch, 1),
                    shadow=round(shadow, 3), skew_degrees=angle)
    if gap_pitches >= _GAP_PITCHES:
        return SpreadEvidence(True, "a wide text-free gutter between two text blocks", **evidence)
    if gap_pitches >= _SHADOW_GAP_PITCHES and shadow < _SHADOW:
        return SpreadEvidence(True, "a text-free gutter with the spine's shadow", **evidence)
    return SpreadEvidence(False, "the band between the text blocks is narrow: columns of one page", **evidence)


def _text_ink(page: np.ndarray, edge: int) -> np.ndarray:
    """Ink of the letters: background divided out, long vertical strokes
    (page edges, the fold, column rules) and a thin frame left out."""
    h, w = page.shape
    ink = _flatten(page) < 160
    # A stroke a little off vertical still counts: widen before looking
    # for tall runs, and remove the widened stroke.
    wide = cv2.dilate(ink.astype(np.uint8), np.ones((1, 5), np.uint8))
    rules = cv2.morphologyEx(wide, cv2.MORPH_OPEN, np.ones((max(9, h // 8), 1), np.uint8))
    ink &= ~cv2.dilate(rules, np.ones((1, 5), np.uint8)).astype(bool)
    ink[:edge], ink[-edge:], ink[:, :edge], ink[:, -edge:] = False, False, False, False
    return ink


def _shadow(page: np.ndarray, ink: np.ndarray, start: int, stop: int) -> float:
    """Paper brightness in the darkest part of the band against the paper
    just beside it (the text blocks' own paper, ink left out): below 1
    when the spine shades the gutter."""
    gap = stop - start
    side = max(3, gap)
    beside = np.concatenate(
        [page[:, max(0, start - side) : start][~ink[:, max(0, start - side) : start]],
         page[:, stop : stop + side][~ink[:, stop : stop + side]]]
    )
    if gap < 3 or beside.size == 0:
        return 1.0
    # The darkest column of the band (a shadow can be narrow), each column
    # its rows' median; dips under 7 px (a column rule, the fold's line)
    # are closed first: they are strokes, not shadow.
    profile = np.median(page[:, start:stop], axis=0).astype(np.uint8)[None, :]
    darkest = float(cv2.morphologyEx(profile, cv2.MORPH_CLOSE, np.ones((1, 7), np.uint8)).min())
    return darkest / max(1.0, float(np.median(beside)))


def looks_like_spread(grey: np.ndarray) -> bool:
    """A frame that is wider than tall with a wide text-free gutter near its
    middle and text on both sides (see :func:`examine`)."""
    return examine(grey).spread


# --------------------------------------------------------------------------
# Planning: which frames of an item are spreads


def frame_sizes(path: Path) -> list[tuple[int, int]]:
    """(width, height) of every frame of a page file, from its header only
    (nothing decoded). Raises whatever the image or PDF library raises on
    a file it cannot read."""
    if path.suffix.lower() == ".pdf":
        return _pdf_frame_sizes(path)
    from PIL import Image

    sizes: list[tuple[int, int]] = []
    with Image.open(path) as image:
        for frame in range(getattr(image, "n_frames", 1)):
            image.seek(frame)  # sequential: Pillow keeps each frame's offset, so this stays linear
            width, height = image.size
            sizes.append((width, height))
    return sizes


def _pdf_frame_sizes(path: Path) -> list[tuple[int, int]]:
    """A scanner PDF page's size is its one image's (what load_page decodes);
    pages of another kind are rendered from their media box."""
    import pikepdf

    sizes: list[tuple[int, int]] = []
    with pikepdf.open(path) as pdf:
        for page in pdf.pages:
            images = list(page.get_images(recursive=False).values())
            if len(images) == 1:
                sizes.append((int(images[0].Width), int(images[0].Height)))
            else:
                box = [float(v) for v in page.mediabox]
                sizes.append((round(box[2] - box[0]), round(box[3] - box[1])))
    return sizes


def _reduced_grey(path: Path, frame: int, max_pixels: int | None) -> np.ndarray:
    """One frame decoded as 8-bit grey about _DETECT_WIDTH across. A JPEG is
    decoded at reduced scale straight away (its DCT allows it); other files
    go through the page loader with its safety checks."""
    from PIL import Image

    from digitize.pipeline.prepare import prepare
    from digitize.scanners.images import load_page

    if path.suffix.lower() in (".jpg", ".jpeg"):
        with Image.open(path) as image:
            width, height = image.size
            if max_pixels and width * height > max_pixels:
                raise ValueError(f"{width}×{height} exceeds image.max_image_pixels")
            # Largest DCT scale-down that keeps the frame at least _DETECT_WIDTH across.
            image.draft("L", (_DETECT_WIDTH, max(1, round(height * _DETECT_WIDTH / width))))
            grey = prepare(image).grey
    else:
        grey = prepare(load_page(path, frame, max_pixels).image).grey
    small, _ = _small(grey, _DETECT_WIDTH)
    return small


# One frame's entry in spreads.json, as JSON holds it: "spread", "size"
# ([width, height] or None), SpreadEvidence's other fields, "adopted".
_Record = dict[str, Any]


def _cache_key(sha256: str, frame: int) -> str:
    return f"{sha256}:{frame}"


def _cache_digest(body: dict[str, Any]) -> str:
    """SHA-256 of the cache's content, whatever its layout."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _read_cache(path: Path) -> dict[str, _Record]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("%s is damaged (%s); examining the frames again", path, exc)
        return {}
    if not isinstance(data, dict) or data.get("detector") != DETECTOR_VERSION:
        return {}
    stated = data.pop("sha256", None)
    if stated is None:
        log.info("%s has no SHA-256 (written by an older version); examining the frames again", path)
        return {}
    if stated != _cache_digest(data):
        log.warning("%s is damaged (its content does not match its SHA-256); examining the frames again", path)
        return {}
    if not isinstance(data.get("frames"), dict):
        return {}
    return {k: v for k, v in data["frames"].items() if isinstance(v, dict) and isinstance(v.get("spread"), bool)}


# What the detector says of a spread with a blank or illustrated page, or
# of a picture across both pages: no evidence against a spread.
_NOT_AGAINST = ("no text", "text on one side of the middle only", "no text lines on one side of the middle",
                "no text-free band near the middle")
_SAME_SIZE = 0.03


def _adopt_spread_size(records: dict[str, _Record]) -> None:
    """A book scanner's frames of one item share a size. A wide frame the
    detector found no evidence against (a spread with a blank page, a page
    of pictures) is split like the item's spreads of the same size (within
    3 %) when at least two of them were found and they are most of the
    wide frames of that size. A page lying sideways or two columns of one
    page are never split this way."""
    wide = [r for r in records.values() if r.get("size") and r["size"][0] >= r["size"][1] * MIN_ASPECT]
    found = [r for r in wide if r["spread"] and not r.get("adopted")]

    def same(a: list[int], b: list[int]) -> bool:
        return all(abs(x - y) <= _SAME_SIZE * max(x, y) for x, y in zip(a, b, strict=False))

    for record in wide:
        if record["spread"] or record.get("reason") not in _NOT_AGAINST:
            continue
        alike = [r for r in found if same(r["size"], record["size"])]
        peers = [r for r in wide if same(r["size"], record["size"])]
        if len(alike) >= 2 and 2 * len(alike) >= len(peers):
            record.update(spread=True, adopted=True,
                          reason=f"{record['reason']}; split like the item's {len(alike)} spreads of the same size")


def split_decisions(item: Item, work_dir: Path, max_pixels: int | None = None) -> list[bool]:
    """For each page of ``item`` (in order): is this frame a two-page spread?

    Portrait frames are decided from their header; wide frames are decoded
    at reduced size and examined. Decisions are cached in
    ``work_dir/spreads.json`` under the scan's SHA-256 and frame (written
    atomically, read back on every later planning), so a re-run plans the
    same pages without decoding again. A frame that cannot be read is
    planned as one page: its page stage then reports the problem.
    """
    cache_path = work_dir / _CACHE_NAME
    cached = _read_cache(cache_path)
    hashes = {source.path: source.sha256 for source in item.files}
    keys = [_cache_key(hashes[page.path], page.frame) for page in item.pages]
    if all(key in cached for key in keys):
        return [cached[key]["spread"] for key in keys]

    records: dict[str, _Record] = {}
    sizes: dict[Path, list[tuple[int, int]]] = {}
    for page, key in zip(item.pages, keys, strict=True):
        if key in cached:
            records[key] = cached[key]
            continue
        if page.path not in sizes:
            try:
                sizes[page.path] = frame_sizes(page.path)
            except Exception as exc:  # noqa: BLE001 - any unreadable header: one page; the page stage says why
                log.warning("%s: size unreadable (%s); planned as one page", page.label, exc)
                sizes[page.path] = []
        known = sizes[page.path]
        size = known[page.frame] if page.frame < len(known) else None
        record: _Record = {"spread": False, "size": list(size) if size else None}
        if size is not None and size[0] >= size[1] * MIN_ASPECT:
            try:
                evidence = examine(_reduced_grey(page.path, page.frame, max_pixels))
            except Exception as exc:  # noqa: BLE001 - as above
                log.warning("%s: cannot be examined for a spread (%s); planned as one page", page.label, exc)
                evidence = SpreadEvidence(False, f"unreadable: {exc}")
            record.update(asdict(evidence))
            log.info("%s: %s (%s)", page.label, "two-page spread" if evidence.spread else "one page", evidence.reason)
        elif size is None:
            record["reason"] = "size unreadable"
        records[key] = record
    _adopt_spread_size(records)
    decisions = [bool(records[key]["spread"]) for key in keys]
    work_dir.mkdir(parents=True, exist_ok=True)
    body: dict[str, Any] = {"detector": DETECTOR_VERSION, "frames": records}
    body["sha256"] = _cache_digest(body)
    atomic_write_text(cache_path, json.dumps(body, ensure_ascii=False, indent=1))
    return decisions
