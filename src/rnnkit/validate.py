"""Run chapter notebooks through nbgrader's executor and read each graded test cell's score."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .nbgrader_api import load_config
from .paths import notebook_path


@dataclass
class NotebookReport:
    """The score of every graded test cell of one executed notebook."""

    path: Path
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)
    crashed: str | None = None

    def failing(self) -> list[str]:
        return [gid for gid, (score, top) in self.scores.items() if score < top]

    def passing(self) -> list[str]:
        return [gid for gid, (score, top) in self.scores.items() if score >= top]


def execute(path: Path, root: Path) -> nbformat.NotebookNode:
    """Execute ``path`` in its own folder the way nbgrader's autograder does."""
    from nbgrader.preprocessors import Execute
    from nbgrader.utils import setenv

    config = load_config(root)
    nb = nbformat.read(path, as_version=4)
    with setenv(NBGRADER_VALIDATING="1", NBGRADER_EXECUTION="validate"):
        executor = Execute(config=config)
        nb, _ = executor.preprocess(nb, {"metadata": {"path": str(path.parent)}})
    return nb


def graded_scores(nb: nbformat.NotebookNode) -> dict[str, tuple[float, float]]:
    """``grade_id -> (score, max score)`` for each autograded test cell."""
    from nbgrader import utils

    scores = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and utils.is_grade(cell):
            score, top = utils.determine_grade(cell)
            scores[cell.metadata.nbgrader["grade_id"]] = (float(score), float(top))
    return scores


def report(path: Path, root: Path) -> NotebookReport:
    """Execute a notebook and report its graded cells; a crash is recorded, not raised."""
    result = NotebookReport(path)
    try:
        result.scores = graded_scores(execute(path, root))
    except Exception as err:  # any failure of the run is the report's finding
        lines = str(err).strip().splitlines()
        result.crashed = f"{type(err).__name__}: {lines[-1] if lines else 'no message'}"
    return result


def validate(root: Path, chapters: list[str]) -> list[str]:
    """Problems found: a solution test that fails, a release test that passes, a crash."""
    problems = []
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    for chapter in chapters:
        for folder, must_pass in (("solutions", True), ("course", False)):
            path = notebook_path(root, folder, chapter)
            if not path.is_file():
                problems.append(f"{folder}/{chapter}: notebook missing ({path.name})")
                continue
            rep = report(path, root)
            if rep.crashed:
                problems.append(f"{folder}/{chapter}: could not run: {rep.crashed}")
            elif not rep.scores:
                problems.append(f"{folder}/{chapter}: no graded test cells")
            elif must_pass and rep.failing():
                problems.append(f"{folder}/{chapter}: tests fail on the solution: "
                                + ", ".join(rep.failing()))
            elif not must_pass and rep.passing():
                problems.append(f"{folder}/{chapter}: tests pass on the empty release: "
                                + ", ".join(rep.passing()))
    return problems
