"""Where page tasks run: a Dask cluster (this module), or this machine's pool (:mod:`flows.pool`).

On a Dask cluster the page tasks run on the Dask workers through
prefect-dask's task runner. On this machine the workers are a plain
process pool started before the orchestration (:mod:`flows.pool`), and the
page tasks run in threads of the flow that wait for their page
(:func:`thread_runner`). A fresh runner is made for every round of pages,
so that a pool broken by a killed worker process is replaced, not reused.

Every worker process starts with the project's process defaults (one
OpenMP and one OpenCV thread, telemetry off; see
:func:`digitize.settings.apply_process_defaults`), set before it loads
OpenCV or Tesseract.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from digitize.flows.pool import start_worker
from digitize.settings import PRIVACY_ENV, Settings

__all__ = ["page_runner", "start_worker", "thread_runner"]

log = logging.getLogger(__name__)


def _worker_env() -> dict[str, str]:
    """The process defaults for Dask workers, as this process has them (the operator's values win)."""
    return {key: os.environ.get(key, value) for key, value in PRIVACY_ENV.items()}


def thread_runner(threads: int) -> TaskRunner[Any]:
    """Page tasks in threads of the flow, each waiting for its page from the worker pool."""
    return ThreadPoolTaskRunner(max_workers=max(1, threads))


def page_runner(settings: Settings, workers: int | None = None) -> TaskRunner[Any]:
    """A task runner for page tasks on a Dask cluster with ``workers`` processes (one Tesseract thread each)."""
    workers = max(1, workers or settings.workers)
    # only Dask: on this machine the pages go to flows.pool
    from prefect_dask.task_runners import DaskTaskRunner

    if settings.runs.dask_address:  # workers set up by their operator (see README: Operations)
        return DaskTaskRunner(address=settings.runs.dask_address)
    # A local cluster for this run: processes, one thread each, all on
    # 127.0.0.1: nothing listens beyond this machine.
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": workers,
            "threads_per_worker": 1,
            "processes": True,
            "host": "127.0.0.1",
            "dashboard_address": None,  # no dashboard; the scheduler's own HTTP port stays on 127.0.0.1
            "silence_logs": logging.WARNING,
            "env": _worker_env(),  # set by each worker's nanny before the worker starts
        },
    )
