"""MARC 21: YAZ reads our ISO 2709 and MARCXML without complaint, pymarc round-trips them."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pymarc
import pytest

from digitize.archive.marc import marc_record, personal_name, write_marc
from digitize.archive.package import ebook_urls
from digitize.archive.records import ItemRecord, item_record
from digitize.pipeline.model import OutputFile
from digitize.scanners.metadata import ItemMetadata
from digitize.settings import Settings

TITLE = 'Нағыллар <&> "ики" \'үч\' — كتاب الحكايات — e\u0301 a\u0308'
URL = "https://elib.example.az/items/book-9"


def _yaz(*args: str) -> subprocess.CompletedProcess:
    program = shutil.which("yaz-marcdump")
    if program is None:
        pytest.fail("yaz-marcdump not found: apt-get install yaz (bin/setup --test installs it)")
    return subprocess.run([program, *args], capture_output=True, timeout=60)


def _problems(done: subprocess.CompletedProcess) -> list[str]:
    """YAZ's complaints: a non-zero exit, anything on stderr, and the "(...)" diagnostics it
    writes into its dump when a record's structure is wrong (it still exits 0 then)."""
    problems = [f"exit {done.returncode}"] if done.returncode else []
    if done.stderr.strip():
        problems.append(done.stderr.decode("utf-8", "replace").strip())
    problems += [line for line in done.stdout.decode("utf-8", "replace").splitlines() if line.startswith("(")]
    return problems


def _record(kind: str = "text", **extra: str) -> ItemRecord:
    meta = ItemMetadata(title=TITLE, authors=("Һ. Әлизадә", "Ҹ. Ҹаббарлы"), year=1968, kind=kind,
                        inventory_number="INV-9", collection="Kollec <&> kitabxanası")
    return replace(item_record("book-9", meta, 12), **extra)


@pytest.fixture
def written(tmp_path):
    rec = marc_record(
        _record(), 12, entered="261123", organization="Test Library", organization_code="AzBaTL",
        item_url=URL, file_urls=((URL + "/files/book-9.pdf", "application/pdf", "PDF"),),
        reproduction_year="2026",
    )
    mrc, xml = tmp_path / "book-9.mrc", tmp_path / "book-9.marc.xml"
    write_marc(rec, mrc, xml)
    return rec, mrc, xml


def test_yaz_reads_the_binary_record_without_complaint(written):
    _, mrc, _ = written
    done = _yaz("-f", "UTF-8", "-t", "UTF-8", "-p", str(mrc))
    assert _problems(done) == []
    dump = done.stdout.decode("utf-8")
    assert TITLE in dump
    assert "856 40 $u " + URL in dump
    assert dump.count("<!-- Record ") == 1


def test_yaz_reads_the_marcxml_without_complaint(written):
    _, mrc, xml = written
    done = _yaz("-i", "marcxml", "-o", "marc", str(xml))
    assert _problems(done) == []
    # MARCXML converted back to ISO 2709 by YAZ is the record pymarc wrote.
    again = next(pymarc.MARCReader(done.stdout, to_unicode=True, force_utf8=True))
    assert again["245"]["a"] == TITLE


def test_the_check_catches_a_broken_record(written, tmp_path):
    """The YAZ check is not a formality: a damaged directory entry is reported."""
    _, mrc, _ = written
    data = bytearray(mrc.read_bytes())
    data[30] = ord("x")  # inside the first directory entry's length
    broken = tmp_path / "broken.mrc"
    broken.write_bytes(bytes(data))
    assert _problems(_yaz("-p", str(broken)))


def test_leader_and_fixed_fields(written):
    rec, mrc, _ = written
    raw = mrc.read_bytes()
    assert raw[9:10] == b"a"  # UTF-8
    assert raw[6:8] == b"am"  # language material, monograph
    assert int(raw[:5]) == len(raw)
    f008 = rec["008"].data
    assert len(f008) == 40 and f008[:6] == "261123" and f008[7:11] == "1968"
    assert f008[15:18] == "aj " and f008[23] == "o" and f008[35:38] == "aze"


def test_pymarc_round_trip_keeps_every_field(written):
    rec, mrc, xml = written
    from_binary = next(pymarc.MARCReader(mrc.read_bytes(), to_unicode=True, force_utf8=True))
    from_xml = pymarc.parse_xml_to_array(str(xml))[0]
    for again in (from_binary, from_xml):
        assert [f.tag for f in again.get_fields()] == [f.tag for f in rec.get_fields()]
        assert [str(f) for f in again.get_fields()] == [str(f) for f in rec.get_fields()]
        assert again["245"]["a"] == TITLE
        assert again["100"]["a"] == "Әлизадә, Һ."
        assert again["041"]["a"] == "aze"
        assert again["264"]["c"] == "1968"
        assert again["300"]["a"] == "1 online resource (12 pages)"
        assert again["338"]["b"] == "cr"
        assert [f["u"] for f in again.get_fields("856")] == [URL, URL + "/files/book-9.pdf"]
        assert again["035"]["a"] == "(AzBaTL)book-9"
        latin = again["246"]["a"]
        assert latin.startswith("Nağıllar <&>")


def test_kinds_and_optional_identifiers(tmp_path):
    for kind, leader6, content in (("score", "c", "ntm"), ("art", "k", "sti")):
        rec = marc_record(_record(kind, isbn="978-9952-0-1234-5"), 3, entered="260101", organization="Org")
        write_marc(rec, tmp_path / f"{kind}.mrc", tmp_path / f"{kind}.xml")
        raw = (tmp_path / f"{kind}.mrc").read_bytes()
        assert raw[6:7].decode() == leader6
        assert rec["336"]["b"] == content and rec["020"]["a"] == "978-9952-0-1234-5"
        assert len(rec["008"].data) == 40
        assert _problems(_yaz("-p", str(tmp_path / f"{kind}.mrc"))) == []
        assert rec.get_fields("856") == []  # no e-library address configured


def test_names_are_inverted_for_100():
    assert personal_name("Һ. Әлизадә") == ("1", "Әлизадә, Һ.")
    assert personal_name("Низами") == ("0", "Низами")
    assert personal_name("Ҹаббарлы, Ҹ.") == ("1", "Ҹаббарлы, Ҹ.")


def test_ebook_links_come_from_the_web_base_url():
    files = [OutputFile(Path("/x/b.pdf"), "book 9.pdf", "pdf", "application/pdf"),
             OutputFile(Path("/x/b.epub"), "book-9.epub", "epub", "application/epub+zip"),
             OutputFile(Path("/x/t.txt"), "t.txt", "text-latin", "text/plain")]
    assert ebook_urls(Settings(), "book-9", files) == (None, ())
    item_url, links = ebook_urls(Settings(web={"base_url": "https://elib.example.az/"}), "book-9", files)
    assert item_url == URL
    assert links == ((URL + "/files/book%209.pdf", "application/pdf", "PDF"),
                     (URL + "/files/book-9.epub", "application/epub+zip", "EPUB"))
