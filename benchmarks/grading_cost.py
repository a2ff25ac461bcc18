"""What grading one submission costs the kernel, per chapter (not a timed test).

    .venv/bin/python benchmarks/grading_cost.py [CHAPTER ...] [--repeat N] [--top K]

Runs each chapter's solution notebook (what nbgrader's autograder runs for a correct
submission: every cell, hidden tests included) with ``NBGRADER_EXECUTION=autograde``
set and one thread (as ``rnnkit grade`` runs kernels), in a throw-away copy, and
prints per chapter the best of N runs of

* ``cells s``: the summed wall time of the cells (nbclient's timing records);
* ``kernel CPU s``: the CPU time the kernel process and its children used, start-up
  included, which a busy machine inflates far less than wall time;
* the ``K`` most expensive cells.

Targets (issue 10 and 13): at most 5 s of kernel time for chapters 01-05, 30 s for 06.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rnnkit.kernelclient import patient_config  # noqa: E402
from rnnkit.paths import resolve_chapters  # noqa: E402

TARGET_S = {"06_examples": 30.0}
DEFAULT_TARGET_S = 5.0


def _seconds(cell: nbformat.NotebookNode) -> float:
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not start or not end:
        return 0.0
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def _cpu(pid: int) -> float:
    proc = psutil.Process(pid)
    times = proc.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def grade_once(chapter: str, work: Path) -> tuple[float, float, list[tuple[float, str]]]:
    """One grading-mode run: (summed cell seconds, kernel CPU seconds, [(seconds, cell)])."""
    folder = work / chapter
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ROOT / "solutions" / chapter, folder)
    nb = nbformat.read(folder / f"{chapter}.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=True,
                            config=patient_config(),
                            resources={"metadata": {"path": str(folder)}})
    cpu = 0.0
    with client.setup_kernel():
        pid = client.km.provisioner.process.pid  # the kernel's own process
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
        cpu = _cpu(pid)
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            cells.append((_seconds(cell), gid or f"cell {index}"))
    return sum(s for s, _ in cells), cpu, sorted(cells, reverse=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--top", type=int, default=3)
    args = parser.parse_args()
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    os.environ["OMP_NUM_THREADS"] = "1"  # as rnnkit grade's kernels (grading/executor.py)
    with tempfile.TemporaryDirectory() as home:  # keep ~/.jupyter and ~/.ipython untouched
        for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
                    "IPYTHONDIR", "MPLCONFIGDIR"):
            os.environ[var] = str(Path(home) / var.lower())
        os.environ["JUPYTER_PLATFORM_DIRS"] = "1"
        print(f"load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
              f"on {os.cpu_count()} CPUs")
        print(f"{'chapter':<20} {'cells s':>8} {'kernel CPU s':>13} {'target s':>9}  "
              "most expensive cells (s)")
        over = False
        for chapter in resolve_chapters(ROOT, args.chapters):
            runs = [grade_once(chapter, Path(home)) for _ in range(args.repeat)]
            wall, cpu, cells = min(runs, key=lambda r: r[1])
            target = TARGET_S.get(chapter, DEFAULT_TARGET_S)
            over |= cpu > target
            top = ", ".join(f"{name} {s:.1f}" for s, name in cells[: args.top])
            print(f"{chapter:<20} {wall:8.1f} {cpu:13.1f} {target:9.0f}  {top}", flush=True)
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
