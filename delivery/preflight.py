"""Pre-flight: is everything a run needs there and usable, tested for real, before any page is read.

One check per thing, each answering with a :class:`CheckResult` (what was
checked, whether it passed, what was found, how to fix it, and the exit
code a failure ends the command with): Tesseract and each configured model,
the work folder (free disk, writable), the output folder (writable), the
object store (a probe object written, read back, compared and deleted), the
catalog (reachable, schema revision, writable) and the Prefect API when
``PREFECT_API_URL`` is set.

Every probe has a short timeout of its own (``PROBE_TIMEOUT_SECONDS``), so a
server that is down is reported within seconds: measured before this
module, a 2-page run with the S3 endpoint at a closed port OCR'd every page
and then failed after 62 s with a botocore traceback.

``digitize check`` prints every result; ``digitize run`` runs
:func:`run_checks` and stops at the first failure. The library raises
nothing here: a failure is a result, turned into an error by
:func:`first_failure_error` for the CLI.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from digitize.errors import (
    CatalogError,
    ConfigError,
    DigitizeError,
    ExitCode,
    MissingDependencyError,
    StorageError,
)
from digitize.files import atomic_write_bytes
from digitize.settings import Settings
from digitize.storage.catalog import catalog_error_reason
from digitize.storage.catalog_schema import SCHEMA_HEAD

__all__ = [
    "PROBE_TIMEOUT_SECONDS",
    "PROBE_PREFIX",
    "SUPPORTED_CATALOGS",
    "CheckResult",
    "check_tesseract",
    "check_work_folder",
    "check_output_folder",
    "check_store",
    "check_catalog",
    "check_catalog_url",
    "check_prefect_api",
    "all_checks",
    "run_checks",
    "first_failure_error",
]

# Seconds each probe may take to connect (S3, the catalog's server, the Prefect API).
PROBE_TIMEOUT_SECONDS = 3.0
# Where the store's probe object goes. Not ".digitize-probe/": keys may not
# start with "." (storage.objects.check_key keeps those for the store's own files).
PROBE_PREFIX = "digitize-probe/"
# Catalog databases the migrations are written and tested for, with an example URL each.
SUPPORTED_CATALOGS = {
    "sqlite": "sqlite:///PATH/catalog.sqlite3",
    "postgresql": "postgresql+psycopg://USER@HOST/DB",
}


@dataclass(frozen=True)
class CheckResult:
    """One pre-flight check: ``fix`` says what to do when ``ok`` is false."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None
    exit_code: ExitCode = ExitCode.OK

    @classmethod
    def passed(cls, name: str, detail: str) -> CheckResult:
        return cls(name, True, detail)

    @classmethod
    def failed(cls, name: str, detail: str, fix: str, exit_code: ExitCode) -> CheckResult:
        return cls(name, False, detail, fix, exit_code)


_ERRORS: dict[ExitCode, Callable[[str], DigitizeError]] = {
    ExitCode.STORAGE: StorageError,
    ExitCode.CATALOG: CatalogError,
    ExitCode.MISSING_DEPENDENCY: MissingDependencyError,
    ExitCode.CONFIG: ConfigError,
}


def first_failure_error(results: list[CheckResult]) -> DigitizeError | None:
    """The first failed check as an error of its kind (its exit code) whose message names the fix; None: all passed."""
    for result in results:
        if not result.ok:
            make = _ERRORS.get(result.exit_code, ConfigError)
            return make(f"pre-flight check '{result.name}' failed: {result.detail.rstrip('.')}. Fix: {result.fix}")
    return None


# -- Tesseract -----------------------------------------------------------------


def check_tesseract(settings: Settings) -> list[CheckResult]:
    """Tesseract's version, then each model the settings name (``ocr.default_model``, ``ocr.models``)."""
    from digitize.pipeline import tesseract

    try:
        info = tesseract.probe(settings.ocr.tessdata)
    except MissingDependencyError as exc:
        return [CheckResult.failed("tesseract", exc.message, _fix_of(exc.message), ExitCode.MISSING_DEPENDENCY)]
    results = [CheckResult.passed("tesseract", f"Tesseract {info.version}, models in {info.tessdata}")]
    for model in sorted(set(settings.ocr.models.values()) | {settings.ocr.default_model}):
        name = f"model {model}"
        try:
            tesseract.check_model(model, settings.ocr.tessdata)
        except MissingDependencyError as exc:
            results.append(CheckResult.failed(name, exc.message, _fix_of(exc.message), ExitCode.MISSING_DEPENDENCY))
        else:
            results.append(CheckResult.passed(name, "installed"))
    return results


def _fix_of(message: str) -> str:
    """The "install it: apt-get install …" part of a dependency message."""
    for part in reversed(message.split("; ")):
        if "install" in part:
            return part
    return "install Tesseract 5 and its models: apt-get install tesseract-ocr tesseract-ocr-script-cyrl"


# -- folders -------------------------------------------------------------------


def _folder_problem(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` (None: they can).

    An existing folder gets a real probe file (written atomically, removed),
    which also catches a read-only mount that permission bits do not show,
    and root; a folder yet to be made is judged by its nearest existing
    parent, which must be a writable folder (nothing is created here).
    """
    folder = folder.expanduser().absolute()
    if folder.is_dir():
        probe = folder / f".digitize-probe-{secrets.token_hex(6)}"
        try:
            atomic_write_bytes(probe, b"digitize pre-flight probe\n")
        except OSError as exc:
            return f"cannot write in {folder} ({exc.strerror or exc})"
        finally:
            with contextlib.suppress(OSError):
                probe.unlink(missing_ok=True)
        return None
    for parent in folder.parents:
        if not os.path.lexists(parent):
            continue
        if not parent.is_dir():
            return f"cannot create {folder}: {parent} is not a folder"
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"cannot create {folder}: {parent} is not writable"
        return None
    return f"cannot create {folder}"


def _existing(folder: Path) -> Path | None:
    """``folder`` or its nearest existing parent, if that is a folder."""
    for candidate in (folder, *folder.parents):
        if os.path.lexists(candidate):
            return candidate if candidate.is_dir() else None
    return None


def check_work_folder(settings: Settings) -> CheckResult:
    """The work folder can be written and its disk has ``runs.min_free_disk_mb`` free."""
    folder = Path(settings.work_dir).expanduser().absolute()
    fix_place = "set work_dir (DIGITIZE_WORK_DIR) to a writable folder"
    problem = _folder_problem(folder)
    if problem:
        return CheckResult.failed("work folder", problem, fix_place, ExitCode.CONFIG)
    existing = _existing(folder)
    try:
        free = shutil.disk_usage(existing or folder).free
    except OSError as exc:
        return CheckResult.failed("work folder", f"cannot measure free disk of {folder} ({exc})", fix_place,
                                  ExitCode.CONFIG)
    need = settings.runs.min_free_disk_mb * 1_000_000
    if free < need:
        return CheckResult.failed(
            "work folder",
            f"{folder}: {free / 1e6:.0f} MB free, at least {settings.runs.min_free_disk_mb} MB needed "
            "(runs.min_free_disk_mb)",
            "free disk space there, or point work_dir (DIGITIZE_WORK_DIR) at a disk with room",
            ExitCode.CONFIG,
        )
    return CheckResult.passed("work folder", f"{folder}: writable, {free / 1e9:.1f} GB free")


def check_output_folder(settings: Settings) -> CheckResult:
    """The output folder (items' files, batch reports) can be written."""
    folder = Path(settings.output_dir).expanduser().absolute()
    problem = _folder_problem(folder)
    if problem:
        return CheckResult.failed(
            "output folder", problem, "set output_dir (DIGITIZE_OUTPUT_DIR) to a writable folder", ExitCode.CONFIG
        )
    return CheckResult.passed("output folder", f"{folder}: writable")


# -- object store --------------------------------------------------------------


def check_store(settings: Settings) -> CheckResult:
    """Write a probe object, read it back, compare, delete it (S3: short timeout, one attempt)."""
    from digitize.storage.factory import open_store
    from digitize.storage.local import LocalObjectStore

    storage = settings.storage.model_copy(
        update={
            "connect_timeout_seconds": min(settings.storage.connect_timeout_seconds, PROBE_TIMEOUT_SECONDS),
            "max_attempts": 1,
        }
    )
    key = f"{PROBE_PREFIX}{socket.gethostname() or 'host'}-{os.getpid()}-{secrets.token_hex(8)}"
    content = f"digitize pre-flight probe {key}\n".encode()
    fix = (
        "start the object store or correct storage.url, storage.endpoint_url and the credentials "
        "(DIGITIZE_STORAGE__URL, DIGITIZE_STORAGE__ENDPOINT_URL, DIGITIZE_STORAGE__ACCESS_KEY_ID, "
        "DIGITIZE_STORAGE__SECRET_ACCESS_KEY)"
    )
    try:
        store = open_store(storage)
    except ConfigError as exc:
        return CheckResult.failed("object store", exc.message, "correct storage.url (DIGITIZE_STORAGE__URL)",
                                  ExitCode.CONFIG)
    where = store.describe()
    # a local store's folder is left as it was found: the probe's folders go, and the root if the probe made it
    made = [] if not isinstance(store, LocalObjectStore) else [store.root / PROBE_PREFIX.rstrip("/")]
    if isinstance(store, LocalObjectStore):
        made += [folder for folder in (store.root, *store.root.parents) if not folder.exists()]
    stored = False
    try:
        with tempfile.TemporaryDirectory(prefix="digitize-probe-") as scratch:
            probe = Path(scratch) / "probe"
            atomic_write_bytes(probe, content)
            store.put_file(key, probe)
            stored = True
            with store.open_read(key) as handle:
                back = handle.read(len(content) + 1)
        if back != content:
            return CheckResult.failed(
                "object store",
                f"{where}: the probe object {key} read back differs from what was written "
                f"({len(back)} bytes, {len(content)} written)",
                "check the object store server: it does not return what it stored",
                ExitCode.STORAGE,
            )
        store.delete(key)
        stored = False
    except StorageError as exc:
        return CheckResult.failed("object store", exc.message, fix, ExitCode.STORAGE)
    except OSError as exc:
        return CheckResult.failed("object store", f"{where}: {exc}", fix, ExitCode.STORAGE)
    finally:
        if stored:
            with contextlib.suppress(DigitizeError, OSError):
                store.delete(key)
        for folder in made:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty
    return CheckResult.passed("object store", f"{where}: a probe object written, read back and deleted")


# -- catalog -------------------------------------------------------------------


def check_catalog_url(settings: Settings) -> CheckResult | None:
    """A failed result when the catalog URL names a database we do not support (None: supported)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    supported = " or ".join(SUPPORTED_CATALOGS.values())
    fix = f"set catalog.url (DIGITIZE_CATALOG__URL) to {supported}"
    try:
        url = make_url(settings.catalog.url)
    except ArgumentError:
        return CheckResult.failed("catalog", f"catalog URL {settings.catalog.url!r} is not a database URL", fix,
                                  ExitCode.CONFIG)
    backend = url.get_backend_name()
    if backend not in SUPPORTED_CATALOGS:
        shown = url.render_as_string(hide_password=True)
        return CheckResult.failed(
            "catalog",
            f"catalog URL {shown!r} names {backend!r}, which is not supported: the catalog runs on SQLite "
            f"or PostgreSQL ({supported})",
            fix,
            ExitCode.CONFIG,
        )
    return None


def check_catalog(settings: Settings) -> CheckResult:
    """Reach the catalog, compare its schema revision with ``SCHEMA_HEAD``, test that it takes writes.

    Nothing is created or changed: a missing SQLite file is judged by its
    folder, and the write test (an ``UPDATE`` that changes nothing, or on a
    new PostgreSQL database a ``CREATE TABLE``) is rolled back.
    """
    refused = check_catalog_url(settings)
    if refused is not None:
        return refused
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from digitize.storage.catalog_schema import schema_revision

    url = make_url(settings.catalog.url)
    where = url.render_as_string(hide_password=True)
    fix = (
        "start the catalog's database server, or correct catalog.url (DIGITIZE_CATALOG__URL); "
        "a SQLite catalog's file and folder must be writable and not held by another program"
    )
    sqlite = url.get_backend_name() == "sqlite"
    if sqlite:
        database = url.database or ""
        if database in ("", ":memory:"):
            return CheckResult.passed("catalog", f"{where}: in memory")
        path = Path(database).expanduser().absolute()
        if not path.exists():
            problem = _folder_problem(path.parent)
            if problem:
                return CheckResult.failed("catalog", f"{where}: {problem}", fix, ExitCode.CATALOG)
            return CheckResult.passed("catalog", f"{where}: not made yet, the first run creates it")
        if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
            return CheckResult.failed("catalog", f"{where}: the file or its folder is read-only", fix,
                                      ExitCode.CATALOG)
        connect_args: dict[str, object] = {"timeout": PROBE_TIMEOUT_SECONDS}
    else:
        connect_args = {"connect_timeout": max(2, round(PROBE_TIMEOUT_SECONDS))}
    try:
        engine = create_engine(url, connect_args=connect_args)
    except ImportError as exc:
        return CheckResult.failed("catalog", f"{where}: the database driver is not installed ({exc})",
                                  "run the project's setup (bin/setup), which installs psycopg",
                                  ExitCode.MISSING_DEPENDENCY)
    try:
        revision = schema_revision(engine)
        newer = _newer_than_head(revision)
        if newer:
            return CheckResult.failed(
                "catalog",
                f"{where}: the schema is at revision {revision}, newer than this program's {SCHEMA_HEAD}",
                "upgrade digitize to the version that wrote this catalog, or point catalog.url elsewhere",
                ExitCode.CATALOG,
            )
        with engine.connect() as conn, conn.begin() as transaction:
            if inspect(conn).has_table("alembic_version"):
                conn.execute(text("UPDATE alembic_version SET version_num = version_num"))
            elif not sqlite:
                conn.execute(text("CREATE TABLE digitize_preflight_probe (x integer)"))
            transaction.rollback()
    except SQLAlchemyError as exc:
        return CheckResult.failed("catalog", f"{where}: {catalog_error_reason(exc)}", fix, ExitCode.CATALOG)
    finally:
        engine.dispose()
    if revision is None:
        state = "reachable and writable, no schema yet (the first run creates it)"
    elif revision == SCHEMA_HEAD:
        state = f"reachable and writable, schema at {revision}"
    else:
        state = f"reachable and writable, schema at {revision} (the next run migrates it to {SCHEMA_HEAD})"
    return CheckResult.passed("catalog", f"{where}: {state}")


def _newer_than_head(revision: str | None) -> bool:
    if revision is None or revision == SCHEMA_HEAD:
        return False
    if revision.isdigit() and SCHEMA_HEAD.isdigit():
        return int(revision) > int(SCHEMA_HEAD)
    return True  # a revision our migrations do not know



# -- Prefect -------------------------------------------------------------------


def check_prefect_api(url: str | None = None) -> CheckResult:
    """``GET {PREFECT_API_URL}/health`` with a short timeout; without the variable a run starts its own server."""
    url = url if url is not None else os.environ.get("PREFECT_API_URL")
    if not url:
        return CheckResult.passed("Prefect API", "PREFECT_API_URL not set: each run starts a temporary server")
    health = url.rstrip("/") + "/health"
    fix = "start the Prefect server (prefect server start) or correct or unset PREFECT_API_URL"
    try:
        with urllib.request.urlopen(health, timeout=PROBE_TIMEOUT_SECONDS) as response:  # noqa: S310 - the operator's URL
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return CheckResult.failed("Prefect API", f"{health} cannot be reached ({reason})", fix, ExitCode.CONFIG)
    if status != 200:
        return CheckResult.failed("Prefect API", f"{health} answered HTTP {status}", fix, ExitCode.CONFIG)
    return CheckResult.passed("Prefect API", f"{url}: healthy")


# -- all of them ---------------------------------------------------------------


def all_checks(settings: Settings) -> list[CheckResult]:
    """Every check, in the order ``digitize check`` prints them."""
    return [
        *check_tesseract(settings),
        check_work_folder(settings),
        check_output_folder(settings),
        check_store(settings),
        check_catalog(settings),
        check_prefect_api(),
    ]


def run_checks(settings: Settings) -> list[CheckResult]:
    """The checks ``digitize run`` makes before any page is read.

    Not the models (a missing one fails only the items that need it, and
    the batch goes on) nor the catalog's connection (the flow opens it
    first thing and, if it fails, writes the batch report naming every
    item as not processed, exit 8): only its URL, which no run can use if
    unsupported.
    """
    results = [check_work_folder(settings), check_output_folder(settings), check_store(settings)]
    refused = check_catalog_url(settings)
    if refused is not None:
        results.append(refused)
    results.append(check_prefect_api())
    return results
