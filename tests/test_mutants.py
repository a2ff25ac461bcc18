"""The mutant corpus (tests/mutants): every realistic mistake fails its test cell, by name.

Each chapter's solution notebook runs top to bottom in one kernel, with
``NBGRADER_EXECUTION`` set as when it is graded. At every graded solution cell that has
mutants, each mutant replaces the solution and the cell's test cell runs (its hidden
tests included, as nbgrader grades it); then the solution is put back and the notebook
goes on. A mutant that passes its tests, or whose error does not contain the words that
name its mistake, fails this test. The counts are printed at the end of the run.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from mutants import RESULTS, Mutant, corpus
from rnnkit.paths import chapters, notebook_path

REPO = Path(__file__).resolve().parents[1]
CORPUS = corpus()
CELL_TIMEOUT_S = 120
MIN_PER_EXERCISE = 3
MIN_NAMED_SHARE = 0.9


@dataclass
class Outcome:
    """What one mutant's test cell did: passed, or failed with this error."""

    mutant: Mutant
    error: str | None  # "Name: message", or None when the test cell passed

    @property
    def named(self) -> bool:
        """The error contains the words that name the mistake (never for a known gap)."""
        return (self.error is not None and self.mutant.named
                and self.mutant.message.lower() in self.error.lower())


def _graded_ids(nb: nbformat.NotebookNode) -> list[str]:
    ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"
            and f"{c.metadata['nbgrader']['grade_id']}_tests" in ids]


def _error(cell: nbformat.NotebookNode) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"{out.get('ename', '')}: {out.get('evalue', '')}"
    return None


def _stderr(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stderr")


def run_chapter(chapter: str, mutants: list[Mutant], workdir: Path) -> list[Outcome]:
    """Run ``chapter``'s solution in grading mode, trying every mutant at its solution cell."""
    from nbclient import NotebookClient

    from rnnkit.kernelclient import patient_config

    folder = workdir / chapter
    shutil.copytree(REPO / "solutions" / chapter, folder,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    nb = nbformat.read(folder / f"{chapter}.ipynb", as_version=4)
    tests = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
             if c.metadata.get("nbgrader", {}).get("grade")}
    by_id: dict[str, list[Mutant]] = {}
    for m in mutants:
        by_id.setdefault(m.grade_id, []).append(m)
    outcomes: list[Outcome] = []
    saved = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=True,
                            interrupt_on_timeout=True, config=patient_config(),
                            resources={"metadata": {"path": str(folder)}})
    try:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                client.execute_cell(cell, index)
                error = _error(cell)
                assert error is None or cell.metadata.get("nbgrader", {}).get("grade"), (
                    f"{chapter}: cell {index} of the solution fails in grading mode: {error}")
                if cell.metadata.get("nbgrader", {}).get("grade"):
                    assert error is None, f"{chapter}: solution test cell {index} fails: {error}"
                    assert not _stderr(cell), (f"{chapter}: solution test cell {index} writes "
                                               f"to stderr: {_stderr(cell)[:300]}")
                gid = cell.metadata.get("nbgrader", {}).get("grade_id")
                if gid not in by_id or not cell.metadata["nbgrader"].get("solution"):
                    continue
                test = tests[f"{gid}_tests"]
                for mutant in by_id.pop(gid):
                    trial = nbformat.v4.new_code_cell(mutant.apply(cell.source))
                    client.execute_cell(trial, index)
                    probe = nbformat.v4.new_code_cell(test.source)
                    client.execute_cell(probe, index)
                    outcomes.append(Outcome(mutant, _error(trial) or _error(probe)))
                restore = nbformat.v4.new_code_cell(cell.source)
                client.execute_cell(restore, index)
                assert _error(restore) is None, f"{chapter}: {gid} could not be restored"
    finally:
        if saved is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = saved
    assert not by_id, f"{chapter}: mutants of unknown solution cells: {sorted(by_id)}"
    return outcomes


def test_every_chapter_and_exercise_has_mutants() -> None:
    missing_chapters = [c for c in chapters(REPO) if c not in CORPUS]
    assert not missing_chapters, (
        f"no mutant corpus (tests/mutants/mNN_slug.py) for {missing_chapters}")
    thin, named, total = [], 0, 0
    for chapter, mutants in CORPUS.items():
        nb = nbformat.read(notebook_path(REPO, "solutions", chapter), as_version=4)
        sources = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
                   if c.metadata.get("nbgrader", {}).get("solution")}
        for m in mutants:
            assert m.grade_id in sources, f"{chapter}: {m.mistake!r}: no solution cell {m.grade_id}"
            m.apply(sources[m.grade_id])  # each replace pair still fits the solution
        for gid in _graded_ids(nb):
            count = sum(m.grade_id == gid for m in mutants)
            if count < MIN_PER_EXERCISE:
                thin.append(f"{gid} ({count})")
        named += sum(m.named for m in mutants)
        total += len(mutants)
    assert not thin, f"exercises with fewer than {MIN_PER_EXERCISE} mutants: {', '.join(thin)}"
    assert total and named / total >= MIN_NAMED_SHARE, (
        f"only {named} of {total} mutants are expected to name their mistake; "
        f"the target is {MIN_NAMED_SHARE:.0%}")


@pytest.mark.slow
@pytest.mark.parametrize("chapter", sorted(CORPUS))
def test_mutants_fail_and_name_their_mistake(chapter: str, tmp_path: Path) -> None:
    outcomes = run_chapter(chapter, CORPUS[chapter], tmp_path)
    RESULTS[chapter] = [(o.mutant.grade_id, o.mutant.mistake,
                         "passing" if o.error is None else "named" if o.named else "unnamed")
                        for o in outcomes]
    passing = [f"{o.mutant.grade_id}: {o.mutant.mistake}" for o in outcomes if o.error is None]
    unnamed = [f"{o.mutant.grade_id}: {o.mutant.mistake}: expected {o.mutant.message!r} in "
               f"{(o.error or '')[:400]!r}" for o in outcomes
               if o.error is not None and o.mutant.named and not o.named]
    problems = ([f"PASSES its tests: {p}" for p in passing]
                + [f"message does not name it: {u}" for u in unnamed])
    assert not problems, f"{chapter}: " + "\n".join(problems)
