"""Open the object store the settings name."""

from __future__ import annotations

from pathlib import Path

from digitize.errors import ConfigError
from digitize.settings import StorageSettings
from digitize.storage.local import LocalObjectStore
from digitize.storage.objects import ObjectStore

__all__ = ["open_store"]


def open_store(settings: StorageSettings) -> ObjectStore:
    """A store for ``settings.url``: ``file://PATH`` or ``s3://BUCKET/PREFIX``.

    ``file://`` paths are taken literally (no percent-decoding) and may be
    relative: ``file://./data`` is ``./data``, ``file:///srv/data`` is
    ``/srv/data``. Opening a store contacts nothing and creates nothing.
    """
    url = settings.url
    if url.startswith("file://"):
        path = url[len("file://") :]
        if not path:
            raise ConfigError(f"storage url {url!r} names no folder: use file:///path/to/folder")
        return LocalObjectStore(Path(path))
    if url.startswith("s3://"):
        # Imported here so a local-only run never loads boto3.
        from digitize.storage.s3 import S3ObjectStore

        return S3ObjectStore(settings)
    raise ConfigError(f"storage url {url!r} must start with file:// or s3://")
