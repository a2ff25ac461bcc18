"""A stand-in for ``grade_one`` that runs no kernel, to test the pipeline's bookkeeping fast.

``fake_grade`` "executes" a submission by giving each test cell an error output when its
exercise's solution still raises ``NotImplementedError``; nbgrader then scores the
notebook as usual. A student whose id starts with ``crash`` kills the worker process.
Module-level, so a process pool can unpickle it.
"""

from __future__ import annotations

import os

import nbformat
from nbgrader import utils

from rnnkit.grading.model import GradeJob, GradeResult

CALLS_ENV = "RNNKIT_FAKE_GRADE_LOG"


def fake_grade(job: GradeJob) -> GradeResult:
    if job.student.startswith("crash"):
        os._exit(3)
    log = os.environ.get(CALLS_ENV)
    if log:
        with open(log, "a") as f:
            f.write(job.student + "\n")
    result = GradeResult(job.student, "graded", timestamp=job.timestamp)
    for name, data in job.notebooks.items():
        nb = nbformat.reads(data.decode(), as_version=4)
        unsolved = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
                    if utils.is_solution(c) and "NotImplementedError" in c.source}
        for cell in nb.cells:
            if not utils.is_grade(cell) or cell.cell_type != "code":
                continue
            gid = cell.metadata["nbgrader"]["grade_id"]
            cell.outputs = []
            if gid.removesuffix("_tests") in unsolved:
                cell.outputs = [nbformat.v4.new_output(
                    "error", ename="NotImplementedError", evalue="", traceback=[])]
                result.failures[gid] = "NotImplementedError"
            got, top = utils.determine_grade(cell)
            result.scores[gid] = (float(got or 0), float(top))
        result.notebooks[name] = nbformat.writes(nb).encode()
    return result
