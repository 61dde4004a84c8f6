"""A BagIt package per item, kept as one zip file that refers to the stored files instead of copying them.

The bag lists every file of the item under ``data/<key>`` (masters, PDF,
texts, hOCR, ALTO, METS, MARC, records) in SHA-256 and SHA-512 payload
manifests, with tag manifests over its tag files and a bag-info.txt that
names the source organisation, the item and the Payload-Oxum of the whole
payload. Files the store already keeps are not carried: ``fetch.txt``
names each by its URL in the store (:func:`fetch_url`), so the masters,
the largest bytes the library keeps, are stored once (under
``items/<id>/masters/``), and the bag proves them by their digests. Only
the files the store may change after the run are carried inside the zip:
the METS, which gains review decisions in the store (delivery.review_mets)
while the bag keeps it as it was made.

A bag with ``fetch.txt`` is complete once its listed files are fetched
(``digitize bag fetch``, delivery.bags); then it validates with the
``bagit`` library like any other bag. The payload manifests are the same
as a bag that carried every file would have.

Why a zip: the bag is the transfer package; one file moves and verifies as
a unit. It is written deterministically (sorted entries, fixed time stamps
from the run, no extra attributes), so a re-run gives the same bytes.

The tag files are written here rather than by ``bagit.make_bag``, which can
only bag files it holds and changes the process's working directory; their
form is bagit's own (BagIt-Version 0.97, ``digest  path`` lines, sorted
bag-info fields), and the tests validate the result with ``bagit``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import quote, unquote, urlsplit

import bagit

from digitize.checksums import READ_CHUNK
from digitize.errors import OutputError
from digitize.files import atomic_path
from digitize.pipeline.model import OutputFile

__all__ = [
    "BAG_ALGORITHMS",
    "FETCH_TXT",
    "BagContents",
    "carried_sha256",
    "fetch_url",
    "make_bag_zip",
    "open_bag_zip",
    "read_bag_zip",
    "stored_key_of",
    "unpack_bag",
    "validate_bag",
]

log = logging.getLogger(__name__)

BAG_ALGORITHMS = ("sha256", "sha512")
BAGIT_TXT = "BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n"
FETCH_TXT = "fetch.txt"
_COMPRESSED = (".png", ".jpg", ".jpeg", ".jp2", ".tif", ".tiff", ".pdf", ".epub", ".zip", ".gz")
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")
_TAG_FILE_LIMIT = 256 * 1024 * 1024  # a tag file of a 100,000-page item is a few tens of MB


def fetch_url(storage_url: str, key: str) -> str:
    """The URL in ``fetch.txt`` of the stored object ``key`` (its full key in the store).

    S3 (``s3://BUCKET/PREFIX``): ``s3://BUCKET/PREFIX/KEY``, the object's
    own URL (what the store's ``url_for`` names, percent-encoded), which S3
    tools fetch. A local folder (``file://FOLDER``): ``file:KEY``, the key
    relative to the store's folder: a folder's path belongs to one machine
    and one mount point, and the bag must stay valid when the store is
    moved or copied to a second site (and must not differ between two
    stores of the same content); ``digitize bag fetch`` resolves it against
    the store that holds the bag. Both are absolute URIs (RFC 3986), as
    BagIt asks, and ``bagit`` accepts both.
    """
    encoded = quote(key, safe="/")
    if storage_url.startswith("s3://"):
        bucket, _, prefix = storage_url[len("s3://"):].partition("/")
        prefix = prefix.strip("/")
        return f"s3://{bucket}/{quote(prefix, safe='/')}/{encoded}" if prefix else f"s3://{bucket}/{encoded}"
    return f"file:{encoded}"


def stored_key_of(url: str) -> str | None:
    """The store key a ``file:KEY`` URL of :func:`fetch_url` names (None: another kind of URL)."""
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc or url.startswith("file:/"):
        return None
    return unquote(parts.path)


@dataclass(frozen=True)
class _Entry:
    key: str  # under data/
    size: int
    digests: dict[str, str]
    path: Path
    url: str | None  # fetched from here; None: carried in the zip


def _digests(path: Path, known_sha256: str | None) -> tuple[int, dict[str, str]]:
    """Size and digests of a file in one read (SHA-256 only when not known already)."""
    hashers = {name: hashlib.new(name) for name in BAG_ALGORITHMS if not (name == "sha256" and known_sha256)}
    size = 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(READ_CHUNK):
                size += len(chunk)
                for hasher in hashers.values():
                    hasher.update(chunk)
    except OSError as exc:
        raise OutputError(f"{path}: cannot read it for the BagIt package ({exc.strerror or exc})") from exc
    digests = {name: hasher.hexdigest() for name, hasher in hashers.items()}
    if known_sha256:
        digests["sha256"] = known_sha256
    return size, digests


def _tag_text(info: Mapping[str, str]) -> str:
    """bag-info.txt as bagit writes it: fields sorted by name, line breaks removed from values."""
    return "".join(f"{name}: {_LINE_BREAKS.sub('', str(info[name]))}\n" for name in sorted(info))


def _path_in_bag(key: str) -> str:
    # bagit's own escaping (CR and LF); store keys have neither (storage.objects.check_key)
    return "data/" + key.replace("\r", "%0D").replace("\n", "%0A")


def make_bag_zip(
    files: Sequence[OutputFile],
    dest: Path,
    bag_name: str,
    info: Mapping[str, str],
    date: tuple[int, int, int, int, int, int],
    *,
    fetch_urls: Mapping[str, str] | None = None,
) -> None:
    """Bag ``files`` (by key) into the zip ``dest`` with top folder ``bag_name``.

    ``fetch_urls`` maps the keys of the files the bag refers to (listed in
    ``fetch.txt``, not carried) to their URLs; every other file is carried
    under ``data/``. ``info`` goes into bag-info.txt with the Payload-Oxum
    (it should hold Bagging-Date, so that the bag does not depend on the day
    it is made); ``date`` is the zip entries' time stamp. Each file is read
    once, for its digests (a master's SHA-256, known from the fixity check,
    is taken from its OutputFile).
    """
    urls = dict(fetch_urls or {})
    entries: list[_Entry] = []
    seen: set[str] = set()
    for f in files:
        if f.key in seen:
            raise OutputError(f"{bag_name}: two files with the key {f.key!r}")
        seen.add(f.key)
        size, digests = _digests(f.path, f.sha256)
        entries.append(_Entry(f.key, size, digests, f.path, urls.pop(f.key, None)))
    if urls:
        raise OutputError(f"{bag_name}: fetch URLs for files not in the bag: {sorted(urls)}")
    entries.sort(key=lambda e: _path_in_bag(e.key))

    tags: dict[str, bytes] = {"bagit.txt": BAGIT_TXT.encode()}
    full_info = dict(info)
    full_info["Payload-Oxum"] = f"{sum(e.size for e in entries)}.{len(entries)}"
    tags["bag-info.txt"] = _tag_text(full_info).encode()
    for algorithm in BAG_ALGORITHMS:
        tags[f"manifest-{algorithm}.txt"] = "".join(
            f"{e.digests[algorithm]}  {_path_in_bag(e.key)}\n" for e in entries
        ).encode()
    fetched = [e for e in entries if e.url is not None]
    if fetched:
        tags[FETCH_TXT] = "".join(f"{e.url} {e.size} {_path_in_bag(e.key)}\n" for e in fetched).encode()
    for algorithm in BAG_ALGORITHMS:
        tags[f"tagmanifest-{algorithm}.txt"] = "".join(
            f"{hashlib.new(algorithm, tags[name]).hexdigest()}  {name}\n" for name in sorted(tags)
        ).encode()

    members: list[tuple[str, bytes | Path]] = [(name, data) for name, data in tags.items()]
    members += [(_path_in_bag(e.key), e.path) for e in entries if e.url is None]
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp, zipfile.ZipFile(tmp, "w", allowZip64=True) as archive:
        for name, content in sorted(members, key=lambda member: member[0]):
            entry = zipfile.ZipInfo(f"{bag_name}/{name}", date_time=date)
            entry.external_attr = 0o644 << 16
            entry.create_system = 3  # unix, whatever system made it
            compressed = Path(name).suffix.lower() in _COMPRESSED
            entry.compress_type = zipfile.ZIP_STORED if compressed else zipfile.ZIP_DEFLATED
            if isinstance(content, bytes):
                archive.writestr(entry, content)
                continue
            size = content.stat().st_size
            with content.open("rb") as src, archive.open(entry, "w", force_zip64=size >= 2**31) as out:
                shutil.copyfileobj(src, out, READ_CHUNK)


@dataclass(frozen=True)
class BagContents:
    """What a bag zip says about its payload, read without unpacking it.

    ``manifest``: payload path (``data/...``) → SHA-256; ``fetch``: payload
    path → (URL, size or None) for the files the bag refers to; ``carried``:
    payload paths held in the zip; ``tag_problems``: tag files whose digest
    differs from the tag manifest, or that it lists and the zip lacks.
    """

    top: str
    info: dict[str, str]
    manifest: dict[str, str]
    fetch: dict[str, tuple[str, int | None]]
    carried: tuple[str, ...]
    tag_problems: tuple[str, ...]


def _lines(data: bytes) -> Iterator[str]:
    for line in data.decode("utf-8-sig").splitlines():
        if line.strip():
            yield line


def read_bag_zip(archive: zipfile.ZipFile) -> BagContents:
    """Read a bag zip's tag files (one top folder, as :func:`make_bag_zip` writes it).

    Raises OutputError when it is not such a bag. Payload bytes carried in
    the zip are not read here (``carried`` names them).
    """
    names = [n for n in archive.namelist() if not n.endswith("/")]
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) != 1 or any("/" not in n for n in names):
        raise OutputError(f"not a bag zip: expected one top folder, found {sorted(tops)[:5]}")
    top = tops.pop()
    inside = {n[len(top) + 1 :]: n for n in names}

    def tag(name: str) -> bytes | None:
        member = inside.get(name)
        if member is None:
            return None
        if archive.getinfo(member).file_size > _TAG_FILE_LIMIT:
            raise OutputError(f"{top}/{name}: a tag file of {archive.getinfo(member).file_size} bytes is not plausible")
        return archive.read(member)

    if tag("bagit.txt") is None:
        raise OutputError(f"{top}: not a bag (no bagit.txt)")
    info: dict[str, str] = {}
    for line in _lines(tag("bag-info.txt") or b""):
        name, _, value = line.partition(":")
        info.setdefault(name.strip(), value.strip())
    manifest: dict[str, str] = {}
    for line in _lines(tag("manifest-sha256.txt") or b""):
        digest, _, path = line.partition(" ")
        manifest[path.strip().replace("%0D", "\r").replace("%0A", "\n")] = digest.lower()
    if not manifest:
        raise OutputError(f"{top}: the bag has no SHA-256 payload manifest")
    fetch: dict[str, tuple[str, int | None]] = {}
    for line in _lines(tag(FETCH_TXT) or b""):
        url, length, path = line.strip().split(None, 2)
        fetch[path] = (url, int(length) if length.isdigit() else None)
    problems = []
    for line in _lines(tag("tagmanifest-sha256.txt") or b""):
        digest, _, name = line.partition(" ")
        data = tag(name.strip())
        if data is None:
            problems.append(f"{name.strip()}: listed by the tag manifest, not in the bag")
        elif hashlib.sha256(data).hexdigest() != digest.lower():
            problems.append(f"{name.strip()}: its SHA-256 is not the tag manifest's")
    carried = tuple(sorted(p for p in inside if p.startswith("data/")))
    return BagContents(top, info, manifest, fetch, carried, tuple(problems))


def validate_bag(path: Path) -> bagit.Bag:
    """Open a bag folder and check it completely (every digest of every manifest)."""
    bag = bagit.Bag(str(path))
    bag.validate(processes=1)
    return bag


def carried_sha256(archive: zipfile.ZipFile, top: str, path: str) -> str:
    """SHA-256 of a payload file carried in a bag zip, streamed."""
    digest = hashlib.sha256()
    with archive.open(f"{top}/{path}") as stream:
        while chunk := stream.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def open_bag_zip(data: bytes | Path) -> zipfile.ZipFile:
    """A bag zip from its bytes or its file; OutputError when it is not a zip."""
    try:
        return zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data)
    except (zipfile.BadZipFile, OSError) as exc:
        raise OutputError(f"not a readable zip: {exc}") from exc


def _safe_member(top: str, name: str) -> PurePosixPath:
    """The relative path of a zip member under the bag folder; OutputError if it would leave it."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0] != top or "\\" in name:
        raise OutputError(f"the bag zip has an unsafe entry {name!r}")
    return path


def unpack_bag(
    bag_zip: Path, dest: Path, fetch: Callable[[str, str], AbstractContextManager[BinaryIO]]
) -> tuple[Path, int]:
    """Unpack a bag zip into ``dest``, fetch what its ``fetch.txt`` lists, and validate it with ``bagit``.

    ``fetch(url, payload_path)`` opens the bytes of one listed file. The
    complete bag keeps its ``fetch.txt`` (the tag manifests cover it; a bag
    may keep one once complete). Returns the bag folder and the number of
    files fetched; raises OutputError when the bag cannot be unpacked and
    ``bagit.BagValidationError`` (or ``bagit.BagError``) when the complete
    bag does not validate: a fetched file that is not what the bag's
    manifests say.
    """
    with open_bag_zip(bag_zip) as archive:
        contents = read_bag_zip(archive)
        folder = dest / contents.top
        if folder.exists() and any(folder.iterdir()):
            raise OutputError(f"{folder} exists and is not empty; choose an empty destination")
        for member in archive.infolist():
            if member.is_dir():
                continue
            target = dest.joinpath(*_safe_member(contents.top, member.filename).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, target.open("wb") as out:
                shutil.copyfileobj(src, out, READ_CHUNK)
    for path, (url, _size) in sorted(contents.fetch.items()):
        target = folder.joinpath(*_safe_member(contents.top, f"{contents.top}/{path}").parts[1:])
        if target.exists():
            continue  # carried after all: bagit checks it like any payload file
        target.parent.mkdir(parents=True, exist_ok=True)
        with fetch(url, path) as src, target.open("wb") as out:
            shutil.copyfileobj(src, out, READ_CHUNK)
    validate_bag(folder)
    return folder, len(contents.fetch)
