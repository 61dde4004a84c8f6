"""Digitization pipeline: scanned batches in, searchable e-books and catalog records out.

Importing this package sets the project's process defaults (telemetry off,
one OpenMP thread per Tesseract) unless the operator has set them already.
"""

from digitize.settings import apply_process_defaults

apply_process_defaults()

__version__ = "0.1.0"
