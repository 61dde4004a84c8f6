"""Upload throughput to SeaweedFS: our store against boto3's upload_file defaults.

Starts SeaweedFS on 127.0.0.1 (the test fixture's code), writes a set of
files shaped like a batch's output (a few large masters and PDFs, many
small texts), and uploads the same files three ways, each under its own
prefix:

* ``S3ObjectStore.put_file``: one file at a time, multipart above
  ``multipart_chunk_mb``, Content-MD5 on every request, ETag check (our
  verification), SHA-256 recorded;
* boto3 ``upload_file`` with its default TransferConfig, which is what
  ``aws s3 cp`` does (8 MB threshold and parts, 10 threads, no verification
  beyond what the server checks);
* ``put_file`` again on the same keys: the re-run case, where nothing is sent.

    .venv/bin/python -m bench.upload_throughput --large 6 --large-mb 40 --small 200
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from digitize.storage.factory import open_store
from tests.helpers.seaweed import start_seaweed


def make_files(folder: Path, large: int, large_mb: int, small: int, small_kb: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for n in range(large):
        path = folder / f"master-{n:03d}.tif"
        with open(path, "wb") as handle:
            for _ in range(large_mb):
                handle.write(os.urandom(1 << 20))  # incompressible, like scans
        files.append(path)
    for n in range(small):
        path = folder / f"text-{n:04d}.txt"
        path.write_bytes(os.urandom(small_kb * 1024))
        files.append(path)
    return files


def upload_ours(store, files: list[Path]) -> None:
    for path in files:
        store.put_file(path.name, path)


def upload_boto3(client, bucket: str, prefix: str, files: list[Path]) -> None:
    for path in files:  # default TransferConfig, as aws s3 cp
        client.upload_file(str(path), bucket, f"{prefix}/{path.name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=6, help="large files (masters, PDFs)")
    parser.add_argument("--large-mb", type=int, default=40)
    parser.add_argument("--small", type=int, default=200, help="small files (page texts, hOCR)")
    parser.add_argument("--small-kb", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk-mb", type=int, default=16, help="our multipart part size")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="upload-bench-") as tmp:
        tmp_path = Path(tmp)
        files = make_files(tmp_path / "files", args.large, args.large_mb, args.small, args.small_kb)
        total = sum(f.stat().st_size for f in files)
        server = start_seaweed(tmp_path / "seaweed")
        try:
            client = server.client()
            timings: dict[str, list[float]] = {"ours": [], "boto3": [], "rerun": []}
            for round_number in range(args.rounds):
                store = open_store(server.storage_settings(f"ours-{round_number}", multipart_chunk_mb=args.chunk_mb))

                # Alternate which goes first, so neither always meets a cold server.
                order = [
                    ("ours", partial(upload_ours, store, files)),
                    ("boto3", partial(upload_boto3, client, server.bucket, f"boto3-{round_number}", files)),
                ]
                for name, run in order if round_number % 2 == 0 else reversed(order):
                    started = time.perf_counter()
                    run()
                    timings[name].append(time.perf_counter() - started)
                started = time.perf_counter()
                sent = sum(store.put_file(path.name, path).uploaded for path in files)
                timings["rerun"].append(time.perf_counter() - started)
                assert sent == 0
        finally:
            server.stop(grace_seconds=0)

    print(f"{len(files)} files, {total / 1e6:.0f} MB ({args.large} x {args.large_mb} MB, "
          f"{args.small} x {args.small_kb} kB); SeaweedFS on 127.0.0.1, {os.cpu_count()} cores")
    print(f"{'method (median of ' + str(args.rounds) + ' rounds)':34} {'seconds':>8} {'MB/s':>8}")
    labels = {
        "ours": "put_file (ours, verified)",
        "boto3": "boto3 upload_file defaults",
        "rerun": "put_file re-run (nothing sent)",
    }
    for name, label in labels.items():
        seconds = statistics.median(timings[name])
        print(f"{label:34} {seconds:8.2f} {total / 1e6 / seconds:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
