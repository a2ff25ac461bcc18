"""How much faster ``rnnkit grade`` grades a class than serial ``nbgrader autograde``.

    .venv/bin/python benchmarks/grading_speed.py [--students 12] [--repeat 1] [--cores 2]
                                                 [--no-sandbox]

Builds N submissions of chapter 01 (solved, partly wrong, untouched, in turn) and grades
them, each variant in a fresh copy of the course with a fresh gradebook:

* ``nbgrader autograde``: the nbgrader CLI, serial (the baseline; run in autograder/,
  where nbgrader_config.py is, after ``nbgrader generate_assignment``, not timed; with
  the kernel client that fixes a 120 s stall, unless ``--plain-baseline``);
* ``rnnkit grade --workers 1`` and ``--workers 2``: the whole command, from intake to
  grades.csv, feedback pages and the class report, with the sandbox unless
  ``--no-sandbox`` (or bubblewrap is missing).

``--cores 2`` pins the benchmark and everything it starts to two CPUs (Linux), so a
bigger machine measures the 2-core case. Prints a table with the best of ``--repeat``
runs, the speed-up over the baseline (from the best times, and the median of the
rounds' paired ratios), the CPU each variant used per submission (the machine's busy time
from /proc/stat, user + system, without steal: all processes, kernels included; Linux
only; meaningful on a quiet machine), the CPU time the hypervisor stole meanwhile (a
2-worker run needs both CPUs and suffers from steal more than a serial one) and whether
every variant gave the same scores, and writes it to
benchmarks/results/grading_speed_<N>.md. Measure on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "01_sequences"
NB = f"{CHAPTER}.ipynb"
BIN = Path(sys.executable).parent
# Plain nbgrader now and then sleeps through a kernel reply until the cell timeout (120 s;
# see src/rnnkit/kernelclient.py). The baseline gets rnnkit grade's fix for that
# (SlicedPollKernelClient), so the comparison is of grading, not of that bug; not the
# start/stop savings of rnnkit grade's own GradingKernelClient. --plain-baseline: stock.
PATIENT = ["--AsyncKernelManager.client_class=rnnkit.kernelclient.SlicedPollKernelClient"]


def make_course(dest: Path, students: int) -> None:
    """A copy of chapter 01's course with ``students`` submissions in autograder/submitted."""
    for folder in ("solutions", "course"):
        shutil.copytree(ROOT / folder / CHAPTER, dest / folder / CHAPTER,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    (dest / "autograder").mkdir(parents=True)
    shutil.copy2(ROOT / "autograder" / "nbgrader_config.py", dest / "autograder")
    solution = nbformat.read(ROOT / "solutions" / CHAPTER / NB, as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    kinds = [(), ("01_encode", "01_one_hot"), tuple(answers)]  # solved, partly, untouched
    for i in range(students):
        nb = nbformat.read(ROOT / "course" / CHAPTER / NB, as_version=4)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.metadata.get("nbgrader", {}).get("solution") and gid not in kinds[i % 3]:
                cell.source = answers[gid]
        folder = dest / "autograder" / "submitted" / f"student{i:03d}" / CHAPTER
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / NB)


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PATH"] = f"{BIN}{os.pathsep}{out.get('PATH', '')}"  # nbgrader runs `alembic`
    out.setdefault("OMP_NUM_THREADS", "1")
    out.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return out


@dataclass(frozen=True)
class Timing:
    """One command's wall seconds, and the machine's CPU seconds meanwhile (None: unknown).

    ``cpu`` is busy time (user, nice, system, irq, softirq) over all processes; ``steal``
    is time the hypervisor gave this VM's CPUs to others. Steal slows a 2-worker run,
    which needs both CPUs, more than a serial one: a round with much of it is suspect.
    """

    wall: float
    cpu: float | None
    steal: float | None


def cpu_seconds() -> tuple[float, float] | None:
    """The machine's (busy, steal) CPU seconds so far, from /proc/stat (Linux)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    busy = sum(fields[i] for i in (0, 1, 2, 5, 6))  # user, nice, system, irq, softirq
    steal = fields[7] if len(fields) > 7 else 0
    return busy / tick, steal / tick


def timed(cmd: list[str], cwd: Path) -> Timing:
    """Run ``cmd``; exit with its error output when it fails."""
    before = cpu_seconds()
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = cpu_seconds()
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr[-3000:]}")
    if before is None or after is None:
        return Timing(seconds, None, None)
    return Timing(seconds, after[0] - before[0], after[1] - before[1])


def scores(course: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook

    db = course / "autograder" / "gradebook.db"
    with Gradebook(f"sqlite:///{db}", "rnnkit") as gb:
        return {s.student.id: s.score for s in gb.find_assignment(CHAPTER).submissions}


Run = tuple[Timing, dict[str, float]]  # how long, and the scores


def run_nbgrader(work: Path, students: int) -> Run:
    course = work / "nbgrader"
    make_course(course, students)
    timed([str(BIN / "nbgrader"), "generate_assignment", CHAPTER, "--force"],
          course / "autograder")
    timing = timed([str(BIN / "nbgrader"), "autograde", CHAPTER, *PATIENT],
                   course / "autograder")
    return timing, scores(course)


def run_rnnkit(work: Path, students: int, workers: int, sandbox: bool) -> Run:
    course = work / f"rnnkit-{workers}"
    make_course(course, students)
    cmd = [str(BIN / "rnnkit"), "grade", CHAPTER, "--workers", str(workers), "--no-progress"]
    timing = timed(cmd + ([] if sandbox else ["--no-sandbox"]), course)
    return timing, scores(course)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cores", type=int, help="pin to this many CPUs (Linux)")
    parser.add_argument("--no-sandbox", action="store_true")
    parser.add_argument("--plain-baseline", action="store_true",
                        help="run nbgrader autograde without the lost-wake-up fix")
    args = parser.parse_args()
    if args.plain_baseline:
        PATIENT.clear()
    if args.cores:
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: args.cores]))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    sandbox = not args.no_sandbox and shutil.which("bwrap") is not None

    variants = {"nbgrader autograde (serial)": lambda w: run_nbgrader(w, args.students),
                "rnnkit grade --workers 1": lambda w: run_rnnkit(w, args.students, 1, sandbox),
                "rnnkit grade --workers 2": lambda w: run_rnnkit(w, args.students, 2, sandbox)}
    runs: dict[str, list[Timing]] = {name: [] for name in variants}
    results: dict[str, dict[str, float]] = {}
    for r in range(args.repeat):
        for name, fn in variants.items():
            with tempfile.TemporaryDirectory(prefix="rnnkit-bench-") as tmp:
                timing, got = fn(Path(tmp))
            runs[name].append(timing)
            results[name] = got
            stolen = "" if timing.steal is None else f" ({timing.steal:.1f} CPU-s stolen)"
            print(f"[{r + 1}/{args.repeat}] {name}: {timing.wall:.1f} s{stolen}", flush=True)

    baseline = "nbgrader autograde (serial)"
    times = {name: [t.wall for t in values] for name, values in runs.items()}
    base = min(times[baseline])
    same = all(v == results[baseline] for v in results.values())
    # Each round runs every variant back to back, so its ratios are paired: they hold up
    # better than best-of-N when the machine's speed drifts (shared VMs do).
    paired = {name: sorted(b / t for b, t in zip(times[baseline], values, strict=True))
              for name, values in times.items()}
    lines = [
        f"Grading {args.students} submissions of {CHAPTER} on {cores} cores "
        f"({platform.processor() or platform.machine()}, Python {platform.python_version()}),"
        f" best of {args.repeat}; rnnkit grade {'with' if sandbox else 'WITHOUT'} the sandbox.",
        "",
        "| variant | seconds | per submission | speed-up vs serial nbgrader (best) "
        "| speed-up per round (median; min-max) | CPU per submission (median) "
        "| CPU stolen per run (median) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, values in times.items():
        best, ratios = min(values), paired[name]
        cpu = [t.cpu for t in runs[name] if t.cpu is not None]
        steal = [t.steal for t in runs[name] if t.steal is not None]
        cpu_text = f"{statistics.median(cpu) / args.students:.2f} s" if cpu else "-"
        steal_text = f"{statistics.median(steal):.1f} s" if steal else "-"
        lines.append(f"| {name} | {best:.1f} | {best / args.students:.2f} | {base / best:.2f}x "
                     f"| {statistics.median(ratios):.2f}x; {ratios[0]:.2f}-{ratios[-1]:.2f} "
                     f"| {cpu_text} | {steal_text} |")
    lines += ["", f"Same scores in every variant: {'yes' if same else 'NO'}."]
    text = "\n".join(lines)
    print("\n" + text)
    out = ROOT / "benchmarks" / "results" / f"grading_speed_{args.students}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n")
    if not same:
        sys.exit("scores differ between variants")


if __name__ == "__main__":
    main()
