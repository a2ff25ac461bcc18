"""What the judge costs per graded notebook, chapter by chapter.

    .venv/bin/python benchmarks/judge_cost.py [CHAPTER ...] [--repeat 2]

Grades each chapter's solution notebook (all tests pass) with ``HardenedExecute`` the way
``rnnkit grade`` runs it (``NBGRADER_EXECUTION=autograde``, one OpenMP thread, no
sandbox), twice: test cells in the judge, and in the kernel (``--in-kernel-tests``).
Prints, best of ``--repeat``: the wall time of each, the judge's own CPU time (set-up
included) and its calls to the student kernel, and the score of each (they must agree).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def grade(chapter: str, judge: bool) -> dict[str, float]:
    """One graded run of the chapter's solution; seconds, judge CPU, calls, score."""
    import nbformat
    from nbgrader import utils

    from rnnkit.grading.hardening import HardenedExecute, read_execution_report
    from rnnkit.judge.plan import plan_for_chapter

    folder = ROOT / "solutions" / chapter
    nb = nbformat.read(folder / f"{chapter}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    plan = plan_for_chapter(folder)
    traits = ({"judge_setup": plan.setup, "judge_names": plan.names,
               "judge_in_kernel": plan.in_kernel} if judge else {})
    with tempfile.TemporaryDirectory() as tmp:
        for path in folder.iterdir():
            if path.is_file() and path.suffix != ".ipynb":
                (Path(tmp) / path.name).write_bytes(path.read_bytes())
        nbformat.write(nb, Path(tmp) / f"{chapter}.ipynb")
        start = time.monotonic()
        HardenedExecute(timeout=120, **traits).preprocess(
            nb, {"metadata": {"path": tmp}, "unique_key": chapter})
        seconds = time.monotonic() - start
        report = read_execution_report(tmp) or {}
    score = sum(utils.determine_grade(c)[0] or 0 for c in nb.cells if utils.is_grade(c))
    return {"seconds": seconds, "judge_cpu": float(report.get("judge_cpu_seconds", 0.0)),
            "calls": float(report.get("judge_calls", 0)), "score": float(score)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    os.environ["OMP_NUM_THREADS"] = "1"
    sys.path.insert(0, str(ROOT / "src"))
    from rnnkit.paths import chapters

    names = args.chapters or chapters(ROOT)
    rows = []
    print("| chapter | in the kernel | with the judge | judge CPU | calls | scores |")
    print("|---|---:|---:|---:|---:|---|")
    for chapter in (c for c in chapters(ROOT) if any(c.startswith(n) for n in names)):
        kernel = min((grade(chapter, False) for _ in range(args.repeat)),
                     key=lambda r: r["seconds"])
        judged = min((grade(chapter, True) for _ in range(args.repeat)),
                     key=lambda r: r["seconds"])
        same = "same" if kernel["score"] == judged["score"] else "DIFFER"
        row = (f"| {chapter} | {kernel['seconds']:.1f} s | {judged['seconds']:.1f} s | "
               f"{judged['judge_cpu']:.2f} s | {judged['calls']:.0f} | {kernel['score']:g} / "
               f"{judged['score']:g} {same} |")
        rows.append({"chapter": chapter, "kernel": kernel, "judge": judged})
        print(row, flush=True)
    out = ROOT / "benchmarks" / "results" / "judge_cost.json"
    out.write_text(json.dumps({"load": os.getloadavg(), "rows": rows}, indent=1) + "\n")
    print(f"written to {out.relative_to(ROOT)} (load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
