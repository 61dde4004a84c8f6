"""Staff accounts: people who sign in to the e-library to review items.

Machines write with the bearer token (``web.token``); people have accounts
here, each with a role (``reviewer``: the review desk; ``admin``: that and
more to come). Passwords are kept only as Argon2id hashes (argon2-cffi, the
hash OWASP recommends first), re-hashed on sign-in when the library's
parameters grow. Accounts are disabled, never deleted: a review event names
the person who approved an item, and that name must keep meaning someone.

Sessions live in the catalog (by the SHA-256 of their token, so a leaked
database does not hand out sessions): signing out or disabling an account
ends them at once, on every web process. Guessing is slowed by counting
failed sign-ins per account: after ``max_failed`` in a row the account is
refused for ``lockout_seconds`` whatever the password.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from digitize.errors import AccountError, CatalogError
from digitize.storage.catalog import Catalog
from digitize.storage.catalog_tables import StaffSessionRow, UserRow

__all__ = [
    "ROLES",
    "AccountLocked",
    "StaffSession",
    "StaffUser",
    "authenticate",
    "check_password",
    "check_username",
    "close_session",
    "create_user",
    "disable_user",
    "list_users",
    "open_session",
    "session_for",
]

ROLES = ("reviewer", "admin")
# Lower-case letters, digits and . _ - ; starting with a letter or digit: a name
# that reads the same in a log line, a URL and an event's detail.
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_MAX_PASSWORD_CHARS = 1024  # Argon2 takes any length; a megabyte "password" is an attack, not a secret
_MAX_DISPLAY_NAME = 200
WRONG_CREDENTIALS = "wrong username or password"


class AccountLocked(AccountError):
    """Sign-in refused for too many failures: the number and the time it opens again (for the sign-in page's words)."""

    def __init__(self, username: str, failed: int, until: datetime, now: datetime) -> None:
        self.username, self.failed, self.until = username, failed, until
        self.seconds = int((until - now).total_seconds()) + 1
        super().__init__(f"account {username!r} is locked after {failed} failed sign-ins; "
                         f"try again after {until:%H:%M:%S} UTC ({self.seconds} s)")


@dataclass(frozen=True)
class StaffUser:
    """A staff account as the catalog holds it (never its password hash)."""

    username: str
    display_name: str
    role: str
    created_at: datetime
    disabled_at: datetime | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True)
class StaffSession:
    """A signed-in session: who, the CSRF token its forms carry, when it ends."""

    user: StaffUser
    csrf_token: str
    expires_at: datetime


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2-cffi's defaults: Argon2id, RFC 9106's low-memory profile


@cache
def _dummy_hash() -> str:
    """A hash to verify against for an unknown username, so its answer takes as long as a known one's."""
    return _hasher().hash(secrets.token_hex(16))


def check_username(username: str) -> str:
    if not _USERNAME.fullmatch(username):
        raise AccountError(
            f"username {username[:80]!r} is not valid: use 1 to 64 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return username


def check_password(password: str, min_chars: int) -> str:
    if len(password) < min_chars:
        raise AccountError(f"password is too short: {len(password)} characters, at least {min_chars} are needed")
    if len(password) > _MAX_PASSWORD_CHARS:
        raise AccountError(f"password is too long: at most {_MAX_PASSWORD_CHARS} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in password):
        raise AccountError("password holds a control character (a pasted line break?): type it again")
    return password


def create_user(
    catalog: Catalog,
    username: str,
    password: str,
    *,
    role: str,
    display_name: str | None = None,
    min_password_chars: int = 12,
) -> StaffUser:
    """Make an account; refuses a taken name, an unknown role or a short password (naming which)."""
    check_username(username)
    if role not in ROLES:
        raise AccountError(f"role {role[:40]!r} is not one of {', '.join(ROLES)}")
    check_password(password, min_password_chars)
    name = (display_name or username).strip()
    if not name or len(name) > _MAX_DISPLAY_NAME or any(ord(ch) < 32 for ch in name):
        raise AccountError(f"display name must be 1 to {_MAX_DISPLAY_NAME} printable characters")
    password_hash = _hasher().hash(password)
    with _session(catalog) as session:
        if session.scalar(select(UserRow.id).where(UserRow.username == username)) is not None:
            raise AccountError(f"username {username!r} is taken: choose another (accounts are never deleted)")
        row = UserRow(username=username, display_name=name, role=role, password_hash=password_hash,
                      created_at=_now())
        session.add(row)
        session.commit()
        return _user(row)


def list_users(catalog: Catalog) -> list[StaffUser]:
    with _session(catalog) as session:
        return [_user(row) for row in session.scalars(select(UserRow).order_by(UserRow.username))]


def disable_user(catalog: Catalog, username: str) -> StaffUser:
    """Disable an account and end its sessions; disabling twice keeps the first date."""
    with _session(catalog) as session:
        row = session.scalar(select(UserRow).where(UserRow.username == username))
        if row is None:
            raise AccountError(f"no staff account {username[:80]!r}")
        if row.disabled_at is None:
            row.disabled_at = _now()
        session.execute(delete(StaffSessionRow).where(StaffSessionRow.user_id == row.id))
        session.commit()
        return _user(row)


def authenticate(
    catalog: Catalog, username: str, password: str, *, max_failed: int = 5, lockout_seconds: float = 300.0
) -> StaffUser:
    """The account if the password is right; AccountError otherwise.

    The message does not say whether the name exists; it does say when the
    account is refused for too many failures, and when it is disabled (only
    to someone who gave its right password).
    """
    with _session(catalog) as session:
        row = session.scalar(select(UserRow).where(UserRow.username == username)) if _USERNAME.fullmatch(
            username) else None
        if row is None:
            _verify(_dummy_hash(), password)
            raise AccountError(WRONG_CREDENTIALS)
        now = _now()
        if row.failed_logins >= max_failed and row.last_failed_at is not None:
            until = _utc(row.last_failed_at) + timedelta(seconds=lockout_seconds)
            if now < until:
                raise AccountLocked(username, row.failed_logins, until, now)
        if not _verify(row.password_hash, password):
            row.failed_logins += 1
            row.last_failed_at = now
            session.commit()
            raise AccountError(WRONG_CREDENTIALS)
        if row.disabled_at is not None:
            raise AccountError(f"account {username!r} is disabled: ask an administrator")
        row.failed_logins = 0
        row.last_failed_at = None
        if _hasher().check_needs_rehash(row.password_hash):
            row.password_hash = _hasher().hash(password)
        session.commit()
        return _user(row)


def open_session(catalog: Catalog, user: StaffUser, *, hours: float) -> tuple[str, StaffSession]:
    """A new session for ``user``: its secret token (for the cookie only) and the session."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = _now() + timedelta(hours=hours)
    with _session(catalog) as session:
        user_id = session.scalar(select(UserRow.id).where(UserRow.username == user.username))
        if user_id is None:
            raise AccountError(f"no staff account {user.username!r}")
        session.execute(delete(StaffSessionRow).where(StaffSessionRow.expires_at < _now()))
        session.add(StaffSessionRow(token_hash=_token_hash(token), user_id=user_id, csrf_token=csrf,
                                    created_at=_now(), expires_at=expires))
        session.commit()
    return token, StaffSession(user=user, csrf_token=csrf, expires_at=expires)


def session_for(catalog: Catalog, token: str) -> StaffSession | None:
    """The live session of ``token``; None when unknown, ended, or its account disabled."""
    with _session(catalog) as session:
        found = session.execute(
            select(StaffSessionRow, UserRow).join(UserRow, UserRow.id == StaffSessionRow.user_id)
            .where(StaffSessionRow.token_hash == _token_hash(token))
        ).first()
        if found is None:
            return None
        row, user = found
        if _utc(row.expires_at) <= _now() or user.disabled_at is not None:
            session.delete(row)
            session.commit()
            return None
        return StaffSession(user=_user(user), csrf_token=row.csrf_token, expires_at=_utc(row.expires_at))


def close_session(catalog: Catalog, token: str) -> None:
    with _session(catalog) as session:
        session.execute(delete(StaffSessionRow).where(StaffSessionRow.token_hash == _token_hash(token)))
        session.commit()


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@contextmanager
def _session(catalog: Catalog) -> Iterator[Session]:
    """A database session on the catalog's engine; database faults become CatalogError."""
    session = Session(catalog.engine, expire_on_commit=False)
    try:
        yield session
    except SQLAlchemyError as exc:
        raise CatalogError(f"the catalog could not be read or written for staff accounts: {exc}") from exc
    finally:
        session.close()


def _user(row: UserRow) -> StaffUser:
    return StaffUser(
        username=row.username, display_name=row.display_name, role=row.role, created_at=_utc(row.created_at),
        disabled_at=None if row.disabled_at is None else _utc(row.disabled_at),
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    """SQLite gives back naive datetimes; they were stored as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
