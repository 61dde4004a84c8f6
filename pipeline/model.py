"""Plain data passed between stages: paths and numbers, never pixels.

Every object here is a frozen dataclass that pickles cleanly into a worker
process and serialises to JSON for the page cache and the item report.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from digitize.scanners.batch import page_label

__all__ = ["ProcessingStep", "PageJob", "PageResult", "ItemOutputs", "OutputFile"]


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
    quality: dict[str, Any] = field(default_factory=dict)  # pipeline/quality.py: measures, blank, rescan, reasons

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, default=str, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, blob: str) -> PageResult:
        data = json.loads(blob)
        for name in ("source", "pdf", "hocr", "text", "text_latin"):
            if data.get(name) is not None:
                data[name] = Path(data[name])
        data["steps"] = tuple(ProcessingStep(**step) for step in data.get("steps", ()))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


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
