"""``digitize check`` and the pre-flight of ``digitize run`` (delivery/preflight.py), against real servers.

Each broken setting gets a FAIL line naming the cause and the fix, the exit
code of its kind (storage 7, catalog 8, missing dependency 3, settings 2),
and an answer within seconds even when a server is down. The good setup
passes and leaves nothing behind (no probe object, no catalog, no folders).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digitize.errors import ExitCode
from digitize.samples.corpus import paragraphs
from digitize.samples.render import render_page, scan_like
from digitize.storage.catalog import Catalog
from digitize.storage.catalog_schema import SCHEMA_HEAD

from helpers.flows import env_for
from helpers.seaweed import SeaweedServer, find_weed, free_port

CLI = [sys.executable, "-m", "digitize.cli"]
QUICK = 10.0  # seconds a check may take, server down or not


def _check(env: dict) -> tuple[int, str, float]:
    started = time.monotonic()
    result = subprocess.run([*CLI, "check"], env=env, capture_output=True, timeout=120)
    seconds = time.monotonic() - started
    return result.returncode, result.stdout.decode() + result.stderr.decode(), seconds


def _failed_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("FAIL")]


def _fix_after(output: str, fail_line: str) -> str:
    lines = output.splitlines()
    after = lines[lines.index(fail_line) + 1]
    assert after.strip().startswith("fix:"), output
    return after


def _s3_env(root: Path, url: str, endpoint: str, key: str = "probe-key", secret: str = "probe-secret-9f8e7d") -> dict:
    return env_for(
        root,
        DIGITIZE_STORAGE__URL=url,
        DIGITIZE_STORAGE__ENDPOINT_URL=endpoint,
        DIGITIZE_STORAGE__REGION="us-east-1",
        DIGITIZE_STORAGE__ACCESS_KEY_ID=key,
        DIGITIZE_STORAGE__SECRET_ACCESS_KEY=secret,
    )


def _leftovers(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.name != "prefect" and
                  "prefect" not in p.relative_to(root).parts)


# -- all good ----------------------------------------------------------------------


@pytest.mark.needs_tesseract
def test_check_all_good_local_store_and_new_sqlite_catalog_passes_and_leaves_nothing(tmp_path):
    code, output, seconds = _check(env_for(tmp_path))
    assert code == ExitCode.OK, output
    assert not _failed_lines(output), output
    for name in ("tesseract", "work folder", "output folder", "object store", "catalog", "Prefect API"):
        assert any(line.startswith("OK") and f" {name}" in line for line in output.splitlines()), (name, output)
    assert "written, read back and deleted" in output
    assert "first run creates it" in output
    assert _leftovers(tmp_path) == [], _leftovers(tmp_path)  # no probe object, no store folder, no catalog
    assert seconds < QUICK, seconds


@pytest.mark.needs_tesseract
def test_check_existing_catalog_at_head_passes_and_is_unchanged(tmp_path):
    path = tmp_path / "catalog.sqlite3"
    Catalog(f"sqlite:///{path}").close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "kept.txt").write_text("an object already stored\n")
    code, output, _ = _check(env_for(tmp_path))
    assert code == ExitCode.OK, output
    assert f"schema at {SCHEMA_HEAD}" in output and "writable" in output, output
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # the write test was rolled back
    stored = sorted(p.relative_to(tmp_path / "store").as_posix() for p in (tmp_path / "store").rglob("*"))
    assert stored == ["kept.txt"], stored  # the probe and its folder are gone, the stored object is kept


# -- the object store ----------------------------------------------------------------


def test_check_s3_endpoint_at_a_closed_port_fails_with_exit_7_quickly(tmp_path):
    port = free_port()
    env = _s3_env(tmp_path, "s3://books/digitize", f"http://127.0.0.1:{port}")
    env["DIGITIZE_STORAGE__CONNECT_TIMEOUT_SECONDS"] = "60"  # the probe's own short timeout applies
    env["DIGITIZE_STORAGE__MAX_ATTEMPTS"] = "10"  # and one attempt only
    code, output, seconds = _check(env)
    assert code == ExitCode.STORAGE == 7, output
    failed = _failed_lines(output)
    assert failed and failed[0].startswith("FAIL object store"), output
    assert "cannot reach the object store" in failed[0] and str(port) in failed[0], output
    assert "start the object store" in _fix_after(output, failed[0])
    assert "probe-secret-9f8e7d" not in output and "Traceback" not in output, output
    assert seconds < QUICK, seconds


@pytest.mark.needs_seaweedfs
def test_check_s3_bucket_missing_fails_naming_the_bucket(tmp_path, seaweed: SeaweedServer):
    env = _s3_env(tmp_path, "s3://no-such-bucket-p16/x", seaweed.endpoint_url, seaweed.access_key_id,
                  seaweed.secret_access_key)
    code, output, seconds = _check(env)
    assert code == ExitCode.STORAGE, output
    failed = _failed_lines(output)
    assert failed and failed[0].startswith("FAIL object store"), output
    assert "no-such-bucket-p16" in failed[0] and "bucket" in failed[0], output
    assert seaweed.secret_access_key not in output
    assert seconds < QUICK, seconds


@pytest.mark.needs_seaweedfs
def test_check_s3_good_bucket_passes_and_leaves_no_probe_object(tmp_path, seaweed: SeaweedServer):
    prefix = "p16-check-good"
    env = _s3_env(tmp_path, f"s3://{seaweed.bucket}/{prefix}", seaweed.endpoint_url, seaweed.access_key_id,
                  seaweed.secret_access_key)
    code, output, _ = _check(env)
    assert code == ExitCode.OK, output
    assert any(line.startswith("OK   object store") for line in output.splitlines()), output
    listed = seaweed.client().list_objects_v2(Bucket=seaweed.bucket, Prefix=prefix)
    assert listed.get("KeyCount", 0) == 0, listed.get("Contents")


def _require_credentials(server: SeaweedServer) -> None:
    """Give the server one identity (SeaweedFS without one accepts any credentials)."""
    weed = find_weed()
    assert weed is not None
    command = (f"s3.configure -user=digitize -access_key={server.access_key_id} "
               f"-secret_key={server.secret_access_key} -actions=Admin,Read,Write,List,Tagging -apply")
    done = subprocess.run([weed, "shell", f"-master=127.0.0.1:{server.ports['master']}"], input=command.encode(),
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    wrong = boto3.client("s3", endpoint_url=server.endpoint_url, region_name=server.region,
                         aws_access_key_id="not-the-key", aws_secret_access_key="not-the-secret",
                         config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            wrong.list_objects_v2(Bucket=server.bucket, MaxKeys=1)
        except ClientError:
            return
        time.sleep(0.3)
    pytest.fail("SeaweedFS still accepts any credentials after s3.configure")


@pytest.mark.needs_seaweedfs
@pytest.mark.slow
def test_check_s3_wrong_credentials_fails_without_showing_the_secret(tmp_path, private_seaweed: SeaweedServer):
    _require_credentials(private_seaweed)
    env = _s3_env(tmp_path, f"s3://{private_seaweed.bucket}/x", private_seaweed.endpoint_url,
                  private_seaweed.access_key_id, "wrong-secret-0a1b2c3d")
    code, output, seconds = _check(env)
    assert code == ExitCode.STORAGE, output
    failed = _failed_lines(output)
    assert failed and failed[0].startswith("FAIL object store"), output
    assert "credentials" in failed[0], output
    assert "wrong-secret-0a1b2c3d" not in output and private_seaweed.secret_access_key not in output
    assert seconds < QUICK, seconds
    # the right credentials pass: the identity works, the failure above was the secret
    good = _s3_env(tmp_path, f"s3://{private_seaweed.bucket}/x", private_seaweed.endpoint_url,
                   private_seaweed.access_key_id, private_seaweed.secret_access_key)
    code, output, _ = _check(good)
    assert code == ExitCode.OK, output


# -- the catalog -----------------------------------------------------------------


def test_check_postgresql_at_a_closed_port_fails_with_exit_8_quickly(tmp_path):
    port = free_port()
    env = env_for(tmp_path, DIGITIZE_CATALOG__URL=f"postgresql+psycopg://digitize:hush-pw@127.0.0.1:{port}/catalog")
    code, output, seconds = _check(env)
    assert code == ExitCode.CATALOG == 8, output
    failed = _failed_lines(output)
    assert [line.split(":")[0] for line in failed] == ["FAIL catalog"], output
    assert "cannot be reached" in failed[0] and str(port) in failed[0], output
    assert "start the catalog's database server" in _fix_after(output, failed[0])
    assert "hush-pw" not in output and "Traceback" not in output, output
    assert seconds < QUICK, seconds


def test_check_unsupported_catalog_url_is_refused_naming_the_supported_ones(tmp_path):
    code, output, seconds = _check(env_for(tmp_path, DIGITIZE_CATALOG__URL="mysql://x"))
    assert code == ExitCode.CONFIG == 2, output
    failed = _failed_lines(output)
    assert failed and failed[0].startswith("FAIL catalog"), output
    assert "'mysql'" in failed[0] and "not supported" in failed[0], output
    assert "sqlite:///" in failed[0] and "postgresql+psycopg://" in failed[0], output
    assert seconds < QUICK, seconds


def test_check_catalog_newer_than_this_program_fails(tmp_path):
    path = tmp_path / "catalog.sqlite3"
    Catalog(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    code, output, _ = _check(env_for(tmp_path))
    assert code == ExitCode.CATALOG, output
    failed = _failed_lines(output)
    assert failed and "revision 9999" in failed[0] and SCHEMA_HEAD in failed[0], output


@pytest.mark.slow  # the probe waits its 3 s for the lock
def test_check_locked_sqlite_catalog_fails_naming_the_lock(tmp_path):
    path = tmp_path / "catalog.sqlite3"
    Catalog(f"sqlite:///{path}").close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program writing
    try:
        code, output, seconds = _check(env_for(tmp_path))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == ExitCode.CATALOG, output
    failed = _failed_lines(output)
    assert failed and "locked" in failed[0], output
    assert seconds < QUICK, seconds


# -- folders, Tesseract, Prefect -----------------------------------------------------------


def test_check_output_folder_that_cannot_be_made_fails_with_exit_2(tmp_path):
    code, output, _ = _check(env_for(tmp_path, DIGITIZE_OUTPUT_DIR="/dev/null/out"))  # a path under a file
    assert code == ExitCode.CONFIG, output
    failed = _failed_lines(output)
    assert failed and failed[0].startswith("FAIL output folder"), output
    assert "/dev/null is not a folder" in failed[0], output
    assert "DIGITIZE_OUTPUT_DIR" in _fix_after(output, failed[0])


def test_check_work_disk_below_the_threshold_fails_naming_the_setting(tmp_path):
    code, output, _ = _check(env_for(tmp_path, DIGITIZE_RUNS__MIN_FREE_DISK_MB=str(10**12)))  # an exabyte
    assert code == ExitCode.CONFIG, output
    failed = _failed_lines(output)
    assert [line.split(":")[0] for line in failed] == ["FAIL work folder"], output
    assert "MB free, at least 1000000000000 MB needed (runs.min_free_disk_mb)" in failed[0], output
    assert "free disk space" in _fix_after(output, failed[0])
    assert not (tmp_path / "work").exists()  # a check makes no folders


def test_check_read_only_output_folder_fails(tmp_path):
    """A real read-only mount (root ignores permission bits, so chmod would not do)."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare not found")
    out = tmp_path / "out"
    out.mkdir()
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f'mount --bind -o ro "{out}" "{out}"'], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount read-only here: {probe.stderr.decode()}")
    command = ["unshare", "-rm", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(out), *CLI, "check"]
    result = subprocess.run(command, env=env_for(tmp_path), capture_output=True, timeout=120)
    output = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == ExitCode.CONFIG, output
    failed = _failed_lines(output)
    assert failed and failed[0].startswith("FAIL output folder") and "Read-only file system" in failed[0], output
    assert os.listdir(out) == []


@pytest.mark.needs_tesseract
def test_check_missing_tesseract_model_fails_naming_the_package(tmp_path):
    env = env_for(tmp_path, DIGITIZE_OCR__MODELS='{"ru": "rus", "tt": "tat"}')
    code, output, _ = _check(env)
    assert code == ExitCode.MISSING_DEPENDENCY == 3, output
    failed = _failed_lines(output)
    assert [line.split(":")[0] for line in failed] == ["FAIL model tat"], output
    assert "'tat' is not installed" in failed[0], output
    assert "apt-get install" in _fix_after(output, failed[0])
    assert any(line.startswith("OK   model rus") for line in output.splitlines()), output


def test_check_prefect_api_down_fails(tmp_path):
    port = free_port()
    code, output, seconds = _check(env_for(tmp_path, PREFECT_API_URL=f"http://127.0.0.1:{port}/api"))
    assert code == ExitCode.CONFIG, output
    failed = _failed_lines(output)
    assert failed and failed[0].startswith("FAIL Prefect API") and f"{port}/api/health" in failed[0], output
    assert "PREFECT_API_URL" in _fix_after(output, failed[0])
    assert seconds < QUICK, seconds


def test_check_exit_code_is_the_first_failures(tmp_path):
    """Store down and an unsupported catalog: every failure is listed, the store's (first) code is returned."""
    env = _s3_env(tmp_path, "s3://books", f"http://127.0.0.1:{free_port()}")
    env["DIGITIZE_CATALOG__URL"] = "mysql://x"
    code, output, _ = _check(env)
    assert code == ExitCode.STORAGE, output
    assert [line.split(":")[0] for line in _failed_lines(output)] == ["FAIL object store", "FAIL catalog"], output


# -- digitize run ------------------------------------------------------------------------


def _text_batch(folder: Path) -> Path:
    item = folder / "kitab-1"
    item.mkdir(parents=True)
    (item / "item.toml").write_text('title = "Китаб"\nyear = 1962\n', encoding="utf-8")
    for n in (1, 2):
        rendered = render_page(paragraphs(seed=n, n=1), width_in=3.2, height_in=2.4, seed=n)
        scan_like(rendered, skew_degrees=1.5, seed=n).save(item / f"p{n}.tif", dpi=(300, 300))
    return folder


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.needs_tesseract
def test_run_with_s3_down_stops_before_any_page_with_exit_7_and_one_paragraph(tmp_path):
    batch = _text_batch(tmp_path / "batch")
    scans = _digests(batch)
    root = tmp_path / "run"
    port = free_port()
    env = _s3_env(root, "s3://books/digitize", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    result = subprocess.run([*CLI, "run", str(batch)], env=env, capture_output=True, timeout=300)
    seconds = time.monotonic() - started
    err = result.stderr.decode()
    assert result.returncode == ExitCode.STORAGE == 7, err[-3000:]
    assert "Traceback" not in err and "botocore" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [n for n, line in enumerate(lines) if line.startswith("error (")]
    assert errors, err
    paragraph = lines[errors[0]:]
    assert len(paragraph) == 1, err  # the last thing said, one paragraph: the error, its cause and the fix
    assert paragraph[0].startswith("error (storage)") and "cannot reach the object store" in paragraph[0], err
    assert str(port) in paragraph[0] and "Fix:" in paragraph[0], err
    assert not (root / "work").exists() or not any((root / "work").rglob("*.txt")), "a page was processed"
    assert not (root / "out" / "kitab-1").exists()
    assert _digests(batch) == scans  # nothing lost: the scans are untouched, the batch can run again
    assert seconds < QUICK, seconds


def test_first_failure_error_is_of_the_first_failures_kind_and_names_the_fix():
    from digitize.delivery.preflight import CheckResult, first_failure_error
    from digitize.errors import StorageError

    results = [
        CheckResult.passed("tesseract", "Tesseract 5"),
        CheckResult.failed("object store", "cannot reach the object store", "start it", ExitCode.STORAGE),
        CheckResult.failed("catalog", "locked", "wait", ExitCode.CATALOG),
    ]
    error = first_failure_error(results)
    assert isinstance(error, StorageError) and error.exit_code == ExitCode.STORAGE
    assert "'object store'" in error.message and "cannot reach" in error.message and "Fix: start it" in error.message
    assert first_failure_error(results[:1]) is None
