"""The release pipeline: course/ is in sync, holds no solutions or hidden tests, detects drift."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnkit import release
from rnnkit.cli import main
from rnnkit.paths import chapters, notebook_path
from rnnkit.release import ANSWERS_STUB

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = chapters(REPO)


@pytest.mark.slow
def test_course_is_in_sync_with_solutions(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(repo), "release", "--check"]) == 0, capsys.readouterr().out


@pytest.mark.slow
def test_check_lists_a_stale_chapter_and_changes_nothing(course_copy: Path) -> None:
    chapter = CHAPTERS[0]
    src = notebook_path(course_copy, "solutions", chapter)
    src.write_text(src.read_text().replace("## 1.1 ", "## 1.1 (edited) ", 1))
    committed = notebook_path(course_copy, "course", chapter).read_bytes()
    (course_copy / "course" / chapter / "stray.txt").write_text("x")
    stale = [s for s in release.check(course_copy, [chapter]) if s.stale]
    assert [s.chapter for s in stale] == [chapter]
    assert stale[0].changed == [f"{chapter}.ipynb"]
    assert stale[0].extra == ["stray.txt"]
    assert notebook_path(course_copy, "course", chapter).read_bytes() == committed


@pytest.mark.slow
def test_release_is_byte_identical_when_run_twice(course_copy: Path) -> None:
    release.release(course_copy, CHAPTERS)
    first = {c: notebook_path(course_copy, "course", c).read_bytes() for c in CHAPTERS}
    release.release(course_copy, CHAPTERS)
    assert first == {c: notebook_path(course_copy, "course", c).read_bytes() for c in CHAPTERS}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_release_has_no_solutions_hidden_tests_or_outputs(repo: Path, chapter: str) -> None:
    nb = json.loads(notebook_path(repo, "course", chapter).read_text())
    text = json.dumps(nb)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"course/{chapter} contains {marker!r}"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    answers = [c for c in nb["cells"] if "answers" in c.get("metadata", {}).get("tags", [])]
    source = json.loads(notebook_path(repo, "solutions", chapter).read_text())
    assert len(answers) == sum("answers" in c.get("metadata", {}).get("tags", [])
                               for c in source["cells"])
    for cell in answers:  # the model answers stay in solutions/
        assert "".join(cell["source"]) == ANSWERS_STUB, f"course/{chapter} shows model answers"
