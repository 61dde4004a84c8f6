"""Plain data passed between stages: paths and numbers, never pixels.

Every object here is a frozen dataclass that pickles cleanly into a worker
process and serialises to JSON for the page cache and the item report.

A page's record (``page.json``) is trusted again only when it proves itself:
it carries the size and SHA-256 of every file the page wrote (``fixity``)
and the SHA-256 of its own content (``record_sha256``), so a file or a
record that a power cut or a failing disk left damaged is told from a sound
one (pipeline/page.py checks them before reusing a page).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from digitize.scanners.batch import page_label

__all__ = ["ProcessingStep", "PageJob", "PageQuality", "PageResult", "FileFixity", "ItemOutputs", "OutputFile",
           "RECORD_DIGEST"]

# The key of a page record's own SHA-256 (of the record's other keys, canonically written).
RECORD_DIGEST = "record_sha256"


@dataclass(frozen=True)
class ProcessingStep:
    """One thing done to a page, with its settings: provenance for METS/PREMIS."""

    name: str  # e.g. "deskew", "ocr"
    description: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PageJob:
    """Everything a worker needs to process one page, and nothing heavy."""

    item_id: str
    kind: str  # text | score | art
    seq: int
    source: Path
    frame: int
    frames_in_file: int
    source_sha256: str
    work_dir: Path  # this page's own folder
    ocr_model: str
    year: int | None = None  # publication year: chooses the alphabet's era for transliteration
    part: int | None = None  # half of a two-page spread: 0 left, 1 right; None: the whole frame
    split_by: str | None = None  # why the frame is split: "item.toml" (spreads = true) or "detected" (auto)
    binarize_access: bool = False  # the item asks for a black-and-white reading image
    language: str = "az"  # BCP 47 tag of the printed text (item.toml language and script), e.g. "az-Cyrl"

    @property
    def label(self) -> str:
        return page_label(self.source, self.frame, self.frames_in_file)


@dataclass(frozen=True)
class PageQuality:
    """A text page's quality record (pipeline/quality.py): the measures,
    ``blank``, ``rescan`` and the reasons for it.

    ``to_dict`` is the form in the page cache and the item's ``report.json``;
    its keys and their order are part of those files.
    """

    contrast: float  # paper − ink of the scan as delivered
    focus: float | None  # variance of the Laplacian; None when not measured
    ink_share: float  # share of dark pixels in the OCR input
    dpi: float
    skew_degrees: float
    turned_degrees: int
    ocr_confidence: float | None
    blank: bool
    rescan: bool
    reasons: tuple[str, ...] = ()
    spread_suspected: bool | None = None  # None: not tested (the key is left out of the dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"contrast": self.contrast, "focus": self.focus, "ink_share": self.ink_share}
        if self.spread_suspected is not None:
            data["spread_suspected"] = self.spread_suspected
        data.update(
            dpi=self.dpi,
            skew_degrees=self.skew_degrees,
            turned_degrees=self.turned_degrees,
            ocr_confidence=self.ocr_confidence,
            blank=self.blank,
            rescan=self.rescan,
            reasons=list(self.reasons),
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PageQuality:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["reasons"] = tuple(values.get("reasons", ()))
        return cls(**values)


@dataclass(frozen=True)
class FileFixity:
    """A file's size and SHA-256 as its page wrote it: checked before the page is reused."""

    name: str  # the file's name in the page's work folder
    size: int
    sha256: str


def _record_digest(data: Mapping[str, Any]) -> str:
    """SHA-256 of a record's content, whatever its layout (key order, indentation)."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PageResult:
    """What processing one page produced (all paths inside the page's work dir)."""

    item_id: str
    seq: int
    source: Path
    frame: int
    width: int
    height: int
    dpi: float
    pdf: Path  # a one-page PDF: image plus invisible text layer
    hocr: Path | None = None
    text: Path | None = None  # original script
    text_latin: Path | None = None
    skew_degrees: float = 0.0
    mean_confidence: float | None = None
    word_count: int = 0
    cache_key: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    steps: tuple[ProcessingStep, ...] = ()
    part: int | None = None  # half of a two-page spread (0 left, 1 right)
    orientation_degrees: int = 0  # turn applied to make the page upright (0/90/180/270)
    quality: PageQuality | None = None  # text pages only (pipeline/quality.py)
    # Size and SHA-256 of each file above, taken when the page was finished
    # (empty in a record written before they were kept: such a page is redone).
    fixity: tuple[FileFixity, ...] = ()

    def to_json(self, extra: Mapping[str, Any] | None = None) -> str:
        """The page's record: every field, the ``extra`` keys, and the SHA-256 of all that."""
        data = asdict(self)
        data["quality"] = self.quality_dict()
        data.update(extra or {})
        data[RECORD_DIGEST] = _record_digest(data)
        return json.dumps(data, default=str, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, blob: str) -> PageResult:
        """Read a record; ValueError when it is not one, or its content differs from its SHA-256.

        A record without a SHA-256 of its own is read (one from before they
        were kept, or from a bench script); it then has no ``fixity``, which
        tells its reader not to trust its files.
        """
        data = json.loads(blob)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        stated = data.pop(RECORD_DIGEST, None)
        if stated is None and data.get("fixity"):
            raise ValueError(f"it lists its files' digests but has no {RECORD_DIGEST} of its own")
        if stated is not None and stated != _record_digest(data):
            raise ValueError(f"its content does not match its {RECORD_DIGEST} (the record is damaged)")
        for name in ("source", "pdf", "hocr", "text", "text_latin"):
            if data.get(name) is not None:
                data[name] = Path(data[name])
        data["steps"] = tuple(ProcessingStep(**step) for step in data.get("steps", ()))
        data["fixity"] = tuple(FileFixity(**entry) for entry in data.get("fixity", ()))
        data["quality"] = PageQuality.from_dict(data["quality"]) if data.get("quality") else None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def quality_dict(self) -> dict[str, Any]:
        """The quality record as stored in page.json and report.json ({} for score and art pages)."""
        return self.quality.to_dict() if self.quality is not None else {}


@dataclass(frozen=True)
class OutputFile:
    """A file of an item's output and its role (pdf, text, hocr, master ...)."""

    path: Path
    key: str  # relative key inside the item, e.g. "ocr/0001.hocr"
    role: str
    content_type: str = "application/octet-stream"
    sha256: str | None = None  # digest known before storage (masters: taken at intake, re-checked)


@dataclass(frozen=True)
class ItemOutputs:
    """An assembled item: its folder and every file to publish."""

    item_id: str
    folder: Path
    files: tuple[OutputFile, ...]
    page_count: int
    pdf: Path | None
    mean_confidence: float | None
