"""Writes through the API: registering and withdrawing items, each behind the bearer token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from digitize.archive.records import ItemRecord
from digitize.elibrary.deps import CatalogDep, StoreDep, require_token
from digitize.errors import DigitizeError
from digitize.storage.catalog import CatalogFile, CatalogPage, Registration

__all__ = ["FileBody", "PageBody", "RegisterBody", "WithdrawBody", "router"]

router = APIRouter()


class WithdrawBody(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


class FileBody(BaseModel):
    key: str
    role: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    content_type: str = "application/octet-stream"


class PageBody(BaseModel):
    seq: int = Field(ge=1)
    original_text: str = ""
    latin_text: str = ""
    mean_confidence: float | None = None
    skew_degrees: float | None = None


class RegisterBody(BaseModel):
    record: dict[str, Any]
    files: list[FileBody] = Field(min_length=1)
    pages: list[PageBody] = []
    manifest_key: str
    pdf_key: str | None = None
    batch: str | None = None


# response_model=dict keeps the OpenAPI document as it was when this returned a bare ``dict``.
@router.post("/api/items/{identifier}/withdraw", dependencies=[Depends(require_token)], response_model=dict)
def api_withdraw(catalog: CatalogDep, identifier: str, body: WithdrawBody | None = None) -> dict[str, Any]:
    if not catalog.withdraw(identifier, reason=body.reason if body else None):
        raise HTTPException(404, f"no item {identifier!r} in the e-library")
    return {"identifier": identifier, "status": "withdrawn"}


@router.put("/api/items/{identifier}", dependencies=[Depends(require_token)])
def api_register(catalog: CatalogDep, store: StoreDep, identifier: str, body: RegisterBody) -> JSONResponse:
    """Register (or update) an item whose files are already in the store.

    Every file is checked in the store (size and SHA-256 as recorded
    there) before anything is written to the catalog.
    """
    prefix = f"items/{identifier}/"
    if body.record.get("identifier", identifier) != identifier or "title" not in body.record:
        raise HTTPException(422, "record must have a title and this item's identifier")
    for f in body.files:
        if not f.key.startswith(prefix):
            raise HTTPException(422, f"file {f.key!r} is not under {prefix!r}")
        try:
            current = store.stat(f.key)
        except DigitizeError as exc:
            raise HTTPException(503, "storage cannot be reached; nothing was registered") from exc
        if current is None or current.size != f.size or current.sha256 != f.sha256:
            raise HTTPException(409, f"file {f.key!r} is not in storage as described; nothing was registered")
    if body.manifest_key not in {f.key for f in body.files}:
        raise HTTPException(422, "manifest_key must be one of the files")
    try:
        record = ItemRecord.from_mapping({**body.record, "identifier": identifier})
    except (TypeError, ValueError) as exc:
        raise HTTPException(422, f"record has a field of the wrong type: {exc}") from exc
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
    return JSONResponse(
        {"identifier": identifier, "created": registered.created, "files": registered.file_count,
         "pages": registered.page_count},
        status_code=201 if registered.created else 200,
    )
