"""Staff sign-in for the e-library: the session cookie, CSRF tokens, form bodies.

The cookie carries a random session token and its HMAC-SHA256 under the
session secret; the session itself is kept in the catalog
(``storage/accounts.py``), so signing out or disabling an account ends it
at once. The cookie is HttpOnly (no script reads it), SameSite=Lax (a
cross-site form post does not carry it), scoped to ``/staff`` and Secure
when the site is served over https. Every staff form carries the session's
CSRF token in a hidden field, checked before anything is done; the sign-in
form, which comes before any session, carries a token that must match a
cookie of its own (a login CSRF cannot sign someone in as somebody else).

Forms are read here from the raw body (``application/x-www-form-urlencoded``),
which needs no multipart parser; bad bodies are refused with a 4xx that
says why.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, HTTPException, Request
from fastapi.responses import Response

from digitize.elibrary.deps import CatalogDep, SettingsDep
from digitize.elibrary.i18n import Translatable
from digitize.errors import ConfigError
from digitize.files import atomic_write_text
from digitize.settings import Settings
from digitize.storage.accounts import StaffSession, session_for

__all__ = [
    "COOKIE",
    "CSRF_FIELD",
    "LOGIN_COOKIE",
    "SECRET_FILE",
    "Form",
    "FormDep",
    "StaffDep",
    "check_csrf",
    "field",
    "check_login_csrf",
    "clear_cookie",
    "get_staff",
    "read_form",
    "secret_path",
    "session_secret",
    "session_token",
    "set_cookie",
    "sign",
    "unsign",
]

log = logging.getLogger(__name__)

COOKIE = "digitize_staff"
LOGIN_COOKIE = "digitize_staff_login"
CSRF_FIELD = "csrf_token"
SECRET_FILE = "staff-session-secret"
_MIN_SECRET_CHARS = 32
_MAX_FORM_BYTES = 64 * 1024  # a staff form holds a few fields and a reason, never a book

Form = dict[str, list[str]]


def secret_path(settings: Settings) -> Path:
    return settings.cache_dir / SECRET_FILE


def session_secret(settings: Settings) -> bytes:
    """The key that signs session cookies: the configured one, else one made once and kept in the cache folder.

    Kept in ``<cache_dir>/staff-session-secret`` (mode 0600) so that sessions
    survive a restart of the web service. Two processes starting at once may
    each write one; the file's last content wins and is what both read back.
    """
    configured = settings.staff.session_secret
    if configured is not None:
        value = configured.get_secret_value()
        if len(value) < _MIN_SECRET_CHARS:
            raise ConfigError(
                f"staff.session_secret has {len(value)} characters; at least {_MIN_SECRET_CHARS} are needed "
                "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
            )
        return value.encode()
    path = secret_path(settings)
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, secrets.token_hex(32) + "\n")
            os.chmod(path, 0o600)
            log.info("made the staff session secret %s (set staff.session_secret to choose one)", path)
        value = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"the staff session secret {path} cannot be read or made ({exc}); set staff.session_secret "
            "or fix the cache folder (cache_dir)"
        ) from exc
    if len(value) < _MIN_SECRET_CHARS:
        raise ConfigError(f"the staff session secret {path} is shorter than {_MIN_SECRET_CHARS} characters: delete it")
    return value.encode()


def sign(token: str, secret: bytes) -> str:
    return f"{token}.{_mac(token, secret)}"


def unsign(value: str, secret: bytes) -> str | None:
    """The token of a signed cookie value, or None when the signature does not hold."""
    token, dot, mac = value.rpartition(".")
    if not dot or not token or not hmac.compare_digest(mac.encode(), _mac(token, secret).encode()):
        return None
    return token


def _mac(token: str, secret: bytes) -> str:
    return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()


def _secret(request: Request, settings: Settings) -> bytes:
    secret: bytes | None = getattr(request.app.state, "staff_secret", None)
    if secret is None:
        secret = request.app.state.staff_secret = session_secret(settings)
    return secret


def get_staff(request: Request, settings: SettingsDep, catalog: CatalogDep) -> StaffSession | None:
    """The signed-in staff session of the request, or None."""
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    token = unsign(value, _secret(request, settings))
    return None if token is None else session_for(catalog, token)


StaffDep = Annotated[StaffSession | None, Depends(get_staff)]


def session_token(request: Request, settings: Settings) -> str | None:
    value = request.cookies.get(COOKIE)
    return None if not value else unsign(value, _secret(request, settings))


def set_cookie(
    response: Response, request: Request, settings: Settings, name: str, token: str, max_age: int
) -> None:
    response.set_cookie(
        name, sign(token, _secret(request, settings)), max_age=max_age, path="/staff", httponly=True,
        samesite="lax", secure=_secure(request, settings),
    )


def clear_cookie(response: Response, request: Request, settings: Settings, name: str) -> None:
    response.delete_cookie(name, path="/staff", httponly=True, samesite="lax", secure=_secure(request, settings))


def _secure(request: Request, settings: Settings) -> bool:
    if settings.staff.secure_cookie is not None:
        return settings.staff.secure_cookie
    base = settings.web.base_url or ""
    return request.url.scheme == "https" or base.startswith("https://")


async def read_form(request: Request) -> Form:
    """The request's form fields; 415/413/400 naming the fault for anything that is not a small form."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise HTTPException(415, f"a staff form is sent as application/x-www-form-urlencoded, not {kind[:80]!r}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > _MAX_FORM_BYTES:
        raise HTTPException(413, f"the form is over {_MAX_FORM_BYTES} bytes; nothing was done")
    raw = await request.body()
    if len(raw) > _MAX_FORM_BYTES:
        raise HTTPException(413, f"the form is over {_MAX_FORM_BYTES} bytes; nothing was done")
    try:
        text = raw.decode("ascii")
        return parse_qs(text, keep_blank_values=True, strict_parsing=False, encoding="utf-8", errors="strict",
                        max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, f"the form could not be read ({exc}); nothing was done") from exc


FormDep = Annotated[Form, Depends(read_form)]


def field(form: Form, name: str, *, required: bool = True, max_chars: int = 2000) -> str:
    """One form field, stripped; 422 naming the field when missing, repeated, too long or with control characters."""
    values = form.get(name, [])
    if len(values) > 1:
        raise HTTPException(422, f"the field {name!r} was sent {len(values)} times; send it once")
    value = values[0].strip() if values else ""
    if required and not value:
        raise HTTPException(422, Translatable("the field %(name)s is required", name=repr(name)))
    if len(value) > max_chars:
        raise HTTPException(422, f"the field {name!r} has {len(value)} characters; at most {max_chars}")
    if any((ord(ch) < 32 and ch not in "\n\r\t") or ord(ch) == 127 for ch in value):
        raise HTTPException(422, f"the field {name!r} holds a control character")
    return value


def check_csrf(staff: StaffSession, form: Form) -> None:
    given = form.get(CSRF_FIELD, [""])
    if len(given) != 1 or not hmac.compare_digest(given[0].encode(), staff.csrf_token.encode()):
        raise HTTPException(403, Translatable("the form's CSRF token is missing or wrong (a stale page?): reload it "
                                              "and try again; nothing was done"))


def check_login_csrf(request: Request, settings: Settings, form: Form) -> None:
    value = request.cookies.get(LOGIN_COOKIE, "")
    expected = unsign(value, _secret(request, settings)) if value else None
    given = form.get(CSRF_FIELD, [""])
    if expected is None or len(given) != 1 or not hmac.compare_digest(given[0].encode(), expected.encode()):
        raise HTTPException(403, Translatable("the sign-in form's CSRF token is missing or wrong (cookies off, or a "
                                              "stale page?): reload the sign-in page and try again"))
