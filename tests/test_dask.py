"""Page tasks on a Dask cluster of worker processes, with SeaweedFS (S3) as the only shared place.

A local Dask cluster (2 worker processes, one thread each, everything on
127.0.0.1, no dashboard) stands in for workers on other machines. Each
worker works in its own local directory and carries an audit hook that
refuses any access to the flow's side (the batch, the work and output
folders): a page task that reached for the flow's disk would fail the run.
The flow is the real ``digitize run`` in its own process, pointed at the
cluster and at a real SeaweedFS server through ``DIGITIZE_`` variables.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import uuid
from pathlib import Path

import psutil
import pytest

from digitize.samples.corpus import paragraphs
from digitize.samples.render import render_page, scan_like

from helpers.flows import art_batch, env_for, run_cli

pytestmark = [pytest.mark.needs_prefect, pytest.mark.needs_tesseract, pytest.mark.needs_seaweedfs, pytest.mark.slow]

distributed = pytest.importorskip("distributed")
import dask  # noqa: E402


class _NoFlowDisk:
    """Audit hook for a worker: any file access under ``root`` is refused and recorded."""

    EVENTS = {"open", "os.listdir", "os.scandir", "os.mkdir", "os.rename", "os.remove", "shutil.rmtree"}

    def __init__(self, root: str) -> None:
        self.root = root
        self.seen: list[str] = []

    def __call__(self, event: str, args: tuple) -> None:
        if event not in self.EVENTS or not args:
            return
        path = args[0]
        if isinstance(path, bytes):
            path = path.decode(errors="replace")
        if isinstance(path, (str, os.PathLike)) and os.fspath(path).startswith(self.root):
            self.seen.append(f"{event} {os.fspath(path)}")
            raise PermissionError(f"worker touched the flow's disk: {event} {os.fspath(path)}")


class _GuardPlugin(distributed.WorkerPlugin):
    """Installs the audit hook on every worker, also on one the nanny restarts after a kill."""

    name = "no-flow-disk"

    def __init__(self, root: str) -> None:
        self.root = root

    def setup(self, worker) -> None:
        hook = _NoFlowDisk(self.root)
        sys.addaudithook(hook)
        worker._no_flow_disk = hook


def _local_directory(dask_worker=None) -> str:
    return dask_worker.local_directory


def _violations(dask_worker=None) -> list[str]:
    return list(dask_worker._no_flow_disk.seen)


def _text_item(folder: Path, pages: int) -> None:
    folder.mkdir(parents=True)
    (folder / "item.toml").write_text('title = "Китаб"\nyear = 1962\n', encoding="utf-8")
    for n in range(1, pages + 1):
        rendered = render_page(paragraphs(seed=40 + n, n=1), seed=n)
        scan_like(rendered, skew_degrees=1.0, seed=n).save(folder / f"p{n}.tif", dpi=(300, 300), compression="tiff_lzw")


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.pdf"))
    }


@pytest.fixture
def dask_cluster(tmp_path, monkeypatch, request):
    """A Prefect API and a local Dask cluster whose workers inherit its address.

    ``request.param``: the page whose worker is killed (DIGITIZE_FAULT_KILL_PAGE), and
    Dask's allowed-failures.
    """
    from digitize.flows.server import prefect_api

    fault, allowed_failures = request.param
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    # the count of kills lives in a folder of its own, not on the flow's side
    monkeypatch.setenv("DIGITIZE_FAULT_KILL_PAGE", fault)
    monkeypatch.setenv("DIGITIZE_FAULT_COUNTER_DIR", str(tmp_path / "faults"))
    with prefect_api() as api, dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,  # no web dashboard at all
            local_directory=str(tmp_path / "dask-workers"),
            silence_logs=40,
        )
        client = distributed.Client(cluster)
        try:
            yield api, cluster, client
        finally:
            client.close()
            cluster.close()


def _guarded(client, flow_side: Path) -> dict:
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    client.register_plugin(_GuardPlugin(str(flow_side)))
    worker_dirs = client.run(_local_directory)
    assert len(set(worker_dirs.values())) == 2  # each worker has a folder of its own
    assert not any(d.startswith(str(flow_side)) for d in worker_dirs.values())
    return worker_dirs


def _env_for_cluster(tmp_path: Path, flow_side: Path, run: str, api: str, cluster, storage) -> dict:
    values = env_for(
        tmp_path / run,
        PREFECT_API_URL=api,
        DIGITIZE_WORK_DIR=str(flow_side / run / "work"),
        DIGITIZE_OUTPUT_DIR=str(flow_side / run / "out"),
        DIGITIZE_RUNS__TASK_RUNNER="dask",
        DIGITIZE_RUNS__DASK_ADDRESS=cluster.scheduler_address,
        DIGITIZE_STORAGE__URL=storage.url,
        DIGITIZE_STORAGE__ENDPOINT_URL=storage.endpoint_url,
        DIGITIZE_STORAGE__REGION=storage.region,
        DIGITIZE_STORAGE__ACCESS_KEY_ID=storage.access_key_id.get_secret_value(),
        DIGITIZE_STORAGE__SECRET_ACCESS_KEY=storage.secret_access_key.get_secret_value(),
    )
    values.pop("DIGITIZE_FAULT_KILL_PAGE", None)  # the fault is the workers' business
    return values


@pytest.mark.parametrize("dask_cluster", [("art-a#2*1", 3)], indirect=True)
def test_pages_run_on_dask_workers_through_the_object_store(tmp_path, seaweed, dask_cluster):
    api, cluster, client = dask_cluster
    flow_side = tmp_path / "flow"
    batch = art_batch(flow_side / "batch", {"art-a": 3, "art-b": 2})
    _text_item(batch / "book", 2)
    _guarded(client, flow_side)

    prefix = f"dask-{uuid.uuid4().hex[:8]}"
    storage = seaweed.storage_settings(prefix)

    def env(run: str) -> dict:
        return _env_for_cluster(tmp_path, flow_side, run, api, cluster, storage)

    first = run_cli(["run", str(batch)], env("first"))
    assert first.returncode == 0, first.stdout.decode()[-3000:] + first.stderr.decode()[-3000:]
    assert all(seen == [] for seen in client.run(_violations).values())
    # everything the cluster listens on is on this machine's loopback
    for process in psutil.Process().children(recursive=True):
        try:
            sockets = process.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        for sock in sockets:
            if sock.status == psutil.CONN_LISTEN:
                assert sock.laddr.ip == "127.0.0.1", (process.cmdline(), sock)
    report = json.loads((flow_side / "first" / "out" / "batch-batch.json").read_text())
    assert [i["status"] for i in report["items"]] == ["done", "done", "done"]
    book = next(i for i in report["items"] if i["identifier"] == "book")
    assert book["mean_confidence"] and book["mean_confidence"] > 50
    # a worker was killed (SIGKILL) on art-a#2 once; Dask ran the page again on a fresh worker
    assert (tmp_path / "faults" / "art-a-2.fault-kills").read_text() == "1"

    # every scan once, content-addressed; every page under its cache key, page.json last
    s3 = seaweed.client()
    listed = {
        o["Key"][len(prefix) + 1 :]: o["LastModified"]
        for o in s3.list_objects_v2(Bucket=seaweed.bucket, Prefix=f"{prefix}/staging/")["Contents"]
    }
    sources = [k for k in listed if k.startswith("staging/sources/")]
    assert len(sources) == 7
    pages = {k.split("/")[2] for k in listed if k.startswith("staging/pages/")}
    assert len(pages) == 7
    assert sum(k.endswith("/page.json") for k in listed) == 7
    assert sum(k.endswith("/page.hocr") for k in listed) == 2  # the text pages

    # the published PDF was assembled from the staged pages
    assert book["pdf_url"].startswith(f"s3://{seaweed.bucket}/{prefix}/")
    pdf = s3.get_object(Bucket=seaweed.bucket, Key=book["pdf_url"].split("/", 3)[3])["Body"].read()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type/Page") >= 0
    assert hashlib.sha256(pdf).hexdigest() == _digests(flow_side / "first" / "out")["book/book.pdf"]

    # Resume across machines: a new flow machine (empty work folder) reuses the staged pages, no OCR again
    second = run_cli(["run", str(batch)], env("second"))
    assert second.returncode == 0, second.stdout.decode()[-3000:] + second.stderr.decode()[-3000:]
    again = json.loads((flow_side / "second" / "out" / "batch-batch.json").read_text())
    seconds = lambda r: {(p["item"], p["seq"]): p["seconds"] for p in r["pages"]}  # noqa: E731
    assert seconds(again) == seconds(report)  # the measured stage times of the first run: reused
    relisted = {
        o["Key"][len(prefix) + 1 :]: o["LastModified"]
        for o in s3.list_objects_v2(Bucket=seaweed.bucket, Prefix=f"{prefix}/staging/")["Contents"]
    }
    assert relisted == listed  # nothing staged again
    assert _digests(flow_side / "second" / "out") == _digests(flow_side / "first" / "out")
    assert all(seen == [] for seen in client.run(_violations).values())


@pytest.mark.parametrize("dask_cluster", [("art-b#2*always", 1)], indirect=True)
def test_a_page_that_keeps_killing_its_dask_worker_fails_only_its_item(tmp_path, seaweed, dask_cluster):
    api, cluster, client = dask_cluster
    flow_side = tmp_path / "flow"
    batch = art_batch(flow_side / "batch", {"art-a": 2, "art-b": 3})
    _guarded(client, flow_side)
    storage = seaweed.storage_settings(f"dask-{uuid.uuid4().hex[:8]}")

    result = run_cli(["run", str(batch)], _env_for_cluster(tmp_path, flow_side, "run", api, cluster, storage))
    assert result.returncode == 1, result.stdout.decode()[-3000:] + result.stderr.decode()[-3000:]
    report = json.loads((flow_side / "run" / "out" / "batch-batch.json").read_text())
    items = {i["identifier"]: i for i in report["items"]}
    assert items["art-a"]["status"] == "done"
    assert items["art-b"]["status"] == "failed" and items["art-b"]["stage"] == "page"
    assert "Dask worker process died" in items["art-b"]["message"] and "p2.png" in items["art-b"]["message"]
    pages = {(p["item"], p["seq"]): p["status"] for p in report["pages"]}
    assert pages[("art-b", 1)] == pages[("art-b", 3)] == "done"  # its neighbours finished, staged and kept
    # Dask tried it twice and gave up; then the flow ran it alone, Dask tried twice more and gave up again
    assert (tmp_path / "faults" / "art-b-2.fault-kills").read_text() == "4"
