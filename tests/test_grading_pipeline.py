"""rnnkit grade end to end: same scores as serial nbgrader, resume, --student, feedback, report.

The bookkeeping tests use ``grading_fakes.fake_grade`` (no kernel); the others run real
kernels through nbgrader, two submissions at a time.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

import sample_class
from grading_fakes import CALLS_ENV, fake_grade
from hostile import CASES_BY_NAME, write_submission
from rnnkit.cli import main
from rnnkit.grading.pipeline import GradeOptions, run
from rnnkit.nbgrader_api import load_config
from submissions import filled_release, submit

pytestmark = [
    pytest.mark.slow,
    # nbgrader's add_missing_cells inserts cells without an id (nbformat warns; harmless)
    pytest.mark.filterwarnings("ignore::nbformat.warnings.MissingIDFieldWarning"),
]
REPO = Path(__file__).resolve().parents[1]
CHAPTER = "01_sequences"
NB = f"{CHAPTER}.ipynb"
RNNKIT = str(Path(sys.executable).parent / "rnnkit")


def _sandbox_works() -> bool:
    try:
        from rnnkit.grading.sandbox import require_bwrap

        require_bwrap()
    except Exception:
        return False
    return True


SANDBOX = _sandbox_works()
SANDBOX_ARGS = [] if SANDBOX else ["--no-sandbox"]


def _course(root: Path) -> Path:
    """A course copy with chapter 01 only (solutions, release, nbgrader config)."""
    for folder in ("solutions", "course"):
        shutil.copytree(REPO / folder / CHAPTER, root / folder / CHAPTER,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    (root / "autograder").mkdir(parents=True)
    shutil.copy2(REPO / "autograder" / "nbgrader_config.py", root / "autograder")
    return root


def _solution() -> nbformat.NotebookNode:
    return nbformat.read(REPO / "solutions" / CHAPTER / NB, as_version=4)


def _release() -> nbformat.NotebookNode:
    return nbformat.read(REPO / "course" / CHAPTER / NB, as_version=4)


def _csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def _gradebook(root: Path) -> dict[str, dict[str, float | None]]:
    """``student -> {grade_id: auto score}`` of chapter 01 in ``root``'s gradebook."""
    from nbgrader.api import Gradebook

    out: dict[str, dict[str, float | None]] = {}
    with Gradebook(load_config(root).CourseDirectory.db_url, "rnnkit") as gb:
        for sub in gb.find_assignment(CHAPTER).submissions:
            out[sub.student.id] = {g.name: g.auto_score for nb in sub.notebooks
                                   for g in nb.grades}
    return out


def _manifest(root: Path) -> dict[str, dict]:
    path = root / "autograder" / "reports" / CHAPTER / "manifest.json"
    return json.loads(path.read_text())["students"]


def _threads(n: int) -> cf.Executor:
    return cf.ThreadPoolExecutor(n)


# -- bookkeeping, without kernels ------------------------------------------------------------------
def test_reruns_grade_only_what_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _course(tmp_path / "course")
    submit(root, "alice", CHAPTER, _solution())
    submit(root, "bob", CHAPTER, filled_release(REPO, CHAPTER, frozenset({"01_encode"})))
    submit(root, "carol", CHAPTER, _release())
    calls = tmp_path / "calls.txt"
    monkeypatch.setenv(CALLS_ENV, str(calls))

    def grade(**kw: object) -> list[str]:
        calls.write_text("")
        summary = run(root, GradeOptions(CHAPTER, sandbox=False, progress=False, **kw),
                      executor_factory=_threads, grade=fake_grade, echo=lambda _: None)
        graded = sorted(calls.read_text().split())
        assert graded == sorted(s for s in summary.graded)
        return graded

    assert grade() == ["alice", "bob", "carol"]
    scores = _csv(root / "autograder" / "reports" / CHAPTER / "grades.csv")
    assert {s: r["score"] for s, r in scores.items()} == {"alice": "9", "bob": "8", "carol": "0"}
    assert scores["bob"]["01_encode"] == "0" and scores["bob"]["01_make_windows"] == "2"
    assert sum(v for v in _gradebook(root)["bob"].values()) == 8

    assert grade() == []  # idempotent: nothing changed
    submit(root, "bob", CHAPTER, _solution())  # bob re-submits
    assert grade() == ["bob"]
    assert _csv(root / "autograder" / "reports" / CHAPTER / "grades.csv")["bob"]["score"] == "9"
    assert grade(students=("carol",)) == ["carol"]  # --student regrades even when unchanged
    assert grade(force=True) == ["alice", "bob", "carol"]
    with pytest.raises(Exception, match="no submission from zed"):
        grade(students=("zed",))


def test_a_canvas_zip_and_another_database(tmp_path: Path) -> None:
    import zipfile

    root = _course(tmp_path / "course")
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"doejane_101_900_{NB}", nbformat.writes(_solution()))
        zf.writestr("roejohn_late_102_901_my work.ipynb", nbformat.writes(_release()))
        zf.writestr("roejohn_late_102_901_notes.txt", "hello")
    db = tmp_path / "elsewhere.db"
    summary = run(root, GradeOptions(CHAPTER, source=archive, sandbox=False, progress=False,
                                     db_url=f"sqlite:///{db}", out=tmp_path / "out"),
                  executor_factory=_threads, grade=fake_grade, echo=lambda _: None)
    assert summary.intake.naming == "canvas"
    rows = _csv(tmp_path / "out" / "grades.csv")
    assert {s: (r["status"], r["score"]) for s, r in rows.items()} == {
        "101": ("graded", "9"), "102": ("graded", "0")}
    assert "marked late by the LMS" in rows["102"]["reason"]
    assert "renamed" in rows["102"]["reason"]
    with (tmp_path / "out" / "intake.csv").open(newline="") as f:
        assert {r["file"].split("!/")[1]: r["taken"] for r in csv.DictReader(f)} == {
            f"doejane_101_900_{NB}": "yes", "roejohn_late_102_901_my work.ipynb": "yes",
            "roejohn_late_102_901_notes.txt": "no"}
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}", "rnnkit") as gb:
        assert gb.find_submission(CHAPTER, "101").score == 9
    assert not (root / "autograder" / "gradebook.db").exists()
    assert (root / "autograder" / "feedback" / "102" / CHAPTER / f"{CHAPTER}.html").is_file()


def test_no_student_vanishes_from_intake_grades_or_report(tmp_path: Path) -> None:
    """A chapter folder that is a link or a file is a `missing` student in every output; a
    266-byte file name in a Canvas zip is graded (it used to stop the whole run)."""
    root = _course(tmp_path / "course")
    submitted = root / "autograder" / "submitted"
    submit(root, "alice", CHAPTER, _solution())
    (submitted / "bob").mkdir()
    (submitted / "bob" / CHAPTER).symlink_to(submitted / "alice" / CHAPTER)
    (submitted / "carol").mkdir()
    (submitted / CHAPTER).mkdir()  # a stray folder named like the chapter: not a student
    (submitted / "carol" / CHAPTER).write_text("a file, not a folder")
    run(root, GradeOptions(CHAPTER, sandbox=False, progress=False),
        executor_factory=_threads, grade=fake_grade, echo=lambda _: None)
    folder = root / "autograder" / "reports" / CHAPTER
    rows = _csv(folder / "grades.csv")
    assert {s: (r["status"], r["score"]) for s, r in rows.items()} == {
        "alice": ("graded", "9"), "bob": ("missing", "0"), "carol": ("missing", "0")}
    assert "symbolic link" in rows["bob"]["reason"] and "is a file" in rows["carol"]["reason"]
    with (folder / "intake.csv").open(newline="") as f:
        intake = {r["file"]: (r["student"], r["taken"]) for r in csv.DictReader(f)}
    assert intake[f"bob/{CHAPTER}"] == ("bob", "no")
    assert intake[f"carol/{CHAPTER}"] == ("carol", "no")
    report = html.unescape((folder / "report.html").read_text())
    assert "bob/01_sequences is a symbolic link" in report
    assert "carol/01_sequences is a file" in report
    assert (root / "autograder" / "feedback" / "bob" / CHAPTER / f"{CHAPTER}.html").is_file()

    import zipfile

    long_name = f"{'x' * 239}_101_900_{NB}"
    assert len(long_name.encode()) == 266
    archive = tmp_path / "canvas.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(long_name, nbformat.writes(_solution()))
        zf.writestr(f"roe_102_901_{NB}", nbformat.writes(_release()))
    run(root, GradeOptions(CHAPTER, source=archive, sandbox=False, progress=False,
                           out=tmp_path / "out"),
        executor_factory=_threads, grade=fake_grade, echo=lambda _: None)
    rows = _csv(tmp_path / "out" / "grades.csv")
    assert {s: (r["status"], r["score"]) for s, r in rows.items()} == {
        "101": ("graded", "9"), "102": ("graded", "0")}


def test_a_dying_worker_costs_one_submission_only(tmp_path: Path) -> None:
    root = _course(tmp_path / "course")
    for student in ("alice", "crash_me", "dora"):
        submit(root, student, CHAPTER, _solution())
    summary = run(root, GradeOptions(CHAPTER, sandbox=False, progress=False, workers=2),
                  grade=fake_grade, echo=lambda _: None)
    statuses = {s: e.status for s, e in summary.entries.items()}
    assert statuses == {"alice": "graded", "crash_me": "error", "dora": "graded"}
    assert "died on this submission" in summary.entries["crash_me"].reason
    book = _gradebook(root)
    assert sum(book["alice"].values()) == 9 and sum(book["crash_me"].values()) == 0


def test_without_bubblewrap_grade_refuses_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rnnkit.grading import sandbox

    root = _course(tmp_path / "course")
    submit(root, "alice", CHAPTER, _solution())
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    sandbox.require_bwrap.cache_clear()
    try:
        assert main(["--root", str(root), "grade", "01"]) == 2
    finally:
        sandbox.require_bwrap.cache_clear()
    err = capsys.readouterr().err
    assert err.startswith("rnnkit: error: bubblewrap") and err.count("\n") == 1
    assert "--no-sandbox" in err
    assert not (root / "autograder" / "gradebook.db").exists()  # nothing ran


# -- real grading --------------------------------------------------------------------------------
STUDENTS = {
    "alice": lambda: _solution(),
    "bob": lambda: filled_release(REPO, CHAPTER, frozenset({"01_encode", "01_one_hot"})),
    "carol": lambda: _release(),
    "fay": lambda: nbformat.reads(CASES_BY_NAME["test_cells_deleted"].build(REPO)[NB].decode(),
                                  as_version=4),
    "gus": lambda: nbformat.reads(
        CASES_BY_NAME["deeply_nested_expression"].build(REPO)[NB].decode(), as_version=4),
    "ivy": lambda: nbformat.reads(CASES_BY_NAME["output_flood"].build(REPO)[NB].decode(),
                                  as_version=4),
}


def _submissions(root: Path) -> None:
    for student, make in STUDENTS.items():
        submit(root, student, CHAPTER, make())
    write_submission(root / "autograder" / "submitted" / "dave" / CHAPTER,
                     {NB: b'{"cells": [ {'})  # invalid JSON
    write_submission(root / "autograder" / "submitted" / "erin" / CHAPTER,
                     {"my_work.ipynb": nbformat.writes(_solution()).encode()})  # renamed


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A class graded by one ``rnnkit grade 01 --workers 2``; returns the root and stdout."""
    root = _course(tmp_path_factory.mktemp("class") / "course")
    _submissions(root)
    out = subprocess.run([RNNKIT, "grade", "01", "--workers", "2", *SANDBOX_ARGS],
                         cwd=root, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return root, out.stdout


@pytest.fixture(scope="module")
def serial_class(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same submissions through plain serial ``nbgrader autograde`` (the CLI)."""
    root = _course(tmp_path_factory.mktemp("serial") / "course")
    _submissions(root)
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    # The client class only changes how replies are waited for (see kernelclient.py): plain
    # nbgrader now and then stalls 120 s on a lost wake-up; scores are unaffected.
    patient = "--AsyncKernelManager.client_class=rnnkit.kernelclient.SlicedPollKernelClient"
    for cmd in (["generate_assignment", CHAPTER, "--force"], ["autograde", CHAPTER, patient]):
        # run where nbgrader_config.py is; autograde exits 1 because dave and erin fail
        out = subprocess.run([nbgrader, *cmd], cwd=root / "autograder", capture_output=True,
                             text=True, timeout=900, env=env)
    assert "No notebooks" in out.stderr and "for student 'alice'" not in out.stderr
    return root


def test_parallel_scores_equal_serial_nbgrader(graded_class: tuple[Path, str],
                                               serial_class: Path) -> None:
    ours, serial = _gradebook(graded_class[0]), _gradebook(serial_class)
    for student in STUDENTS:  # every cell's score, exactly
        assert ours[student] == serial[student], student
    assert sum(ours["bob"].values()) == 7 and sum(ours["fay"].values()) == 9
    # nbgrader fails on the invalid file (no score) and skips the renamed notebook;
    # rnnkit grade gives the first 0 with a reason and grades the second.
    assert not any(serial["dave"].values()) and sum(ours["dave"].values()) == 0
    assert sum(ours["erin"].values()) == 9


def test_grades_csv_and_summary(graded_class: tuple[Path, str]) -> None:
    root, stdout = graded_class
    rows = _csv(root / "autograder" / "reports" / CHAPTER / "grades.csv")
    assert list(next(iter(rows.values()))) == [
        "student", "status", "score", "max_score", "01_make_windows", "01_build_vocab",
        "01_encode", "01_decode", "01_one_hot", "01_fit_autoregressive",
        "01_predict_autoregressive", "flags", "reason"]
    got = {s: (r["status"], r["score"]) for s, r in rows.items()}
    assert got == {"alice": ("graded", "9"), "bob": ("graded", "7"), "carol": ("graded", "0"),
                   "dave": ("invalid", "0"), "erin": ("graded", "9"), "fay": ("graded", "9"),
                   "gus": ("graded", "9"),  # gus: a 500-term sum once crashed the scan
                   "ivy": ("graded", "9")}  # ivy: 48 MB of output, capped
    assert rows["gus"]["flags"] == "" and rows["gus"]["reason"] == ""
    assert "over the notebook cap (8 MiB) while it ran" in rows["ivy"]["reason"]
    assert "1 markdown attachment(s)" in rows["ivy"]["reason"]
    assert "not valid JSON" in rows["dave"]["reason"]
    assert "renamed" in rows["erin"]["reason"]
    assert rows["bob"]["01_encode"] == rows["bob"]["01_one_hot"] == "0"
    assert "8 students (7 graded, 1 invalid)" in stdout


def test_what_one_student_leaves_is_capped(graded_class: tuple[Path, str]) -> None:
    root = graded_class[0]
    graded = root / "autograder" / "autograded" / "ivy" / CHAPTER / NB
    page = root / "autograder" / "feedback" / "ivy" / CHAPTER / f"{CHAPTER}.html"
    assert graded.stat().st_size < 9 * 1024**2 and page.stat().st_size < 10 * 1024**2
    assert "cap of 8 MiB was dropped" in graded.read_text() or "bytes in this notebook dropped" \
        in graded.read_text()
    report = (root / "autograder" / "reports" / CHAPTER / "report.html").read_text()
    assert "over the notebook cap (8 MiB) while it ran" in report


def _hidden_lines() -> list[str]:
    """The distinctive lines of chapter 01's hidden tests (not also written elsewhere: a
    line a visible test or a solution has too is no secret)."""
    hidden, shown, inside = [], set(), False
    for cell in _solution().cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) >= 25:
                hidden.append(line.strip())
            else:
                shown.add(line.strip())
    lines = [line for line in hidden if line not in shown]
    assert len(lines) > 20
    return lines


def _text(page: Path) -> str:
    """A feedback page as the student reads it: tags stripped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def test_feedback_shows_messages_never_hidden_tests(graded_class: tuple[Path, str]) -> None:
    root = graded_class[0]
    pages = {s: root / "autograder" / "feedback" / s / CHAPTER / f"{CHAPTER}.html"
             for s in (*STUDENTS, "dave", "erin")}
    hidden = _hidden_lines()
    for student, page in pages.items():
        raw = page.read_text()
        assert raw.index('http-equiv="Content-Security-Policy"') < raw.index("</head>"), student
        text = _text(page)
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{student}'s feedback shows hidden tests: {leaked[:3]}"
        assert "HIDDEN TESTS" not in text
    bob = _text(pages["bob"])
    assert "NotImplementedError" in bob
    # each failing test cell shows one line: no traceback frames of the test's code
    tests_part = bob[bob.index("01_encode_tests"):] if "01_encode_tests" in bob else bob
    assert "check_equal(encode(" not in tests_part.split("NotImplementedError")[-1]
    assert "could not be read as a Jupyter notebook" in _text(pages["dave"])
    assert "Score: 0 of 9" in _text(pages["dave"])


def test_class_report_and_intake(graded_class: tuple[Path, str]) -> None:
    folder = graded_class[0] / "autograder" / "reports" / CHAPTER
    page = (folder / "report.html").read_text()
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 3
    for text in ("Score distribution", "Pass rate per exercise", "Most common failure",
                 "NotImplementedError", "not valid JSON", "renamed"):
        assert text in page, text
    with (folder / "intake.csv").open(newline="") as f:
        taken = {r["file"]: r["taken"] for r in csv.DictReader(f)}
    assert taken[f"erin/{CHAPTER}/my_work.ipynb"] == "yes"
    assert set(taken) == {f"{s}/{CHAPTER}/{NB}" for s in (*STUDENTS, "dave")} | {
        f"erin/{CHAPTER}/my_work.ipynb"}


def test_rerun_is_idempotent_and_student_regrades_one(graded_class: tuple[Path, str]) -> None:
    root = graded_class[0]
    before = _manifest(root)
    book = _gradebook(root)
    quiet = ["--no-progress", *SANDBOX_ARGS]
    assert main(["--root", str(root), "grade", "01", *quiet]) == 0
    assert _manifest(root) == before and _gradebook(root) == book
    assert main(["--root", str(root), "grade", "01", "--student", "bob", *quiet]) == 0
    after = _manifest(root)
    changed = {s for s in before if after[s]["graded_at"] != before[s]["graded_at"]
               or after[s]["seconds"] != before[s]["seconds"]}
    assert changed == {"bob"}
    assert after["bob"]["scores"] == before["bob"]["scores"] and _gradebook(root) == book


def test_cells_that_hit_the_timeout_are_named_in_the_students_row(tmp_path: Path) -> None:
    root = _course(tmp_path / "course")
    nb = _solution()
    solution = next(c for c in nb.cells
                    if c.metadata.get("nbgrader", {}).get("grade_id") == "01_make_windows")
    solution.source = "def make_windows(series, window, horizon=1):\n    while True:\n        pass"
    nb.cells.insert(2, nbformat.v4.new_code_cell("import time\nwhile True:\n    time.sleep(0.1)"))
    submit(root, "tim", CHAPTER, nb)
    run(root, GradeOptions(CHAPTER, sandbox=SANDBOX, progress=False, cell_timeout=3, workers=1),
        echo=lambda _: None)
    folder = root / "autograder" / "reports" / CHAPTER
    row = _csv(folder / "grades.csv")["tim"]
    assert (row["status"], row["score"]) == ("graded", "7"), row["reason"]
    assert "01_make_windows_tests hit the cell timeout (3 s): interrupted" in row["reason"]
    assert "cell 2 (`import time`) hit the cell timeout (3 s)" in row["reason"]
    report = html.unescape((folder / "report.html").read_text())
    assert "01_make_windows_tests hit the cell timeout (3 s): interrupted" in report


def _sigint_as_in_a_terminal() -> None:
    """Run in the child before exec: Ctrl-C's default action, whatever the test runner's.

    A suite started in the background (``cmd &`` in a script) inherits SIGINT *ignored*,
    exec keeps it ignored and Python then leaves it so: the interrupt never lands and the
    run finishes with exit 0 (how this test failed in backgrounded clean-clone runs).
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_an_interrupted_run_resumes(tmp_path: Path) -> None:
    root = _course(tmp_path / "course")
    students = ["s1", "s2", "s3"]
    for student in students:
        nb = _solution()
        if student != "s1":  # slow enough that the interrupt surely lands during s2
            nb.cells.append(nbformat.v4.new_code_cell("import time\ntime.sleep(8)"))
        submit(root, student, CHAPTER, nb)
    cmd = [RNNKIT, "grade", "01", "--workers", "1", "--no-progress", *SANDBOX_ARGS]
    runtime_dirs = set(Path(tempfile.gettempdir()).glob("rk-*"))
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_sigint_as_in_a_terminal,
                            env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    manifest = root / "autograder" / "reports" / CHAPTER / "manifest.json"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists() and json.loads(manifest.read_text())["students"]:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # say where it hangs: faulthandler dumps every thread
        proc.send_signal(signal.SIGABRT)
        _, err = proc.communicate(timeout=60)
        pytest.fail(f"rnnkit grade still running 120 s after Ctrl-C; its threads:\n{err[-8000:]}")
    assert proc.returncode == 130, err[-2000:]
    # the killed kernel's sockets and log lived in the run's scratch folder, now removed
    assert set(Path(tempfile.gettempdir()).glob("rk-*")) <= runtime_dirs
    done = set(json.loads(manifest.read_text())["students"])
    assert 1 <= len(done) < len(students)

    summary = run(root, GradeOptions(CHAPTER, sandbox=SANDBOX, progress=False),
                  echo=lambda _: None)
    assert set(summary.up_to_date) == done
    assert sorted(summary.graded) == sorted(set(students) - done)
    assert {e.status for e in summary.entries.values()} == {"graded"}
    assert all(sum(v for v in g.values()) == 9 for g in _gradebook(root).values())


# -- the bundled sample class --------------------------------------------------------------------
def test_sample_class_is_in_sync_with_its_generator(tmp_path: Path) -> None:
    sample_class.write(tmp_path / "sample")
    fresh = {p.relative_to(tmp_path / "sample"): p.read_bytes()
             for p in (tmp_path / "sample").rglob("*") if p.is_file()}
    committed = {p.relative_to(sample_class.FOLDER): p.read_bytes()
                 for p in sample_class.FOLDER.rglob("*") if p.is_file()}
    assert fresh == committed, "tests/data/sample_class is stale: run " \
                               ".venv/bin/python tests/sample_class.py"


@pytest.mark.skipif(not SANDBOX, reason="the hostile samples need bubblewrap")
def test_sample_class_grades_in_one_command(tmp_path: Path) -> None:
    root = _course(tmp_path / "course")
    out = subprocess.run([RNNKIT, "grade", "01", str(sample_class.FOLDER), "--workers", "2"],
                         cwd=root, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = _csv(root / "autograder" / "reports" / CHAPTER / "grades.csv")
    manifest = _manifest(root)
    assert set(rows) == {s.name for s in sample_class.STUDENTS}
    problems = []
    for s in sample_class.STUDENTS:
        row, flags = rows[s.name], {f["pattern"] for f in manifest[s.name]["flags"]}
        if (row["status"], float(row["score"])) != (s.status, s.score):
            problems.append(f"{s.name}: {row['status']} {row['score']}, expected {s.status} "
                            f"{s.score:g} ({row['reason'][:200]})")
        if not s.flags <= flags or (not s.flags and flags - {"unreadable_notebook"}):
            problems.append(f"{s.name}: flags {sorted(flags)}, expected {sorted(s.flags)}")
        page = root / "autograder" / "feedback" / s.name / CHAPTER / f"{CHAPTER}.html"
        if s.leak and s.leak in _text(page):
            problems.append(f"{s.name}: its feedback shows {s.leak!r}")
    assert not problems, "\n".join(problems)
    with (root / "autograder" / "reports" / CHAPTER / "intake.csv").open(newline="") as f:
        left_out = {r["file"] for r in csv.DictReader(f) if r["taken"] == "no"}
    assert {"README.md", f"two_unsolved/{CHAPTER}/notes.pdf", f"numpy_py_shipped/{CHAPTER}/numpy.py"
            } <= left_out
    report = (root / "autograder" / "reports" / CHAPTER / "report.html").read_text()
    assert "module_patch" in report and "shadowing_module" in report
