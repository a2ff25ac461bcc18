"""The hostile corpus through nbgrader autograde with the sandbox and HardenedExecute.

Each execution-stage case of ``tests/hostile.py`` is graded as its own student, the way
``rnnkit grade`` grades one submission, and must get its expected score, flags and
execution report; nothing may leak out or escape. A few cases also run through plain
nbgrader (no sandbox, no hardening) to show what the defences are for.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest

from hostile import (
    CHAPTER,
    HOSTILE_CASES,
    NOTEBOOK,
    TEST_LIMITS,
    Case,
    write_submission,
)
from rnnkit.grading.hardening import hardening_config, read_execution_report
from rnnkit.grading.integrity import scan_submission
from rnnkit.grading.sandbox import bwrap_available, sandbox_config
from rnnkit.judge.plan import plan_for_chapter
from rnnkit.nbgrader_api import ensure_success, load_config, make_api

pytestmark = [
    pytest.mark.slow,
    # nbgrader's add_missing_cells inserts cells without an id (nbformat warns; harmless)
    pytest.mark.filterwarnings("ignore::nbformat.warnings.MissingIDFieldWarning"),
    pytest.mark.skipif(not bwrap_available(), reason="bubblewrap (bwrap) is not installed: "
                       "apt-get install bubblewrap"),
]
REPO = Path(__file__).resolve().parents[1]
EXECUTION = [c for c in HOSTILE_CASES if c.stage == "execution"]
INTAKE = [c for c in HOSTILE_CASES if c.stage == "intake"]


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course copy with chapter 01 released into its gradebook."""
    root = tmp_path_factory.mktemp("hostile") / "course-root"
    for folder in ("solutions", "course"):
        shutil.copytree(REPO / folder / CHAPTER, root / folder / CHAPTER,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    (root / "autograder").mkdir()
    shutil.copy2(REPO / "autograder" / "nbgrader_config.py", root / "autograder")
    api = make_api(load_config(root))
    ensure_success(api.generate_assignment(CHAPTER, force=True, create=True), "release")
    return root


def _grade(root: Path, student: str, files: dict[str, bytes], hardened: bool = True,
           judge: bool = True) -> tuple[dict[str, Any], float | None]:
    """Autograde one student's files; returns nbgrader's result and the chapter score."""
    from nbgrader.api import Gradebook, MissingEntry

    folder = root / "autograder" / "submitted" / student / CHAPTER
    shutil.rmtree(folder, ignore_errors=True)
    write_submission(folder, files)
    config = load_config(root)
    if hardened:
        config.merge(sandbox_config(TEST_LIMITS))
        config.merge(hardening_config(TEST_LIMITS, judge=plan_for_chapter(
            root / "solutions" / CHAPTER) if judge else None))
    result = make_api(config).autograde(CHAPTER, student, force=True, create=True)
    with Gradebook(config.CourseDirectory.db_url, "rnnkit") as gb:
        try:
            score = gb.find_submission(CHAPTER, student).score
        except MissingEntry:
            score = None
    return result, score


def _outputs_text(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return json.dumps([c.get("outputs", []) for c in nb.cells])


@pytest.mark.parametrize("case", EXECUTION, ids=[c.name for c in EXECUTION])
def test_execution_case(course: Path, case: Case) -> None:
    for path in case.escape_paths:
        Path(path).unlink(missing_ok=True)
    files = case.build(course)
    result, score = _grade(course, case.name, files)
    log = (result.get("log") or "")[-2000:]
    assert result["success"], f"{case.name}: autograde failed\n{log}"
    assert score == case.expected_score, f"{case.name}: scored {score}, expected " \
        f"{case.expected_score}\n{log}"

    submitted = course / "autograder" / "submitted" / case.name / CHAPTER
    flags = {f.pattern for f in scan_submission(
        submitted, reference=course / "course" / CHAPTER / NOTEBOOK)}
    if case.expected_status == "graded":
        assert not flags, f"{case.name}: unexpected integrity flags {sorted(flags)}"
    else:
        assert case.expected_flags <= flags, f"{case.name}: flags {sorted(flags)} lack " \
            f"{sorted(case.expected_flags - flags)}"

    graded = course / "autograder" / "autograded" / case.name / CHAPTER
    report = read_execution_report(graded)
    assert report is not None, f"{case.name}: no execution report"
    for key in case.expected_report:
        assert report.get(key), f"{case.name}: report has no {key}: {report}"
    notebook = graded / NOTEBOOK
    assert notebook.is_file() and not notebook.is_symlink()
    if case.forbidden_output:
        assert case.forbidden_output not in _outputs_text(notebook), \
            f"{case.name}: {case.forbidden_output!r} in the graded outputs"
    for path in case.escape_paths:
        assert not Path(path).exists(), f"{case.name}: {path} was written on the host"
    leftovers = [p.name for p in graded.iterdir() if p.is_symlink() or not (
        p.is_file() or p.is_dir())]
    assert not leftovers, f"{case.name}: links or fifos left in the working copy: {leftovers}"


PLAIN = [c for c in EXECUTION if c.plain_score is not None]


@pytest.mark.parametrize("case", PLAIN, ids=[c.name for c in PLAIN])
def test_plain_nbgrader_is_fooled(course: Path, case: Case) -> None:
    """Without HardenedExecute these cases score points their code did not earn."""
    result, score = _grade(course, f"plain-{case.name}", case.build(course), hardened=False)
    assert result["success"]
    assert score == case.plain_score, f"plain nbgrader gave {score}, expected {case.plain_score}"
    assert score > case.expected_score


IN_KERNEL = [c for c in EXECUTION if c.in_kernel_score is not None]


@pytest.mark.parametrize("case", IN_KERNEL, ids=[c.name for c in IN_KERNEL])
def test_in_kernel_tests_are_fooled(course: Path, case: Case) -> None:
    """With the sandbox and the guard but the tests in the student's kernel, these attacks
    score points their code did not earn: why test cells run in the judge."""
    result, score = _grade(course, f"kernel-{case.name}", case.build(course), judge=False)
    assert result["success"]
    assert score == case.in_kernel_score, f"in-kernel tests gave {score}, expected " \
        f"{case.in_kernel_score}"
    assert score > case.expected_score


def test_in_kernel_tests_leave_hidden_tests_on_disk(course: Path) -> None:
    """Without the judge, the kernel's working copy holds the hidden tests (nbgrader puts
    them back before it runs the notebook): the case that the judge's blanking stops."""
    case = next(c for c in EXECUTION if c.name == "hidden_tests_from_disk")
    result, _ = _grade(course, "kernel-disk", case.build(course), judge=False)
    assert result["success"]
    graded = course / "autograder" / "autograded" / "kernel-disk" / CHAPTER / NOTEBOOK
    assert case.forbidden_output in _outputs_text(graded)


@pytest.mark.parametrize("case", INTAKE, ids=[c.name for c in INTAKE])
def test_intake_case(course: Path, case: Case, tmp_path: Path) -> None:
    """Unreadable files are flagged; readable ones grade as expected once normalised."""
    files = case.build(course)
    write_submission(tmp_path, files)
    flags = {f.pattern for f in scan_submission(tmp_path)}
    if case.expected_status == "error":
        assert "unreadable_notebook" in flags
        return
    # what an intake that repairs the file does: read as nbformat 4, save under the chapter name
    (name, data), = files.items()
    nb = nbformat.reads(data.decode(), as_version=4)
    _, score = _grade(course, case.name, {NOTEBOOK: nbformat.writes(nb).encode()})
    assert name != NOTEBOOK or nb.nbformat == 4
    assert score == case.expected_score


def test_other_students_keep_their_grades(course: Path) -> None:
    """After the whole corpus (same gradebook), a correct student still gets full marks."""
    _, score = _grade(course, "zz-honest", HOSTILE_CASES[0].build(course))
    assert score == 9
