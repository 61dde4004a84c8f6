"""Reading a scanned batch: one folder, one sub-folder per item.

An item folder holds ``item.toml`` and its page files, in reading order by
natural filename sort (``page-2.tif`` before ``page-10.tif``). A multi-page
TIFF or an image-only PDF contributes one page per frame. Problems with one
item never stop the others: each item comes back either as a readable
:class:`Item` or as an :class:`ItemProblem` that names the file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from natsort import os_sorted

from digitize.checksums import sha256_file
from digitize.errors import (
    DigitizeError,
    EmptyItemError,
    IntakeError,
    MetadataError,
    PageReadError,
    UnsupportedFileError,
)
from digitize.scanners.images import PAGE_SUFFIXES, count_frames
from digitize.scanners.metadata import METADATA_FILENAME, ItemMetadata, read_metadata

__all__ = ["PageSource", "Item", "ItemProblem", "Batch", "read_batch", "read_item", "page_label"]

# Files scanners and operating systems leave behind; never pages.
_IGNORED_NAMES = {"thumbs.db", "desktop.ini", "ready", "ready.txt"}
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def page_label(path: Path, frame: int, frames_in_file: int) -> str:
    """Human-readable name of a page in messages: the file, and the frame if any."""
    if frames_in_file > 1:
        return f"{path} (frame {frame + 1} of {frames_in_file})"
    return str(path)


@dataclass(frozen=True)
class PageSource:
    """One page: a file, and the frame inside it (0 for single images)."""

    seq: int  # 1-based position in the item
    path: Path
    frame: int = 0
    frames_in_file: int = 1

    @property
    def label(self) -> str:
        return page_label(self.path, self.frame, self.frames_in_file)


@dataclass(frozen=True)
class SourceFile:
    """A scanned file as received: the master we keep unchanged."""

    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class Item:
    """A validated item: metadata, its files (masters) and its pages."""

    item_id: str
    folder: Path
    metadata: ItemMetadata
    files: tuple[SourceFile, ...]
    pages: tuple[PageSource, ...]

    @property
    def kind(self) -> str:
        return self.metadata.kind.value

    @property
    def content_hash(self) -> str:
        """Hash of metadata and every master: changes when anything changes.

        Only what item.toml sets counts (defaults left out), so a new
        item.toml key or a changed default does not make an item already
        in the catalog look like a different item with the same identifier.
        """
        digest = hashlib.sha256(self.metadata.model_dump_json(exclude_defaults=True).encode())
        for source in self.files:
            digest.update(f"{source.path.name}\0{source.sha256}\0".encode())
        return digest.hexdigest()


@dataclass(frozen=True)
class ItemProblem:
    """An item that cannot be processed, with the reason."""

    item_id: str
    folder: Path
    stage: str
    message: str


@dataclass(frozen=True)
class Batch:
    name: str
    folder: Path
    items: tuple[Item, ...] = ()
    problems: tuple[ItemProblem, ...] = field(default_factory=tuple)


def read_batch(folder: Path, max_image_pixels: int | None = None) -> Batch:
    """Validate every item of a batch folder; bad items become problems."""
    folder = Path(folder)
    if not folder.is_dir():
        raise IntakeError(f"{folder}: batch folder does not exist or is not a folder")
    items: list[Item] = []
    problems: list[ItemProblem] = []
    ids_seen: dict[str, Path] = {}
    for sub in os_sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            item = read_item(sub, max_image_pixels=max_image_pixels)
        except DigitizeError as exc:
            problems.append(ItemProblem(sub.name, sub, exc.stage, exc.message))
            continue
        if item.item_id in ids_seen:
            problems.append(
                ItemProblem(
                    item.item_id,
                    sub,
                    "intake",
                    f"{sub}: identifier {item.item_id!r} is already used by {ids_seen[item.item_id]}",
                )
            )
            continue
        ids_seen[item.item_id] = sub
        items.append(item)
    if not items and not problems:
        raise IntakeError(f"{folder}: batch holds no item folders")
    return Batch(folder.name, folder, tuple(items), tuple(problems))


def read_item(folder: Path, max_image_pixels: int | None = None) -> Item:
    """Validate one item folder and list its pages in reading order."""
    metadata = read_metadata(folder / METADATA_FILENAME)
    page_files: list[Path] = []
    unsupported: list[str] = []
    for path in os_sorted(folder.iterdir()):
        name = path.name
        if name == METADATA_FILENAME or name.startswith(".") or name.lower() in _IGNORED_NAMES:
            continue
        if path.is_dir():
            unsupported.append(f"{name}/ (sub-folders are not read)")
        elif path.suffix.lower() in PAGE_SUFFIXES:
            page_files.append(path)
        else:
            unsupported.append(name)
    if unsupported:
        raise UnsupportedFileError(
            f"{folder}: not a page image: {', '.join(unsupported)} "
            f"(accepted: {', '.join(sorted(PAGE_SUFFIXES))}); remove or convert the file"
        )
    if not page_files:
        raise EmptyItemError(f"{folder}: item folder holds no page images")

    files: list[SourceFile] = []
    pages: list[PageSource] = []
    for path in page_files:
        try:
            size, digest = path.stat().st_size, sha256_file(path)
        except OSError as exc:
            raise PageReadError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
        files.append(SourceFile(path, size, digest))
        frames = count_frames(path, max_image_pixels=max_image_pixels)
        for frame in range(frames):
            pages.append(PageSource(len(pages) + 1, path, frame, frames))
    item_id = metadata.identifier or folder.name
    if not _SAFE_ID.match(item_id):
        raise MetadataError(
            f"{folder}: folder name {folder.name!r} cannot be an e-library identifier; "
            f"add identifier = \"...\" (letters A-Z, digits, '.', '_', '-') to {METADATA_FILENAME}"
        )
    return Item(item_id, folder, metadata, tuple(files), tuple(pages))
