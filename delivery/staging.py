"""Pages through the object store, for workers that share no disk with the flow.

The machine that runs the flow reads the batch and assembles items; page
workers (Dask workers on other machines) see only the object store:

1. :func:`stage_sources` puts every scan of an item into the store once,
   under its content hash (``staging/sources/<sha256>``). A scan already
   there is not sent again.
2. :func:`process_staged_page`, on the worker, fetches the scan into a
   scratch folder of its own, runs the page stages
   (:func:`pipeline.page.process_page`) and puts the page's files under
   ``staging/pages/<cache key>/`` (``page.json`` last: it marks the page
   finished). A page already there with the same cache key (the same scan,
   frame, model and settings) is not processed again: resume works across
   machines, once each staged file has the size and SHA-256 its
   ``page.json`` recorded when the page was made (else the page is done
   again, with a warning that names the file). The scratch folder is removed afterwards, so a worker's disk
   use does not grow with the batch.
3. :func:`fetch_page`, on the flow's machine, copies the page's files into
   the page's work folder (checking each against the SHA-256 the page
   recorded) and writes ``page.json`` there, so assembly and local resume
   see a normal page. A staged file whose bytes changed in the store fails
   the page (retryable) and removes the staged ``page.json``, so the next
   attempt does the page again instead of fetching the same damage.

Every transfer is streamed in chunks; no file is held in memory whole.
The ``staging/`` objects are a cache: once no batch is running they may be
deleted (an S3 lifecycle rule on the prefix does it), at the cost of
redoing pages of batches run again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from digitize.checksums import READ_CHUNK, sha256_file
from digitize.errors import StorageError, VerificationError
from digitize.files import atomic_output, atomic_write_text
from digitize.pipeline.model import FileFixity, PageJob, PageResult
from digitize.pipeline.page import page_cache_key, process_page
from digitize.settings import Settings
from digitize.storage.objects import ObjectStore

__all__ = [
    "STAGING_PREFIX",
    "source_key",
    "page_prefix",
    "stage_sources",
    "process_staged_page",
    "fetch_page",
    "download",
]

log = logging.getLogger(__name__)

STAGING_PREFIX = "staging"
_RESULT = "page.json"
_FILES = ("pdf", "hocr", "text", "text_latin")  # the PageResult fields that name files
_MADE_AT = "made_at"  # in a staged page.json: the page files' modification time on the worker


def source_key(sha256: str) -> str:
    """Where a scan is staged: named by its content, so it is sent once."""
    return f"{STAGING_PREFIX}/sources/{sha256}"


def page_prefix(cache_key: str) -> str:
    """Where a processed page's files are staged: named by the page's inputs."""
    return f"{STAGING_PREFIX}/pages/{cache_key}"


def stage_sources(jobs: Iterable[PageJob], store: ObjectStore) -> int:
    """Put every distinct scan of ``jobs`` into the store; return how many were sent."""
    seen: set[str] = set()
    sent = 0
    for job in jobs:
        if job.source_sha256 in seen:
            continue
        seen.add(job.source_sha256)
        stored = store.put_file(source_key(job.source_sha256), job.source, sha256=job.source_sha256)
        sent += stored.uploaded
    if sent:
        log.info("staged %d scan(s) in %s", sent, store.describe())
    return sent


def download(store: ObjectStore, key: str, dest: Path, sha256: str | None = None) -> Path:
    """Copy an object to ``dest`` in chunks, checking its SHA-256; atomic.

    ``sha256`` defaults to the digest the store recorded with the object.
    Raises VerificationError (retryable) when the bytes do not match.
    """
    expected = sha256
    if expected is None:
        stored = store.stat(key)
        if stored is None:
            raise StorageError(f"no object {key!r} in {store.describe()}")
        expected = stored.sha256
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    try:
        with store.open_read(key) as source, atomic_output(dest) as out:
            while chunk := source.read(READ_CHUNK):
                digest.update(chunk)
                out.write(chunk)
            if expected and digest.hexdigest() != expected:
                raise VerificationError(
                    f"{key} in {store.describe()}: downloaded bytes have SHA-256 {digest.hexdigest()}, "
                    f"expected {expected}"
                )
    except OSError as exc:
        raise StorageError(f"cannot write {dest}: {exc.strerror or exc}") from exc
    return dest


def _page_files(result: PageResult) -> list[Path]:
    return [getattr(result, name) for name in _FILES if getattr(result, name) is not None]


def _for_job(result: PageResult, job: PageJob, folder: Path) -> PageResult:
    """The result as the flow sees it: its job's identity, files in ``folder``."""
    files = {name: folder / getattr(result, name).name for name in _FILES if getattr(result, name) is not None}
    return replace(result, item_id=job.item_id, seq=job.seq, source=job.source, frame=job.frame, **files)


def _staged_result(store: ObjectStore, key: str) -> PageResult | None:
    """A page finished and staged with this cache key, if every file of it is there."""
    prefix = page_prefix(key)
    if store.stat(f"{prefix}/{_RESULT}") is None:
        return None
    try:
        with store.open_read(f"{prefix}/{_RESULT}") as handle:
            result = PageResult.from_json(handle.read().decode("utf-8"))
    except (ValueError, TypeError, KeyError) as exc:
        log.warning("ignoring unreadable staged page %s: %s", prefix, exc)
        return None
    if result.cache_key != key:
        return None
    problem = _staged_damage(store, prefix, result)
    if problem is not None:
        log.warning("staged page %s: %s; doing the page again", prefix, problem)
        return None
    return result


def _recorded(result: PageResult) -> dict[str, FileFixity]:
    return {entry.name: entry for entry in result.fixity}


def _staged_damage(store: ObjectStore, prefix: str, result: PageResult) -> str | None:
    """What is wrong with a staged page's files, by what the store says of them (no bytes read)."""
    if not result.fixity:
        return f"{_RESULT} records no sizes and digests of its files (written by an older version)"
    recorded = _recorded(result)
    for path in _page_files(result):
        stored = store.stat(f"{prefix}/{path.name}")
        entry = recorded.get(path.name)
        if stored is None:
            return f"{path.name} is missing"
        if entry is None:
            return f"{_RESULT} records no digest of {path.name}"
        if stored.size != entry.size:
            return f"{path.name} has {stored.size} bytes, {_RESULT} recorded {entry.size}"
        if stored.sha256 and stored.sha256 != entry.sha256:
            return f"{path.name}: the store's SHA-256 differs from the one {_RESULT} recorded"
    return None


def process_staged_page(
    job: PageJob,
    settings: Settings,
    store: ObjectStore,
    scratch: Path,
    process: Callable[[PageJob, Settings], PageResult] = process_page,
) -> PageResult:
    """On a worker: one page from the store, through the page stages, back to the store.

    Reads and writes nothing outside ``scratch`` but the store. Returns the
    result as the flow will see it after :func:`fetch_page` (paths in
    ``job.work_dir``).
    """
    key = page_cache_key(job, settings)
    staged = _staged_result(store, key)
    if staged is not None:
        log.debug("page %s of %s: reusing staged %s", job.seq, job.item_id, page_prefix(key))
        return _for_job(staged, job, job.work_dir)
    scratch.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"page-{key}-", dir=scratch))
    try:
        # the scan keeps its name: it shows in messages and provenance, and its suffix matters
        source = download(store, source_key(job.source_sha256), folder / "source" / job.source.name, job.source_sha256)
        result = process(replace(job, source=source, work_dir=folder / "page"), settings)
        prefix = page_prefix(key)
        recorded = _recorded(result)
        for path in _page_files(result):
            entry = recorded.get(path.name)  # the upload is checked against the digest the page recorded
            store.put_file(f"{prefix}/{path.name}", path, sha256=entry.sha256 if entry else None)
        # file names only (valid anywhere), and when the page was made: the item's PDF is dated by
        # its newest page, stable across re-runs
        portable = _for_job(result, job, Path(".")).to_json(extra={_MADE_AT: result.pdf.stat().st_mtime})
        record = folder / _RESULT
        atomic_write_text(record, portable)
        store.put_file(f"{prefix}/{_RESULT}", record, content_type="application/json")  # last: "finished"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return _for_job(result, job, job.work_dir)


def _same_file(path: Path, size: int, sha256: str) -> bool:
    try:
        return path.stat().st_size == size and sha256_file(path) == sha256
    except OSError:
        return False


def fetch_page(job: PageJob, result: PageResult, store: ObjectStore) -> PageResult:
    """On the flow's machine: the staged page's files into ``job.work_dir``, then its ``page.json``."""
    prefix = page_prefix(result.cache_key)
    try:
        with store.open_read(f"{prefix}/{_RESULT}") as handle:
            made_at = float(json.loads(handle.read().decode("utf-8")).get(_MADE_AT) or 0)
    except (ValueError, TypeError, AttributeError) as exc:
        raise StorageError(f"{job.label}: staged {prefix}/{_RESULT} is unreadable ({exc})") from exc
    recorded = _recorded(result)
    for path in _page_files(result):
        key = f"{prefix}/{path.name}"
        stored = store.stat(key)
        if stored is None:
            raise StorageError(f"{job.label}: staged file {key} is missing from {store.describe()}")
        entry = recorded.get(path.name)
        size, sha256 = (entry.size, entry.sha256) if entry else (stored.size, stored.sha256)
        dest = job.work_dir / path.name
        if not _same_file(dest, size, sha256):
            try:
                download(store, key, dest, sha256 or None)
            except VerificationError as exc:
                # The staged copy is damaged: forget the staged page, so the next attempt makes it again.
                store.delete(f"{prefix}/{_RESULT}")
                raise VerificationError(
                    f"{job.label}: {exc}; the staged page is dropped and will be done again on the next attempt"
                ) from exc
        if made_at:
            os.utime(dest, (made_at, made_at))
    local = _for_job(result, job, job.work_dir)
    record = job.work_dir / _RESULT
    try:
        atomic_write_text(record, local.to_json())
    except OSError as exc:
        raise StorageError(f"cannot write {record}: {exc.strerror or exc}") from exc
    return local
