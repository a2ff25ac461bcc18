"""rnnkit grade, without kernels: intake of every source kind, file checks, feedback scrubbing,
grades.csv and the class report."""

from __future__ import annotations

import csv
import os
import re
import stat
import sys
import warnings
import zipfile
from pathlib import Path

import nbformat
import pytest

from rnnkit.grading.feedback import HideHiddenTests, failure_page, feedback_preprocessors
from rnnkit.grading.intake import Intake, collect
from rnnkit.grading.model import Entry, RunSummary, StudentRow
from rnnkit.grading.outputs import write_grades_csv
from rnnkit.grading.report import failure_counts, pass_rates, write_report
from rnnkit.grading.worker import notebook_problem
from rnnkit.paths import CourseError

CHAPTER = "01_sequences"
NB = f"{CHAPTER}.ipynb"
NOTEBOOK_JSON = nbformat.writes(nbformat.v4.new_notebook()).encode()


def _write(root: Path, files: dict[str, bytes | str]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)


def _accounted(intake: Intake, root: Path) -> set[str]:
    """Every file of the source must have a record (other chapters' folders summed)."""
    recorded = {r.path for r in intake.records}
    missing = set()
    for p in root.rglob("*"):
        if p.is_dir() and not p.is_symlink():
            continue
        rel = p.relative_to(root).as_posix()
        if rel not in recorded and not any(rel.startswith(r) for r in recorded if r.endswith("/")):
            missing.add(rel)
    return missing


# -- intake ------------------------------------------------------------------------------------
def test_nbgrader_layout_takes_renamed_notebooks_and_reports_every_other_file(
        tmp_path: Path) -> None:
    src = tmp_path / "submitted"
    _write(src, {
        f"alice/{CHAPTER}/{NB}": NOTEBOOK_JSON,
        f"alice/{CHAPTER}/timestamp.txt": "2026-01-02 03:04:05.000000 UTC",
        f"alice/{CHAPTER}/numpy.py": "allclose = lambda *a: True",
        "alice/02_markov_chains/02_markov_chains.ipynb": NOTEBOOK_JSON,
        f"erin/{CHAPTER}/my copy.ipynb": NOTEBOOK_JSON,
        f"gina/{CHAPTER}/a.ipynb": NOTEBOOK_JSON,
        f"gina/{CHAPTER}/b.ipynb": NOTEBOOK_JSON,
        f"hal/{CHAPTER}/notes.txt": "no notebook here",
        f"bad id!/{CHAPTER}/{NB}": NOTEBOOK_JSON,
        "stray.txt": "not in a student folder",
    })
    (src / "ivan" / CHAPTER).mkdir(parents=True)
    (src / "ivan" / CHAPTER / NB).symlink_to(src / "alice" / CHAPTER / NB)

    intake = collect(src, CHAPTER, [NB])
    assert intake.naming == "nbgrader"
    subs = intake.submissions
    assert set(subs) == {"alice", "erin", "gina", "hal", "ivan"}
    assert subs["alice"].notebooks == {NB: src / "alice" / CHAPTER / NB}
    assert subs["alice"].timestamp.startswith("2026-01-02")
    assert subs["alice"].other_files == ["numpy.py"]
    assert subs["erin"].notebooks[NB].name == "my copy.ipynb"
    assert any("renamed" in n for n in subs["erin"].notes)
    assert not subs["gina"].notebooks and "none named" in subs["gina"].problem
    assert not subs["hal"].notebooks and "no notebook" in subs["hal"].problem
    assert not subs["ivan"].notebooks  # a symlink is never followed

    reasons = {r.path: r.reason for r in intake.records if not r.taken}
    assert "symbolic link" in reasons[f"ivan/{CHAPTER}/{NB}"]
    assert "only the chapter's notebooks" in reasons[f"alice/{CHAPTER}/numpy.py"]
    assert "another chapter" in reasons["alice/02_markov_chains/"]
    assert "not a usable student id" in reasons[f"bad id!/{CHAPTER}/{NB}"]
    assert "not in a <student>/<chapter>/ folder" in reasons["stray.txt"]
    assert _accounted(intake, src) == set()


CANVAS = {
    f"doejane_12345_678901_{NB}": NOTEBOOK_JSON,
    "doejane_12345_678950_01_sequences-1.ipynb": NOTEBOOK_JSON,  # re-submitted: newer
    "smithjohn_late_23456_678903_My Notebook.ipynb": NOTEBOOK_JSON,
    "roebert_34567_678904_report.pdf": b"%PDF",
    "README.txt": "instructions",
    "__MACOSX/._doejane_12345_678901_01_sequences.ipynb": b"\0",
}


def test_canvas_zip(tmp_path: Path) -> None:
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in CANVAS.items():
            zf.writestr(name, data)
        zf.writestr("../escape.ipynb", NOTEBOOK_JSON)
    intake = collect(archive, CHAPTER, [NB], staging=tmp_path / "staging")
    assert intake.naming == "canvas"
    subs = intake.submissions
    assert set(subs) == {"12345", "23456", "34567"}
    assert subs["12345"].sources[NB] == "submissions.zip!/doejane_12345_678950_01_sequences-1.ipynb"
    assert subs["23456"].sources[NB].endswith("My Notebook.ipynb")
    assert subs["12345"].notebooks[NB].read_bytes() == NOTEBOOK_JSON
    assert "marked late by the LMS" in subs["23456"].notes
    assert "no notebook" in subs["34567"].problem and subs["34567"].other_files == ["report.pdf"]
    reasons = {r.path.split("!/", 1)[1]: r.reason for r in intake.records if not r.taken}
    assert "superseded" in reasons[f"doejane_12345_678901_{NB}"]
    assert "does not match the canvas naming" in reasons["README.txt"]
    assert "operating-system metadata" in reasons[f"__MACOSX/._doejane_12345_678901_{NB}"]
    assert "unsafe path" in reasons["../escape.ipynb"]
    assert not (tmp_path / "escape.ipynb").exists()
    assert len(intake.records) == len(CANVAS) + 1  # every entry of the zip is accounted for


def test_moodle_folders_and_flat_files(tmp_path: Path) -> None:
    src = tmp_path / "moodle"
    _write(src, {
        f"Jane Doe_101_assignsubmission_file_/{NB}": NOTEBOOK_JSON,
        f"John Roe_102_assignsubmission_file_{NB}": NOTEBOOK_JSON,
        "John Roe_102_assignsubmission_onlinetext_onlinetext.html": "<p>hi</p>",
    })
    intake = collect(src, CHAPTER, [NB])
    assert intake.naming == "moodle"
    assert set(intake.submissions) == {"101", "102"}
    assert all(s.notebooks for s in intake.submissions.values())
    assert [r.reason for r in intake.left_out] == [
        "not a notebook of the chapter: only the chapter's notebooks are graded (other files "
        "are not copied, so none can shadow a module)"]


def test_custom_pattern_and_its_errors(tmp_path: Path) -> None:
    src = tmp_path / "lms"
    _write(src, {f"s1234-{NB}": NOTEBOOK_JSON, "unrelated.ipynb": NOTEBOOK_JSON})
    intake = collect(src, CHAPTER, [NB], pattern=r"^(?P<student>s\d+)-(?P<filename>.+)$")
    assert list(intake.submissions) == ["s1234"]
    assert [r.path for r in intake.left_out] == ["unrelated.ipynb"]
    with pytest.raises(CourseError, match="no \\(\\?P<student>"):
        collect(src, CHAPTER, [NB], pattern=r"(?P<id>\d+)")
    with pytest.raises(CourseError, match="not a valid regular expression"):
        collect(src, CHAPTER, [NB], pattern=r"(")
    with pytest.raises(CourseError, match="pass --pattern"):
        collect(src, CHAPTER, [NB])


def test_large_files_are_left_out(tmp_path: Path) -> None:
    src = tmp_path / "submitted"
    _write(src, {f"big/{CHAPTER}/{NB}": b" " * 3000})
    intake = collect(src, CHAPTER, [NB], max_file_bytes=1000)
    assert "too large" in intake.left_out[0].reason
    assert "no notebook" in intake.submissions["big"].problem


# -- hostile sources: nothing vanishes, no entry stops the batch ---------------------------------
LONG = "a" * 234  # with Canvas's prefix and the chapter's name: 266 bytes, over NAME_MAX (255)


def _zip(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as zf:
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": on purpose
        for info, data in entries:
            zf.writestr(info, data)
    return path


def _info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    return info


def _mark_encrypted(path: Path, name: str) -> None:
    """Set the 'encrypted' bit of entry ``name`` (zipfile cannot write encrypted entries)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        local = zf.getinfo(name).header_offset
    data[local + 6] |= 0x1  # local file header: general-purpose flags at offset 6
    central = data.index(b"PK\x01\x02", local)
    while data[central + 46:central + 46 + len(name)] != name.encode():
        central = data.index(b"PK\x01\x02", central + 4)
    data[central + 8] |= 0x1  # central directory: flags at offset 8
    path.write_bytes(bytes(data))


def _broken_crc(path: Path, marker: bytes) -> None:
    """Corrupt the stored bytes of the entry holding ``marker`` (its CRC no longer matches)."""
    data = path.read_bytes()
    at = data.index(marker)
    path.write_bytes(data[:at] + marker.lower() + data[at + len(marker):])


def test_a_266_byte_file_name_in_a_canvas_zip_is_graded_not_fatal(tmp_path: Path) -> None:
    long_name = f"{LONG}_12345_678901_{NB}"
    assert len(long_name.encode()) == 266
    archive = _zip(tmp_path / "canvas.zip", [(long_name, NOTEBOOK_JSON),
                                             (f"roe_23456_678902_{NB}", NOTEBOOK_JSON)])
    intake = collect(archive, CHAPTER, [NB], staging=tmp_path / "staging")
    assert set(intake.submissions) == {"12345", "23456"}
    assert intake.submissions["12345"].notebooks[NB].read_bytes() == NOTEBOOK_JSON
    assert intake.submissions["12345"].sources[NB] == f"canvas.zip!/{long_name}"
    assert all(r.taken for r in intake.records) and len(intake.records) == 2


def test_a_long_name_in_a_moodle_folder_zip(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "moodle.zip", [
        (f"Jane Doe_101_assignsubmission_file_/{'b' * 250}.ipynb", NOTEBOOK_JSON)])
    intake = collect(archive, CHAPTER, [NB], staging=tmp_path / "staging")
    assert intake.naming == "moodle" and intake.submissions["101"].notebooks
    assert "renamed" in intake.submissions["101"].notes[0]


def test_no_entry_of_a_zip_stops_the_batch(tmp_path: Path) -> None:
    """Each bad entry is left out with its own reason; the good ones are collected."""
    archive = _zip(tmp_path / "hostile.zip", [
        (f"{LONG}_1_10_{NB}", NOTEBOOK_JSON),
        (_info(f"link_2_20_{NB}", stat.S_IFLNK | 0o777), b"/etc/passwd"),
        (_info(f"device_3_30_{NB}", stat.S_IFCHR | 0o600), b""),
        (f"locked_4_40_{NB}", b"ciphertext"),
        (f"crc_5_50_{NB}", b"THIS ENTRY WILL BE DAMAGED" + NOTEBOOK_JSON),
        ("/abs_6_60_x.ipynb", NOTEBOOK_JSON),
        (f"twice_7_70_{NB}", NOTEBOOK_JSON),
        (f"twice_7_70_{NB}", NOTEBOOK_JSON + b" "),
        (f"good_8_80_{NB}", NOTEBOOK_JSON),
    ])
    _broken_crc(archive, b"WILL BE DAMAGED")
    _mark_encrypted(archive, f"locked_4_40_{NB}")
    intake = collect(archive, CHAPTER, [NB], staging=tmp_path / "staging")
    reasons = {r.path.split("!/", 1)[1]: r.reason for r in intake.records if not r.taken}
    assert "symbolic link" in reasons[f"link_2_20_{NB}"]
    assert "not a regular file" in reasons[f"device_3_30_{NB}"]
    assert "encrypted" in reasons[f"locked_4_40_{NB}"]
    assert "cannot be extracted" in reasons[f"crc_5_50_{NB}"]
    assert "unsafe path" in reasons["/abs_6_60_x.ipynb"]
    assert set(intake.submissions) == {"1", "7", "8"}
    assert len(intake.records) == 9  # every entry, the duplicated name twice
    assert [r.taken for r in intake.records if "twice" in r.path].count(True) == 1


def test_a_zip_in_nbgrader_layout_with_unsafe_and_linked_entries(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "submitted.zip", [
        (f"alice/{CHAPTER}/{NB}", NOTEBOOK_JSON), ("../escape.ipynb", NOTEBOOK_JSON),
        ("/etc/cron.d/x", b"* * * * * root true"),
        (_info(f"bob/{CHAPTER}", stat.S_IFLNK | 0o777), b"/etc"),
        (f"carol/{CHAPTER}/{LONG}{NB}", NOTEBOOK_JSON)])
    intake = collect(archive, CHAPTER, [NB], staging=tmp_path / "staging")
    assert intake.naming == "nbgrader"
    assert set(intake.submissions) == {"alice", "bob", "carol"}
    assert "symbolic link" in intake.submissions["bob"].problem
    assert intake.submissions["carol"].notebooks  # renamed, its long name no problem
    reasons = {r.path.split("!/", 1)[1]: r.reason for r in intake.left_out}
    assert "unsafe path" in reasons["../escape.ipynb"] and "unsafe" in reasons["/etc/cron.d/x"]
    assert len(intake.records) == 5 and not (tmp_path / "escape.ipynb").exists()


def test_entries_past_the_archive_limit_are_summed_up(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from rnnkit.grading import intake as intake_mod

    monkeypatch.setattr(intake_mod, "MAX_ARCHIVE_FILES", 2)
    archive = _zip(tmp_path / "many.zip", [(f"s_{i}_1_{NB}", NOTEBOOK_JSON) for i in range(5)])
    intake = collect(archive, CHAPTER, [NB], staging=tmp_path / "staging")
    assert len(intake.submissions) == 2
    assert "only the first 2 are read" in intake.left_out[-1].reason
    assert "entries 3 to 5" in intake.left_out[-1].path


def test_a_chapter_folder_that_is_a_link_a_file_or_a_fifo_is_a_missing_student(
        tmp_path: Path) -> None:
    src = tmp_path / "submitted"
    _write(src, {f"alice/{CHAPTER}/{NB}": NOTEBOOK_JSON, f"carol/{CHAPTER}": NOTEBOOK_JSON,
                 "zoe/02_markov_chains/02_markov_chains.ipynb": NOTEBOOK_JSON})
    (src / "bob").mkdir()
    (src / "bob" / CHAPTER).symlink_to(src / "alice" / CHAPTER)
    (src / "dan").mkdir()
    os.mkfifo(src / "dan" / CHAPTER)
    (src / "empty").mkdir()
    intake = collect(src, CHAPTER, [NB])
    subs = intake.submissions
    assert set(subs) == {"alice", "bob", "carol", "dan"}  # zoe handed in another chapter only
    assert "symbolic link" in subs["bob"].problem and not subs["bob"].notebooks
    assert "is a file" in subs["carol"].problem
    assert "fifo" in subs["dan"].problem
    reasons = {r.path: (r.student, r.reason) for r in intake.records if not r.taken}
    assert reasons[f"bob/{CHAPTER}"][0] == "bob" and "not followed" in reasons[f"bob/{CHAPTER}"][1]
    assert "empty folder" in reasons["empty/"][1]
    assert "another chapter" in reasons["zoe/02_markov_chains/"][1]
    assert _accounted(intake, src) == set()


def test_an_unreadable_folder_is_recorded_and_the_rest_collected(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "submitted"
    _write(src, {f"alice/{CHAPTER}/{NB}": NOTEBOOK_JSON, f"bob/{CHAPTER}/{NB}": NOTEBOOK_JSON,
                 f"carol/{CHAPTER}/sub/{NB}": NOTEBOOK_JSON})
    real = os.scandir
    blocked = {str(src / "bob" / CHAPTER), str(src / "carol" / CHAPTER / "sub")}

    def scandir(path: str | os.PathLike[str]) -> object:
        if str(path) in blocked:  # root reads everything: an I/O error, simulated
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    intake = collect(src, CHAPTER, [NB])
    assert intake.submissions["alice"].notebooks
    assert "cannot be read" in intake.submissions["bob"].problem
    reasons = {r.path: r.reason for r in intake.left_out}
    assert "Permission denied" in reasons[f"carol/{CHAPTER}/sub"]
    assert "no notebook" in intake.submissions["carol"].problem


def test_names_with_control_characters_or_bad_bytes_are_recorded_printably(
        tmp_path: Path) -> None:
    src = tmp_path / "submitted"
    folder = src / "alice" / CHAPTER
    folder.mkdir(parents=True)
    (folder / NB).write_bytes(NOTEBOOK_JSON)
    (folder / "evil\x1b[31m\u202egpj.txt").write_text("x")
    os.close(os.open(os.fsencode(folder) + b"/bad\xff.py", os.O_CREAT | os.O_WRONLY))
    intake = collect(src, CHAPTER, [NB])
    paths = sorted(r.path for r in intake.left_out)
    assert paths == [f"alice/{CHAPTER}/bad\\xff.py", f"alice/{CHAPTER}/evil[31mgpj.txt"]
    csv_path = tmp_path / "intake.csv"
    from rnnkit.grading.outputs import write_intake_csv

    write_intake_csv(csv_path, RunSummary(CHAPTER, tmp_path, intake, {}))
    assert "\x1b" not in csv_path.read_text(encoding="utf-8")


def _stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def test_a_deep_folder_is_walked_without_recursion(tmp_path: Path) -> None:
    src = tmp_path / "submitted"
    deep = src / "alice" / CHAPTER / "/".join(["d"] * 300)
    deep.mkdir(parents=True)
    (deep / "x.txt").write_text("x")
    (src / "alice" / CHAPTER / NB).write_bytes(NOTEBOOK_JSON)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(_stack_depth() + 100)  # a walk that recursed per level would fail
    try:
        intake = collect(src, CHAPTER, [NB])
    finally:
        sys.setrecursionlimit(limit)
    assert intake.submissions["alice"].notebooks
    assert any(r.path.endswith("/x.txt") for r in intake.left_out)


@pytest.mark.parametrize(("data", "expected"), [
    (b"", "empty"),
    (b"   \n", "empty"),
    (NOTEBOOK_JSON.replace(b"{", b"{\0", 1), "null bytes"),
    (b'{"cells": [', "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"hello": 1}', "not a Jupyter notebook"),
    (b'{"nbformat": 2, "worksheets": []}', "too old"),
    (b'{"nbformat": 4, "cells": {}}', "no list of cells"),
])
def test_unreadable_notebooks_are_named(data: bytes, expected: str) -> None:
    assert expected in notebook_problem(data)


def test_a_readable_notebook_has_no_problem() -> None:
    assert notebook_problem(NOTEBOOK_JSON) is None
    v3 = nbformat.writes(nbformat.convert(nbformat.v4.new_notebook(), 3), version=3)
    assert notebook_problem(v3.encode()) is None


# -- feedback ------------------------------------------------------------------------------------
HIDDEN_SOURCE = """check_close(f(1), 2, "f(1)")
### BEGIN HIDDEN TESTS
secret_input = [3, 1, 4, 1, 5, 9, 2, 6]
check_close(f(secret_input), 31, "f of the secret list")
### END HIDDEN TESTS
"""


def _test_cell(outputs: list[dict]) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(HIDDEN_SOURCE)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "f_tests", "points": 1,
                                 "solution": False, "locked": True}
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def test_hidden_test_failures_show_their_message_only() -> None:
    traceback = ["\x1b[0;31mAssertionError\x1b[0m Traceback (most recent call last)",
                 "Cell In[7], line 4\n----> 4 check_close(f(secret_input), 31, ...)",
                 "\x1b[0;31mAssertionError\x1b[0m: f of the secret list is 30; expected 31"]
    cell = _test_cell([
        {"output_type": "stream", "name": "stdout",
         "text": "debug\nsecret_input = [3, 1, 4, 1, 5, 9, 2, 6]\n"},
        {"output_type": "error", "ename": "AssertionError",
         "evalue": "f of the secret list is 30; expected 31", "traceback": traceback},
    ])
    student = nbformat.v4.new_code_cell("# my notes: ### BEGIN HIDDEN TESTS\nx = 1")
    nb = nbformat.v4.new_notebook(cells=[student, cell])
    nb, _ = HideHiddenTests().preprocess(nb, {})
    outputs = nb.cells[1].outputs
    assert outputs[0].text == "debug\n"
    assert outputs[1].traceback == ["AssertionError: f of the secret list is 30; expected 31"]
    assert "BEGIN HIDDEN TESTS" not in nb.cells[0].source  # defused for ClearHiddenTests
    from nbgrader.preprocessors import ClearHiddenTests

    nb, _ = ClearHiddenTests().preprocess(nb, {})
    assert "secret_input" not in nbformat.writes(nb)


def test_feedback_preprocessors_keep_the_course_order() -> None:
    configured = ["nbgrader.preprocessors.GetGrades", "nbgrader.preprocessors.ClearHiddenTests",
                  "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]
    names = [p if isinstance(p, str) else p.__name__ for p in feedback_preprocessors(configured)]
    assert names[1] == "HideHiddenTests" and names[2].endswith("ClearHiddenTests")
    assert names[-1] == "SafeOutputs"
    bare = [p if isinstance(p, str) else p.__name__ for p in feedback_preprocessors([])]
    assert bare == ["GetGrades", "HideHiddenTests", "ClearHiddenTests", "SafeOutputs"]


def test_failure_page_says_why() -> None:
    page = failure_page("dave", CHAPTER, "invalid", "the file is <empty>", 9)
    assert "the file is &lt;empty&gt;" in page and "0 of 9" in page


# -- grades.csv and the report -------------------------------------------------------------------
EXERCISES = [("01_a_tests", 2.0), ("01_b_tests", 1.0)]


def _table() -> list[StudentRow]:
    return [
        StudentRow("ann", "graded", 3, 3, {"01_a_tests": 2, "01_b_tests": 1}),
        StudentRow("bo", "graded", 2, 3, {"01_a_tests": 2, "01_b_tests": 0},
                   failures={"01_b_tests": "AssertionError: b is 0; expected 1"},
                   flags=[{"pattern": "module_patch", "description": "changes numpy",
                           "cell": 3, "line": 1, "code": "np.allclose = f"}]),
        StudentRow("cy", "graded", 0, 3, {"01_a_tests": 0, "01_b_tests": 0},
                   failures={"01_a_tests": "NotImplementedError",
                             "01_b_tests": "AssertionError: b is 0; expected 1"}),
        StudentRow("di", "invalid", 0, 3, {"01_a_tests": 0, "01_b_tests": 0},
                   reason="the file is empty"),
    ]


def test_grades_csv_has_a_row_per_student_and_a_column_per_exercise(tmp_path: Path) -> None:
    path = tmp_path / "grades.csv"
    write_grades_csv(path, _table(), EXERCISES)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["student", "status", "score", "max_score", "01_a", "01_b",
                             "flags", "reason"]
    assert [(r["student"], r["status"], r["score"]) for r in rows] == [
        ("ann", "graded", "3"), ("bo", "graded", "2"), ("cy", "graded", "0"),
        ("di", "invalid", "0")]
    assert rows[1]["flags"] == "module_patch" and rows[3]["reason"] == "the file is empty"


@pytest.mark.parametrize(("value", "shown"), [
    ("=HYPERLINK(\"http://evil\",\"x\")", "'=HYPERLINK(\"http://evil\",\"x\")"),
    ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1+1", "' =1+1"),  # a tab before the = still starts a formula
    ("-0.5", "-0.5"),  # a number stays a number
    ("ann\x1b[31m\u202e\x00", "ann[31m"),
    ("line one\r\nline two", "line one line two"),
    ("bad\udcffname", "bad\\xffname"),
])
def test_csv_cells_are_printable_and_never_formulas(value: str, shown: str) -> None:
    from rnnkit.grading.outputs import cell

    assert cell(value) == shown


def test_grades_csv_neutralises_ids_and_reasons_from_file_names(tmp_path: Path) -> None:
    path = tmp_path / "grades.csv"
    write_grades_csv(path, [
        StudentRow("=1+1", "graded", -0.5, 3, {"01_a_tests": -0.5}, reason="@evil\x1b[2J"),
        StudentRow("-cmd", "missing", 0, 3, notes=["graded =x.ipynb as 01.ipynb (renamed)"],
                   limits=["cell 3 hit the cell timeout (120 s)"]),
    ], EXERCISES)
    text = path.read_text(encoding="utf-8")
    assert "\x1b" not in text
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["student"] for r in rows] == ["'=1+1", "'-cmd"]
    assert rows[0]["score"] == "-0.5" and rows[0]["01_a"] == "-0.5"
    assert rows[0]["reason"] == "'@evil[2J"
    assert rows[1]["reason"] == ("graded =x.ipynb as 01.ipynb (renamed); cell 3 hit the cell "
                                 "timeout (120 s)")


def test_intake_csv_neutralises_file_names(tmp_path: Path) -> None:
    from rnnkit.grading.intake import FileRecord
    from rnnkit.grading.outputs import write_intake_csv

    intake = Intake(tmp_path, "nbgrader", {}, [
        FileRecord("=cmd|' /C calc'!A0.ipynb", None, False, "not in a folder")])
    path = tmp_path / "intake.csv"
    write_intake_csv(path, RunSummary(CHAPTER, tmp_path, intake, {}))
    with path.open(newline="") as f:
        assert next(csv.DictReader(f))["file"] == "'=cmd|' /C calc'!A0.ipynb"


def test_report_statistics() -> None:
    table = _table()
    assert failure_counts(table)[0] == ("AssertionError: b is 0; expected 1", ["01_b"], 2)
    assert pass_rates(table, EXERCISES) == [("01_a", 2 / 3, 3), ("01_b", 1 / 3, 3)]


def test_report_has_three_figures_and_the_cases_to_review(tmp_path: Path) -> None:
    from rnnkit.grading.intake import FileRecord, Intake

    intake = Intake(tmp_path, "nbgrader", {r.student: None for r in _table()},
                    [FileRecord("x/notes.pdf", "bo", False, "not a notebook of the chapter")])
    entries = {r.student: Entry("fp", r.status) for r in _table()}
    summary = RunSummary(CHAPTER, tmp_path, intake, entries, exercises=EXERCISES)
    path = tmp_path / "report.html"
    write_report(path, summary, _table())
    page = path.read_text()
    assert len(re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', page)) == 3
    for text in ("Score distribution", "Pass rate per exercise", "Most common failure",
                 "module_patch", "the file is empty", "x/notes.pdf",
                 "AssertionError: b is 0; expected 1"):
        assert text in page, text
