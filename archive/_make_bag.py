"""``python -m archive._make_bag FOLDER ALGORITHM...``: bagit.make_bag in a process of its own.

Run by archive/bag.py (make_bag changes the working directory while it
runs). Imports nothing but bagit, so the child starts quickly. The
bag-info fields come as JSON on standard input.
"""

import json
import sys

import bagit


def main() -> None:
    folder, algorithms = sys.argv[1], sys.argv[2:]
    info = json.loads(sys.stdin.read())
    try:
        bagit.make_bag(folder, info, processes=1, checksums=algorithms)
    except (bagit.BagError, OSError) as exc:
        sys.exit(f"bagit: {exc}")


if __name__ == "__main__":
    main()
