"""Digitization pipeline: scanned batches in, searchable e-books and catalog records out.

Importing this package has no side effects. A process that runs pages sets
its defaults (telemetry off, one OpenMP and one OpenCV thread) explicitly
with :func:`digitize.settings.apply_process_defaults`, as the ``digitize``
command and the page workers do.
"""

__version__ = "0.1.0"
