"""A BagIt package per item, made with the ``bagit`` library and kept as one zip file.

The payload (``data/``) holds every file of the item under its key, as
published (masters, PDF, texts, hOCR, ALTO, METS, MARC, records); the bag
has SHA-256 and SHA-512 manifests and tag manifests, and bag-info.txt
names the source organisation and the item.

Why a zip: the bag is the transfer package (to a national library, a dark
archive or tape); one self-contained file moves and verifies as a unit,
while the item's files stay published one by one for the e-library. The
zip is written deterministically (sorted entries, fixed time stamps from
the run, no extra attributes), so a re-run gives the same bytes; entries
are streamed into it, images stored as they are and text deflated.

The bag is built in the item's work folder from hard links to the output
files (copies when the file system cannot link), so making it reads every
file once for the two digests and once for the zip.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import bagit

from digitize.errors import OutputError
from digitize.files import atomic_path
from digitize.pipeline.model import OutputFile

__all__ = ["BAG_ALGORITHMS", "make_bag_zip", "validate_bag"]

log = logging.getLogger(__name__)

BAG_ALGORITHMS = ("sha256", "sha512")
_COMPRESSED = (".png", ".jpg", ".jpeg", ".jp2", ".tif", ".tiff", ".pdf", ".epub", ".zip", ".gz")


def _link_or_copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def make_bag_zip(
    files: Sequence[OutputFile],
    dest: Path,
    work_dir: Path,
    bag_name: str,
    info: dict[str, str],
    date: tuple[int, int, int, int, int, int],
) -> None:
    """Bag ``files`` (by key) and zip the bag to ``dest`` with top folder ``bag_name``.

    ``info`` goes into bag-info.txt (it should hold Bagging-Date, so that the
    bag does not depend on the day it is made); ``date`` is the zip entries'
    time stamp.
    """
    staging = work_dir / bag_name
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        seen: set[str] = set()
        for f in files:
            if f.key in seen:
                raise OutputError(f"{bag_name}: two files with the key {f.key!r}")
            seen.add(f.key)
            _link_or_copy(f.path, staging / f.key)
        _make_bag_in_child(staging, info)
        for algorithm in BAG_ALGORITHMS:
            # bagit lists tag files in directory order: sort them, for identical bytes on a re-run.
            tagmanifest = staging / f"tagmanifest-{algorithm}.txt"
            lines = sorted(tagmanifest.read_text(encoding="utf-8").splitlines(keepends=True))
            tagmanifest.write_text("".join(lines), encoding="utf-8")
        _zip_folder(staging, dest, bag_name, date)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _make_bag_in_child(folder: Path, info: dict[str, str]) -> None:
    """bagit.make_bag changes the process's working directory while it runs,
    which would break relative paths in other threads (flows run tasks in
    threads); so it runs in a short-lived child process of its own."""
    done = subprocess.run(
        # absolute: the child runs in the folder's parent, where a relative path means something else
        [sys.executable, "-m", "digitize.archive._make_bag", str(folder.resolve()), *BAG_ALGORITHMS],
        input=json.dumps(info), capture_output=True, text=True, timeout=None,
        cwd=str(folder.parent),
    )
    if done.returncode:
        detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise OutputError(f"{folder}: cannot make the BagIt package ({detail})")



def _zip_folder(folder: Path, dest: Path, top: str, date: tuple[int, int, int, int, int, int]) -> None:
    entries = sorted(p for p in folder.rglob("*") if p.is_file())
    with atomic_path(dest) as tmp, zipfile.ZipFile(tmp, "w", allowZip64=True) as archive:
        for path in entries:
            rel = path.relative_to(folder).as_posix()
            info = zipfile.ZipInfo(f"{top}/{rel}", date_time=date)
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, whatever system made it
            compressed = path.suffix.lower() in _COMPRESSED
            info.compress_type = zipfile.ZIP_STORED if compressed else zipfile.ZIP_DEFLATED
            size = path.stat().st_size
            with path.open("rb") as src, archive.open(info, "w", force_zip64=size >= 2**31) as out:
                shutil.copyfileobj(src, out, 1024 * 1024)


def validate_bag(path: Path) -> bagit.Bag:
    """Open a bag folder and check it completely (every digest of every manifest)."""
    bag = bagit.Bag(str(path))
    bag.validate(processes=1)
    return bag

