"""The Latin EPUB 3: valid by epubcheck, reflowed text, page list, cover, metadata."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from digitize.assembly.epub import EpubInfo, write_epub
from digitize.assembly.reflow import FlowPage, FlowParagraph

from helpers.reader_item import FIRST_PRINTED, make_reader_item

EPUBCHECK = Path("/usr/share/java/epubcheck.jar")
XHTML = "{http://www.w3.org/1999/xhtml}"


def epubcheck(path: Path) -> subprocess.CompletedProcess:
    if not EPUBCHECK.exists() or shutil.which("java") is None:
        pytest.skip("epubcheck not installed (apt-get install epubcheck)")
    return subprocess.run(["java", "-jar", str(EPUBCHECK), str(path)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return make_reader_item(tmp_path_factory.getbasetemp() / "reader")


def _epub(book) -> Path:
    return next(f.path for f in book.outputs.files if f.role == "epub")


@pytest.mark.slow  # epubcheck (Java) takes seconds
@pytest.mark.needs_tesseract
def test_item_epub_passes_epubcheck(book):
    result = epubcheck(_epub(book))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 fatals / 0 errors / 0 warnings" in result.stdout


@pytest.mark.needs_tesseract
def test_item_epub_content(book):
    with zipfile.ZipFile(_epub(book)) as zf:
        first = zf.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        opf = etree.fromstring(zf.read("EPUB/package.opf"))
        ns = {"dc": "http://purl.org/dc/elements/1.1/", "opf": "http://www.idpf.org/2007/opf"}
        assert opf.findtext(".//dc:language", namespaces=ns) == "az-Latn"
        title = opf.findtext(".//dc:title", namespaces=ns)
        assert title.startswith("Azərbaycan <tarixi> &") and "עברית" in title  # escaped, not broken
        assert opf.findtext(".//dc:creator", namespaces=ns) == "H. Əlizadə"
        assert opf.findtext(".//dc:identifier", namespaces=ns) == "book-rdr"
        assert opf.find(".//opf:meta[@property='dcterms:modified']", ns) is not None
        assert opf.find(".//opf:item[@properties='cover-image']", ns) is not None
        text = zf.read("EPUB/text/part-0001.xhtml").decode()
        nav = etree.fromstring(zf.read("EPUB/nav.xhtml"))
    body = etree.fromstring(text.encode())
    paragraphs = ["".join(p.itertext()) for p in body.iter(f"{XHTML}p")]
    joined = " ".join(paragraphs)
    assert "neftçilik" in joined  # "нефт-" / "чилик" joined across the line end
    assert "TARİXİ" not in joined  # running heads left out
    assert not any(p.strip().isdigit() for p in paragraphs)  # page numbers left out
    # The paragraph running from page 27 to 28 stays one paragraph, with the page break inside it.
    running = next(p for p in body.iter(f"{XHTML}p") if "kitabxana" in "".join(p.itertext()))
    assert running.find(f"{XHTML}span") is not None and "Milli" in "".join(running.itertext())
    page_list = nav.find(f".//{XHTML}nav[@id='page-list']")
    assert [a.text for a in page_list.iter(f"{XHTML}a")] == [str(FIRST_PRINTED + i) for i in range(4)]


@pytest.mark.slow  # epubcheck (Java) takes seconds
def test_long_book_streams_into_several_files_and_validates(tmp_path):
    """200 pages, 50 per file, page numbers i-ii then 1...: epubcheck accepts it."""
    pages = (
        FlowPage(seq, seq, (FlowParagraph(f"Səhifə {seq}: mətn <b> & \u202eRTL\u202c e\u0301."),))
        for seq in range(1, 201)
    )
    labels = ["i", "ii"] + [str(n) for n in range(1, 199)]
    info = EpubInfo("test-200", 'Kitab "<&>"\x0b', ("Müəllif",), date="1968", modified=datetime(2026, 1, 1, tzinfo=UTC))
    dest = tmp_path / "book.epub"
    write_epub(dest, info, pages, labels, cover_jpeg=None)
    with zipfile.ZipFile(dest) as zf:
        parts = [n for n in zf.namelist() if n.startswith("EPUB/text/")]
    assert len(parts) == 4
    result = epubcheck(dest)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow  # epubcheck (Java) takes seconds
def test_empty_book_still_validates(tmp_path):
    dest = tmp_path / "empty.epub"
    write_epub(dest, EpubInfo("empty-1", "Boş"), iter([FlowPage(1, None, ())]), [None], cover_jpeg=None)
    assert epubcheck(dest).returncode == 0


@pytest.mark.needs_tesseract
def test_thumbnail_for_the_catalog(book):
    from PIL import Image

    thumb = next(f for f in book.outputs.files if f.role == "thumbnail")
    assert thumb.content_type == "image/jpeg" and thumb.key == "thumbnail.jpg"
    with Image.open(thumb.path) as image:
        assert image.format == "JPEG" and max(image.size) == book.settings.pdf.thumbnail_px
