"""The staff desk: signing in and out, and the review page (``/staff/...``).

A reviewer sees the items waiting in review (``delivery.review``), each
flagged page beside its scan and its recognised text in both scripts, and
approves the item or rejects it with a reason and the pages to rescan.
Every page here needs a signed-in staff session (``auth``); every form
carries the session's CSRF token. Pages of items not yet public are shown
to staff only, never cached by a shared cache.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path as PathType
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from digitize.archive.records import ItemRecord, item_record
from digitize.delivery.review import approve, reject, review_queue
from digitize.elibrary import auth
from digitize.elibrary.auth import FormDep, StaffDep, field
from digitize.elibrary.deps import CatalogDep, RendererDep, SettingsDep, StoreDep, TemplatesDep, render_page
from digitize.elibrary.files import page_png
from digitize.elibrary.i18n import Translatable, localized
from digitize.elibrary.render import PAGE_WIDTH
from digitize.errors import AccountError, DigitizeError, ReviewError
from digitize.pipeline.normalize import ocr_input
from digitize.scanners.metadata import ItemMetadata
from digitize.scanners.rights import ACCESS_LEVELS
from digitize.scanners.text import shown
from digitize.storage.accounts import (
    WRONG_CREDENTIALS,
    AccountLocked,
    StaffSession,
    authenticate,
    close_session,
    open_session,
)
from digitize.storage.catalog import Catalog, CatalogItem, ReviewState

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/staff", include_in_schema=False)  # HTML pages for people, not the JSON API
_LOGIN_COOKIE_AGE = 3600
_MAX_PAGES_FIELD = 200  # characters of "3, 7, 12" a reviewer may type
Identifier = Annotated[str, Path(max_length=128)]
_OCR_INPUT_WIDTH = 1800  # pixels: about 300 dpi for a book page, what Tesseract read
# The metadata form's fields: (form field, item.toml field, optional: empty means none).
_TEXT_FIELDS = ("title", "language", "script", "collection", "inventory_number", "rights", "access")
_OPTIONAL = frozenset({"script", "collection", "inventory_number", "rights"})


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, settings: SettingsDep, templates: TemplatesDep, next: str = "") -> Response:
    return _login_form(request, settings, templates, next=_local_next(next))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request, settings: SettingsDep, catalog: CatalogDep, templates: TemplatesDep, form: FormDep
) -> Response:
    auth.check_login_csrf(request, settings, form)
    target = _local_next(field(form, "next", required=False, max_chars=500))
    username = field(form, "username", max_chars=64)
    password = form.get("password", [""])[0]
    if not password:
        return _login_form(request, settings, templates, next=target, username=username,
                           error=Translatable("the field 'password' is required"), status=422)
    staff = settings.staff
    try:
        user = authenticate(catalog, username, password, max_failed=staff.max_failed_logins,
                            lockout_seconds=staff.lockout_seconds)
    except AccountError as exc:
        time.sleep(staff.failed_login_delay)  # every failure waits: guessing is slow
        log.warning("failed staff sign-in for %r from %s: %s", username[:64], _client(request), exc)
        status = 429 if isinstance(exc, AccountLocked) else 401
        return _login_form(request, settings, templates, next=target, username=username,
                           error=_login_refusal(exc, username), status=status)
    token, session = open_session(catalog, user, hours=staff.session_hours)
    log.info("staff sign-in: %s from %s", user.username, _client(request))
    response = RedirectResponse(target, status_code=303)
    auth.set_cookie(response, request, settings, auth.COOKIE, token,
                    max_age=int((session.expires_at - datetime.now(UTC)).total_seconds()))
    auth.clear_cookie(response, request, settings, auth.LOGIN_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, settings: SettingsDep, catalog: CatalogDep, staff: StaffDep, form: FormDep) -> Response:
    response = RedirectResponse("/staff/login", status_code=303)
    if staff is not None:
        auth.check_csrf(staff, form)
        token = auth.session_token(request, settings)
        if token is not None:
            close_session(catalog, token)
    auth.clear_cookie(response, request, settings, auth.COOKIE)
    return response


@router.get("/review", response_class=HTMLResponse)
def queue_page(request: Request, catalog: CatalogDep, templates: TemplatesDep, staff: StaffDep) -> Response:
    if staff is None:
        return _to_login(request)
    return _staff_page(templates, request, staff, "staff_queue.html", {"items": review_queue(catalog)})


@router.get("/review/{identifier}", response_class=HTMLResponse)
def item_review_page(
    request: Request, catalog: CatalogDep, templates: TemplatesDep, staff: StaffDep, identifier: Identifier
) -> Response:
    if staff is None:
        return _to_login(request)
    item = _item(catalog, identifier)
    return _review_page(templates, request, staff, catalog, item)


@router.post("/review/{identifier}/approve")
def approve_item(
    request: Request, catalog: CatalogDep, templates: TemplatesDep, staff: StaffDep, form: FormDep,
    identifier: Identifier, store: StoreDep,
) -> Response:
    if staff is None:
        return _to_login(request, status=303)
    auth.check_csrf(staff, form)
    note = field(form, "note", required=False) or None
    try:
        approve(catalog, identifier, actor=staff.user.username, note=note, store=store)
    except ReviewError as exc:
        return _review_page(templates, request, staff, catalog, _item(catalog, identifier), error=str(exc),
                            status=409)
    log.info("%s approved %s", staff.user.username, identifier)
    return RedirectResponse(f"/staff/review?done={quote(identifier)}&decision=approved", status_code=303)


@router.post("/review/{identifier}/reject")
def reject_item(
    request: Request, catalog: CatalogDep, templates: TemplatesDep, staff: StaffDep, form: FormDep,
    identifier: Identifier, store: StoreDep,
) -> Response:
    if staff is None:
        return _to_login(request, status=303)
    auth.check_csrf(staff, form)
    item = _item(catalog, identifier)
    try:
        reason = field(form, "reason")
        pages = _page_numbers(field(form, "pages", required=False, max_chars=_MAX_PAGES_FIELD), item.page_count)
        pages = tuple(sorted(set(pages) | {int(n) for n in form.get("rescan", []) if n.isdigit()}))
        reject(catalog, identifier, actor=staff.user.username, reason=reason, pages=pages, store=store)
    except HTTPException as exc:
        return _review_page(templates, request, staff, catalog, item, error=str(exc.detail), status=exc.status_code)
    except ReviewError as exc:
        return _review_page(templates, request, staff, catalog, item, error=str(exc), status=409)
    log.info("%s rejected %s", staff.user.username, identifier)
    return RedirectResponse(f"/staff/review?done={quote(identifier)}&decision=rejected", status_code=303)


@router.post("/review/{identifier}/metadata")
def edit_metadata(
    request: Request, catalog: CatalogDep, templates: TemplatesDep, staff: StaffDep, form: FormDep,
    identifier: Identifier,
) -> Response:
    """Correct an item's record while it is in review: validated as item.toml is, logged with before and after."""
    if staff is None:
        return _to_login(request, status=303)
    auth.check_csrf(staff, form)
    item = _item(catalog, identifier)
    try:
        record = _edited_record(item, form)
        catalog.edit_record(identifier, record, actor=staff.user.username, states=(ReviewState.IN_REVIEW,))
    except HTTPException as exc:
        return _review_page(templates, request, staff, catalog, item, error=str(exc.detail), status=exc.status_code,
                            entered=form)
    except ReviewError as exc:
        return _review_page(templates, request, staff, catalog, item, error=str(exc), status=409)
    log.info("%s edited the metadata of %s", staff.user.username, identifier)
    return RedirectResponse(f"/staff/review/{quote(identifier)}?edited=1", status_code=303)


@router.get("/items/{identifier}/pages/{seq}/ocr-input.png")
def staff_ocr_input(
    request: Request, catalog: CatalogDep, renderer: RendererDep, staff: StaffDep, identifier: Identifier,
    seq: Annotated[int, Path(ge=1, le=100_000)],
) -> Response:
    """What Tesseract was given for a page, re-made from the page image (the run does not keep it).

    The pipeline's own cleaning (``pipeline.normalize.ocr_input``: background
    divided, grain, show-through) applied to the page of the item's PDF at
    ``_OCR_INPUT_WIDTH`` pixels. Kept, the image Tesseract read would cost
    2-8 MB a page at 300 dpi in every work folder; re-made, it costs a
    second when a reviewer looks.
    """
    if staff is None:
        raise HTTPException(401, "sign in at /staff/login to see pages of items in review")
    item = _item(catalog, identifier)
    if item.review_state != ReviewState.IN_REVIEW:
        raise HTTPException(404, f"item {identifier!r} is {item.review_state}: the OCR input is shown for items in "
                                 "review only")
    pdf = next((f for f in catalog.files(identifier) if f.key == item.pdf_key), None)
    if pdf is None:
        raise HTTPException(404, f"item {identifier!r} has no PDF to make the OCR input from")
    try:
        png = renderer.render(pdf.key, pdf.sha256, seq - 1, _OCR_INPUT_WIDTH)
        if png is None:
            raise HTTPException(404, f"item {identifier!r} has no page {seq}")
        made = _ocr_input_png(png, _pdf_page_width(renderer.cache_dir / f"{pdf.sha256}.pdf", seq - 1))
    except DigitizeError as exc:
        log.warning("making the OCR input of %s page %d failed: %s", identifier, seq, exc)
        raise HTTPException(503, "the OCR input cannot be made right now") from exc
    return Response(made, media_type="image/png", headers={"Cache-Control": "private, no-store"})


@router.get("/items/{identifier}/pages/{seq}.png")
def staff_page_image(
    request: Request, catalog: CatalogDep, renderer: RendererDep, staff: StaffDep, identifier: Identifier,
    seq: Annotated[int, Path(ge=1, le=100_000)],
) -> Response:
    """A page of any registered item, public or not, for signed-in staff (the public route serves public items)."""
    if staff is None:
        raise HTTPException(401, "sign in at /staff/login to see pages of items in review")
    png = page_png(catalog, renderer, _item(catalog, identifier), seq, PAGE_WIDTH)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, no-store"})


# -- helpers -----------------------------------------------------------------


def _login_refusal(exc: AccountError, username: str) -> str:
    """Why the sign-in failed, in words the page translates (the account module's English for anything else)."""
    said = str(exc)
    if said == WRONG_CREDENTIALS:
        return Translatable("wrong username or password")
    if isinstance(exc, AccountLocked):
        return Translatable(
            "account %(username)s is locked after %(failed)s failed sign-ins; try again after %(time)s UTC "
            "(%(seconds)s s)", username=repr(exc.username), failed=exc.failed, time=f"{exc.until:%H:%M:%S}",
            seconds=exc.seconds)
    if "is disabled" in said:
        return Translatable("account %(username)s is disabled: ask an administrator", username=repr(username))
    return said


def _login_form(
    request: Request, settings: SettingsDep, templates: TemplatesDep, *, next: str, username: str = "",
    error: str | None = None, status: int = 200,
) -> Response:
    token = secrets.token_urlsafe(32)
    response = render_page(templates, request, "staff_login.html", {
        "csrf_token": token, "next": next, "username": username,
        "error": localized(request, error) if error else error,
    }, status)
    auth.set_cookie(response, request, settings, auth.LOGIN_COOKIE, token, max_age=_LOGIN_COOKIE_AGE)
    response.headers["Cache-Control"] = "no-store"
    return response


def _staff_page(
    templates: TemplatesDep, request: Request, staff: StaffSession, name: str, context: dict[str, object],
    status: int = 200,
) -> Response:
    response = render_page(templates, request, name, {
        "staff": staff.user, "csrf_token": staff.csrf_token, "done": request.query_params.get("done"),
        "decision": request.query_params.get("decision"), **context,
    }, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _review_page(
    templates: TemplatesDep, request: Request, staff: StaffSession, catalog: Catalog, item: CatalogItem, *,
    error: str | None = None, status: int = 200, entered: dict[str, list[str]] | None = None,
) -> Response:
    texts = {seq: (original, latin) for seq, original, latin in catalog.page_texts(item.identifier)}
    flagged, failed = _held_pages(catalog, item.identifier)
    shown = sorted(set(flagged) | set(failed)) or list(range(1, item.page_count + 1))
    pages = [
        {"seq": seq, "flagged": seq in flagged, "failed": seq in failed, "texts": texts.get(seq)}
        for seq in shown
    ]
    reasons = [r for r in (item.review_reason or "").split("; ") if r]
    return _staff_page(templates, request, staff, "staff_item.html", {
        "item": item, "pages": pages, "reasons": reasons, "error": error, "has_pdf": bool(item.pdf_key),
        "in_review": item.review_state == "in review", "metadata": _metadata_values(item, entered),
        "access_levels": ACCESS_LEVELS, "edited": request.query_params.get("edited") == "1",
    }, status)


def _metadata_values(item: CatalogItem, entered: dict[str, list[str]] | None) -> dict[str, str]:
    """What the metadata form shows: what was typed (after a refusal), else the item's record."""
    values = {
        "title": item.title, "authors": "\n".join(item.authors), "year": "" if item.year is None else str(item.year),
        "language": item.language or "", "script": item.script or "", "collection": item.collection or "",
        "inventory_number": item.inventory_number or "", "rights": item.rights or "", "access": item.access,
        "embargo_until": item.embargo_until.isoformat() if item.embargo_until else "",
    }
    if entered:
        values.update({name: entered[name][0] for name in values if len(entered.get(name, ())) == 1})
    return values


def _edited_record(item: CatalogItem, form: dict[str, list[str]]) -> ItemRecord:
    """The item's record with the form's values, validated as item.toml is (422 naming the field).

    Title and authors get their Latin forms again, as at intake
    (``archive.records.item_record``); the fields the form does not show keep
    their values.
    """
    data: dict[str, object] = {
        name: getattr(item, name) for name in ("publisher", "place", "edition", "series", "volume")
        if getattr(item, name) is not None
    }
    data.update(kind=item.kind, subjects=item.subjects, notes=item.notes, parallel_titles=item.parallel_titles)
    for name in _TEXT_FIELDS:
        value = field(form, name, required=name == "title")
        if value or name not in _OPTIONAL:
            data[name] = value
    authors = field(form, "authors", required=False, max_chars=20_000)
    data["authors"] = tuple(line.strip() for line in authors.splitlines() if line.strip())
    year = field(form, "year", required=False, max_chars=20)
    if year:
        data["year"] = year
    embargo = field(form, "embargo_until", required=False, max_chars=20)
    if embargo:
        data["embargo_until"] = embargo
    try:
        metadata = ItemMetadata.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"the field {shown(str(err['loc'][0]) if err['loc'] else 'form')!r}: "
            f"{err['ctx']['error'] if err['type'] == 'value_error' and 'ctx' in err else err['msg']}"
            for err in exc.errors()
        )
        raise HTTPException(422, f"{problems}; nothing was changed") from exc
    record = item_record(item.identifier, metadata, item.page_count, mean_ocr_confidence=item.mean_ocr_confidence,
                         content_hash=item.content_hash or None)
    return record


def _ocr_input_png(png: bytes, page_width_points: float) -> bytes:
    """The pipeline's OCR cleaning applied to a rendered page; PNG bytes."""
    import io

    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        grey = np.asarray(image.convert("L"))
    dpi = grey.shape[1] * 72.0 / page_width_points if page_width_points > 0 else 300.0
    cleaned, _ = ocr_input(grey, dpi)
    buffer = io.BytesIO()
    Image.fromarray(cleaned).save(buffer, format="PNG")
    return buffer.getvalue()


def _pdf_page_width(path: PathType, page_index: int) -> float:
    """A page's width in PDF points (the renderer's cached copy of the item's PDF)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        return float(pdf[page_index].get_width())
    finally:
        pdf.close()


def _held_pages(catalog: Catalog, identifier: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The pages flagged and the pages failed, as the publish policy recorded when it held the item."""
    for event in reversed(catalog.events(identifier)):
        if event.kind == "held" and event.detail:
            try:
                detail = json.loads(event.detail)
                return (tuple(int(n) for n in detail.get("pages", ())),
                        tuple(int(n) for n in detail.get("failed_pages", ())))
            except (ValueError, TypeError, AttributeError):
                log.warning("the held event of %s has an unreadable detail", identifier)
                return (), ()
    return (), ()


def _item(catalog: Catalog, identifier: str) -> CatalogItem:
    item = catalog.get(identifier)
    if item is None:
        raise HTTPException(404, f"no item {identifier!r} in the catalog")
    return item


def _page_numbers(value: str, page_count: int) -> tuple[int, ...]:
    """ "3, 7 12" as page numbers; 422 naming the field for anything else."""
    numbers = []
    for part in value.replace(",", " ").split():
        if not part.isdigit() or len(part) > 6:
            raise HTTPException(422, f"the field 'pages' holds {part[:20]!r}, not a page number")
        number = int(part)
        if not 1 <= number <= max(page_count, 1):
            raise HTTPException(422, f"the field 'pages' names page {number}; the item has pages 1 to {page_count}")
        numbers.append(number)
    return tuple(numbers)


def _local_next(value: str) -> str:
    """Where to go after signing in: a staff page of this site only (never another site)."""
    if value.startswith("/staff/") and not value.startswith("//") and "\\" not in value and "\n" not in value:
        return value
    return "/staff/review"


def _to_login(request: Request, status: int = 303) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/staff/login?next={quote(target, safe='')}", status_code=status)


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"
