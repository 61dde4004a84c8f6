"""The ``digitize`` command.

Messages are one paragraph in plain words; a traceback only with -v. The
commands live in the modules below, by what they are for; importing this
package registers them all on ``app``.
"""

from digitize.cli import _bag, _batch, _metadata, _operations, _review, _server, _tiles  # noqa: F401  (they register their commands)
from digitize.cli._app import app, main

__all__ = ["app", "main"]
