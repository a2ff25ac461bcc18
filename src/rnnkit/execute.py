"""Re-run solution notebooks in place, so their saved outputs are what the code produces."""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat

from .paths import notebook_path


def execute_in_place(path: Path, timeout: int = 600) -> float:
    """Execute ``path`` top to bottom in its folder, save it with outputs; returns seconds."""
    from nbclient import NotebookClient

    from .kernelclient import patient_config

    nb = nbformat.read(path, as_version=4)
    env_before = os.environ.pop("NBGRADER_EXECUTION", None)  # the full, not the grading, budget
    # one OpenMP thread, as Binder and rnnkit grade run kernels: idle OpenMP workers spin and,
    # on a busy 2-core machine, made chapter 03's training cell 6x slower (13 s against 54 s)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    start = time.perf_counter()
    try:
        # patient_config: nbclient otherwise now and then sleeps a whole cell timeout
        # through a reply that has arrived (see rnnkit/kernelclient.py)
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       config=patient_config(),
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if env_before is not None:
            os.environ["NBGRADER_EXECUTION"] = env_before
    elapsed = time.perf_counter() - start
    nb.metadata.get("language_info", {}).pop("version", None)  # stable across contributors
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    return elapsed


def execute_solutions(root: Path, chapters: list[str]) -> dict[str, float]:
    """Execute each chapter's solution notebook in place; ``chapter -> seconds``."""
    return {c: execute_in_place(notebook_path(root, "solutions", c)) for c in chapters}
