"""rnnkit.earlier: a later chapter takes the student's own function, or says why it does not."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from rnnkit import reference
from rnnkit.earlier import choose, use_earlier
from rnnkit.paths import chapters, notebook_path
from rnnkit.release import reference_text

REPO = Path(__file__).resolve().parents[1]


def _course(tmp_path: Path, folder: str, chapter: str = "01_sequences") -> Path:
    """A course folder with ``chapter`` copied from ``folder``; returns a sibling chapter dir."""
    shutil.copytree(REPO / folder / chapter, tmp_path / chapter)
    later = tmp_path / "99_later"
    later.mkdir()
    return later


def test_a_finished_chapter_gives_the_students_own_function(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    later = _course(tmp_path, "solutions")
    make_windows = use_earlier("01_sequences", "make_windows", folder=later)
    assert make_windows is not reference.load("01_sequences").make_windows
    assert make_windows.__module__ == "rnnkit_earlier_01_sequences"
    X, y = make_windows([0.0, 1.0, 2.0, 3.0], 2)
    assert X.tolist() == [[0.0, 1.0], [1.0, 2.0]] and y.tolist() == [2.0, 3.0]
    assert capsys.readouterr().out == (
        "Using your make_windows from 01_sequences (its tests pass).\n")


def test_an_unfinished_or_missing_chapter_falls_back_to_the_reference(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    later = _course(tmp_path, "course")
    (choice,) = choose("01_sequences", "make_windows", folder=later)
    assert not choice.yours and choice.value is reference.load("01_sequences").make_windows
    assert choice.line() == ("Using rnnkit's reference make_windows: yours in 01_sequences is "
                             "not written yet.")
    (choice,) = choose("03_rnn", "rnn_step", folder=later)
    assert "there is no" in choice.reason and "03_rnn/03_rnn.ipynb" in choice.reason


def test_a_function_that_fails_its_tests_is_not_used(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    later = _course(tmp_path, "solutions")
    path = notebook_path(tmp_path, "", "01_sequences")
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                == "01_make_windows")
    cell.source = "def make_windows(series, window, horizon=1):\n    return None, None\n"
    nbformat.write(nb, path)
    first, second = choose("01_sequences", "make_windows", "one_hot", folder=later)
    assert not first.yours and first.reason.startswith("yours in 01_sequences fails its tests (")
    assert second.yours  # the other exercises are still the student's


def test_grading_always_uses_the_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    later = _course(tmp_path, "solutions")
    (choice,) = choose("01_sequences", "one_hot", folder=later)
    assert not choice.yours and "grading" in choice.reason


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="has no exercise named rnn_stp"):
        choose("03_rnn", "rnn_stp")
    with pytest.raises(ValueError, match="expects the names"):
        choose("03_rnn")


@pytest.mark.parametrize("chapter", chapters(REPO))
def test_the_reference_modules_are_generated_from_the_solutions(chapter: str) -> None:
    path = REPO / "src" / "rnnkit" / "reference" / f"{reference.module_name(chapter)}.py"
    assert path.is_file(), f"{path} is missing: run `rnnkit release {chapter}`"
    fresh = path.read_text() == reference_text(REPO, chapter)  # no big-string diff below
    assert fresh, f"{path} is stale: run `rnnkit release {chapter}`"
