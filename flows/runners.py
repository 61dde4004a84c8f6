"""Where page tasks run: a process pool here, or a Dask cluster.

Both are existing Prefect task runners; this module only picks one from
the settings. A fresh runner is made for every round of pages, so that a
pool broken by a killed worker process is replaced, not reused.

Every worker process starts with the project's process defaults (one
OpenMP and one OpenCV thread, telemetry off; see
:func:`digitize.settings.apply_process_defaults`), set before it loads
OpenCV or Tesseract.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner

from digitize.flows.children import die_with_parent
from digitize.settings import PRIVACY_ENV, Settings, apply_process_defaults

__all__ = ["page_runner", "start_worker"]

log = logging.getLogger(__name__)


def start_worker(parent: int) -> None:
    """Initialiser of a page worker process: die with ``parent``, then set the process defaults."""
    die_with_parent(parent)
    apply_process_defaults()


def _worker_env() -> dict[str, str]:
    """The process defaults for Dask workers, as this process has them (the operator's values win)."""
    return {key: os.environ.get(key, value) for key, value in PRIVACY_ENV.items()}


def page_runner(settings: Settings, workers: int | None = None) -> TaskRunner[Any]:
    """A task runner for page tasks with ``workers`` processes (one Tesseract thread each)."""
    workers = max(1, workers or settings.workers)
    if settings.runs.task_runner == "dask":
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
    # the workers die with this process, even when it is killed with kill -9
    return ProcessPoolTaskRunner(max_workers=workers, initializer=start_worker, initargs=(os.getpid(),))
