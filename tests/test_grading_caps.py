"""Output caps: what one student can make the grader hold is bounded, visibly, score unchanged."""

from __future__ import annotations

import random

import nbformat
import pytest
from nbgrader import utils

from rnnkit.grading.caps import cap_notebook, output_bytes
from rnnkit.grading.model import MiB, OutputCaps

out = nbformat.v4.new_output


def _test_cell(gid: str, outputs: list[dict]) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("check()", outputs=[nbformat.from_dict(o) for o in outputs])
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": gid, "points": 1, "solution": False,
                                 "locked": True, "schema_version": 3, "task": False}
    return cell


def _grades(nb: nbformat.NotebookNode) -> dict[str, object]:
    return {c.metadata.nbgrader["grade_id"]: utils.determine_grade(c)
            for c in nb.cells if utils.is_grade(c)}


def _flood(kb: int) -> dict:
    return out("stream", name="stdout", text="x" * (kb * 1024))


def test_under_the_cap_nothing_changes() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1", outputs=[_flood(10)])])
    before = nbformat.writes(nb)
    capped = cap_notebook(nb, 1 * MiB)
    assert not capped.hit and nbformat.writes(nb) == before


def test_outputs_past_the_cap_are_dropped_with_a_note_and_scores_kept() -> None:
    error = out("error", ename="AssertionError", evalue="encode is wrong " + "!" * 5000,
                traceback=["frame " * 1000])
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print(...)", outputs=[_flood(900)]),
        _test_cell("01_a_tests", [_flood(300), error]),  # fails: must still fail
        _test_cell("01_b_tests", [_flood(300)]),  # passes: must still pass
        _test_cell("01_c_tests", [_flood(200), out("stream", name="stderr", text="warn " * 900)]),
        nbformat.v4.new_markdown_cell("![x](attachment:big.png)", attachments={
            "big.png": {"image/png": "A" * (400 * 1024)}}),
    ])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"x": "y" * 300_000}}
    grades = _grades(nb)
    capped = cap_notebook(nb, 1 * MiB)
    assert capped.hit and capped.before > 2 * MiB and capped.after <= 1 * MiB
    assert output_bytes(nb) == capped.after
    assert capped.cells == ["01_a_tests", "01_b_tests", "01_c_tests"]
    assert capped.attachments == 1 and capped.widget_state
    assert list(nb.cells[4].attachments) == ["big.png"]  # a blank pixel: the markdown renders
    assert _grades(nb) == grades
    a = nb.cells[1].outputs
    assert a[0].output_type == "error" and a[0].evalue.startswith("encode is wrong")
    assert "cap of 1 MiB was dropped" in a[-1].text
    assert "stderr" in [o.get("name") for o in nb.cells[3].outputs]  # what scores it 0 stays


@pytest.mark.parametrize("seed", range(30))
def test_the_cap_never_changes_a_grade(seed: int) -> None:
    rng = random.Random(seed)
    kinds = [lambda: _flood(rng.randint(1, 200)),
             lambda: out("stream", name="stderr", text="e" * rng.randint(1, 50_000)),
             lambda: out("error", ename="E", evalue="v" * rng.randint(1, 50_000), traceback=[]),
             lambda: out("display_data", data={"text/plain": "d" * rng.randint(1, 90_000)}),
             lambda: out("execute_result", execution_count=1,
                         data={"text/plain": rng.choice(["0.5", "1", "x" * 70_000])})]
    cells = [_test_cell(f"t{i}", [rng.choice(kinds)() for _ in range(rng.randint(0, 4))])
             if rng.random() < 0.6 else
             nbformat.v4.new_code_cell("x", outputs=[rng.choice(kinds)()])
             for i in range(12)]
    nb = nbformat.v4.new_notebook(cells=cells)
    grades = _grades(nb)
    cap_notebook(nb, rng.choice([1, 10_000, 100_000, 400_000]))
    assert _grades(nb) == grades


def test_caps_must_be_positive() -> None:
    with pytest.raises(ValueError, match="notebook_bytes"):
        OutputCaps(notebook_bytes=0)
