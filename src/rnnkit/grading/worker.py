"""Grade one submission: a pure, picklable function, run by whatever executor the pipeline uses.

``grade_one(job)`` needs nothing but its ``GradeJob``: the notebook's bytes, the course's
nbgrader configuration (sandbox included), and a small SQLite gradebook that knows only
the assignment. In a private temporary folder it lays out an nbgrader course, runs
nbgrader's own ``Autograde`` converter (the sanitize and autograde preprocessors that
``nbgrader autograde`` runs, in the same order, with the same configuration), then
nbgrader's ``GenerateFeedback`` with hidden tests removed, and returns a ``GradeResult``
with the executed notebook, the scores, the feedback HTML and the integrity flags.

It never writes to the class gradebook (the parent imports results one at a time), never
reads ``solutions/``, never raises: every failure becomes a status and a reason.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from .model import BACKSTOP_SECONDS, GradeJob, GradeResult, MiB


def grade_one(job: GradeJob) -> GradeResult:
    """Grade ``job`` in a private folder; never raises (see the module docstring)."""
    start = time.monotonic()
    scratch = job.scratch if job.scratch and os.path.isdir(job.scratch) else None
    work = Path(tempfile.mkdtemp(prefix=f"{_safe(job.student)}-", dir=scratch) if scratch
                else tempfile.mkdtemp(prefix=f"rnnkit-grade-{_safe(job.student)}-"))
    result = GradeResult(job.student, "error", timestamp=job.timestamp)
    before = _descendants()
    # The sandbox and HardenedExecute stop a notebook at time_limit; this is the backstop.
    watchdog = _Watchdog(job.time_limit + BACKSTOP_SECONDS, before)
    try:
        _grade(job, work, result, watchdog)
    except Exception as err:  # a bug of ours or of nbgrader: this submission only
        result.status, result.reason = "error", f"grading failed: {type(err).__name__}: {err}"
        result.log = traceback.format_exc()[-4000:]
    finally:
        watchdog.cancel()
        _kill_descendants(before)
        remove_tree(work)
        result.seconds = round(time.monotonic() - start, 3)
    return result


# -- the steps -----------------------------------------------------------------------------------
def _grade(job: GradeJob, work: Path, result: GradeResult, watchdog: _Watchdog) -> None:
    problems = {name: notebook_problem(data) for name, data in job.notebooks.items()}
    if job.scan:
        result.flags = _scan(job)
    bad = {n: p for n, p in problems.items() if p}
    if bad or not job.notebooks:
        result.status = "invalid" if job.notebooks else "missing"
        result.reason = "; ".join(f"{n}: {p}" for n, p in bad.items()) or "no notebook"
        return
    notebooks = {name: _as_v4(data, name, result) for name, data in job.notebooks.items()}
    course, config = _layout(job, notebooks, work)
    log = _LogCapture()
    from nbgrader.converters import Autograde

    from .metadata_schema import reuse_schema_checks

    reuse_schema_checks()  # nbgrader checks its metadata schema once, not per cell
    started = time.monotonic()
    with log.attached():
        watchdog.start()
        try:
            _converter(Autograde, config, job).start()
        except Exception as err:  # nbgrader reports per-submission errors by raising
            log.exception = f"{type(err).__name__}: {err}"
        finally:
            watchdog.cancel()
    ran = time.monotonic() - started
    result.log = log.text()[-6000:]
    graded_dir = course / "autograded" / job.student / job.chapter
    executed = {n: graded_dir / n for n in job.notebooks
                if (graded_dir / n).is_file() and not (graded_dir / n).is_symlink()}
    if watchdog.fired or (len(executed) < len(job.notebooks) and ran >= job.time_limit - 1):
        result.status = "timeout"
        result.reason = (f"still running after {job.time_limit:g} s (the whole-notebook limit): "
                         "an infinite loop, or far too much work")
        return
    if len(executed) < len(job.notebooks):
        result.status, result.reason = "error", log.cause() or "nbgrader produced no notebook"
        return
    _cap_outputs(job, executed, result)
    notebooks = _read_scores(executed, result)
    result.status = "graded"
    _read_execution_report(graded_dir, result, notebooks, job)
    if job.feedback:
        _feedback(job, config, course, result)
        _cap_feedback(job, result)


def _cap_outputs(job: GradeJob, executed: dict[str, Path], result: GradeResult) -> None:
    """Apply the notebook and submission output caps to the executed notebooks, in place."""
    import nbformat

    from .caps import cap_notebook

    budget = job.caps.submission_bytes
    for name, path in executed.items():
        limit = max(0, min(job.caps.notebook_bytes, budget))
        if path.stat().st_size <= limit:  # outputs are part of the file: under the cap
            budget -= path.stat().st_size
            continue
        nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
        capped = cap_notebook(nb, limit)
        budget -= capped.after
        if not capped.hit:
            continue
        path.write_text(nbformat.writes(nb), encoding="utf-8")
        which = ("the notebook cap" if limit == job.caps.notebook_bytes
                 else "what was left of the submission cap")
        where = [*capped.cells[:6], *(["…"] if len(capped.cells) > 6 else [])]
        if capped.attachments:
            where.append(f"{capped.attachments} markdown attachment(s)")
        if capped.widget_state:
            where.append("widget state")
        result.limits.append(
            f"{name}: {capped.before / MiB:.1f} MiB of output, over {which} ({limit / MiB:g} "
            f"MiB): dropped in {', '.join(where)}")


def notebook_problem(data: bytes) -> str | None:
    """Why ``data`` is not a notebook nbgrader can read, or None when it looks fine."""
    if not data.strip():
        return "the file is empty"
    if b"\x00" in data:
        return "the file contains null bytes: it is not a text notebook"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return f"the file is not UTF-8 text (byte {err.start})"
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        where = f" (line {err.lineno}, column {err.colno})" if hasattr(err, "lineno") else ""
        return f"the file is not valid JSON{where}: it was damaged or is not a notebook"
    if not isinstance(obj, dict) or not isinstance(obj.get("nbformat"), int):
        return "the file is JSON but not a Jupyter notebook (no nbformat version)"
    if obj["nbformat"] < 3:
        return f"nbformat {obj['nbformat']} is too old to read (expected 4)"
    if obj["nbformat"] > 4:
        return f"nbformat {obj['nbformat']} is newer than this grader reads (expected 4)"
    key = "cells" if obj["nbformat"] == 4 else "worksheets"
    if not isinstance(obj.get(key), list):
        return f"the notebook has no list of {key}"
    return None


def _as_v4(data: bytes, name: str, result: GradeResult) -> bytes:
    """An nbformat 3 notebook converted to 4 (what nbgrader's own reader would see)."""
    import nbformat

    if json.loads(data.decode("utf-8")).get("nbformat") == 4:
        return data
    nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    result.notes.append(f"{name}: converted from nbformat 3 to 4")
    return nbformat.writes(nb).encode("utf-8")


def _layout(job: GradeJob, notebooks: dict[str, bytes], work: Path) -> tuple[Path, Any]:
    """A private nbgrader course under ``work``: submitted/, source/, a gradebook copy."""
    course = work / "course"
    submitted = course / "submitted" / job.student / job.chapter
    submitted.mkdir(parents=True)
    for name, data in notebooks.items():
        (submitted / name).write_bytes(data)
    if job.timestamp:
        (submitted / "timestamp.txt").write_text(job.timestamp)
    source = course / "source" / job.chapter
    source.mkdir(parents=True)
    for rel, data in job.source_files.items():
        target = source / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    db = work / "gradebook.db"  # beside, never inside, the folder the kernel gets
    db.write_bytes(job.gradebook)
    config = copy.deepcopy(job.config)
    cd = config.CourseDirectory
    cd.root = str(course)
    cd.source_directory = "source"
    cd.release_directory = "release"
    cd.submitted_directory = "submitted"
    cd.autograded_directory = "autograded"
    cd.feedback_directory = "feedback"
    cd.db_url = f"sqlite:///{db}"
    cd.course_id = job.course_id
    if job.scratch:  # the run's own folder: an interrupted run leaves no sockets behind
        config.SandboxedKernelManager.runtime_parent = job.scratch
    if "Sandboxed" not in str(config.Execute.get("kernel_manager_class", "")):
        # Unix sockets, not TCP: kernels started at the same moment by parallel workers
        # could pick the same free port (jupyter_client#487) and stall a cell for its
        # whole timeout. (The sandbox uses ipc already.)
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(work / "kernel")
    return course, config


def _converter(cls: type, config: Any, job: GradeJob) -> Any:
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = job.chapter
    coursedir.student_id = job.student
    return cls(coursedir=coursedir, config=config, force=True)


def _read_scores(executed: dict[str, Path], result: GradeResult) -> dict[str, Any]:
    """Scores the way nbgrader's SaveAutoGrades computes them, with each failure's message.

    Returns the executed notebooks, read (``name -> NotebookNode``).
    """
    import nbformat
    from nbgrader import utils

    from .feedback import error_line, plain

    notebooks = {}
    for name, path in executed.items():
        data = path.read_bytes()
        result.notebooks[name] = data
        nb = notebooks[name] = nbformat.reads(data.decode("utf-8"), as_version=4)
        for cell in nb.cells:
            if not utils.is_grade(cell):
                continue
            gid = cell.metadata.nbgrader["grade_id"]
            got, top = utils.determine_grade(cell)
            result.scores[gid] = (float(got or 0.0), float(top))
            if got is not None and got < top and cell.cell_type == "code":
                result.failures[gid] = _failure_message(cell, error_line, plain)
    return notebooks


def _read_execution_report(folder: Path, result: GradeResult, notebooks: dict[str, Any],
                           job: GradeJob) -> None:
    """Notes, limits hit (and the timeout status) from what the hardened executor recorded."""
    from .caps import cell_label
    from .hardening import read_execution_report

    report = read_execution_report(folder) or {}
    key = report.get("notebook")
    nb = next((n for name, n in notebooks.items() if Path(name).stem == key), None)

    def label(index: int) -> str:
        if nb is not None and 0 <= index < len(nb.cells):
            return cell_label(nb.cells[index], index)
        return f"cell {index}"

    result.execution = {k: v for k, v in report.items() if k != "notebook"}
    cell_seconds = job.config.Execute.get("timeout")
    after = f" ({cell_seconds:g} s)" if isinstance(cell_seconds, (int, float)) else ""
    timed_out = _timed_out_cells(notebooks, job)
    for death in report.get("kernel_deaths", []):
        index = death.get("cell")
        where = label(index) if isinstance(index, int) else str(death.get("grade_id") or "?")
        if "cell timeout" in str(death.get("reason", "")):
            timed_out.pop(where, None)
            result.limits.append(f"{where} ran past the cell timeout{after} and ignored the "
                                 "interrupt: its kernel was replaced")
        else:
            result.notes.append(f"kernel stopped in {where}: {death.get('reason')}")
    for where, line in timed_out.items():
        result.limits.append(f"{where}{line} hit the cell timeout{after}: interrupted")
    if report.get("restarts"):
        result.notes.append(f"kernel restarted {report['restarts']} time(s)")
    for gid in report.get("incomplete_tests", []):
        result.notes.append(f"{gid} did not run to its end (scored 0)")
    if report.get("not_run"):
        result.notes.append(f"tests not run: {', '.join(map(str, report['not_run']))}")
    truncated = [label(i) for i in report.get("truncated_cells", []) if isinstance(i, int)]
    if truncated and report.get("truncated_notebook"):
        result.limits.append(
            f"output over the notebook cap ({job.caps.notebook_bytes / MiB:g} MiB) while it "
            f"ran: dropped from {truncated[0]} on")
    elif truncated:
        shown = ", ".join(truncated[:6]) + (" …" if len(truncated) > 6 else "")
        result.limits.append(f"output over the cell cap ({job.caps.cell_bytes / 1e6:g} MB) "
                             f"dropped in {shown}")
    if report.get("wall_clock_expired"):
        result.status = "timeout"
        result.reason = "the whole-notebook time limit ran out; tests after it scored 0"
        result.limits.append(f"the whole-notebook limit ({job.time_limit:g} s) ran out")


def _timed_out_cells(notebooks: dict[str, Any], job: GradeJob) -> dict[str, str]:
    """``{cell: " (`first line`)"}`` for each cell interrupted at the cell timeout.

    nbgrader's ``Execute`` gives such a cell the error output of its ``error_on_timeout``
    (``CellTimeoutError``) after interrupting the kernel.
    """
    from .caps import cell_label

    ename = (job.config.Execute.get("error_on_timeout") or {}).get("ename", "CellTimeoutError")
    found: dict[str, str] = {}
    for nb in notebooks.values():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not any(
                    o.get("output_type") == "error" and o.get("ename") == ename
                    for o in cell.get("outputs", [])):
                continue
            label = cell_label(cell, index)
            first = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")
            shown = first if len(first) <= 40 else first[:39] + "…"
            found[label] = "" if label != f"cell {index}" or not shown else f" (`{shown}`)"
    return found


def _failure_message(cell: Any, error_line: Any, plain: Any) -> str:
    for output in cell.outputs:
        if output.output_type == "error":
            return error_line(output)
        if output.output_type == "stream" and output.name == "stderr":
            first = next((ln for ln in plain(output.text).splitlines() if ln.strip()), "")
            return f"wrote to stderr, which scores a test cell 0: {first[:200]}"
    return "scored below full marks (partial credit)"


def _feedback(job: GradeJob, config: Any, course: Path, result: GradeResult) -> None:
    """nbgrader's feedback page of each graded notebook, with ``HideHiddenTests`` added.

    The exporter is what ``nbgrader generate_feedback`` builds (its preprocessors, the
    ``feedback`` template), made once per process: compiling its templates costs more
    than rendering a page.
    """
    from .feedback import feedback_preprocessors

    fb_config = copy.deepcopy(config)
    configured = list(fb_config.GenerateFeedback.get("preprocessors", []))
    fb_config.GenerateFeedback.preprocessors = feedback_preprocessors(configured)
    key = repr(sorted((k, repr(v)) for k, v in fb_config.items()
                      if k in ("GenerateFeedback", "HTMLExporter", "ClearHiddenTests",
                               "GetGrades", "HideHiddenTests", "CSSHTMLHeaderPreprocessor")))
    log = _LogCapture()
    graded = course / "autograded" / job.student / job.chapter
    with log.attached():
        for name in job.notebooks:
            stem = Path(name).stem
            resources = {"unique_key": stem, "output_files_dir": f"{stem}_files",
                         "nbgrader": {"student": job.student, "assignment": job.chapter,
                                      "notebook": stem, "db_url": fb_config.CourseDirectory.db_url}}
            try:
                exporter = _feedback_exporter(key, fb_config, job)
                html, _ = exporter.from_filename(str(graded / name), resources=resources)
            except Exception as err:  # a page we cannot make: the parent writes a plain one
                log.exception = f"{type(err).__name__}: {err}"
                result.notes.append(f"no feedback page for {name}: {log.cause() or err}")
                continue
            result.feedback[f"{stem}.html"] = html.encode("utf-8")


def _cap_feedback(job: GradeJob, result: GradeResult) -> None:
    """Keep what the submission hands back under its cap: past it, feedback pages (largest
    first) become a short page that says so. Scores are unaffected."""
    from .feedback import failure_page

    total = sum(map(len, result.notebooks.values())) + sum(map(len, result.feedback.values()))
    for name in sorted(result.feedback, key=lambda n: -len(result.feedback[n])):
        if total <= job.caps.submission_bytes:
            return
        big = len(result.feedback[name])
        reason = (f"the feedback page was {big / MiB:.1f} MiB, over the submission cap of "
                  f"{job.caps.submission_bytes / MiB:g} MiB; your score is unaffected")
        page = failure_page(job.student, job.chapter, "graded", reason,
                            sum(top for _, top in result.scores.values()), result.score)
        result.feedback[name] = page.encode("utf-8")
        total += len(result.feedback[name]) - big
        result.limits.append(f"{name}: {reason.split(';')[0]}: replaced by a short page")


_EXPORTERS: dict[str, Any] = {}


def _feedback_exporter(key: str, config: Any, job: GradeJob) -> Any:
    """The HTML exporter ``GenerateFeedback.start`` would build, cached by configuration."""
    if key not in _EXPORTERS:
        from nbgrader.converters import GenerateFeedback

        from .feedback import SafeFeedbackExporter

        converter = _converter(GenerateFeedback, config, job)
        # GenerateFeedback's exporter (its HTMLExporter config applies), made safe to open
        exporter = SafeFeedbackExporter(parent=converter, config=converter.config)
        for pp in converter.preprocessors:
            exporter.register_preprocessor(pp)
        _EXPORTERS.clear()
        _EXPORTERS[key] = exporter
    return _EXPORTERS[key]


def _scan(job: GradeJob) -> list[dict[str, Any]]:
    """The integrity scanner's flags on the submission; never raises.

    The scanner reads the notebooks and judges the files that were not graded by their
    names alone (a ``numpy.py`` shadows numpy). A scan that fails becomes one
    ``scan_failed`` flag: flags never change a score, and neither does the scanner.
    """
    from .integrity import PATTERNS, scan_files

    try:
        files: dict[str, bytes | None] = {rel: None for rel in job.other_files}
        files.update(job.notebooks)
        reference = json.loads(job.reference) if job.reference else None
        return [f.as_dict() for f in scan_files(files, reference=reference)]
    except Exception as err:  # a bug of the scanner: say so, and grade as usual
        return [{"cell": None, "grade_id": None, "line": None, "pattern": "scan_failed",
                 "code": f"{type(err).__name__}: {err}"[:200], "file": "",
                 "description": PATTERNS["scan_failed"]}]


# -- logs, processes, files ----------------------------------------------------------------------
class _LogCapture(logging.Handler):
    """Collects what nbgrader logs (warnings and errors, with tracebacks) during a step."""

    _CAUSE = re.compile(r"^\s*(?:\[ERROR\]\s*)?((?:[\w.]+(?:Error|Exception|Exit)): .+)$", re.M)

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []
        self.exception = ""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.lines.append(f"[{record.levelname}] {text}")

    def attached(self) -> _Attached:
        return _Attached(self)

    def text(self) -> str:
        return "\n".join([*self.lines, self.exception])

    def cause(self) -> str:
        """The most telling error: the last exception named in the log, else its last error."""
        text = "\n".join(self.lines)
        causes = [m.group(1) for m in self._CAUSE.finditer(text)
                  if "NbGraderException" not in m.group(1)]
        if causes:
            return _explain(causes[-1])
        errors = [ln for ln in self.lines if ln.startswith("[ERROR]")]
        return _explain(errors[-1][8:].splitlines()[0] if errors else self.exception)


class _Attached:
    def __init__(self, handler: _LogCapture) -> None:
        self.handler = handler
        self.loggers = [logging.getLogger("traitlets"), logging.getLogger("nbgrader")]
        self.levels: list[int] = []

    def __enter__(self) -> _LogCapture:
        for logger in self.loggers:
            self.levels.append(logger.level)
            logger.addHandler(self.handler)
            if logger.level == logging.NOTSET or logger.level > logging.WARNING:
                logger.setLevel(logging.WARNING)
        return self.handler

    def __exit__(self, *exc: object) -> None:
        for logger, level in zip(self.loggers, self.levels, strict=True):
            logger.removeHandler(self.handler)
            logger.setLevel(level)


_EXPLAINED = (
    ("SchemaTooOldError", "the notebook's nbgrader metadata is damaged or duplicated (a copied "
                          "solution or test cell?), so nbgrader cannot grade it"),
    ("SchemaTooNewError", "the notebook's nbgrader metadata is from a newer nbgrader"),
    ("ValidationError", "the notebook's nbgrader metadata is damaged (duplicate or changed "
                        "cell ids?), so nbgrader cannot grade it"),
    ("DeadKernelError", "the kernel died while running the notebook (it exited, crashed or "
                        "ran out of memory)"),
    ("Kernel died", "the kernel died while running the notebook (it exited, crashed or ran "
                    "out of memory)"),
)


def _explain(cause: str) -> str:
    cause = cause.strip()
    for key, text in _EXPLAINED:
        if key in cause:
            return f"{text} [{cause[:200]}]"
    return cause[:300]


class _Watchdog:
    """Kills this process's children (the kernel) when a submission runs past its limit."""

    def __init__(self, seconds: float, spare: set[int]) -> None:
        self.seconds = seconds
        self.spare = spare
        self.fired = False
        self._timer: threading.Timer | None = None

    def start(self) -> None:
        self._timer = threading.Timer(self.seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        _kill_descendants(self.spare)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _descendants() -> set[int]:
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True)}


def _kill_descendants(spare: set[int]) -> None:
    """SIGKILL every process this one started since (kernels and whatever they left behind).

    ``spare`` are the processes that existed before the job. ``grade_one`` runs one job
    per process at a time (a process pool), so the rest belong to this job.
    """
    import psutil

    for child in psutil.Process().children(recursive=True):
        if child.pid in spare:
            continue
        with contextlib.suppress(psutil.Error):
            child.kill()


def remove_tree(path: Path) -> None:
    """Delete a folder even where sandboxed code left read-only files or folders."""
    def make_writable(func: Any, p: str, _exc: Any) -> None:
        try:
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    if "onexc" in shutil.rmtree.__code__.co_varnames:  # Python >= 3.12
        shutil.rmtree(path, onexc=make_writable)
    else:
        shutil.rmtree(path, onerror=make_writable)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:40]
