"""Time every solution notebook end to end on this machine (a copy: nothing is saved).

    .venv/bin/python benchmarks/notebook_times.py [CHAPTER ...] [--repeat N]

Prints one row per chapter with the best and median wall time of N runs, the way a
student's "Run All" would see it (kernel start included). Chapter budgets: 30 s for
01, 45 s for the others, on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rnnkit.paths import notebook_path, resolve_chapters  # noqa: E402

BUDGET_S = {"01_sequences": 30.0, "06_examples": 180.0}
DEFAULT_BUDGET_S = 45.0


def run_once(path: Path) -> float:
    """Execute a fresh copy of the notebook in its folder; seconds, kernel start included."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.pop("NBGRADER_EXECUTION", None)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # as rnnkit execute, Binder and rnnkit grade
    with tempfile.TemporaryDirectory() as home:  # keep ~/.jupyter and ~/.ipython untouched
        for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
                    "IPYTHONDIR", "MPLCONFIGDIR"):
            os.environ[var] = str(Path(home) / var.lower())
        os.environ["JUPYTER_PLATFORM_DIRS"] = "1"
        print(f"{'chapter':<20} {'best s':>8} {'median s':>9} {'budget s':>9}  verdict")
        failed = False
        for chapter in resolve_chapters(ROOT, args.chapters):
            times = [run_once(notebook_path(ROOT, "solutions", chapter))
                     for _ in range(args.repeat)]
            budget = BUDGET_S.get(chapter, DEFAULT_BUDGET_S)
            ok = statistics.median(times) < budget
            failed |= not ok
            print(f"{chapter:<20} {min(times):8.1f} {statistics.median(times):9.1f} "
                  f"{budget:9.0f}  {'ok' if ok else 'OVER BUDGET'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
