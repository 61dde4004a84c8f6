"""Reading a scanned batch: one folder, one sub-folder per item.

An item folder holds ``item.toml`` and its page files, in reading order by
natural filename sort (``page-2.tif`` before ``page-10.tif``). A multi-page
TIFF or an image-only PDF contributes one page per frame. Problems with one
item never stop the others: each item comes back either as a readable
:class:`Item` or as an :class:`ItemProblem` that names the file.

Everything that would make an item fail later is refused here, before any
page is queued for OCR: metadata no output format can keep (see
:mod:`digitize.scanners.metadata`), an identifier that is not one whole
match of the pattern, file and folder names with control characters, page
files the image loader refuses, and symbolic links that lead out of the
batch folder.

Symbolic links: an item folder, its ``item.toml`` or a page file may be a
link if it resolves inside the batch folder (a scanner station that links
one plate into two items, say). What we keep is the content, read at
intake, and a link inside the batch travels with it: the hot folder moves
the whole batch, and relative links still resolve. A link that resolves
outside the batch (or nowhere) is refused: the batch would not be
self-contained, whatever it points at would be read and archived as a
master (``/etc/passwd`` named ``p1.png``), and the file could change under
us after intake.

Identifiers: an item's identifier is ``identifier`` from its item.toml,
else its folder's name when that already is one (``INV-0042`` stays as it
is). A folder named as staff name books (``нағыл-2``, ``Nağıl 2``) gets one
derived by the ``identifier_from_name`` rule the caller passes down
(:func:`digitize.transliteration.identifier.identifier_from_name`:
``нағыл-2`` → ``nagil-2``): intake sits below the transliterator in the
layers, so the batch run hands it the rule rather than intake importing it.
Two folders whose identifiers collide where one was derived are both
refused, the message naming both: neither has a better claim to it, and
which one came first is only the folders' sort order.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
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
from digitize.scanners.metadata import IDENTIFIER, METADATA_FILENAME, ItemMetadata, read_metadata
from digitize.scanners.text import refused_character, shown

__all__ = [
    "PageSource",
    "Item",
    "ItemProblem",
    "Batch",
    "IdentifierRule",
    "read_batch",
    "read_item",
    "page_label",
]

# A folder name -> the identifier derived from it, or None if none can be.
IdentifierRule = Callable[[str], str | None]

# Files scanners and operating systems leave behind; never pages.
_IGNORED_NAMES = {"thumbs.db", "desktop.ini", "ready", "ready.txt"}


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
    # True when item_id was derived from a folder name that is not an identifier itself.
    derived_identifier: bool = False

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


def read_batch(
    folder: Path, max_image_pixels: int | None = None, *, identifier_from_name: IdentifierRule | None = None
) -> Batch:
    """Validate every item of a batch folder; bad items become problems.

    ``identifier_from_name`` derives the identifier of a folder whose name is
    not one (see the module's docstring); without it such a folder needs
    ``identifier`` in its item.toml.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise IntakeError(f"{folder}: batch folder does not exist or is not a folder")
    read: list[Item | ItemProblem] = []
    for sub in os_sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            item = read_item(
                sub, max_image_pixels=max_image_pixels, batch_folder=folder, identifier_from_name=identifier_from_name
            )
        except DigitizeError as exc:
            # The folder's name shown safely: it may hold the very character refused.
            read.append(ItemProblem(shown(sub.name), sub, exc.stage, exc.message))
            continue
        read.append(item)
    if not read:
        raise IntakeError(f"{folder}: batch holds no item folders")
    sharing: dict[str, list[Item]] = {}
    for entry in read:
        if isinstance(entry, Item):
            sharing.setdefault(entry.item_id, []).append(entry)
    items: list[Item] = []
    problems: list[ItemProblem] = []
    for entry in read:
        if isinstance(entry, ItemProblem):
            problems.append(entry)
            continue
        same = sharing[entry.item_id]
        if len(same) > 1 and any(other.derived_identifier for other in same):
            folders = " and ".join(shown(other.folder) for other in same)
            problems.append(
                ItemProblem(
                    entry.item_id,
                    entry.folder,
                    "intake",
                    f"{shown(entry.folder)}: folders {folders} both get the identifier {entry.item_id!r} "
                    f"(folder names in Cyrillic or with spaces are folded to letters a-z, digits and '-'); "
                    f'rename one folder, or add identifier = "..." to its {METADATA_FILENAME}',
                )
            )
        elif same[0] is not entry:
            problems.append(
                ItemProblem(
                    entry.item_id,
                    entry.folder,
                    "intake",
                    f"{shown(entry.folder)}: identifier {entry.item_id!r} is already used by {shown(same[0].folder)}",
                )
            )
        else:
            items.append(entry)
    return Batch(folder.name, folder, tuple(items), tuple(problems))


def read_item(
    folder: Path,
    max_image_pixels: int | None = None,
    batch_folder: Path | None = None,
    *,
    identifier_from_name: IdentifierRule | None = None,
) -> Item:
    """Validate one item folder and list its pages in reading order.

    ``batch_folder`` (default: the folder's parent) is what symbolic links
    must stay inside. Cheap checks come first (names, links, metadata,
    identifier), then every page file is hashed and its header read.
    ``identifier_from_name`` as for :func:`read_batch`.
    """
    batch_root = (batch_folder or folder.parent).resolve()
    _check_name(folder, "item folder")
    _check_inside(folder, batch_root, "item folder")
    metadata_path = folder / METADATA_FILENAME
    if metadata_path.is_symlink():
        _check_inside(metadata_path, batch_root, METADATA_FILENAME)
    metadata = read_metadata(metadata_path)
    item_id = metadata.identifier or folder.name
    derived = False
    if not IDENTIFIER.fullmatch(item_id) and metadata.identifier is None and identifier_from_name is not None:
        folded = identifier_from_name(folder.name)
        if folded is not None:
            item_id, derived = folded, True
    if not IDENTIFIER.fullmatch(item_id):
        raise MetadataError(
            f"{shown(folder)}: folder name {folder.name!r} cannot be an e-library identifier; "
            f"add identifier = \"...\" (letters A-Z, digits, '.', '_', '-') to {METADATA_FILENAME}"
        )

    page_files: list[Path] = []
    unsupported: list[str] = []
    for path in os_sorted(folder.iterdir()):
        name = path.name
        if name == METADATA_FILENAME or name.startswith(".") or name.lower() in _IGNORED_NAMES:
            continue
        if path.is_dir():
            unsupported.append(f"{shown(name)}/ (sub-folders are not read)")
        elif path.suffix.lower() in PAGE_SUFFIXES:
            page_files.append(path)
        else:
            unsupported.append(shown(name))
    if unsupported:
        raise UnsupportedFileError(
            f"{shown(folder)}: not a page image: {', '.join(unsupported)} "
            f"(accepted: {', '.join(sorted(PAGE_SUFFIXES))}); remove or convert the file"
        )
    if not page_files:
        raise EmptyItemError(f"{shown(folder)}: item folder holds no page images")
    for path in page_files:
        _check_name(path, "page file")
        if path.is_symlink():
            _check_inside(path, batch_root, "page file")

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
    return Item(item_id, folder, metadata, tuple(files), tuple(pages), derived_identifier=derived)


def _check_name(path: Path, what: str) -> None:
    """A file or folder name ends up in METS, the manifest and object keys: refuse what they cannot hold."""
    reason = refused_character(path.name)
    if reason is not None:
        raise IntakeError(f"{shown(path)}: the {what}'s name cannot be kept ({reason}); rename it")


def _check_inside(path: Path, batch_root: Path, what: str) -> None:
    """Refuse a symbolic link (or a path through one) that resolves outside the batch folder, or nowhere."""
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # missing target, a link loop
        leads_to = f" to {shown(os.readlink(path))}" if path.is_symlink() else ""
        raise IntakeError(
            f"{shown(path)}: the {what} is a symbolic link{leads_to} that leads nowhere "
            f"({exc.__class__.__name__}); copy the file itself into the item folder"
        ) from exc
    if not target.is_relative_to(batch_root):
        raise IntakeError(
            f"{shown(path)}: the {what} is a symbolic link to {shown(target)}, outside the batch folder "
            f"{shown(batch_root)}; copy the file itself into the item folder"
        )
