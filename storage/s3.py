"""The S3 object store (``s3://bucket/prefix`` URLs), for AWS or SeaweedFS/MinIO.

Integrity is checked twice: the server checks each request body against the
Content-MD5 we send (a corrupted transfer is refused), and after the upload
the ETag the server reports is compared with the one computed locally (MD5,
or for multipart uploads the MD5 of the part MD5s plus ``-N``). Servers with
another ETag scheme (AWS SSE-KMS, some clones) are verified by reading the
object back. The SHA-256 goes into the object's metadata (``x-amz-meta-sha256``)
so a re-run can skip unchanged files with one HEAD request.

botocore's exceptions are translated in one place, ``_errors``; messages name
the endpoint and object but never the credentials. Sending the bytes (one PUT
or a multipart upload) is ``storage.s3_upload``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import mimetypes
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from digitize.checksums import READ_CHUNK
from digitize.errors import ConfigError, StorageError, StorageUnavailableError, VerificationError
from digitize.settings import StorageSettings
from digitize.storage.objects import IncompleteUpload, ObjectStore, StoredObject, check_key, check_sha256
from digitize.storage.s3_upload import (
    MIB,
    MIN_PART_BYTES,
    abort_upload,
    multipart_etag,
    put_multipart,
    put_single,
)

__all__ = ["S3ObjectStore", "parse_s3_url", "multipart_etag"]

log = logging.getLogger(__name__)

_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
_UNAVAILABLE = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
}
_BAD_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
_BAD_DIGEST = {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"}


def parse_s3_url(url: str) -> tuple[str, str]:
    """Split ``s3://bucket/some/prefix`` into ("bucket", "some/prefix/")."""
    if not url.startswith("s3://"):
        raise ConfigError(f"storage url {url!r} is not an s3:// URL")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise ConfigError(f"storage url {url!r} names no bucket: use s3://BUCKET/PREFIX")
    prefix = prefix.strip("/")
    if prefix:
        try:
            check_key(prefix)
        except StorageError as exc:
            raise ConfigError(f"storage url {url!r} has an invalid prefix: {exc}") from exc
        prefix += "/"
    return bucket, prefix


def _clean_etag(etag: str | None) -> str:
    return (etag or "").strip('"').lower()


def _error_code(exc: ClientError) -> tuple[str, str, int]:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return str(error.get("Code", "")), str(error.get("Message", "")), int(status or 0)


def _is_not_found(exc: ClientError) -> bool:
    code, _, status = _error_code(exc)
    return code in _NOT_FOUND or status == 404


def _make_client(settings: StorageSettings) -> Any:
    """A boto3 S3 client; credentials fall back to the AWS environment/profile."""
    key_id = settings.access_key_id.get_secret_value() if settings.access_key_id else None
    secret = settings.secret_access_key.get_secret_value() if settings.secret_access_key else None
    if (key_id is None) != (secret is None):
        raise ConfigError(
            "set both storage.access_key_id and storage.secret_access_key, or neither "
            "(then the AWS environment variables or profile are used)"
        )
    config: dict[str, Any] = {
        "connect_timeout": settings.connect_timeout_seconds,
        # Standard mode backs off on throttling, 5xx and connection errors.
        "retries": {"max_attempts": settings.max_attempts, "mode": "standard"},
        # We send Content-MD5 ourselves; botocore's default extra CRC
        # checksums are refused by some S3-compatible servers.
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
    }
    if settings.endpoint_url:
        # Self-hosted servers (SeaweedFS, MinIO) rarely have wildcard DNS
        # for virtual-hosted bucket names.
        config["s3"] = {"addressing_style": "path"}
    try:
        session = boto3.session.Session(
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            region_name=settings.region,
        )
        return session.client("s3", endpoint_url=settings.endpoint_url, config=Config(**config))
    except (BotoCoreError, ValueError) as exc:
        raise ConfigError(f"cannot set up the S3 client: {exc}") from exc


class S3ObjectStore(ObjectStore):
    """Objects in an S3 bucket under an optional key prefix.

    ``client`` replaces the boto3 client (tests use it to inject faults).
    Memory use is at most one part (``multipart_chunk_mb``) per upload.
    """

    def __init__(self, settings: StorageSettings, *, client: Any = None) -> None:
        self.bucket, self.prefix = parse_s3_url(settings.url)
        self.endpoint_url = settings.endpoint_url
        self.region = settings.region
        self.chunk_size = settings.multipart_chunk_mb * MIB
        if self.chunk_size < MIN_PART_BYTES:
            raise ConfigError(
                f"storage.multipart_chunk_mb is {settings.multipart_chunk_mb}; "
                f"S3 parts must be at least {MIN_PART_BYTES // MIB} MB"
            )
        # Kept only to scrub them from messages, should a server echo one.
        self.__secrets = tuple(
            value.get_secret_value()
            for value in (settings.access_key_id, settings.secret_access_key)
            if value is not None and value.get_secret_value()
        )
        self._client = client if client is not None else _make_client(settings)
        # Multipart uploads whose abort failed (the server was down): aborted
        # at the next upload, once the server answers again.
        self._unaborted: list[tuple[str, str]] = []
        self._unaborted_lock = threading.Lock()

    # -- naming --------------------------------------------------------------

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _where(self, key: str | None) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key or ''}"

    def _endpoint(self) -> str:
        if not self.endpoint_url:
            return f"AWS S3 ({self.region or 'default region'})"
        # Never show user:password@ should someone put it in the URL.
        parts = urlsplit(self.endpoint_url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))

    def _scrub(self, text: str) -> str:
        for secret in self.__secrets:
            text = text.replace(secret, "***")
        return text

    # -- the one place botocore errors become ours ----------------------------

    @contextlib.contextmanager
    def _errors(self, action: str, key: str | None = None) -> Iterator[None]:
        try:
            yield
        except ClientError as exc:
            raise self._translate_client_error(exc, action, key) from exc
        except SSLError as exc:
            raise StorageError(
                self._scrub(
                    f"TLS failed with the object store at {self._endpoint()} while {action} "
                    f"{self._where(key)}: {exc}. Check the endpoint_url scheme and certificates."
                )
            ) from exc
        except (BotoConnectionError, HTTPClientError, IncompleteReadError) as exc:
            raise StorageUnavailableError(
                self._scrub(
                    f"cannot reach the object store at {self._endpoint()} while {action} "
                    f"{self._where(key)}: {exc}. Check that the server is running and that "
                    "storage.endpoint_url is right."
                )
            ) from exc
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise StorageError(
                f"no S3 credentials for {self._endpoint()}: set storage.access_key_id and "
                "storage.secret_access_key (DIGITIZE_STORAGE__ACCESS_KEY_ID, "
                "DIGITIZE_STORAGE__SECRET_ACCESS_KEY) or the AWS environment variables/profile"
            ) from exc
        except BotoCoreError as exc:
            raise StorageError(
                self._scrub(f"{action} {self._where(key)} at {self._endpoint()} failed: {exc}")
            ) from exc

    def _translate_client_error(self, exc: ClientError, action: str, key: str | None) -> StorageError:
        code, message, status = _error_code(exc)
        where, endpoint = self._where(key), self._endpoint()
        detail = f"{code or 'HTTP ' + str(status)}: {message}".rstrip(": ")
        if code in _BAD_DIGEST:
            error: StorageError = VerificationError(
                f"the object store refused {where}: the bytes it received do not match their "
                f"checksum ({detail}). The transfer was corrupted or the file changed; try again."
            )
        elif status >= 500 or code in _UNAVAILABLE:
            error = StorageUnavailableError(
                f"the object store at {endpoint} failed while {action} {where} ({detail}, "
                f"HTTP {status}); try again later"
            )
        elif code == "NoSuchBucket":
            error = StorageError(
                f"bucket {self.bucket!r} does not exist at {endpoint}: create it "
                "or fix storage.url"
            )
        elif code in _BAD_CREDENTIALS:
            error = StorageError(
                f"the object store at {endpoint} rejected the credentials while {action} "
                f"{where} ({code}): check storage.access_key_id/secret_access_key or the "
                "AWS environment variables/profile"
            )
        elif code in ("AccessDenied", "AllAccessDisabled") or status == 403:
            error = StorageError(
                f"access denied while {action} {where} at {endpoint}: check the credentials "
                "and the bucket policy, and that the bucket exists (some servers, SeaweedFS "
                "among them, answer AccessDenied for a missing bucket)"
            )
        else:
            error = StorageError(f"{action} {where} at {endpoint} failed ({detail}, HTTP {status})")
        error.message = self._scrub(error.message)
        error.args = (error.message,)
        return error

    # -- ObjectStore ---------------------------------------------------------

    def _upload(
        self, key: str, path: Path, size: int, sha256: str, content_type: str | None
    ) -> None:
        name = self._name(key)
        extra: dict[str, Any] = {"Metadata": {"sha256": sha256}}
        content_type = content_type or mimetypes.guess_type(key)[0]
        if content_type:
            extra["ContentType"] = content_type
        self._abort_unaborted()
        with self._errors("uploading", key):
            if size >= self.chunk_size:
                etag, expected = put_multipart(
                    self._client, self.bucket, name, path, size, sha256, extra, self.chunk_size,
                    unaborted=self._unaborted,
                )
            else:
                etag, expected = put_single(self._client, self.bucket, name, path, size, sha256, extra)
            if _clean_etag(etag) == expected:
                return
            # Another ETag scheme (encryption, a server's own): read it back.
            log.debug("ETag %s of %s is not %s; verifying by reading back", etag, key, expected)
            if self._read_back(name) != (size, sha256):
                # Never leave an object whose recorded sha256 is wrong: a
                # re-run would skip it as unchanged.
                with contextlib.suppress(Exception):
                    self._client.delete_object(Bucket=self.bucket, Key=name)
                raise VerificationError(
                    f"{self._where(key)} does not match {path} after upload "
                    f"(size {size}, sha256 {sha256}); it was removed, try again"
                )

    def _abort_unaborted(self) -> None:
        """Abort the multipart uploads an earlier failure could not (best effort, kept if it fails again)."""
        with self._unaborted_lock:
            pending, self._unaborted[:] = list(self._unaborted), []
        for name, upload_id in pending:
            if abort_upload(self._client, self.bucket, name, upload_id):
                log.info("aborted the unfinished multipart upload %s of %s left by a failed upload", upload_id, name)
            else:
                with self._unaborted_lock:
                    self._unaborted.append((name, upload_id))

    def incomplete_uploads(self, prefix: str = "") -> Iterator[IncompleteUpload]:
        """Multipart uploads the server holds unfinished under ``prefix``, oldest first per key."""
        with self._errors("listing unfinished uploads under", prefix):
            pages = self._client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    initiated = upload.get("Initiated")
                    if not isinstance(initiated, datetime):
                        initiated = datetime.fromtimestamp(0, UTC)
                    elif initiated.tzinfo is None:
                        initiated = initiated.replace(tzinfo=UTC)
                    yield IncompleteUpload(upload["Key"][len(self.prefix) :], upload["UploadId"], initiated)

    def abort_upload(self, upload: IncompleteUpload) -> None:
        with self._errors("aborting the unfinished upload of", upload.key):
            try:
                self._client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self._name(upload.key), UploadId=upload.upload_id
                )
            except ClientError as exc:
                if _error_code(exc)[0] != "NoSuchUpload":  # gone already: what we wanted
                    raise

    def _read_back(self, name: str) -> tuple[int, str] | None:
        """Size and SHA-256 of the stored bytes, streamed; None if absent."""
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=name)["Body"]
        except ClientError as exc:
            if _is_not_found(exc):
                return None
            raise
        digest = hashlib.sha256()
        size = 0
        with contextlib.closing(body):
            for chunk in body.iter_chunks(READ_CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return size, digest.hexdigest()

    def stat(self, key: str) -> StoredObject | None:
        name = self._name(key)
        with self._errors("checking", key):
            try:
                head = self._client.head_object(Bucket=self.bucket, Key=name)
            except ClientError as exc:
                if _is_not_found(exc):
                    return None
                raise
        sha256 = str(head.get("Metadata", {}).get("sha256", "")).lower()
        return StoredObject(key, int(head["ContentLength"]), sha256)

    def verify(self, key: str, size: int, sha256: str) -> bool:
        """Read the object back and hash it: a real fixity check, not a HEAD."""
        sha256 = check_sha256(sha256)
        found = self.stat(key)
        if found is None or found.size != size:
            return False
        with self._errors("verifying", key):
            return self._read_back(self._name(key)) == (size, sha256)

    def open_read(self, key: str) -> BinaryIO:
        name = self._name(key)
        with self._errors("reading", key):
            try:
                body = self._client.get_object(Bucket=self.bucket, Key=name)["Body"]
            except ClientError as exc:
                if _is_not_found(exc) and _error_code(exc)[0] != "NoSuchBucket":
                    raise StorageError(f"no object {key!r} in {self.describe()}") from exc
                raise
        return io.BufferedReader(_TranslatingReader(self, key, body), buffer_size=READ_CHUNK)

    def open_range(self, key: str, start: int, length: int) -> BinaryIO:
        """Only the asked bytes cross the network (an HTTP ``Range`` GET to the store)."""
        name = self._name(key)
        if length <= 0:
            return io.BytesIO(b"")
        with self._errors("reading", key):
            try:
                body = self._client.get_object(
                    Bucket=self.bucket, Key=name, Range=f"bytes={start}-{start + length - 1}"
                )["Body"]
            except ClientError as exc:
                if _is_not_found(exc) and _error_code(exc)[0] != "NoSuchBucket":
                    raise StorageError(f"no object {key!r} in {self.describe()}") from exc
                raise
        return io.BufferedReader(_TranslatingReader(self, key, body), buffer_size=READ_CHUNK)

    def delete(self, key: str) -> None:
        with self._errors("deleting", key):
            self._client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def list(self, prefix: str = "") -> Iterator[str]:
        with self._errors("listing", prefix):
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield item["Key"][len(self.prefix) :]

    def url_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._name(key)}"

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}"
        return f"S3 {where} at {self._endpoint()}"

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (tests, demos, first setup)."""
        with self._errors("creating the bucket for"):
            try:
                self._client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as exc:
                if not _is_not_found(exc):
                    raise
            options: dict[str, Any] = {}
            if self.region and self.region != "us-east-1":
                options["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            try:
                self._client.create_bucket(Bucket=self.bucket, **options)
                log.info("created bucket %s at %s", self.bucket, self._endpoint())
            except ClientError as exc:
                if _error_code(exc)[0] != "BucketAlreadyOwnedByYou":
                    raise
            self._wait_until_writable()

    def _wait_until_writable(self, timeout: float = 60.0) -> None:
        """A new bucket may answer 5xx until the server has allocated it
        (SeaweedFS takes a few seconds): write and remove a probe until it works."""
        probe = "digitize-bucket-probe"
        deadline = time.monotonic() + timeout
        delay = 0.25
        while True:
            try:
                self._client.put_object(Bucket=self.bucket, Key=probe, Body=b"")
                self._client.delete_object(Bucket=self.bucket, Key=probe)
                return
            except (ClientError, BotoCoreError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)


class _TranslatingReader(io.RawIOBase):
    """A download stream whose network errors arrive as StorageErrors."""

    def __init__(self, store: S3ObjectStore, key: str, body: Any) -> None:
        self._store, self._key, self._body = store, key, body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with self._store._errors("reading", self._key):
            data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
