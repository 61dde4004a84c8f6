"""Object storage for results: a local folder or S3 behind one interface.

``open_store(settings.storage)`` gives an ``ObjectStore``; ``put_file`` stores
and verifies a file, skipping it when the same bytes are already there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from digitize.storage.factory import open_store
from digitize.storage.local import LocalObjectStore
from digitize.storage.objects import ObjectStore, StoredObject, check_key, sha256_file

if TYPE_CHECKING:
    from digitize.storage.s3 import S3ObjectStore

__all__ = [
    "ObjectStore",
    "StoredObject",
    "LocalObjectStore",
    "S3ObjectStore",
    "open_store",
    "check_key",
    "sha256_file",
]


def __getattr__(name: str) -> Any:
    # boto3 takes a moment to import; load it only when S3 is used.
    if name == "S3ObjectStore":
        from digitize.storage.s3 import S3ObjectStore

        return S3ObjectStore
    raise AttributeError(f"module 'storage' has no attribute {name!r}")
