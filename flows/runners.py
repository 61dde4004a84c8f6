"""Where page tasks run: a process pool here, or a Dask cluster.

Both are existing Prefect task runners; this module only picks one from
the settings. A fresh runner is made for every round of pages, so that a
pool broken by a killed worker process is replaced, not reused.
"""

from __future__ import annotations

import logging
import os

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner

from digitize.settings import Settings
from digitize.flows.children import die_with_parent

__all__ = ["page_runner"]

log = logging.getLogger(__name__)


def page_runner(settings: Settings, workers: int | None = None) -> TaskRunner:
    """A task runner for page tasks with ``workers`` processes (one Tesseract thread each)."""
    workers = max(1, workers or settings.workers)
    if settings.runs.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if settings.runs.dask_address:
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
            },
        )
    # the workers die with this process, even when it is killed with kill -9
    return ProcessPoolTaskRunner(max_workers=workers, initializer=die_with_parent, initargs=(os.getpid(),))
