"""Transliterate a UTF-8 byte stream of any size with bounded memory.

Input is read in fixed-size blocks rather than with ``readline()``: a block
bounds memory even for a file with no line ends, and is far cheaper than one
call per line for files of short lines. Each block is decoded incrementally
and cut after its last line end (after its last space or tab only when a
line grows longer than 64K characters); the rest waits for the next block.
Words and URLs never contain whitespace, so each word comes out as
``transliterate_text`` on the whole input gives it, line ends included
(\\n, \\r\\n, and no final newline stays none). Two things are decided on
more than one word: the alphabet (fixed by ``year`` or ``alphabet``, else
detected once from the first block, 64 KB) and Russian quotations (a
quotation that spans a block boundary is judged in two parts).
"""

from __future__ import annotations

import codecs
import io
import unicodedata
from collections.abc import Callable
from typing import BinaryIO, TextIO, cast

from digitize.errors import TransliterationError
from digitize.transliteration.engine import Transliterator

__all__ = ["transliterate_stream"]

# A "word" longer than this many characters (garbage, a base64 blob) is cut
# anyway, so memory stays bounded whatever the input.
_MAX_CARRY_CHARS = 1 << 16


def transliterate_stream(
    src: BinaryIO,
    dst: TextIO | BinaryIO,
    *,
    year: int | None = None,
    alphabet: str | None = None,
    transliterator: Transliterator | None = None,
    block_size: int = 1 << 16,
) -> None:
    """Read UTF-8 from ``src``, write the Latin text to ``dst``.

    ``year``/``alphabet`` choose the era as for ``transliterate_text``;
    ``transliterator`` (which then fixes the era itself) carries other
    options, such as an extra lexicon.

    ``dst`` may be a text stream (open it with ``newline=""`` so line ends
    are written as they are) or a binary one, which gets UTF-8.

    Raises TransliterationError naming the absolute byte offset of the first
    byte that does not decode (for a broken multi-byte sequence, the offset
    where that sequence starts). Output before that point has already been
    written, so discard ``dst`` on error.
    """
    if block_size < 1:
        raise ValueError(f"block_size must be positive, got {block_size}")
    engine = transliterator or Transliterator(year=year, alphabet=alphabet)
    write = _writer(dst)

    def convert(text: str) -> None:
        nonlocal engine
        if engine.alphabet is None:  # detect once, from the first text
            engine = Transliterator(
                alphabet=engine.alphabet_of(text), russian=engine.russian, lexicon=engine.lexicon
            )
        write(engine.text(text))

    decoder = codecs.getincrementaldecoder("utf-8")()
    consumed = 0  # bytes handed to the decoder so far
    carry = ""  # decoded text after the last safe cut
    while True:
        # A text stream passed by mistake reads str: checked, not trusted to the annotation.
        block = cast("bytes | str", src.read(block_size))
        if isinstance(block, str):
            raise TypeError("transliterate_stream() needs src opened in binary mode")
        final = not block
        pending = len(decoder.getstate()[0])  # bytes of a split character
        try:
            text = decoder.decode(block, final)
        except UnicodeDecodeError as exc:
            offset = consumed - pending + exc.start
            raise TransliterationError(
                f"input is not valid UTF-8: {exc.reason} at byte offset {offset}"
            ) from exc
        consumed += len(block)
        text = carry + text
        if final:
            if text:
                convert(text)
            return
        cut = _safe_cut(text)
        carry = text[cut:]
        if cut:
            convert(text[:cut])


def _safe_cut(text: str) -> int:
    """Index just after the last line end; for a line too long to carry, the
    last character no token can span."""
    cut = text.rfind("\n") + 1
    if cut or len(text) <= _MAX_CARRY_CHARS:
        return cut
    cut = max(text.rfind(" "), text.rfind("\r"), text.rfind("\t")) + 1
    if cut == 0 and len(text) > _MAX_CARRY_CHARS:
        # Keep back the last letter with its combining marks: marks in the
        # next block may still compose with it under NFC.
        cut = len(text) - 1
        while cut > 0 and unicodedata.combining(text[cut]):
            cut -= 1
        if cut == 0:
            cut = len(text)
    return cut


def _writer(dst: TextIO | BinaryIO) -> Callable[[str], object]:
    if isinstance(dst, io.TextIOBase):
        return dst.write
    if isinstance(dst, (io.RawIOBase, io.BufferedIOBase)) or "b" in getattr(dst, "mode", ""):
        binary_write = cast(BinaryIO, dst).write
        return lambda text: binary_write(text.encode("utf-8"))
    return cast(TextIO, dst).write
