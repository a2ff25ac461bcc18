"""Build student submissions from the course's own notebooks, for grading tests."""

from __future__ import annotations

from pathlib import Path

import nbformat

from rnnkit.paths import notebook_path


def solution_cells(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """``grade_id -> cell`` for the cells students fill in."""
    return {
        c.metadata["nbgrader"]["grade_id"]: c
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }


def test_cells(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """``grade_id -> cell`` for the autograded test cells."""
    return {
        c.metadata["nbgrader"]["grade_id"]: c
        for c in nb.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
    }


def exercises(root: Path, chapter: str) -> list[str]:
    """The grade ids of a chapter's exercises (solution cells that have a test cell)."""
    nb = nbformat.read(notebook_path(root, "solutions", chapter), as_version=4)
    tests = test_cells(nb)
    return [gid for gid in solution_cells(nb) if f"{gid}_tests" in tests]


def filled_release(
    root: Path, chapter: str, leave_out: frozenset[str] = frozenset()
) -> nbformat.NotebookNode:
    """The release notebook with every solution cell filled in, except those in ``leave_out``."""
    answers = solution_cells(nbformat.read(notebook_path(root, "solutions", chapter), as_version=4))
    nb = nbformat.read(notebook_path(root, "course", chapter), as_version=4)
    for gid, cell in solution_cells(nb).items():
        if gid not in leave_out:
            cell.source = answers[gid].source
    return nb


def submit(root: Path, student: str, chapter: str, nb: nbformat.NotebookNode) -> Path:
    """Place ``nb`` as ``student``'s submission of ``chapter`` in nbgrader's submitted folder."""
    folder = root / "autograder" / "submitted" / student / chapter
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{chapter}.ipynb"
    nbformat.write(nb, path)
    return path
