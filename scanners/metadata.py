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
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from digitize.errors import MetadataError

__all__ = ["METADATA_FILENAME", "ItemKind", "ItemMetadata", "read_metadata"]

METADATA_FILENAME = "item.toml"

_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


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
    first_page_number: int | None = Field(default=None, ge=1)

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
        if value is not None and not _IDENTIFIER.match(value):
            raise ValueError(
                "identifier may hold only letters A-Z, digits, '.', '_' and '-' "
                "and must start with a letter or digit"
            )
        return value


def read_metadata(path: Path) -> ItemMetadata:
    """Read and validate an item.toml, with an error that names the file."""
    if not path.is_file():
        raise MetadataError(f"{path}: metadata file is missing (every item folder needs {METADATA_FILENAME})")
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise MetadataError(f"{path}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise MetadataError(f"{path}: not UTF-8 text: {exc}") from exc
    try:
        return ItemMetadata.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}" for err in exc.errors()
        )
        raise MetadataError(f"{path}: invalid metadata: {problems}") from exc
