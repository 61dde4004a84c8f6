"""A complete BagIt bag of a stored item, made from the store: ``digitize bag fetch``.

The stored ``<id>.bag.zip`` carries its tag files and the METS; its
``fetch.txt`` names the item's other files where the store keeps them
(archive.bag). Fetching unpacks the zip into a folder, copies each listed
object out of the store, and validates the whole bag with ``bagit``: every
payload file against the SHA-256 and SHA-512 manifests, the tag manifests,
the Payload-Oxum. A master changed in the store since the bag was made
fails that validation (and ``digitize audit``).

A bag made before the bag referred to the store (it carries every file)
has no ``fetch.txt``: it is unpacked and validated as it is.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

import bagit

from digitize.archive.bag import stored_key_of, unpack_bag
from digitize.archive.package import item_prefix
from digitize.checksums import READ_CHUNK
from digitize.errors import AuditError, OutputError, StorageError
from digitize.files import atomic_output
from digitize.storage.catalog import Catalog
from digitize.storage.objects import ObjectStore

__all__ = ["FetchedBag", "bag_key", "fetch_bag"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchedBag:
    """A complete, validated bag on disk: its folder, how many files were fetched, and their bytes."""

    identifier: str
    folder: Path
    fetched: int
    payload_bytes: int


def bag_key(store: ObjectStore, identifier: str, catalog: Catalog | None = None) -> str:
    """The stored key of the item's bag: the catalog's, else ``items/<id>/<id>.bag.zip`` if stored."""
    if catalog is not None:
        for f in catalog.files(identifier):
            if f.role == "bag":
                return f.key
        if catalog.get(identifier) is None:
            raise StorageError(f"no item {identifier!r} in the catalog")
        raise StorageError(f"{identifier} has no BagIt package (archive.bag was off when it was made)")
    key = f"{item_prefix(identifier)}{identifier}.bag.zip"
    if store.stat(key) is None:
        raise StorageError(f"no BagIt package of {identifier!r} in {store.describe()} (looked for {key})")
    return key


def _stored_key(store: ObjectStore, identifier: str, url: str, path: str) -> str:
    """The store key of a ``fetch.txt`` URL.

    ``file:KEY`` names a key of the store holding the bag; an ``s3://`` URL
    is this store's when the store names the object so. Otherwise (the
    bag was made for a store since moved or copied) the object is taken
    from its place in this store's layout, ``items/<id>/`` and the path
    under ``data/``; the bag's manifests still decide whether it is right.
    """
    key = stored_key_of(url)
    if key is not None:
        return key
    layout = item_prefix(identifier) + path.removeprefix("data/")
    if unquote(url) != store.url_for(layout):
        log.info("%s: %s names another store; fetching %s from %s", identifier, url, layout, store.describe())
    return layout


def fetch_bag(store: ObjectStore, identifier: str, dest: Path, catalog: Catalog | None = None) -> FetchedBag:
    """Make the complete bag of ``identifier`` in ``dest`` from the store and validate it.

    Raises StorageError when the bag or a listed object cannot be read,
    OutputError when the bag cannot be unpacked (``dest`` not empty, not a
    bag), and AuditError when the complete bag is not valid (a stored file
    is not what the bag's manifests say: a loss, as ``digitize audit``
    would report it).
    """
    key = bag_key(store, identifier, catalog)
    dest.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def opened(url: str, path: str) -> Iterator[BinaryIO]:
        with store.open_read(_stored_key(store, identifier, url, path)) as stream:
            yield stream

    with tempfile.TemporaryDirectory(prefix="digitize-bag-", dir=dest) as spool:
        zipped = Path(spool) / "bag.zip"
        try:
            with store.open_read(key) as stream, atomic_output(zipped) as out:
                while chunk := stream.read(READ_CHUNK):
                    out.write(chunk)
        except OSError as exc:
            raise OutputError(f"{dest}: cannot write the bag there ({exc.strerror or exc})") from exc
        try:
            folder, fetched = unpack_bag(zipped, dest, opened)
        except bagit.BagValidationError as exc:
            details = "; ".join(str(d) for d in exc.details[:10]) or str(exc)
            raise AuditError(
                f"{identifier}: the bag fetched from {store.describe()} is not valid: {details}. The stored files "
                f"differ from what the bag's manifests say; run digitize audit {identifier} (the bag is left in {dest})"
            ) from exc
        except bagit.BagError as exc:
            raise AuditError(f"{identifier}: the fetched bag is not a valid bag: {exc} (left in {dest})") from exc
    payload = sum(p.stat().st_size for p in (folder / "data").rglob("*") if p.is_file())
    log.info("%s: complete bag in %s (%d file(s) fetched from %s)", identifier, folder, fetched, store.describe())
    return FetchedBag(identifier, folder, fetched, payload)
