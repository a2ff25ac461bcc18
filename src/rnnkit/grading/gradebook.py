"""The class gradebook: sync the assignment from solutions/, and import graded results.

Only the parent process writes the gradebook, one result at a time, the way nbgrader's
autograde does for one student: ``update_or_create_student``, ``update_or_create_submission``
(with the submission time), then nbgrader's own ``SaveAutoGrades`` and
``AssignLatePenalties`` preprocessors on the executed notebook. The workers get a
*snapshot*: a fresh SQLite gradebook that knows the assignment and nothing else.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..nbgrader_api import ensure_success, load_config, make_api


@contextlib.contextmanager
def quiet_sqlalchemy() -> Iterator[None]:
    """nbgrader's gradebook code trips SQLAlchemy's autoflush warning; not ours to fix."""
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        yield


def speed_up_new_gradebooks() -> None:
    """Read alembic's head revision in-process, once, instead of running ``alembic heads``.

    nbgrader runs the ``alembic`` command (about 3 s) each time it creates a gradebook;
    the value is a constant of the installed nbgrader. Falls back to nbgrader's way.
    """
    import nbgrader.api

    if getattr(nbgrader.api.get_alembic_version, "_rnnkit", False):
        return
    original = nbgrader.api.get_alembic_version

    @functools.cache
    def get_alembic_version() -> str:
        try:
            from alembic.script import ScriptDirectory
            from nbgrader.dbutil import ALEMBIC_DIR

            heads = ScriptDirectory(ALEMBIC_DIR).get_heads()
            if len(heads) == 1:
                return heads[0]
        except Exception:
            pass
        return original()

    get_alembic_version._rnnkit = True  # type: ignore[attr-defined]
    nbgrader.api.get_alembic_version = get_alembic_version


def record_assignment(root: Path, chapter: str, config: Any) -> None:
    """Make the class gradebook (``config``'s ``db_url``) know ``chapter`` as in solutions/.

    Runs ``nbgrader generate_assignment`` into a throw-away release folder.
    """
    _generate(root, chapter, config.CourseDirectory.db_url, config.CourseDirectory.course_id)


def assignment_snapshot(root: Path, chapter: str, config: Any) -> bytes:
    """A fresh SQLite gradebook that knows ``chapter`` and nothing else, for the workers."""
    with tempfile.TemporaryDirectory(prefix="rnnkit-snapshot-") as tmp:
        snapshot = Path(tmp) / "snapshot.db"
        _generate(root, chapter, f"sqlite:///{snapshot}", config.CourseDirectory.course_id)
        return snapshot.read_bytes()


def _generate(root: Path, chapter: str, db_url: str, course_id: str) -> None:
    from .metadata_schema import reuse_schema_checks

    speed_up_new_gradebooks()
    reuse_schema_checks()
    with tempfile.TemporaryDirectory(prefix="rnnkit-sync-") as tmp, quiet_sqlalchemy():
        cfg = load_config(root, release_directory=str(Path(tmp) / "release"), db_url=db_url,
                          course_id=course_id)
        ensure_success(make_api(cfg).generate_assignment(chapter, force=True, create=True),
                       f"record {chapter} in the gradebook ({_where(db_url)})")


def _where(db_url: str) -> str:
    return db_url.split("://", 1)[0] + "://…" if "@" in db_url else db_url


def graded_cells(
    snapshot_db: Path, chapter: str, course_id: str
) -> dict[str, list[tuple[str, float]]]:
    """``notebook -> [(grade_id, max score)]`` of the autograded cells, in notebook order."""
    from nbgrader.api import Gradebook

    with quiet_sqlalchemy(), Gradebook(f"sqlite:///{snapshot_db}", course_id) as gb:
        assignment = gb.find_assignment(chapter)
        out: dict[str, list[tuple[str, float]]] = {}
        for nb in assignment.notebooks:
            order = {c.name: i for i, c in enumerate(nb.source_cells)}
            cells = sorted(nb.grade_cells, key=lambda c: order.get(c.name, 1 << 30))
            out[nb.name] = [(c.name, float(c.max_score)) for c in cells]
        return out


def graded_students(config: Any, chapter: str) -> set[str]:
    """The students with a submission of ``chapter`` in the class gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    speed_up_new_gradebooks()  # this may create the class gradebook
    cd = config.CourseDirectory
    with quiet_sqlalchemy(), Gradebook(cd.db_url, cd.course_id) as gb:
        try:
            return {s.student.id for s in gb.find_assignment(chapter).submissions}
        except MissingEntry:
            return set()


def import_result(config: Any, chapter: str, student: str, executed: dict[str, Any],
                  timestamp: str | None) -> None:
    """Record one student's result in the class gradebook, as ``nbgrader autograde`` would.

    ``executed`` maps notebook ids to executed notebooks (nbformat nodes); notebooks of the
    assignment that are not in it (a submission that could not be graded) score 0.
    """
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades

    cd = config.CourseDirectory
    with quiet_sqlalchemy():
        with Gradebook(cd.db_url, cd.course_id) as gb:
            gb.update_or_create_student(student)
            if timestamp:
                gb.update_or_create_submission(chapter, student, timestamp=timestamp)
            else:
                gb.update_or_create_submission(chapter, student)
        for notebook_id, nb in executed.items():
            resources = {"nbgrader": {"notebook": notebook_id, "assignment": chapter,
                                      "student": student, "db_url": cd.db_url}}
            for cls in (SaveAutoGrades, AssignLatePenalties):
                cls(config=config).preprocess(nb, resources)
        with Gradebook(cd.db_url, cd.course_id) as gb:
            for notebook in gb.find_assignment(chapter).notebooks:
                if notebook.name in executed:
                    continue
                submitted = gb.find_submission_notebook(notebook.name, chapter, student)
                for grade in submitted.grades:
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
                submitted.late_submission_penalty = None
            gb.db.commit()


def scores(config: Any, chapter: str) -> dict[str, dict[str, float]]:
    """``student -> {grade_id: score}`` from the class gradebook (manual grades count)."""
    from nbgrader.api import Gradebook, MissingEntry

    cd = config.CourseDirectory
    out: dict[str, dict[str, float]] = {}
    with quiet_sqlalchemy(), Gradebook(cd.db_url, cd.course_id) as gb:
        try:
            submissions = gb.find_assignment(chapter).submissions
        except MissingEntry:
            return out
        for sub in submissions:
            row = out.setdefault(sub.student.id, {})
            for nb in sub.notebooks:
                for grade in nb.grades:
                    row[grade.name] = float(grade.score or 0.0)
                if nb.late_submission_penalty:
                    row["late_penalty"] = row.get("late_penalty", 0.0) + float(
                        nb.late_submission_penalty)
    return out
