"""HardenedExecute and the in-kernel guard, on small notebooks (plain kernels, no sandbox)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest

from rnnkit.grading.hardening import (
    EXECUTION_REPORT,
    DropEmptyNbgraderMetadata,
    HardenedExecute,
    canonical_names,
    read_execution_report,
)

pytestmark = pytest.mark.slow
SETUP = "import numpy as np\nfrom rnnkit.checks import check_close, check_shape"


def graded_cell(source: str, grade_id: str = "t_tests") -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
        "grade": True, "grade_id": grade_id, "locked": True, "points": 1, "solution": False,
        "schema_version": 3}})


def run(tmp_path: Path, cells: list[Any], **traits: Any) -> tuple[list[Any], dict[str, Any]]:
    """Execute the cells (str: a plain code cell) with HardenedExecute; outputs and report."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(c) if isinstance(c, str) else c for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    traits.setdefault("timeout", 60)
    HardenedExecute(**traits).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    report = read_execution_report(tmp_path)
    assert report is not None
    return [c.outputs for c in nb.cells], report


def errors(outputs: list[Any]) -> list[str]:
    return [o.ename for o in outputs if o.output_type == "error"]


def test_monkeypatched_numpy_is_restored(tmp_path: Path) -> None:
    patch = ("np.allclose = lambda *a, **k: True\n"
             "def wrong():\n    np.array_equal = lambda *a, **k: True\n"
             "    np.allclose = lambda *a, **k: True\n    return np.zeros(2)")
    tests = [graded_cell("check_close(np.zeros(2), [1.0, 2.0], 'in another cell')", "a_tests"),
             graded_cell("check_close(wrong(), [1.0, 2.0], 'patched during the call')", "b_tests"),
             graded_cell("check_close(np.ones(2), [1.0, 1.0], 'right')", "c_tests")]
    outs, _ = run(tmp_path, [SETUP, patch, *tests])
    assert errors(outs[2]) == ["AssertionError"]
    assert errors(outs[3]) == ["AssertionError"]
    assert errors(outs[4]) == []
    unguarded, _ = run(tmp_path, [SETUP, patch, *tests], guard=False)
    assert errors(unguarded[2]) == errors(unguarded[3]) == []  # what the guard prevents


def test_rebound_course_names_are_put_back(tmp_path: Path) -> None:
    outs, _ = run(tmp_path, [
        SETUP,
        "np = None\ncheck_close = lambda *a, **k: None",
        graded_cell("check_close(np.ones(2), [5.0, 5.0], 'rebound names')"),
    ])
    assert errors(outs[2]) == ["AssertionError"]


def test_a_test_cell_that_never_ends_scores_zero(tmp_path: Path) -> None:
    cell = graded_cell("assert False, 'the real test'")
    outs, report = run(tmp_path, [
        "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])", cell])
    assert errors(outs[1]) == ["IncompleteTest"]
    assert cell.source == "assert False, 'the real test'"
    assert report["incomplete_tests"] == ["t_tests"]


def test_sentinel_is_removed_from_passing_tests(tmp_path: Path) -> None:
    cell = graded_cell("print('visible output')\nassert 1 + 1 == 2")
    outs, report = run(tmp_path, [cell])
    assert [o.text for o in outs[0]] == ["visible output\n"]
    assert report["incomplete_tests"] == [] and report["kernel_deaths"] == []


def test_fake_execute_result_is_not_a_score(tmp_path: Path) -> None:
    outs, _ = run(tmp_path, [
        "import sys\ndef f():\n    sys.displayhook(2)\n    raise ValueError('wrong')",
        graded_cell("f()\nassert True")])
    kinds = [o.output_type for o in outs[1]]
    assert "execute_result" not in kinds and "display_data" in kinds and "error" in kinds


def test_huge_output_is_cut(tmp_path: Path) -> None:
    outs, report = run(tmp_path, [graded_cell("print('x' * 2_000_000)\nassert True")],
                       max_output_bytes=50_000)
    text = "".join(o.get("text", "") for o in outs[0])
    assert len(text) < 100_000 and "output beyond 50000 bytes per cell dropped" in text
    assert errors(outs[0]) == []
    assert report["truncated_cells"] == [0]


def test_kernel_death_is_recovered(tmp_path: Path) -> None:
    outs, report = run(tmp_path, [
        "x = 41", graded_cell("import os\nos._exit(1)", "dies_tests"), "x += 1",
        graded_cell("assert x == 42, x", "after_tests")])
    assert errors(outs[1]) == ["KernelDied"]
    assert errors(outs[3]) == []
    assert report["restarts"] == 1
    assert [d["grade_id"] for d in report["kernel_deaths"]] == ["dies_tests"]


def test_without_restarts_the_rest_is_not_run(tmp_path: Path) -> None:
    outs, report = run(tmp_path, [
        "import os\nos._exit(1)", graded_cell("assert True", "later_tests")], max_restarts=0)
    assert errors(outs[1]) == ["NotRun"]
    assert report["not_run"] == ["later_tests"]


def test_whole_notebook_clock(tmp_path: Path) -> None:
    outs, report = run(tmp_path, [
        "import time\nfor _ in range(60):\n    time.sleep(0.5)",
        graded_cell("assert True", "late_tests")], notebook_timeout=4)
    assert errors(outs[0]) == ["KernelDied"]
    assert errors(outs[1]) == ["NotRun"]
    assert report["wall_clock_expired"] and report["not_run"] == ["late_tests"]


def test_report_is_not_written_through_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("untouched")
    work = tmp_path / "work"
    work.mkdir()
    (work / EXECUTION_REPORT).symlink_to(outside)
    run(work, [graded_cell("assert True")])
    assert outside.read_text() == "untouched"
    assert not (work / EXECUTION_REPORT).is_symlink()
    assert json.loads((work / EXECUTION_REPORT).read_text())["restarts"] == 0


def test_canonical_names() -> None:
    assert canonical_names("x = np.ones(2)\ncheck_close(x, y, 'x')\nprint(torch)") == [
        "check_close", "np", "torch"]
    assert canonical_names("this is not python (") == []


def test_empty_nbgrader_metadata_is_dropped() -> None:
    cells = [nbformat.v4.new_code_cell("a", metadata={"nbgrader": {}}),
             nbformat.v4.new_code_cell("b", metadata={"nbgrader": {"grade_id": "x"}})]
    nb = nbformat.v4.new_notebook(cells=cells)
    DropEmptyNbgraderMetadata().preprocess(nb, {})
    assert "nbgrader" not in nb.cells[0].metadata
    assert nb.cells[1].metadata.nbgrader == {"grade_id": "x"}
