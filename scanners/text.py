"""Which characters a name or a metadata value may hold, and how to show one that may not.

What staff type into ``item.toml`` and what scanners name their files ends
up in XML (ALTO, METS, MODS, Dublin Core, OAI-PMH), in MARC 21, in PDF
metadata, in object keys and in the catalog. lxml refuses every string that
is not XML 1.0 character data ("All strings must be XML compatible"), and it
does so at the end of an item, after OCR was spent. So intake refuses such a
character up front, naming the field, the file and the character's code.

Refused everywhere:

* C0 control characters (U+0000–U+001F) other than tab, line feed and
  carriage return, and DEL (U+007F): not XML 1.0 characters, or invisible;
* C1 control characters (U+0080–U+009F): XML 1.0 discourages them, XML 1.1
  and MARC 21 forbid them, and a text that holds one was mis-decoded;
* noncharacters (U+FDD0–U+FDEF and the last two code points of every
  plane, U+FFFE, U+FFFF, U+1FFFE, …): not for interchange, U+FFFE/U+FFFF
  are not XML characters;
* surrogates (U+D800–U+DFFF): Python's stand-in for bytes that are not
  UTF-8 in a file name.

Refused in one-line values (every metadata field and every file name: a
title, an author, a shelf mark are one line in MARC, in a catalog list and
in an HTTP header): tab, line feed, carriage return, and the Unicode line
and paragraph separators (U+2028, U+2029). Bidirectional marks and joiners
(format characters) stay allowed: Arabic-script Azerbaijani needs them.
"""

from __future__ import annotations

__all__ = ["refused_character", "shown"]

_LINE_BREAKS = frozenset("\t\n\r\u2028\u2029")


def _why_refused(char: str, *, one_line: bool) -> str | None:
    code = ord(char)
    if char in _LINE_BREAKS:
        return "a line break or tab (the value is one line)" if one_line else None
    if code < 0x20 or code == 0x7F:
        return "a control character"
    if 0x80 <= code <= 0x9F:
        return "a C1 control character (text decoded with the wrong encoding?)"
    if 0xD800 <= code <= 0xDFFF:
        return "not UTF-8 (a byte that is not text)"
    if 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE:
        return "a Unicode noncharacter"
    return None


def refused_character(value: str, *, one_line: bool = True) -> str | None:
    """Why ``value`` cannot be kept, naming the first bad character and its position; None if it can."""
    for index, char in enumerate(value):
        reason = _why_refused(char, one_line=one_line)
        if reason is not None:
            return f"character {index + 1} is U+{ord(char):04X}, {reason}"
    return None


def shown(value: object) -> str:
    """``str(value)`` with every character that could not be kept escaped (``\\n``, ``\\x01``, ``\\udcff``).

    For messages: an error that quoted a control character verbatim would
    carry it into the report, the console and the catalog.
    """
    text = str(value)
    if refused_character(text) is None:
        return text
    out = []
    for char in text:
        if _why_refused(char, one_line=True) is None:
            out.append(char)
        else:
            out.append(char.encode("unicode_escape", "backslashreplace").decode("ascii"))
    return "".join(out)
