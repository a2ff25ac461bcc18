"""The grading data model, and every default and limit of ``rnnkit grade``, defined once.

What flows through one run::

    GradeJob      what a worker needs to grade one submission (pipeline -> worker)
    GradeResult   what grading it produced (worker -> pipeline)
    Entry         a student's latest result, kept in manifest.json (state.py)
    StudentRow    a student's line of grades.csv and of the class report
    RunSummary    what a run did, and where its files are

Every module of the pipeline imports these from here; none imports another for its
types, so ``pipeline``, ``outputs`` and ``report`` depend on this module, not on each
other. Nothing here imports nbgrader, nbconvert or the sandbox: it is cheap to import
(``rnnkit grade``'s argument parser reads the defaults).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .intake import Intake

MiB = 1024**2
GiB = 1024**3

# -- time ------------------------------------------------------------------------------------
#: Wall clock for a whole notebook, kernel start to end, restarts included (``--time-limit``).
DEFAULT_TIME_LIMIT = 600.0
#: Per-cell timeout when neither ``--cell-timeout`` nor the course's ``Execute.timeout`` says.
DEFAULT_CELL_TIMEOUT = 120
#: The worker's own watchdog fires this long after the whole-notebook limit (a backstop
#: behind the sandbox's and HardenedExecute's clocks).
BACKSTOP_SECONDS = 60.0

# -- memory and files -------------------------------------------------------------------------
#: Address space of each sandboxed process (``--memory-gb``).
DEFAULT_MEMORY_BYTES = 4 * GiB
#: Intake leaves out larger files (``--max-file-mb``).
DEFAULT_MAX_FILE_BYTES = 100 * MiB
#: Unpacked size of a whole LMS zip, and how many of its entries are read.
MAX_ARCHIVE_BYTES = 4 * GiB
MAX_ARCHIVE_FILES = 20_000

# -- what one student can make the grader hold ------------------------------------------------
#: Output kept per cell while the notebook runs (HardenedExecute); the rest is dropped.
MAX_CELL_OUTPUT_BYTES = 1_000_000
#: Output kept per notebook: cell outputs, markdown attachments and widget state together.
#: Chapter notebooks with all their figures hold about 0.3 MiB.
MAX_NOTEBOOK_OUTPUT_BYTES = 8 * MiB
#: Everything one submission hands back to the parent: graded notebooks and feedback pages.
MAX_SUBMISSION_BYTES = 32 * MiB

# -- statuses ---------------------------------------------------------------------------------
#: ``graded``: the notebook ran and was scored (even 0 points); ``timeout``: it ran past the
#: whole-notebook limit (tests reached are scored); ``invalid``: the file is not a readable
#: notebook; ``error``: nbgrader could not grade it; ``missing``: no notebook to grade.
STATUSES = ("graded", "timeout", "invalid", "error", "missing")
#: Statuses whose notebook ran, so its tests were scored.
RAN = ("graded", "timeout")
#: The status of a student of the source that this run did not grade (``--student``).
NOT_GRADED = "not graded"


@dataclass(frozen=True)
class OutputCaps:
    """How much output one submission may leave: per cell, per notebook, in all."""

    cell_bytes: int = MAX_CELL_OUTPUT_BYTES
    notebook_bytes: int = MAX_NOTEBOOK_OUTPUT_BYTES
    submission_bytes: int = MAX_SUBMISSION_BYTES

    def __post_init__(self) -> None:
        for name in ("cell_bytes", "notebook_bytes", "submission_bytes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"OutputCaps.{name} must be > 0; got {getattr(self, name)!r}")


@dataclass(frozen=True)
class GradeJob:
    """Everything needed to grade one student's submission of one chapter (picklable)."""

    student: str
    chapter: str
    course_id: str
    notebooks: dict[str, bytes]  # graded name ("01_sequences.ipynb") -> file content
    gradebook: bytes  # SQLite gradebook with the assignment only (no students)
    config: Any  # traitlets Config: the course's, with sandbox and hardening merged
    source_files: dict[str, bytes] = field(default_factory=dict)  # non-notebook source files
    timestamp: str | None = None  # nbgrader's timestamp.txt
    other_files: tuple[str, ...] = ()  # files the student handed in that are not graded
    reference: bytes | None = None  # the release notebook: the scan skips unchanged cells
    time_limit: float = DEFAULT_TIME_LIMIT  # wall clock for the whole notebook
    caps: OutputCaps = OutputCaps()
    scratch: str | None = None  # where to make the private folder (default: the temp dir)
    feedback: bool = True
    scan: bool = True


@dataclass
class GradeResult:
    """What grading one submission produced; plain data, picklable."""

    student: str
    status: str
    reason: str = ""
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)  # grade_id -> (got, max)
    failures: dict[str, str] = field(default_factory=dict)  # grade_id -> "Error: message"
    notebooks: dict[str, bytes] = field(default_factory=dict)  # executed notebooks
    feedback: dict[str, bytes] = field(default_factory=dict)  # "<name>.html" -> page
    flags: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)  # limits hit: cell timeouts, output caps
    seconds: float = 0.0
    log: str = ""
    timestamp: str | None = None
    execution: dict[str, Any] = field(default_factory=dict)  # HardenedExecute's report

    @property
    def score(self) -> float:
        return sum(got for got, _ in self.scores.values())


@dataclass
class Entry:
    """One student's latest result, as the run state (manifest.json) keeps it."""

    fingerprint: str
    status: str
    reason: str = ""
    scores: dict[str, list[float]] = field(default_factory=dict)  # grade_id -> [got, max]
    failures: dict[str, str] = field(default_factory=dict)
    flags: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)
    seconds: float = 0.0
    graded_at: str = ""


@dataclass
class StudentRow:
    """One student's line of the class: what grades.csv and the report show."""

    student: str
    status: str
    score: float
    max_score: float
    exercises: dict[str, float] = field(default_factory=dict)  # grade_id -> points
    failures: dict[str, str] = field(default_factory=dict)
    flags: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)


@dataclass
class RunSummary:
    """What a run did, and where its outputs are."""

    chapter: str
    out_dir: Path
    intake: Intake
    entries: dict[str, Entry]
    graded: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    exercises: list[tuple[str, float]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    sandbox: bool = True
    feedback_dir: Path | None = None  # the course config's feedback folder

    def counts(self) -> dict[str, int]:
        """``status -> students`` over the students of this run's source."""
        out: dict[str, int] = {}
        for student in self.intake.submissions:
            entry = self.entries.get(student)
            status = entry.status if entry else NOT_GRADED
            out[status] = out.get(status, 0) + 1
        return out

    def feedback_page(self, student: str) -> Path | None:
        """Where ``student``'s feedback page of this chapter is (None without a folder)."""
        if self.feedback_dir is None:
            return None
        return self.feedback_dir / student / self.chapter / f"{self.chapter}.html"


# -- how the model reads -------------------------------------------------------------------------
def exercise_name(grade_id: str) -> str:
    """The exercise a test cell grades: ``01_make_windows`` for ``01_make_windows_tests``."""
    return grade_id.removesuffix("_tests")


def flag_label(flag: dict[str, Any]) -> str:
    """The pattern an integrity flag matched (``module_patch``...), see ``integrity.PATTERNS``."""
    return str(flag.get("pattern") or "flag")


def flag_text(flag: dict[str, Any]) -> str:
    """A one-line description of an integrity flag: pattern, meaning, where, the line."""
    where = []
    if flag.get("file"):
        where.append(str(flag["file"]))
    if flag.get("grade_id"):
        where.append(f"cell {flag['grade_id']}")
    elif flag.get("cell") is not None:
        where.append(f"cell {flag['cell']}")
    if flag.get("line"):
        where.append(f"line {flag['line']}")
    text = f"{flag_label(flag)}: {flag.get('description', '')}".rstrip(": ")
    if where:
        text += f" ({', '.join(where)})"
    if flag.get("code"):
        text += f": {str(flag['code'])[:120]}"
    return text


# Characters that never belong in a name shown to a person: C0/C1 controls (terminal
# escapes, NUL, newlines), and Unicode's invisible bidirectional overrides and marks, with
# which "evil\u202egpj.ipynb" reads as "evilbnpi.jpg".
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_BLANKS = re.compile("[\t\n\r\v\f\x1c-\x1f\x85]+")


def printable(text: str) -> str:
    """``text`` fit to show: control characters dropped (whitespace ones become a space),
    bytes that were not UTF-8 (surrogate escapes) shown as ``\\xNN``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _CONTROL.sub("", _BLANKS.sub(" ", text))
