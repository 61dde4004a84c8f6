"""``python -m digitize.cli``: the same as the ``digitize`` console script."""

from digitize.cli import main

main()
