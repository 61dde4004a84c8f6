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
"""

from __future__ import annotations

import re
import tomllib
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from digitize.errors import MetadataError
from digitize.scanners.text import refused_character, shown

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

__all__ = [
    "METADATA_FILENAME",
    "IDENTIFIER",
    "FIELD_LIMITS",
    "MAX_AUTHORS",
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
}
MAX_AUTHORS = 50  # 50 × 200 characters × 4 bytes × 2 forms = 80,000 bytes: the record stays under 99,999


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

    @field_validator("title", "language", "script", "inventory_number", "collection", "identifier", "ocr_model")
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
    if err["type"] == "value_error" and "ctx" in err:
        return str(err["ctx"]["error"])
    return err["msg"]
