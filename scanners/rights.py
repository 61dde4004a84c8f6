"""Rights statements and access levels an item may carry, and how a statement is checked.

A rights statement is one of three things: a rightsstatements.org URI (the
twelve statements of version 1.0), a Creative Commons licence or public
domain tool URI, or the library's own words. A URI on either of those two
sites that is not one of theirs is a typo (``InC/1.O``, ``by-xx``) that a
harvester would pass on as a broken link, so it is refused; any other text
is kept as the library wrote it.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["ACCESS_LEVELS", "Access", "RIGHTS_STATEMENTS", "rights_problem"]

# public: anyone; reading-room: from the library's own networks
# (``web.reading_room_networks``); staff: signed-in staff only. Metadata is
# shown to everyone in each case; the files, page images and texts are not.
Access = Literal["public", "reading-room", "staff"]
ACCESS_LEVELS: tuple[Access, ...] = ("public", "reading-room", "staff")

# https://rightsstatements.org/page/1.0/ — the statements of version 1.0.
RIGHTS_STATEMENTS = (
    "InC", "InC-OW-EU", "InC-EDU", "InC-NC", "InC-RUU",
    "NoC-CR", "NoC-NC", "NoC-OKLR", "NoC-US",
    "CNE", "UND", "NKC",
)
_RIGHTS_STATEMENT = re.compile(r"https?://rightsstatements\.org/vocab/([A-Za-z-]+)/1\.0/")
# The six licences (versions 1.0–4.0; ports before 4.0 name a jurisdiction)
# and the two public domain tools.
_CREATIVE_COMMONS = re.compile(
    r"https?://creativecommons\.org/(?:licenses/(?:by|by-sa|by-nd|by-nc|by-nc-sa|by-nc-nd)/"
    r"(?:1\.0|2\.0|2\.5|3\.0|4\.0)/(?:[a-z]{2}/)?|publicdomain/(?:zero|mark)/1\.0/)"
)


def rights_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable rights statement; None when it is."""
    lowered = value.strip().lower()
    if re.match(r"https?://(www\.)?rightsstatements\.org", lowered):
        match = _RIGHTS_STATEMENT.fullmatch(value.strip())
        if match is None or match.group(1) not in RIGHTS_STATEMENTS:
            return (
                f"{value!r} is not a rightsstatements.org statement; use one of "
                f"http://rightsstatements.org/vocab/<ID>/1.0/ with <ID> one of {', '.join(RIGHTS_STATEMENTS)}"
            )
    elif re.match(r"https?://(www\.)?creativecommons\.org", lowered):
        if _CREATIVE_COMMONS.fullmatch(value.strip()) is None:
            return (
                f"{value!r} is not a Creative Commons licence URI; use e.g. "
                "https://creativecommons.org/licenses/by-sa/4.0/ or https://creativecommons.org/publicdomain/zero/1.0/"
            )
    return None
