"""Real nbgrader round trip: solutions score full marks, the release 0, one bug loses its points."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from rnnkit.nbgrader_api import ensure_success, load_config, make_api
from rnnkit.paths import chapters, notebook_path
from submissions import exercises, filled_release, submit

pytestmark = pytest.mark.slow
CHAPTERS = chapters(Path(__file__).resolve().parents[1])


def _grades(root: Path, chapter: str, student: str) -> dict[str, tuple[float, float]]:
    from nbgrader.api import Gradebook

    config = load_config(root)
    with Gradebook(config.CourseDirectory.db_url, "rnnkit") as gb:
        nb = gb.find_submission_notebook(chapter, chapter, student)
        return {g.name: (g.score, g.max_score) for g in nb.grades if g.cell_type == "code"}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_round_trip(course_copy: Path, chapter: str) -> None:
    root = course_copy
    api = make_api(load_config(root))
    ensure_success(api.generate_assignment(chapter, force=True, create=True), "release")

    students = {"solution": nbformat.read(notebook_path(root, "solutions", chapter), as_version=4),
                "untouched": nbformat.read(notebook_path(root, "course", chapter), as_version=4)}
    graded = exercises(root, chapter)
    assert graded, f"{chapter} has no graded exercises"
    for gid in graded:
        students[f"wrong-{gid}"] = filled_release(root, chapter, leave_out=frozenset({gid}))
    for student, nb in students.items():
        submit(root, student, chapter, nb)
        ensure_success(api.autograde(chapter, student, force=True, create=True),
                       f"autograde {student}")

    full = _grades(root, chapter, "solution")
    assert set(full) == {f"{g}_tests" for g in graded}
    assert all(score == top > 0 for score, top in full.values()), full
    assert all(score == 0 for score, _ in _grades(root, chapter, "untouched").values())
    for gid in graded:
        got = _grades(root, chapter, f"wrong-{gid}")
        lost = {name for name, (score, top) in got.items() if score < top}
        assert lost == {f"{gid}_tests"}, f"leaving {gid} unsolved lost points in {sorted(lost)}"
        assert got[f"{gid}_tests"][0] == 0
