"""``rnnkit grade``: intake, parallel grading, the gradebook, feedback and the class report.

The flow of one run::

    intake.collect                  every file of SOURCE taken or left out, with the reason
    gradebook.assignment_snapshot   a gradebook with the chapter only, for the workers
    state (manifest.json)           up-to-date submissions are skipped (resume, idempotence)
    executor.Grading(jobs)          grade_one(job) in parallel, one private course per job
    gradebook.record_assignment     meanwhile the class gradebook learns the chapter
    _record (this process, serial)  autograded/ and feedback/ files, gradebook, manifest
    outputs / report                grades.csv, intake.csv, report.html

``grade_one`` is the only thing the workers run, and a ``GradeJob`` carries all it needs,
so any ``concurrent.futures.Executor`` whose workers are processes (a cluster's included)
can replace the local process pool: pass ``executor_factory``. Only this process writes
the class gradebook, one result at a time.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..nbgrader_api import load_config
from ..paths import CourseError, resolve_chapters
from . import intake as intake_mod
from .executor import ExecutorFactory, Grading, preload_also, process_pool, warm_up_workers
from .gradebook import (
    assignment_snapshot,
    graded_cells,
    graded_students,
    import_result,
    record_assignment,
    scores,
)
from .model import (
    DEFAULT_CELL_TIMEOUT,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_TIME_LIMIT,
    Entry,
    GradeJob,
    GradeResult,
    OutputCaps,
    RunSummary,
)
from .state import GRADER_VERSION, RunState, fingerprint
from .worker import grade_one, remove_tree


@dataclass
class GradeOptions:
    """What ``rnnkit grade`` was asked to do (see ``rnnkit grade --help``)."""

    chapter: str
    source: Path | None = None
    naming: str = "auto"
    pattern: str | None = None
    workers: int | None = None
    sandbox: bool = True
    db_url: str | None = None
    students: tuple[str, ...] = ()
    force: bool = False
    out: Path | None = None
    time_limit: float = DEFAULT_TIME_LIMIT
    cell_timeout: int | None = None  # default: the course config's Execute.timeout
    memory_bytes: int | None = None  # default: the sandbox's
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    caps: OutputCaps = field(default_factory=OutputCaps)
    progress: bool = True
    feedback: bool = True
    judge: bool = True  # test cells in a judge process (rnnkit.judge), not in the kernel


def run(
    root: Path,
    options: GradeOptions,
    *,
    executor_factory: ExecutorFactory | None = None,
    grade: Callable[[GradeJob], GradeResult] = grade_one,
    echo: Callable[[str], None] = print,
) -> RunSummary:
    """Grade ``options.chapter`` for a whole class; see the module docstring."""
    found = resolve_chapters(root, [options.chapter])
    if len(found) != 1:
        raise CourseError(f"{options.chapter!r} names {len(found)} chapters: give one")
    chapter = found[0]
    plan = _judge_plan(root / "solutions" / chapter / f"{chapter}.ipynb") if options.judge \
        else None
    if executor_factory is None:
        if plan is not None:
            preload_also(plan.modules())
        warm_up_workers()  # their imports run while this process reads and syncs
    config = _config(root, options)
    if plan is not None:
        config.HardenedExecute.judge_setup = plan.setup
        config.HardenedExecute.judge_names = list(plan.names)
        config.HardenedExecute.judge_in_kernel = list(plan.in_kernel)
    cd = config.CourseDirectory
    out_dir = Path(options.out) if options.out else root / "autograder" / "reports" / chapter
    out_dir.mkdir(parents=True, exist_ok=True)
    source = Path(options.source) if options.source else Path(cd.root) / cd.submitted_directory
    expected = sorted(p.name for p in (root / "solutions" / chapter).glob("*.ipynb"))
    taken = intake_mod.collect(source, chapter, expected, naming=options.naming,
                               pattern=options.pattern, staging=out_dir / ".staging",
                               max_file_bytes=options.max_file_bytes)
    unknown = [s for s in options.students if s not in taken.submissions]
    if unknown:
        raise CourseError(f"no submission from {', '.join(unknown)} in {source} "
                          f"({len(taken.submissions)} students found)")

    snapshot = assignment_snapshot(root, chapter, config)
    snapshot_path = out_dir / ".staging" / "assignment.db"
    snapshot_path.parent.mkdir(parents=True, exist_ok=True)
    snapshot_path.write_bytes(snapshot)
    cells = graded_cells(snapshot_path, chapter, cd.course_id)
    exercises = [cell for nb in sorted(cells) for cell in cells[nb]]
    key = _assignment_key(cells, snapshot_path, chapter, cd.course_id, config, options)
    state = RunState.load(out_dir / "manifest.json", key, cd.db_url)
    in_gradebook = graded_students(config, chapter)
    release = root / "course" / chapter / f"{chapter}.ipynb"

    summary = RunSummary(chapter, out_dir, taken, state.students, exercises=exercises,
                         sandbox=options.sandbox,
                         feedback_dir=Path(cd.root) / cd.feedback_directory)
    base = GradeJob(  # what every student's job shares
        student="", chapter=chapter, course_id=cd.course_id, notebooks={}, gradebook=snapshot,
        config=config, source_files=_source_files(root, chapter, config),
        reference=release.read_bytes() if release.is_file() else None,
        time_limit=options.time_limit, caps=options.caps, feedback=options.feedback)
    # the workers' private folders live here, so an interrupted run leaves nothing behind
    scratch = tempfile.mkdtemp(prefix="rnnkit-grade-")
    grading: Grading | None = None
    try:
        jobs, now, pending = _plan(taken, options, state, in_gradebook,
                                   replace(base, scratch=scratch), summary)
        workers = max(1, options.workers or os.cpu_count() or 1)
        if jobs:
            echo(f"rnnkit: grading {len(jobs)} submissions of {chapter} with "
                 f"{min(workers, len(jobs))} workers{'' if options.sandbox else ' (NO SANDBOX)'}"
                 + (f"; {len(summary.up_to_date)} already graded" if summary.up_to_date else ""))
        factory = executor_factory or functools.partial(process_pool,
                                                        log=out_dir / "workers.log")
        grading = Grading(jobs, grade, workers, factory, options.progress,
                          label=f"grading {chapter}")
        record_assignment(root, chapter, config)  # while the workers start
        for result, fp in now:
            _record(root, config, chapter, result, fp, state, exercises)
            summary.graded.append(result.student)
        for result in grading.results():
            fp, notes = pending[result.student]
            result.notes = [*notes, *result.notes]
            _record(root, config, chapter, result, fp, state, exercises)
            summary.graded.append(result.student)
    finally:
        if grading is not None:
            grading.close()  # after an interrupt: stops the workers and their kernels now
        remove_tree(Path(scratch))

    from .outputs import write_outputs

    summary.files = write_outputs(summary, scores(config, chapter))
    shutil.rmtree(out_dir / ".staging", ignore_errors=True)
    return summary


Plan = tuple[list[GradeJob], list[tuple[GradeResult, str]], dict[str, tuple[str, list[str]]]]


def _plan(taken: intake_mod.Intake, options: GradeOptions, state: RunState,
          in_gradebook: set[str], base: GradeJob, summary: RunSummary) -> Plan:
    """What to do for each student: skip (up to date), a result without grading, or a job.

    Returns the jobs, the results known without grading (with their fingerprints), and
    ``student -> (fingerprint, intake notes)`` for the jobs; skipped students go to
    ``summary.up_to_date``.
    """
    jobs: list[GradeJob] = []
    now: list[tuple[GradeResult, str]] = []
    pending: dict[str, tuple[str, list[str]]] = {}
    for student, sub in sorted(taken.submissions.items()):
        if options.students and student not in options.students:
            continue
        data: dict[str, bytes] = {}
        unreadable = ""
        for name, path in sub.notebooks.items():
            try:
                data[name] = path.read_bytes()
            except OSError as err:  # gone or unreadable since intake: this student only
                unreadable = f"{sub.sources.get(name, name)} cannot be read ({err.strerror or err})"
        timestamp, notes = _timestamp(sub)
        fp = fingerprint([*data.items(), ("timestamp", (timestamp or "").encode()),
                          ("problem", (unreadable or sub.problem or "").encode())])
        old = state.students.get(student)
        if (not options.force and not options.students and old is not None
                and old.fingerprint == fp and student in in_gradebook):
            summary.up_to_date.append(student)
        elif unreadable:
            now.append((GradeResult(student, "invalid", unreadable,
                                    notes=[*sub.notes, *notes]), fp))
        elif sub.problem and not data:
            now.append((GradeResult(student, "missing", sub.problem,
                                    notes=[*sub.notes, *notes]), fp))
        else:
            jobs.append(replace(base, student=student, notebooks=data, timestamp=timestamp,
                                other_files=tuple(sub.other_files)))
            pending[student] = (fp, [*sub.notes, *notes])
    return jobs, now, pending


# -- configuration -------------------------------------------------------------------------------
def _config(root: Path, options: GradeOptions) -> Any:
    """The course's nbgrader config, plus the sandbox and the hardened executor."""
    overrides = {"db_url": options.db_url} if options.db_url else {}
    config = load_config(root, **overrides)
    cell_seconds = options.cell_timeout or int(config.Execute.get("timeout") or
                                                DEFAULT_CELL_TIMEOUT)
    config.Execute.timeout = cell_seconds
    # see kernelclient.py: a lost wake-up otherwise stalls a cell for its whole timeout
    config.AsyncKernelManager.client_class = "rnnkit.kernelclient.GradingKernelClient"
    from .hardening import hardening_config
    from .sandbox import SandboxLimits, SandboxUnavailable, require_bwrap, sandbox_config

    extra = {"memory_bytes": options.memory_bytes} if options.memory_bytes else {}
    try:
        limits = SandboxLimits(notebook_seconds=float(options.time_limit),
                               cell_seconds=cell_seconds, **extra)
    except ValueError as err:
        raise CourseError(str(err)) from None
    if options.sandbox:
        try:
            require_bwrap()
        except SandboxUnavailable as err:
            raise CourseError(str(err)) from None
        config.merge(sandbox_config(limits))
    config.merge(hardening_config(limits))
    config.HardenedExecute.max_output_bytes = options.caps.cell_bytes
    config.HardenedExecute.max_notebook_output_bytes = options.caps.notebook_bytes
    return config


def _judge_plan(source: Path) -> Any:
    """The judge's set-up and names, from the instructor's notebook ``source``."""
    import json

    from rnnkit.judge.plan import judge_plan

    try:
        return judge_plan(json.loads(source.read_text(encoding="utf-8")))
    except (OSError, ValueError) as err:
        raise CourseError(f"cannot read {source} for the judge's set-up: {err}") from None


def _assignment_key(cells: dict[str, Any], snapshot: Path, chapter: str, course_id: str,
                    config: Any, options: GradeOptions) -> str:
    """Changes when anything that decides a score changes: tests, grader, sandbox, limits."""
    import nbgrader
    from nbgrader.api import Gradebook

    from .gradebook import quiet_sqlalchemy

    with quiet_sqlalchemy(), Gradebook(f"sqlite:///{snapshot}", course_id) as gb:
        sources = sorted((c.name, c.checksum or "") for nb in gb.find_assignment(chapter).notebooks
                         for c in nb.source_cells)
    parts = [("cells", repr(cells).encode()), ("sources", repr(sources).encode()),
             ("nbgrader", nbgrader.__version__.encode()), ("grader", GRADER_VERSION.encode()),
             ("sandbox", str(options.sandbox).encode()),
             ("judge", repr((options.judge, config.HardenedExecute.get("judge_setup", ""),
                             config.HardenedExecute.get("judge_names", []),
                             config.HardenedExecute.get("judge_in_kernel", []))).encode()),
             ("limits", repr((options.time_limit, options.memory_bytes, options.caps)).encode()),
             ("execute", repr(sorted((k, repr(v)) for k, v in config.Execute.items()
                                     if k != "skip_cells_with_tag")).encode()),
             ("autograde", repr(config.Autograde.get("autograde_preprocessors", "")).encode())]
    return fingerprint(parts)


def _source_files(root: Path, chapter: str, config: Any) -> dict[str, bytes]:
    """The chapter's non-notebook files that nbgrader copies over each submission."""
    from nbgrader.utils import find_all_files

    folder = root / "solutions" / chapter
    ignore = list(config.CourseDirectory.get("ignore", [])) or [
        ".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
    files = find_all_files(str(folder), [*ignore, "*.ipynb"])
    return {os.path.relpath(f, folder): Path(f).read_bytes() for f in files}


def _timestamp(sub: intake_mod.Submission) -> tuple[str | None, list[str]]:
    if not sub.timestamp:
        return None, []
    from nbgrader.utils import parse_utc

    try:
        parse_utc(sub.timestamp)
    except (ValueError, OverflowError):
        return None, [f"timestamp.txt unreadable ({sub.timestamp[:40]!r}): ignored"]
    return sub.timestamp, []


# -- recording one result (parent only) ----------------------------------------------------------
def _record(root: Path, config: Any, chapter: str, result: GradeResult, fp: str,
            state: RunState, exercises: list[tuple[str, float]]) -> None:
    """Write the student's autograded notebook and feedback, import the grades, save state."""
    import nbformat

    from .feedback import failure_page

    cd = config.CourseDirectory
    student = result.student
    graded_dir = Path(cd.root) / cd.autograded_directory / student / chapter
    feedback_dir = Path(cd.root) / cd.feedback_directory / student / chapter
    for folder in (graded_dir, feedback_dir):
        if folder.exists():
            remove_tree(folder)
    executed = {}
    if result.status in ("graded", "timeout") and result.notebooks:
        graded_dir.mkdir(parents=True)
        for name, data in result.notebooks.items():
            (graded_dir / name).write_bytes(data)
            executed[Path(name).stem] = nbformat.reads(data.decode("utf-8"), as_version=4)
    feedback_dir.mkdir(parents=True)
    if executed and result.feedback:
        for name, page in result.feedback.items():
            (feedback_dir / name).write_bytes(page)
    else:
        top = sum(m for _, m in exercises)
        reason = result.reason or ("; ".join(result.notes[-1:]) if executed else "") or "unknown"
        page = failure_page(student, chapter, result.status, reason, top,
                            result.score if executed else 0.0)
        (feedback_dir / f"{chapter}.html").write_text(page)
    if result.status in ("error", "timeout") and result.log:
        with open(state.path.parent / "errors.log", "a") as log:  # for the instructor
            log.write(f"===== {student}: {result.status}: {result.reason}\n{result.log}\n")
    import_result(config, chapter, student, executed, result.timestamp)
    scores_ = {gid: [float(got), float(top)] for gid, (got, top) in result.scores.items()}
    for gid, top in exercises:
        scores_.setdefault(gid, [0.0, float(top)])
    state.record(student, Entry(
        fingerprint=fp, status=result.status, reason=result.reason, scores=scores_,
        failures=dict(result.failures), flags=list(result.flags), notes=list(result.notes),
        limits=list(result.limits), seconds=result.seconds))
