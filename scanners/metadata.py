"""The item metadata file (``item.toml``) that digitization staff write.

Example::

    title = "Азәрбајҹан халг нағыллары"
    authors = ["Һ. Әлизадә"]
    year = 1968
    language = "az"
    script = "Cyrl"
    kind = "text"            # text | score | art
    spreads = "auto"         # true | false | "auto": split two-page spreads
    inventory_number = "INV-1968-0042"
    collection = "Kollec kitabxanası"
    # Rights, access and the rest of a library record (all optional):
    rights = "http://rightsstatements.org/vocab/InC/1.0/"   # or a CC URI, or the library's words
    access = "public"        # public | reading-room | staff
    embargo_until = 2030-01-01   # until then: metadata only
    publisher = "Азәрнәшр"
    place = "Бакы"
    edition = "2-ҹи нәшр"
    series = "Халг әдәбијјаты"
    volume = "3"
    subjects = ["Нағыллар"]
    notes = ["Титул вәрәги зәдәлидир."]
    parallel_titles = ["Азербайджанские сказки"]
"""

from __future__ import annotations

import difflib
import re
import tomllib
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from digitize.errors import MetadataError
from digitize.scanners.rights import ACCESS_LEVELS, Access, rights_problem
from digitize.scanners.text import refused_character, shown

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

__all__ = [
    "METADATA_FILENAME",
    "IDENTIFIER",
    "FIELD_LIMITS",
    "MAX_AUTHORS",
    "MAX_LIST_ITEMS",
    "ItemKind",
    "ItemMetadata",
    "read_metadata",
]

METADATA_FILENAME = "item.toml"

# Matched whole (re.fullmatch): with ``$`` a trailing newline would pass.
IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

# The longest value each text field may hold, in characters, and why. The
# bound that matters is MARC 21: a field holds at most 9,999 bytes (four
# digits in the directory) and a record at most 99,999 (five in the leader);
# UTF-8 takes up to 4 bytes a character and the Latin transliteration is
# kept beside the original. The longest real titles run to a few hundred
# characters; a limit far above that only admits mistakes (a pasted file).
FIELD_LIMITS: dict[str, int] = {
    "title": 1000,  # with its Latin form 2 × 4 × 1000 bytes < 9,999 (MARC 245)
    "authors": 200,  # each name (MARC 100/700); with MAX_AUTHORS and Latin forms < 99,999
    "language": 35,  # a BCP 47 tag; implementations should hold 35 characters
    "script": 35,  # an ISO 15924 code (4 letters), room for a tag
    "inventory_number": 100,  # an accession or shelf mark
    "collection": 300,  # a collection's name
    "ocr_model": 200,  # Tesseract model names joined by "+"
    "identifier": 128,  # also bounded by IDENTIFIER
    "rights": 1000,  # a URI or the library's own statement (MARC 540)
    "publisher": 300,  # MARC 264 $b
    "place": 200,  # MARC 264 $a
    "edition": 200,  # MARC 250
    "series": 500,  # MARC 490 $a
    "volume": 50,  # MARC 490 $v: a number or "II, part 1"
    "subjects": 200,  # each (MARC 650)
    "notes": 1000,  # each (MARC 500)
    "parallel_titles": 1000,  # each, like the title (MARC 246)
}
MAX_AUTHORS = 50  # 50 × 200 characters × 4 bytes × 2 forms = 80,000 bytes: the record stays under 99,999
# The most values a list field may hold: a record is for finding a book, not
# for its whole text (MARC 21 keeps a record under 99,999 bytes).
MAX_LIST_ITEMS = {"subjects": 30, "notes": 10, "parallel_titles": 10}
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class ItemKind(str, Enum):  # noqa: UP042 -- StrEnum would change str() and format() of a kind
    TEXT = "text"
    SCORE = "score"
    ART = "art"


class ItemMetadata(BaseModel):
    """What staff tell us about an item. Unknown keys are refused (typos)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1)
    authors: tuple[str, ...] = ()
    year: int | None = Field(default=None, ge=1000, le=2100)
    language: str = "az"
    script: str | None = "Cyrl"
    kind: ItemKind = ItemKind.TEXT
    inventory_number: str | None = None
    collection: str | None = None
    # The e-library identifier; defaults to the item folder's name.
    identifier: str | None = None
    # Tesseract model(s) for this item, overriding the language mapping,
    # e.g. "Cyrillic+rus".
    ocr_model: str | None = None
    # Two pages side by side in one frame (a book scanner's opening): true
    # splits every frame at its gutter into a left and a right page; "auto"
    # (the default) splits the frames found to be spreads (wider than tall,
    # a wide text-free gutter between two text blocks; text items only);
    # false never splits.
    spreads: bool | Literal["auto"] = "auto"
    # Make the reading image black and white (CCITT G4) instead of keeping
    # the scan's tones; OCR is not affected. For crisp bi-tonal print only.
    binarize_access: bool = False
    # The printed number of the first scanned page, when the scans start at
    # a numbered page: the PDF's page labels and the EPUB's page list follow
    # it. Without it, numbers found in running heads/feet are used.
    # At most 1,000,000: a PDF page label's start is a PDF integer, and no
    # printed book numbers its pages further.
    first_page_number: int | None = Field(default=None, ge=1, le=1_000_000)
    # Rights and access (scanners/rights.py): a rights statement; who may
    # read the files (metadata is always shown); until when only the
    # metadata is shown, whatever the access.
    rights: str | None = None
    access: Access = "public"
    embargo_until: date | None = None
    # The rest of a library record (MODS, MARC 21, Dublin Core, OAI-PMH).
    publisher: str | None = None
    place: str | None = None
    edition: str | None = None
    series: str | None = None
    volume: str | None = None  # of the series
    subjects: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    parallel_titles: tuple[str, ...] = ()  # the title in other languages, as printed

    @field_validator("title")
    @classmethod
    def _strip_title(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("title is empty")
        return value

    @field_validator("authors", mode="before")
    @classmethod
    def _authors_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator(
        "title", "language", "script", "inventory_number", "collection", "identifier", "ocr_model",
        "rights", "publisher", "place", "edition", "series", "volume",
    )
    @classmethod
    def _keepable_text(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            _check_text(value, FIELD_LIMITS[str(info.field_name)])
        return value

    @field_validator("authors")
    @classmethod
    def _keepable_authors(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) > MAX_AUTHORS:
            raise ValueError(f"{len(value)} authors; at most {MAX_AUTHORS} are accepted (a MARC 21 record's size)")
        for number, name in enumerate(value, 1):
            if not name.strip():
                raise ValueError(f"author {number} is empty")
            try:
                _check_text(name, FIELD_LIMITS["authors"])
            except ValueError as exc:
                raise ValueError(f"author {number}: {exc}") from None
        return value

    @field_validator("subjects", "notes", "parallel_titles", mode="before")
    @classmethod
    def _text_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("subjects", "notes", "parallel_titles")
    @classmethod
    def _keepable_list(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        name = str(info.field_name)
        if len(value) > MAX_LIST_ITEMS[name]:
            raise ValueError(f"{len(value)} values; at most {MAX_LIST_ITEMS[name]} are accepted")
        for number, text in enumerate(value, 1):
            if not text.strip():
                raise ValueError(f"value {number} is empty")
            try:
                _check_text(text, FIELD_LIMITS[name])
            except ValueError as exc:
                raise ValueError(f"value {number}: {exc}") from None
        return value

    @field_validator("volume", mode="before")
    @classmethod
    def _volume_text(cls, value: object) -> object:
        # volume = 3 is as natural to type as volume = "3"; a bool is not a volume.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("volume")
    @classmethod
    def _volume_of_a_series(cls, value: str | None, info: ValidationInfo) -> str | None:
        # series is declared (and so validated) before volume
        if value is not None and not info.data.get("series"):
            raise ValueError("volume is given without series: it is the number of this book in a series (add series)")
        return value

    @field_validator("rights")
    @classmethod
    def _known_rights(cls, value: str | None) -> str | None:
        if value is not None:
            if not value.strip():
                raise ValueError("rights is empty; leave it out when there is no statement")
            problem = rights_problem(value)
            if problem is not None:
                raise ValueError(problem)
        return value

    @field_validator("access", mode="before")
    @classmethod
    def _access_level(cls, value: object) -> object:
        if value not in ACCESS_LEVELS:
            raise ValueError(f"access must be one of {', '.join(repr(a) for a in ACCESS_LEVELS)}, not {shown(value)!r}")
        return value

    @field_validator("embargo_until", mode="before")
    @classmethod
    def _embargo_date(cls, value: object) -> object:
        # TOML's own date (embargo_until = 2030-01-01) or the same written as a
        # string; pydantic would otherwise take a number as seconds since 1970.
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise ValueError(f"embargo_until must be a date written YYYY-MM-DD (e.g. 2030-01-01), not {shown(value)!r}")

    @field_validator("spreads", mode="before")
    @classmethod
    def _spreads_value(cls, value: object) -> object:
        # Only TOML's true/false and the word "auto": "yes" or 1 would
        # otherwise pass as a bool.
        if isinstance(value, bool) or value == "auto":
            return value
        raise ValueError('spreads must be true, false or "auto"')

    @field_validator("identifier")
    @classmethod
    def _valid_identifier(cls, value: str | None) -> str | None:
        if value is not None and not IDENTIFIER.fullmatch(value):
            raise ValueError(
                "identifier may hold only letters A-Z, digits, '.', '_' and '-' "
                "and must start with a letter or digit"
            )
        return value


def read_metadata(path: Path) -> ItemMetadata:
    """Read and validate an item.toml, with an error that names the file."""
    if not path.is_file():
        raise MetadataError(f"{shown(path)}: metadata file is missing (every item folder needs {METADATA_FILENAME})")
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise MetadataError(f"{shown(path)}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise MetadataError(f"{shown(path)}: not UTF-8 text: {exc}") from exc
    try:
        return ItemMetadata.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{_field_name(err['loc'])}: {_problem(err)}" for err in exc.errors())
        raise MetadataError(f"{shown(path)}: invalid metadata: {problems}") from exc


def _check_text(value: str, limit: int) -> None:
    """Refuse a value no output format can keep: a bad character, or far too long."""
    if len(value) > limit:
        raise ValueError(
            f"{len(value):,} characters long; at most {limit:,} are accepted (more than a MARC 21 field "
            "or a catalog keeps: pasted from elsewhere?)"
        )
    reason = refused_character(value)
    if reason is not None:
        raise ValueError(f"{reason}; remove it")


def _field_name(loc: tuple[int | str, ...]) -> str:
    """``authors #3`` for the third author (counted from 1, as staff count), keys shown safely."""
    parts = [f"#{part + 1}" if isinstance(part, int) else shown(part) for part in loc]
    return " ".join(parts) or "file"


def _problem(err: ErrorDetails) -> str:
    """Pydantic's message without its "Value error, " prefix (our validators' own words)."""
    if err["type"] == "extra_forbidden":
        key = str(err["loc"][-1]) if err["loc"] else ""
        close = difflib.get_close_matches(key, list(ItemMetadata.model_fields), n=1, cutoff=0.6)
        return "not a known field" + (f"; did you mean `{close[0]}`?" if close else "")
    if err["type"] == "value_error" and "ctx" in err:
        return str(err["ctx"]["error"])
    return err["msg"]
