"""Fault injection for tests: a page task that kills its own worker process.

``DIGITIZE_FAULT_KILL_PAGE=ITEM#SEQ`` kills the worker once, ``ITEM#SEQ*N``
the first N times, ``ITEM#SEQ*always`` every time. The count is kept in the
page's work folder (or ``DIGITIZE_FAULT_COUNTER_DIR``, for workers that do
not share the flow's disk), so it survives the killed process. Unset (as in
production), :func:`inject_fault` does nothing.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from digitize.pipeline.model import PageJob

__all__ = ["FAULT_ENV", "FAULT_COUNTER_ENV", "inject_fault"]

FAULT_ENV = "DIGITIZE_FAULT_KILL_PAGE"  # "ITEM#SEQ" or "ITEM#SEQ*N" / "*always"
FAULT_COUNTER_ENV = "DIGITIZE_FAULT_COUNTER_DIR"  # where the kill count is kept (default: the page's folder)


def inject_fault(job: PageJob) -> None:
    """Kill this worker process (SIGKILL) if the test asked for it on this page."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    target, _, times = spec.partition("*")
    if target != f"{job.item_id}#{job.seq}":
        return
    folder = os.environ.get(FAULT_COUNTER_ENV)
    counter = Path(folder) / f"{job.item_id}-{job.seq}.fault-kills" if folder else job.work_dir / ".fault-kills"
    counter.parent.mkdir(parents=True, exist_ok=True)
    done = int(counter.read_text()) if counter.exists() else 0
    if times != "always" and done >= int(times or 1):
        return
    counter.write_text(str(done + 1))
    os.kill(os.getpid(), signal.SIGKILL)
