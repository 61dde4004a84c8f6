"""EPUB 3 in Latin script, written page group by page group into the zip.

The book is never held in memory: pages come from ``reflow_pages`` one at
a time and go into XHTML files of ``pages_per_file`` pages, each written
into the zip as soon as it is complete. What is kept until the end is the
list of those files and one (label, link) pair per page for the page list.

Layout of the package (checked with epubcheck in tests/test_epub.py)::

    mimetype                      first, stored (not compressed)
    META-INF/container.xml
    EPUB/package.opf              metadata, manifest, spine
    EPUB/nav.xhtml                table of contents and page-list
    EPUB/cover.xhtml, cover.jpg   cover: the first page
    EPUB/style.css
    EPUB/text/part-0001.xhtml     pages 1-50, ...

Print page numbers are ``epub:type="pagebreak"`` markers in the text and a
``page-list`` navigation; the zip entries have a fixed date so the same
pages give the same bytes.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape as _escape
from xml.sax.saxutils import quoteattr as _quoteattr

from digitize.assembly.reflow import FlowPage
from digitize.files import atomic_path

__all__ = ["EpubInfo", "write_epub"]

_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
# Characters XML 1.0 does not allow (control characters, non-characters).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def escape(text: str) -> str:
    return _escape(_NOT_XML.sub("", text))


def quoteattr(text: str) -> str:
    return _quoteattr(_NOT_XML.sub("", text))
_XHTML_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n'
    '<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" '
    'xml:lang={lang} lang={lang}>\n<head>\n<meta charset="UTF-8"/>\n<title>{title}</title>\n'
    '<link rel="stylesheet" type="text/css" href="{css}"/>\n</head>\n'
)
_CSS = b"""body { margin: 0 5%; line-height: 1.45; font-family: serif; }
p { text-indent: 1.5em; margin: 0; text-align: justify; }
h1 { text-align: center; margin: 2em 0 1em; }
.cover { text-align: center; margin: 0; padding: 0; }
.cover img { max-width: 100%; max-height: 100vh; }
"""
_CONTAINER = b"""<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="EPUB/package.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>
"""


@dataclass(frozen=True)
class EpubInfo:
    identifier: str
    title: str
    authors: tuple[str, ...] = ()
    language: str = "az-Latn"
    date: str | None = None  # publication year
    modified: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    publisher: str | None = None


def _entry(zf: zipfile.ZipFile, name: str, data: bytes, *, stored: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def _page_marker(page: FlowPage, label: str, anchor: str) -> str:
    return (
        f'<span epub:type="pagebreak" role="doc-pagebreak" id="{anchor}" '
        f"aria-label={quoteattr(label)} title={quoteattr(label)}></span>"
    )


def write_epub(
    dest: Path,
    info: EpubInfo,
    pages: Iterable[FlowPage],
    labels: Sequence[str | None],
    cover_jpeg: bytes | None,
    pages_per_file: int = 50,
) -> None:
    """Write the EPUB for ``pages`` (in order) to ``dest``; ``labels[i]`` is page i's printed label."""
    lang = quoteattr(info.language)
    title = escape(info.title)
    parts: list[str] = []
    page_list: list[tuple[str, str]] = []
    with atomic_path(dest) as tmp:
        with zipfile.ZipFile(tmp, "w") as zf:
            _entry(zf, "mimetype", b"application/epub+zip", stored=True)
            _entry(zf, "META-INF/container.xml", _CONTAINER)
            _entry(zf, "EPUB/style.css", _CSS)
            if cover_jpeg:
                _entry(zf, "EPUB/cover.jpg", cover_jpeg, stored=True)
                cover = (
                    _XHTML_HEAD.format(lang=lang, title=title, css="style.css")
                    + '<body epub:type="cover"><div class="cover">'
                    + f'<img src="cover.jpg" alt={quoteattr(info.title)}/></div></body>\n</html>\n'
                )
                _entry(zf, "EPUB/cover.xhtml", cover.encode("utf-8"))

            buffer: list[str] = []
            in_paragraph = False
            pages_in_buffer = 0

            def flush() -> None:
                nonlocal buffer, pages_in_buffer, in_paragraph
                if in_paragraph:
                    buffer.append("</p>\n")
                    in_paragraph = False
                name = f"part-{len(parts) + 1:04d}.xhtml"
                heading = f"<h1>{title}</h1>\n" if not parts else ""
                body = "".join(buffer)
                doc = (
                    _XHTML_HEAD.format(lang=lang, title=title, css="../style.css")
                    + f'<body>\n<section epub:type="bodymatter chapter" aria-label={quoteattr(info.title)}>\n'
                    + heading + body + "</section>\n</body>\n</html>\n"
                )
                _entry(zf, f"EPUB/text/{name}", doc.encode("utf-8"))
                parts.append(name)
                buffer, pages_in_buffer = [], 0

            for index, page in enumerate(pages):
                if pages_in_buffer >= pages_per_file:
                    flush()
                label = (labels[index] if index < len(labels) else None) or str(index + 1)
                anchor = f"page-{page.seq:05d}"
                part_name = f"part-{len(parts) + 1:04d}.xhtml"
                page_list.append((label, f"text/{part_name}#{anchor}"))
                marker = _page_marker(page, label, anchor)
                paragraphs = list(page.paragraphs)
                if paragraphs and paragraphs[0].continued and in_paragraph:
                    buffer.append(" " + marker + escape(paragraphs[0].text))
                    paragraphs = paragraphs[1:]
                else:
                    if in_paragraph:
                        buffer.append("</p>\n")
                        in_paragraph = False
                    buffer.append(f"<div>{marker}</div>\n")
                for paragraph in paragraphs:
                    if in_paragraph:
                        buffer.append("</p>\n")
                    buffer.append("<p>" + escape(paragraph.text))
                    in_paragraph = True
                pages_in_buffer += 1
            if pages_in_buffer or not parts:
                flush()

            _entry(zf, "EPUB/nav.xhtml", _nav(info, lang, title, parts, page_list))
            _entry(zf, "EPUB/package.opf", _package(info, parts, bool(cover_jpeg)))


def _nav(info: EpubInfo, lang: str, title: str, parts: list[str], page_list: list[tuple[str, str]]) -> bytes:
    out = [_XHTML_HEAD.format(lang=lang, title=title, css="style.css"), "<body>\n"]
    out.append(f'<nav epub:type="toc" id="toc">\n<h1>{title}</h1>\n<ol>\n')
    starts: dict[str, str] = {}
    for label, href in page_list:
        starts.setdefault(href.split("#")[0], label)
    for name in parts:
        first = starts.get(f"text/{name}")
        text = f"{info.title} — {first}" if first and len(parts) > 1 else info.title
        out.append(f'<li><a href="text/{name}">{escape(text)}</a></li>\n')
    out.append("</ol>\n</nav>\n")
    out.append('<nav epub:type="page-list" id="page-list" hidden="hidden">\n<ol>\n')
    for label, href in page_list:
        out.append(f'<li><a href="{href}">{escape(label)}</a></li>\n')
    out.append("</ol>\n</nav>\n</body>\n</html>\n")
    return "".join(out).encode("utf-8")


def _package(info: EpubInfo, parts: list[str], has_cover: bool) -> bytes:
    modified = info.modified.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta = [
        f'<dc:identifier id="pub-id">{escape(info.identifier)}</dc:identifier>',
        f"<dc:title>{escape(info.title)}</dc:title>",
        f"<dc:language>{escape(info.language)}</dc:language>",
        f'<meta property="dcterms:modified">{modified}</meta>',
    ]
    for number, author in enumerate(info.authors, 1):
        meta.append(f'<dc:creator id="creator-{number}">{escape(author)}</dc:creator>')
    if info.date:
        meta.append(f"<dc:date>{escape(info.date)}</dc:date>")
    if info.publisher:
        meta.append(f"<dc:publisher>{escape(info.publisher)}</dc:publisher>")
    if has_cover:
        meta.append('<meta name="cover" content="cover-image"/>')
    manifest = [
        '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>',
        '<item id="css" href="style.css" media-type="text/css"/>',
    ]
    spine = []
    if has_cover:
        manifest.append('<item id="cover-image" href="cover.jpg" media-type="image/jpeg" properties="cover-image"/>')
        manifest.append('<item id="cover" href="cover.xhtml" media-type="application/xhtml+xml"/>')
        spine.append('<itemref idref="cover" linear="no"/>')
    for number, name in enumerate(parts, 1):
        manifest.append(f'<item id="part-{number}" href="text/{name}" media-type="application/xhtml+xml"/>')
        spine.append(f'<itemref idref="part-{number}"/>')
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="pub-id" '
        f'xml:lang="{escape(info.language)}">',
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">',
        *meta,
        "</metadata>",
        "<manifest>",
        *manifest,
        "</manifest>",
        "<spine>",
        *spine,
        "</spine>",
        "</package>",
        "",
    ]
    return "\n".join(lines).encode("utf-8")
