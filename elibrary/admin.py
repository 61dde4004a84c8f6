"""Writes through the API: registering and withdrawing items, each behind the bearer token.

A write's body is read only after its token passed (``deps.json_body``), and
a registration is held to intake's rules (``scanners.metadata.ItemMetadata``)
and the store's key rule (``storage.objects.check_key``) before the store or
the catalog is touched: the API cannot register what a batch could not.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from digitize.archive.records import ItemRecord
from digitize.elibrary.deps import CatalogDep, StoreDep, body_openapi, json_body, require_token
from digitize.errors import DigitizeError
from digitize.scanners.metadata import ItemMetadata
from digitize.storage.catalog import CatalogFile, CatalogPage, Registration
from digitize.storage.objects import check_key

__all__ = ["FileBody", "PageBody", "RegisterBody", "WithdrawBody", "record_from_body", "router"]

router = APIRouter()

_BIGINT = 2**63 - 1  # the catalog's integer columns
_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(ItemRecord))
# What staff write in item.toml: validated by intake's own model.
_INTAKE_FIELDS = tuple(name for name in _RECORD_FIELDS if name in ItemMetadata.model_fields)
# The Latin forms follow the rules of the fields they transliterate.
_LATIN_FIELDS = {"title_latin": "title", "authors_latin": "authors"}


def _valid_key(value: str | None) -> str | None:
    if value is not None:
        try:
            check_key(value)
        except DigitizeError as exc:
            raise ValueError(str(exc)) from None
    return value


class WithdrawBody(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


class FileBody(BaseModel):
    key: str
    role: str = Field(min_length=1, max_length=64)
    size: int = Field(ge=0, le=_BIGINT)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    content_type: str = Field(default="application/octet-stream", max_length=255)

    _key = field_validator("key")(_valid_key)


class PageBody(BaseModel):
    seq: int = Field(ge=1, le=1_000_000)
    original_text: str = ""
    latin_text: str = ""
    mean_confidence: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    skew_degrees: float | None = Field(default=None, ge=-360, le=360, allow_inf_nan=False)


class RegisterBody(BaseModel):
    record: dict[str, Any]
    files: list[FileBody] = Field(min_length=1, max_length=100_000)
    pages: list[PageBody] = Field(default=[], max_length=1_000_000)
    manifest_key: str
    pdf_key: str | None = None
    batch: str | None = Field(default=None, max_length=1000)

    _keys = field_validator("manifest_key", "pdf_key")(_valid_key)

    @model_validator(mode="after")
    def _pages_once(self) -> RegisterBody:
        seen: set[int] = set()
        for page in self.pages:
            if page.seq in seen:
                raise ValueError(f"pages: seq {page.seq} is given twice")
            seen.add(page.seq)
        return self


class _DerivedFields(BaseModel):
    """The record's fields that the pipeline computes rather than staff write."""

    model_config = ConfigDict(extra="forbid")

    page_count: int | None = Field(default=None, ge=0, le=1_000_000)
    mean_ocr_confidence: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    content_hash: str | None = Field(default=None, pattern=r"^[0-9A-Za-z:_-]{1,200}$")
    isbn: str | None = Field(default=None, pattern=r"^[0-9Xx -]{10,17}$")


def record_from_body(identifier: str, data: Mapping[str, Any]) -> ItemRecord:
    """The item record of a registration, by intake's rules; 422 naming every refused field.

    Only the fields given are set (a missing ``language`` stays unknown
    rather than taking intake's default), and a single author given as a
    string is one author, as in item.toml.
    """
    problems: list[str] = []
    unknown = sorted(set(data) - set(_RECORD_FIELDS))
    if unknown:
        problems.append(f"unknown fields {', '.join(map(repr, unknown))} (a record has {', '.join(_RECORD_FIELDS)})")
    if data.get("identifier", identifier) != identifier:
        problems.append(f"identifier: {data.get('identifier')!r} is not this item's identifier {identifier!r}")
    given = {name: data[name] for name in _INTAKE_FIELDS if name in data}
    values: dict[str, Any] = {}
    try:
        metadata = ItemMetadata.model_validate({**given, "identifier": identifier})
    except ValidationError as exc:
        problems += _described(exc.errors())
    else:
        values = {name: getattr(metadata, name) for name in given}
        if "kind" in values:
            values["kind"] = metadata.kind.value
    for latin, rule in _LATIN_FIELDS.items():
        if data.get(latin) is None:
            continue
        as_intake = {"title": data[latin]} if rule == "title" else {"title": "-", "authors": data[latin]}
        try:
            values[latin] = getattr(ItemMetadata.model_validate(as_intake), rule)
        except ValidationError as exc:
            problems += _described(exc.errors(), rename={rule: latin})
    derived = {name: data[name] for name in _DerivedFields.model_fields if name in data}
    try:
        values.update(_DerivedFields.model_validate(derived).model_dump(include=set(derived)))
    except ValidationError as exc:
        problems += _described(exc.errors())
    if problems:
        raise HTTPException(422, "the record is refused (intake's rules): " + "; ".join(problems))
    values["identifier"] = identifier
    return ItemRecord(**values)


def _described(errors: list[ErrorDetails], rename: Mapping[str, str] | None = None) -> list[str]:
    """``field: problem`` for each error, in the words of the validator that raised it."""
    described = []
    for error in errors:
        loc = [str((rename or {}).get(str(part), part)) for part in error["loc"]] or ["record"]
        message = str(error["ctx"]["error"]) if error["type"] == "value_error" and "ctx" in error else error["msg"]
        described.append(f"{'.'.join(loc)}: {message}")
    return described


# response_model=dict keeps the OpenAPI document as it was when this returned a bare ``dict``.
@router.post(
    "/api/items/{identifier}/withdraw", dependencies=[Depends(require_token)], response_model=dict,
    openapi_extra=body_openapi(WithdrawBody, required=False),
)
def api_withdraw(
    catalog: CatalogDep,
    identifier: str,
    body: Annotated[WithdrawBody, Depends(json_body(WithdrawBody, empty_is_default=True))],
) -> dict[str, Any]:
    try:
        withdrawn = catalog.withdraw(identifier, reason=body.reason)
    except DigitizeError as exc:
        raise HTTPException(503, "the catalog cannot be reached; nothing was withdrawn") from exc
    if not withdrawn:
        raise HTTPException(404, f"no item {identifier!r} in the e-library")
    return {"identifier": identifier, "status": "withdrawn"}


@router.put(
    "/api/items/{identifier}", dependencies=[Depends(require_token)], openapi_extra=body_openapi(RegisterBody),
)
def api_register(
    catalog: CatalogDep,
    store: StoreDep,
    identifier: str,
    body: Annotated[RegisterBody, Depends(json_body(RegisterBody))],
) -> JSONResponse:
    """Register (or update) an item whose files are already in the store.

    The record and the keys are checked first, then every file in the store
    (size and SHA-256 as recorded there), before anything is written to the
    catalog.
    """
    if "title" not in body.record:
        raise HTTPException(422, "record must have a title")
    record = record_from_body(identifier, body.record)
    prefix = f"items/{identifier}/"
    keys = {f.key for f in body.files}
    for f in body.files:
        if not f.key.startswith(prefix):
            raise HTTPException(422, f"files: {f.key!r} is not under {prefix!r}")
    if body.manifest_key not in keys:
        raise HTTPException(422, "manifest_key must be one of the files")
    if body.pdf_key is not None and body.pdf_key not in keys:
        raise HTTPException(422, "pdf_key must be one of the files")
    for f in body.files:
        try:
            current = store.stat(f.key)
        except DigitizeError as exc:
            raise HTTPException(503, "storage cannot be reached; nothing was registered") from exc
        if current is None or current.size != f.size or current.sha256 != f.sha256:
            raise HTTPException(409, f"file {f.key!r} is not in storage as described; nothing was registered")
    try:
        registered = catalog.register(Registration(
            identifier=identifier,
            record=record,
            files=tuple(CatalogFile(f.key, f.role, f.size, f.sha256, f.content_type) for f in body.files),
            pages=tuple(
                CatalogPage(p.seq, None, None, p.mean_confidence, p.skew_degrees, p.original_text, p.latin_text)
                for p in body.pages
            ),
            manifest_key=body.manifest_key,
            pdf_key=body.pdf_key,
            store=store.describe(),
            batch=body.batch,
        ))
    except DigitizeError as exc:
        raise HTTPException(503, "the catalog cannot be reached; nothing was registered") from exc
    return JSONResponse(
        {"identifier": identifier, "created": registered.created, "files": registered.file_count,
         "pages": registered.page_count},
        status_code=201 if registered.created else 200,
    )
