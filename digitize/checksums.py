"""File checksums, read in chunks so memory does not grow with file size."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["READ_CHUNK", "sha256_file"]

READ_CHUNK = 1024 * 1024


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of a file. Raises OSError when the file cannot be read."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
