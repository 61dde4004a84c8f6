"""The local store syncs an object's bytes and name before put_file returns; its digest sidecar is a cache."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from digitize.storage import LocalObjectStore


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_upload_syncs_the_data_and_its_folder_not_the_sidecar(tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "page.txt"
    source.write_bytes(b"page one")
    store = LocalObjectStore(tmp_path / "store")
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append(("replace", os.fspath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    stored = store.put_file("items/b/page.txt", source)
    target = store.root / "items" / "b" / "page.txt"
    assert stored.uploaded
    # The bytes (under the temporary name), the rename, the folder: all before put_file returned.
    assert events[0][0] == "fsync" and events[0][1].endswith(".part")
    assert events[1] == ("replace", str(target))
    assert events[2] == ("fsync", str(target.parent))
    # Then only the sidecar's rename: never synced.
    assert events[3:] == [("replace", str(target.parent / ".page.txt.sha256"))]


def test_a_sidecar_lost_or_emptied_by_a_crash_is_not_trusted(tmp_path: Path) -> None:
    source = tmp_path / "page.txt"
    source.write_bytes(b"page one")
    store = LocalObjectStore(tmp_path / "store")
    store.put_file("page.txt", source)
    sidecar = store.root / ".page.txt.sha256"
    old = sidecar.read_text()

    sidecar.write_text("")  # written but not synced: a crash may leave it empty
    assert store.stat("page.txt").sha256 == _sha(b"page one")
    sidecar.unlink()  # or its rename lost
    assert store.stat("page.txt").sha256 == _sha(b"page one")
    # An old sidecar (another version of the object) left in place: computed again, not trusted.
    (store.root / "page.txt").unlink()
    (store.root / "page.txt").write_bytes(b"page two")
    sidecar.write_text(old)
    assert store.stat("page.txt").sha256 == _sha(b"page two")
    # A re-run with the same bytes finds the object and sends nothing.
    source.write_bytes(b"page two")
    assert store.put_file("page.txt", source).uploaded is False
    assert not [p.name for p in store.root.iterdir() if p.name.endswith(".part")]
