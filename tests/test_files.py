"""The atomic writer: complete or absent, never partial, never a leftover temporary file."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from digitize import files
from digitize.files import atomic_output, atomic_path, atomic_write_bytes, atomic_write_text


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_bytes_are_written_whole_and_no_temporary_file_stays(tmp_path: Path) -> None:
    dest = tmp_path / "page.pdf"
    data = bytes(range(256)) * 4096
    atomic_write_bytes(dest, data)
    assert dest.read_bytes() == data
    assert _names(tmp_path) == ["page.pdf"]


def test_text_matches_path_write_text(tmp_path: Path) -> None:
    text = "Azərbaycan\nАзәрбајҹан\r\nend"
    atomic_write_text(tmp_path / "a.txt", text)
    (tmp_path / "b.txt").write_text(text, encoding="utf-8")
    assert (tmp_path / "a.txt").read_bytes() == (tmp_path / "b.txt").read_bytes()
    atomic_write_text(tmp_path / "c.txt", "abc\n", encoding="ascii")
    assert (tmp_path / "c.txt").read_bytes() == b"abc\n"


def test_replaces_an_existing_file(tmp_path: Path) -> None:
    dest = tmp_path / "record.json"
    dest.write_text("old", encoding="utf-8")
    atomic_write_text(dest, "new")
    assert dest.read_text(encoding="utf-8") == "new"
    assert _names(tmp_path) == ["record.json"]


def test_mode_is_that_of_a_plain_write(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "atomic", b"x")
    (tmp_path / "plain").write_bytes(b"x")
    assert stat.S_IMODE((tmp_path / "atomic").stat().st_mode) == stat.S_IMODE((tmp_path / "plain").stat().st_mode)


class Boom(Exception):
    pass


def test_exception_mid_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    dest = tmp_path / "page.hocr"
    dest.write_bytes(b"old complete file")
    with pytest.raises(Boom), atomic_output(dest) as out:
        out.write(b"half of the new")
        raise Boom
    assert dest.read_bytes() == b"old complete file"
    assert _names(tmp_path) == ["page.hocr"]


def test_exception_mid_write_leaves_nothing_when_there_was_no_file(tmp_path: Path) -> None:
    with pytest.raises(Boom), atomic_output(tmp_path / "text.txt", "w") as out:
        out.write("partial")
        raise Boom
    assert _names(tmp_path) == []


def test_path_form_for_libraries_that_write_by_name(tmp_path: Path) -> None:
    dest = tmp_path / "book.epub"
    with atomic_path(dest) as temp:
        assert temp.parent == tmp_path and temp.name.startswith(".book.epub.") and temp.suffix == ".epub"
        assert temp.name.endswith(".part.epub")
        assert not dest.exists()
        temp.write_bytes(b"zip bytes")
    assert dest.read_bytes() == b"zip bytes"
    assert _names(tmp_path) == ["book.epub"]

    with pytest.raises(Boom), atomic_path(dest, keep_suffix=False) as temp:
        assert temp.name.endswith(".part")
        temp.write_bytes(b"broken")
        raise Boom
    assert dest.read_bytes() == b"zip bytes"
    assert _names(tmp_path) == ["book.epub"]


def test_two_writers_at_once_use_different_temporary_files(tmp_path: Path) -> None:
    dest = tmp_path / "shared.json"
    both_open = threading.Barrier(2)
    temps: list[str] = []
    errors: list[BaseException] = []

    def writer(payload: bytes) -> None:
        try:
            with atomic_output(dest) as out:
                temps.append(os.readlink(f"/proc/self/fd/{out.fileno()}"))
                out.write(payload)
                both_open.wait(timeout=10)  # both temporary files exist at the same time
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in (b"A" * 100_000, b"B" * 100_000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(temps)) == 2
    assert all(Path(t).name.startswith(".shared.json.") and t.endswith(".part") for t in temps)
    assert dest.read_bytes() in (b"A" * 100_000, b"B" * 100_000)
    assert _names(tmp_path) == ["shared.json"]


def test_file_and_folder_are_synced_before_and_after_the_rename(tmp_path: Path, monkeypatch) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append(("replace", os.fspath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.os, "replace", replace)
    dest = tmp_path / "result.json"
    atomic_write_text(dest, "{}")
    assert [kind for kind, _ in events] == ["fsync", "replace", "fsync"]
    assert events[0][1].endswith(".part")  # the data, under the temporary name
    assert events[1][1] == str(dest)
    assert events[2][1] == str(tmp_path)  # the folder, so the rename survives a power cut

    events.clear()
    with atomic_path(tmp_path / "page.pdf") as temp:
        temp.write_bytes(b"%PDF")
    assert [kind for kind, _ in events] == ["fsync", "replace", "fsync"]
    assert events[2][1] == str(tmp_path)


def test_failed_fsync_leaves_no_file(tmp_path: Path, monkeypatch) -> None:
    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert _names(tmp_path) == []


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        atomic_output(tmp_path / "x", "a")  # type: ignore[call-overload]
