"""Child processes that die with the process that started them.

A run killed with ``kill -9`` (or by the out-of-memory killer) cannot stop
its children itself; on Linux the kernel does it for us: a child that
asked for ``PR_SET_PDEATHSIG`` gets SIGKILL when its parent dies. Used for
the temporary Prefect server and the page worker processes. Elsewhere this
is a no-op and children are stopped at a normal exit only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """In a child process: be killed when ``parent`` (the process that started us) dies.

    Call it first thing in the child (a ``preexec_fn`` or a pool initializer).
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return  # not allowed here: behave as on other systems
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
