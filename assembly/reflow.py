"""Reflowable text from the page layout: paragraphs across lines and pages.

From each page's hOCR (words, lines, Tesseract's paragraphs) we rebuild the
running text a reader wants in an e-book:

- a word split by a hyphen at the end of a line is joined again
  ("нефт-" + "чилик" → "нефтчилик") when the next line starts in lower case;
- running headers and page numbers (a short first or last line standing
  apart from the text block) are left out of the flow; a number found there
  is the page's printed number (for the page list and PDF page labels);
- a paragraph that runs over the end of a page continues on the next page.

Pages are read one at a time (``reflow_pages`` is a generator): the cost
does not grow with the length of the book. The only thing kept across
pages is a count of header texts (a few short strings per page).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from digitize.pipeline.hocr import OcrLine, OcrPage, parse_hocr

__all__ = ["FlowParagraph", "FlowPage", "PageSource", "page_furniture", "printed_labels", "reflow_pages"]

_HYPHENS = ("-", "\u00ad", "\u2010", "\u2011")
_NUMBER = re.compile(r"^[\-–—.\s]*(\d{1,4})[\-–—.\s]*$")
_SENTENCE_END = tuple(".!?…:»\"”)")
_MARGIN = 0.1  # the top and bottom tenth of the page: where running heads sit


@dataclass(frozen=True)
class PageSource:
    """One page for reflowing: its hOCR and, optionally, the words to use instead."""

    seq: int
    hocr: Path
    words: Path | None = None  # a text file with one replacement word per OCR word (e.g. Latin)


@dataclass(frozen=True)
class FlowParagraph:
    text: str
    continued: bool = False  # continues the last paragraph of the previous page


@dataclass(frozen=True)
class FlowPage:
    seq: int
    printed_number: int | None
    paragraphs: tuple[FlowParagraph, ...]


def _line_text(line: OcrLine, words: Iterator[str]) -> list[str]:
    return [next(words) for _ in line.words]


def _furniture_indices(page: OcrPage) -> tuple[set[int], int | None]:
    """Indices of header/footer lines of ``page`` and the page number found in them."""
    lines = page.lines
    if not lines or not page.height:
        return set(), None
    heights = [line.bbox[3] - line.bbox[1] for line in lines]
    # The line pitch of the text block: the lower quartile of the distances
    # between line tops, so that a short page's gaps to its head and foot
    # do not count as the pitch.
    steps = sorted(b.bbox[1] - a.bbox[1] for a, b in pairwise(lines) if b.bbox[1] > a.bbox[1])
    pitch = steps[len(steps) // 4] if steps else max(heights)
    found: set[int] = set()
    number = None
    candidates = [0, len(lines) - 1] if len(lines) > 1 else [0]
    for index in candidates:
        line = lines[index]
        # A page of one line has no neighbour to stand apart from.
        neighbour = lines[index + 1 if index == 0 else index - 1] if len(lines) > 1 else None
        text = " ".join(w.text for w in line.words)
        in_margin = line.bbox[3] < page.height * _MARGIN or line.bbox[1] > page.height * (1 - _MARGIN)
        apart = neighbour is not None and abs(neighbour.bbox[1] - line.bbox[1]) > 1.6 * pitch
        if not (in_margin or apart) or len(line.words) > 10:
            continue
        match = _NUMBER.match(text)
        if match:
            found.add(index)
            number = int(match.group(1))
            continue
        # A short running head with the page number at either end.
        first, last = line.words[0].text, line.words[-1].text
        if (apart or in_margin) and len(line.words) <= 8 and (first.isdigit() or last.isdigit()):
            found.add(index)
            number = int(first if first.isdigit() else last)
        elif apart and in_margin and len(line.words) <= 8:
            found.add(index)  # a running title without a number
    return found, number


def page_furniture(page: OcrPage) -> int | None:
    """The printed page number found in a running head or foot, if any."""
    return _furniture_indices(page)[1]


def _read_words(source: PageSource, page: OcrPage) -> list[str]:
    original = [w.text for w in page.words]
    if source.words is None:
        return original
    words = source.words.read_text(encoding="utf-8").split()
    return words if len(words) == len(original) else original


def _starts_lower(text: str) -> bool:
    return bool(text) and text[0].isalpha() and text[0].islower()


def reflow_pages(sources: Iterable[PageSource]) -> Iterator[FlowPage]:
    """The flow of each page in turn: paragraphs without headers, hyphens joined.

    One page is held back until the next is read, so that a word hyphenated
    across the page break ("нефт-" | "чилик") is joined too: the joined word
    ends the earlier page, whose page break then follows it.
    """
    held: FlowPage | None = None
    for page in _reflow_each(sources):
        if held is not None:
            held, page = _join_across(held, page)
            yield held
        held = page
    if held is not None:
        yield held


def _join_across(before: FlowPage, after: FlowPage) -> tuple[FlowPage, FlowPage]:
    if not (before.paragraphs and after.paragraphs and after.paragraphs[0].continued):
        return before, after
    last, first = before.paragraphs[-1], after.paragraphs[0]
    head, _, tail = last.text.rpartition(" ")
    if not (len(tail) > 1 and tail.endswith(_HYPHENS)) or not _starts_lower(first.text):
        return before, after
    word, _, rest = first.text.partition(" ")
    joined = (f"{head} " if head else "") + tail.rstrip("".join(_HYPHENS)) + word
    before = FlowPage(
        before.seq, before.printed_number, before.paragraphs[:-1] + (FlowParagraph(joined, last.continued),)
    )
    rest_paragraphs = after.paragraphs[1:]
    if rest:
        rest_paragraphs = (FlowParagraph(rest, continued=True),) + rest_paragraphs
    return before, FlowPage(after.seq, after.printed_number, rest_paragraphs)


def _reflow_each(sources: Iterable[PageSource]) -> Iterator[FlowPage]:
    open_paragraph = False  # the previous page ended inside a paragraph
    for source in sources:
        page = parse_hocr(source.hocr)
        words = iter(_read_words(source, page))
        skip, number = _furniture_indices(page)
        paragraphs: list[list[str]] = []
        continued_first = False
        previous_par = None
        body = [line for index, line in enumerate(page.lines) if index not in skip]
        lefts = sorted(line.bbox[0] for line in body)
        left = lefts[len(lefts) // 4] if len(lefts) >= 3 else None
        for index, line in enumerate(page.lines):
            texts = _line_text(line, words)
            if index in skip:
                continue
            new = previous_par is None or line.paragraph != previous_par
            # An indented first line starts a paragraph even where Tesseract
            # saw one block.
            height = line.x_size or (line.bbox[3] - line.bbox[1])
            if left is not None and previous_par is not None and line.bbox[0] - left > 0.8 * height:
                new = True
            if previous_par is None and open_paragraph and texts and _starts_lower(texts[0]):
                continued_first, new = True, False
                paragraphs.append([])
            previous_par = line.paragraph
            if new:
                paragraphs.append([])
            current = paragraphs[-1]
            hyphenated = current and len(current[-1]) > 1 and current[-1].endswith(_HYPHENS)
            if hyphenated and texts and _starts_lower(texts[0]):
                current[-1] = current[-1].rstrip("".join(_HYPHENS)) + texts[0]
                texts = texts[1:]
            current.extend(texts)
        paragraphs = [p for p in paragraphs if p]
        if not paragraphs:
            continued_first = False
        flow = tuple(
            FlowParagraph(" ".join(p), continued=(i == 0 and continued_first)) for i, p in enumerate(paragraphs)
        )
        if flow:
            open_paragraph = not flow[-1].text.endswith(_SENTENCE_END)
        yield FlowPage(source.seq, number, flow)


def printed_labels(numbers: Sequence[int | None], first_page_number: int | None = None) -> list[str | None]:
    """Page labels: from the item's first printed page number, else from numbers found.

    Found numbers are used only where they agree with their neighbours (the
    same offset from the page's sequence as the majority), so a misread
    number does not break the list.
    """
    if first_page_number is not None:
        return [str(first_page_number + i) for i in range(len(numbers))]
    offsets = Counter(n - i for i, n in enumerate(numbers) if n is not None)
    if not offsets:
        return [None] * len(numbers)
    offset, votes = offsets.most_common(1)[0]
    if votes < 2 and len(numbers) > 2:
        return [None] * len(numbers)
    return [str(i + offset) if i + offset >= 1 else None for i in range(len(numbers))]
