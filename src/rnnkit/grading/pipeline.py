"""``rnnkit grade``: intake, parallel grading, the gradebook, feedback and the class report.

The flow of one run::

    intake.collect            every file of SOURCE taken or left out, with the reason
    gradebook.sync_assignment the class gradebook learns the chapter from solutions/
    state (manifest.json)     up-to-date submissions are skipped (resume, idempotence)
    executor.submit(grade_one, job)   in parallel, one private nbgrader course per job
    _record (parent, serial)  autograded/ and feedback/ files, gradebook import, manifest
    outputs / report          grades.csv, intake.csv, report.html

``grade_one`` is the only thing the executor runs, and a ``GradeJob`` carries all it
needs, so any ``concurrent.futures.Executor`` whose workers are processes (a cluster's
included) can replace the local process pool: pass ``executor_factory``.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..nbgrader_api import load_config
from ..paths import CourseError, resolve_chapters
from . import intake as intake_mod
from .gradebook import graded_cells, graded_students, import_result, scores, sync_assignment
from .state import GRADER_VERSION, Entry, RunState, fingerprint
from .worker import GradeJob, GradeResult, grade_one

DEFAULT_TIME_LIMIT = 600.0
#: Modules the worker processes import once (forkserver preload), not once per job.
PRELOAD = ["rnnkit.grading.worker", "rnnkit.grading.feedback", "rnnkit.grading.kernelclient",
           "rnnkit.grading.hardening", "nbgrader.converters", "nbgrader.preprocessors",
           "nbconvert.exporters"]


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
    max_file_bytes: int = intake_mod.DEFAULT_MAX_FILE_BYTES
    progress: bool = True
    feedback: bool = True


@dataclass
class RunSummary:
    """What a run did, and where its outputs are."""

    chapter: str
    out_dir: Path
    intake: intake_mod.Intake
    entries: dict[str, Entry]
    graded: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    exercises: list[tuple[str, float]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """``status -> students`` over the students of this run's source."""
        out: dict[str, int] = {}
        for student in self.intake.submissions:
            entry = self.entries.get(student)
            status = entry.status if entry else "not graded"
            out[status] = out.get(status, 0) + 1
        return out


ExecutorFactory = Callable[[int], cf.Executor]


def run(
    root: Path,
    options: GradeOptions,
    *,
    executor_factory: ExecutorFactory | None = None,
    grade: Callable[[GradeJob], GradeResult] = grade_one,
    echo: Callable[[str], None] = print,
) -> RunSummary:
    """Grade ``options.chapter`` for a whole class; see the module docstring."""
    if executor_factory is None:
        warm_up_workers()  # their imports run while this process reads and syncs
    found = resolve_chapters(root, [options.chapter])
    if len(found) != 1:
        raise CourseError(f"{options.chapter!r} names {len(found)} chapters: give one")
    chapter = found[0]
    config = _config(root, options)
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

    snapshot = sync_assignment(root, chapter, config)
    snapshot_path = out_dir / ".staging" / "assignment.db"
    snapshot_path.parent.mkdir(parents=True, exist_ok=True)
    snapshot_path.write_bytes(snapshot)
    cells = graded_cells(snapshot_path, chapter, cd.course_id)
    exercises = [cell for nb in sorted(cells) for cell in cells[nb]]
    key = _assignment_key(cells, snapshot_path, chapter, cd.course_id, config, options)
    state = RunState.load(out_dir / "manifest.json", key, cd.db_url)
    in_gradebook = graded_students(config, chapter)
    release = root / "course" / chapter / f"{chapter}.ipynb"

    summary = RunSummary(chapter, out_dir, taken, state.students, exercises=exercises)
    base = GradeJob(  # what every student's job shares
        student="", chapter=chapter, course_id=cd.course_id, notebooks={}, gradebook=snapshot,
        config=config, source_files=_source_files(root, chapter, config),
        reference=release.read_bytes() if release.is_file() else None,
        time_limit=options.time_limit, feedback=options.feedback)
    # the workers' private folders live here, so an interrupted run leaves nothing behind
    scratch = tempfile.mkdtemp(prefix="rnnkit-grade-")
    try:
        jobs: list[GradeJob] = []
        pending: dict[str, tuple[str, list[str]]] = {}  # student -> (fingerprint, notes)
        for student, sub in sorted(taken.submissions.items()):
            if options.students and student not in options.students:
                continue
            data = {name: path.read_bytes() for name, path in sub.notebooks.items()}
            timestamp, notes = _timestamp(sub)
            fp = fingerprint([*data.items(), ("timestamp", (timestamp or "").encode())])
            old = state.students.get(student)
            if (not options.force and not options.students and old is not None
                    and old.fingerprint == fp and student in in_gradebook):
                summary.up_to_date.append(student)
            elif sub.problem and not data:
                result = GradeResult(student, "missing", sub.problem, notes=[*sub.notes, *notes])
                _record(root, config, chapter, result, fp, state, exercises)
                summary.graded.append(student)
            else:
                jobs.append(replace(
                    base, student=student, notebooks=data, timestamp=timestamp,
                    other_files=tuple(sub.other_files), scratch=scratch))
                pending[student] = (fp, [*sub.notes, *notes])

        workers = max(1, options.workers or os.cpu_count() or 1)
        if jobs:
            echo(f"rnnkit: grading {len(jobs)} submissions of {chapter} with "
                 f"{min(workers, len(jobs))} workers{'' if options.sandbox else ' (NO SANDBOX)'}"
                 + (f"; {len(summary.up_to_date)} already graded" if summary.up_to_date else ""))
        factory = executor_factory or functools.partial(process_pool,
                                                        log=out_dir / "workers.log")
        results = _execute(jobs, grade, workers, factory, options.progress, chapter)
        try:
            for result in results:
                fp, notes = pending[result.student]
                result.notes = [*notes, *result.notes]
                _record(root, config, chapter, result, fp, state, exercises)
                summary.graded.append(result.student)
        finally:
            results.close()  # after an interrupt here: stops the workers and their kernels now
    finally:
        _rmtree(Path(scratch))

    from .outputs import write_outputs

    summary.files = write_outputs(summary, scores(config, chapter), root)
    shutil.rmtree(out_dir / ".staging", ignore_errors=True)
    return summary


# -- configuration -------------------------------------------------------------------------------
def _config(root: Path, options: GradeOptions) -> Any:
    """The course's nbgrader config, plus the sandbox and the hardened executor."""
    overrides = {"db_url": options.db_url} if options.db_url else {}
    config = load_config(root, **overrides)
    cell_seconds = options.cell_timeout or int(config.Execute.get("timeout", 120) or 120)
    config.Execute.timeout = cell_seconds
    # see kernelclient.py: a lost wake-up otherwise stalls a cell for its whole timeout
    config.AsyncKernelManager.client_class = "rnnkit.grading.kernelclient.SlicedPollKernelClient"
    try:
        from .sandbox import SandboxLimits, SandboxUnavailable, require_bwrap, sandbox_config
    except ImportError:
        if options.sandbox:
            raise CourseError("this rnnkit has no sandbox (rnnkit.grading.sandbox); pass "
                              "--no-sandbox only for code you trust") from None
        return config
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
    try:
        from .hardening import hardening_config
    except ImportError:
        return config
    config.merge(hardening_config(limits))
    return config


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
             ("limits", repr((options.time_limit, options.memory_bytes)).encode()),
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


# -- running the jobs ----------------------------------------------------------------------------
def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def warm_up_workers() -> None:
    """Start the fork server now: it imports nbgrader & co. once, for every worker."""
    ctx = _context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def process_pool(workers: int, log: Path | None = None) -> cf.Executor:
    """The default executor: a local process pool whose workers preload nbgrader.

    The workers' (and kernels') own stdout and stderr go to ``log`` when given, so they
    do not scramble the progress bar; what matters is in each result.
    """
    return cf.ProcessPoolExecutor(max_workers=workers, mp_context=_context(),
                                  initializer=_init_worker, initargs=(str(log or ""),))


def _init_worker(log: str = "") -> None:
    import warnings

    from sqlalchemy.exc import SAWarning

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt does
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # n kernels in parallel: no oversubscription
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's, not ours to fix
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        for target in (1, 2):
            os.dup2(fd, target)
        os.close(fd)
    trace = os.environ.get("RNNKIT_GRADE_TRACE_SECONDS")
    if trace:  # debugging a stuck grading: dump the workers' stacks to the log periodically
        import faulthandler

        faulthandler.dump_traceback_later(float(trace), repeat=True)


def _execute(jobs: list[GradeJob], grade: Callable[[GradeJob], GradeResult], workers: int,
             factory: ExecutorFactory, progress: bool, chapter: str,
             ) -> Generator[GradeResult, None, None]:
    """Results as they complete, with a progress bar and an ETA.

    A worker that dies (killed, out of memory) breaks the whole pool, and every job not
    finished fails with it. Those jobs are then graded again, each in a pool of its own
    (still ``workers`` at a time): one that breaks its own pool becomes an ``error``
    result, and the others are graded normally.
    """
    if not jobs:
        return
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread
    live: list[cf.Executor] = []
    with tqdm(total=len(jobs), desc=f"grading {chapter}", unit="nb", disable=not progress,
              file=sys.stderr, dynamic_ncols=True, smoothing=0.1) as bar:

        def done(job: GradeJob, result: GradeResult) -> GradeResult:
            bar.set_postfix_str(f"{job.student}: {result.status}", refresh=False)
            bar.update(1)
            return result

        broken: list[GradeJob] = []
        try:
            executor = factory(min(workers, len(jobs)))
            live.append(executor)
            futures = {executor.submit(grade, job): job for job in jobs}
            for future in cf.as_completed(futures):
                job = futures[future]
                try:
                    result = future.result()
                except cf.BrokenExecutor:
                    broken.append(job)
                    continue
                except Exception as err:  # grade() is not supposed to raise
                    result = GradeResult(job.student, "error", f"grading failed: {err}")
                yield done(job, result)
            executor.shutdown(wait=True)
            live.remove(executor)
            if broken:
                with cf.ThreadPoolExecutor(min(workers, len(broken))) as threads:
                    alone = {threads.submit(_alone, grade, job, factory, live): job
                             for job in broken}
                    for future in cf.as_completed(alone):
                        yield done(alone[future], future.result())
        except BaseException:
            for executor in list(live):
                _stop(executor)
            raise


def _alone(grade: Callable[[GradeJob], GradeResult], job: GradeJob, factory: ExecutorFactory,
           live: list[cf.Executor]) -> GradeResult:
    """Grade ``job`` in a pool of its own; a pool it breaks makes it an ``error``."""
    executor = factory(1)
    live.append(executor)
    try:
        return executor.submit(grade, job).result()
    except cf.BrokenExecutor:
        return GradeResult(job.student, "error", "the grading process died on this submission "
                           "(twice): it was killed, or ran out of memory")
    except Exception as err:
        return GradeResult(job.student, "error", f"grading failed: {err}")
    finally:
        executor.shutdown(wait=True)
        live.remove(executor)


def _stop(executor: cf.Executor) -> None:
    """Stop now: cancel what has not started, kill the workers and their kernels."""
    processes = dict(getattr(executor, "_processes", None) or {})
    executor.shutdown(wait=False, cancel_futures=True)
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with ipykernel
        return
    for pid in processes:
        try:
            proc = psutil.Process(pid)
            for child in proc.children(recursive=True):
                child.kill()
            proc.kill()
        except psutil.Error:
            continue


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
            _rmtree(folder)
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
        page = failure_page(student, chapter, result.status, result.reason or "unknown", top)
        if executed:  # graded, but nbgrader made no feedback page
            page = page.replace("could not be graded", "was graded; its feedback page failed")
        (feedback_dir / f"{chapter}.html").write_text(page)
    import_result(config, chapter, student, executed, result.timestamp)
    scores_ = {gid: [float(got), float(top)] for gid, (got, top) in result.scores.items()}
    for gid, top in exercises:
        scores_.setdefault(gid, [0.0, float(top)])
    state.record(student, Entry(
        fingerprint=fp, status=result.status, reason=result.reason, scores=scores_,
        failures=dict(result.failures), flags=list(result.flags), notes=list(result.notes),
        seconds=result.seconds))


def _rmtree(path: Path) -> None:
    def writable(func: Any, p: str, _exc: Any) -> None:
        try:
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    if "onexc" in shutil.rmtree.__code__.co_varnames:
        shutil.rmtree(path, onexc=writable)
    else:
        shutil.rmtree(path, onerror=writable)
