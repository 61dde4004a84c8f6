"""An e-library identifier from an item folder's name: ``нағыл-2`` → ``nagil-2``.

Staff name item folders as they name the book, often in Cyrillic or in
Latin Azerbaijani with spaces; an identifier ends up in URLs, object keys,
OAI-PMH identifiers and file names, so it holds only ``A-Z a-z 0-9 . _ -``
(:data:`digitize.scanners.metadata.IDENTIFIER`). The rule, in order:

1. transliterate the name with the project's transliterator (Cyrillic →
   Latin Azerbaijani; Latin text stays as it is);
2. lower-case it (Azerbaijani rules: ``I`` → ``ı``, ``İ`` → ``i``);
3. fold Azerbaijani letters to ASCII: ə→e, ğ→g, ı→i, ö→o, ü→u, ş→s, ç→c
   (x and q stay), and strip the accents of any other Latin letter (é→e);
4. spaces (any white space) become ``-``; every other character that is not
   ``a-z 0-9 . _ -`` is dropped (``,``, ``№``, quotes);
5. runs of ``-`` become one, and the result starts and ends with a letter
   or a digit.

A name that folds to nothing (``«»``) or to more than 128 characters gives
no identifier: intake then asks for ``identifier = "..."`` in item.toml.
The rule lives here, above intake, because intake sits below the
transliterator in the layers; the batch run passes it down to
:func:`digitize.scanners.batch.read_batch`.
"""

from __future__ import annotations

import re
import unicodedata

from digitize.scanners.metadata import IDENTIFIER
from digitize.transliteration.engine import transliterate_text
from digitize.transliteration.rules import az_lower

__all__ = ["identifier_from_name"]

_ASCII_FOLD = str.maketrans({"ə": "e", "ğ": "g", "ı": "i", "ö": "o", "ü": "u", "ş": "s", "ç": "c"})
_SPACES = re.compile(r"\s+")
_NOT_KEPT = re.compile(r"[^a-z0-9._-]")
_DASHES = re.compile(r"-{2,}")


def identifier_from_name(name: str) -> str | None:
    """The identifier a folder named ``name`` gets, or None if the name folds to none."""
    latin = az_lower(transliterate_text(unicodedata.normalize("NFC", name)))
    folded = latin.translate(_ASCII_FOLD)
    folded = "".join(c for c in unicodedata.normalize("NFD", folded) if not unicodedata.combining(c))
    folded = _NOT_KEPT.sub("", _SPACES.sub("-", folded.strip()))
    folded = _DASHES.sub("-", folded).strip("._-")
    return folded if IDENTIFIER.fullmatch(folded) else None
