"""Small batches and a real ``digitize`` CLI run for the flow tests.

``art_batch`` writes art items (lossless, no OCR, so runs are quick);
``env_for`` points a run's work, output, store, catalog and Prefect home
into one folder; ``run_cli`` runs ``python -m digitize.cli`` with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

DIGITIZE = [sys.executable, "-m", "digitize.cli"]


def art_batch(folder: Path, items: dict[str, int]) -> Path:
    """A batch of art items (lossless, no OCR) with the given page counts."""
    for name, pages in items.items():
        item = folder / name
        item.mkdir(parents=True)
        (item / "item.toml").write_text(f'title = "{name}"\nkind = "art"\n', encoding="utf-8")
        for n in range(1, pages + 1):
            pixels = np.random.default_rng(hash((name, n)) % 2**32).integers(0, 255, (90, 60, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(item / f"p{n}.png")
    return folder


def env_for(root: Path, **extra: str) -> dict:
    (root / "prefect").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env.update(
        DIGITIZE_WORK_DIR=str(root / "work"),
        DIGITIZE_OUTPUT_DIR=str(root / "out"),
        DIGITIZE_STORAGE__URL=f"file://{root / 'store'}",
        DIGITIZE_CATALOG__URL=f"sqlite:///{root / 'catalog.sqlite3'}",
        DIGITIZE_WORKERS="2",
        DIGITIZE_RUNS__CRASH_BACKOFF_SECONDS="0.5",
        PREFECT_HOME=str(root / "prefect"),
    )
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(DIGITIZE + args, env=env, capture_output=True, timeout=timeout)
