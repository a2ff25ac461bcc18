"""The run's files for the instructor: grades.csv, intake.csv and the class report.

``grades.csv`` has one row per student of the source: the status (``graded``, ``invalid``,
``timeout``, ``error``, ``missing``, or ``not graded`` for a student left out by
``--student``), the total and its maximum, one column per exercise, the integrity flags
and the reason, notes and limits hit. Scores come from the gradebook, so manual grades count.

Every text cell of both CSV files is made safe for a spreadsheet: control characters
are dropped (file names carry them), and a value a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-`` or ``@``; numbers excepted) gets a leading ``'``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .model import NOT_GRADED, RunSummary, StudentRow, exercise_name, flag_label, printable
from .report import write_report


def rows(summary: RunSummary, gradebook_scores: dict[str, dict[str, float]]) -> list[StudentRow]:
    """One row per student of the intake, in student order."""
    top = sum(m for _, m in summary.exercises)
    out = []
    for student in sorted(summary.intake.submissions):
        entry = summary.entries.get(student)
        if entry is None:
            out.append(StudentRow(student, NOT_GRADED, 0.0, top,
                                  {gid: 0.0 for gid, _ in summary.exercises},
                                  reason="not graded in this run (see --student)"))
            continue
        book = gradebook_scores.get(student, {})
        points = {gid: float(book.get(gid, entry.scores.get(gid, [0.0])[0]))
                  for gid, _ in summary.exercises}
        total = sum(points.values()) - book.get("late_penalty", 0.0)
        out.append(StudentRow(student, entry.status, total, top, points, dict(entry.failures),
                              list(entry.flags), entry.reason, list(entry.notes),
                              list(entry.limits)))
    return out


def write_grades_csv(path: Path, table: list[StudentRow], exercises: list[tuple[str, float]]
                     ) -> None:
    header = ["student", "status", "score", "max_score",
              *(exercise_name(gid) for gid, _ in exercises), "flags", "reason"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([cell(h) for h in header])
        for row in table:
            writer.writerow([
                cell(row.student), cell(row.status), _num(row.score), _num(row.max_score),
                *(_num(row.exercises.get(gid, 0.0)) for gid, _ in exercises),
                cell("; ".join(sorted({flag_label(f) for f in row.flags}))),
                cell("; ".join(filter(None, [row.reason, *row.notes, *row.limits]))),
            ])


def write_intake_csv(path: Path, summary: RunSummary) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "student", "taken", "reason"])
        for r in summary.intake.records:
            writer.writerow([cell(r.path), cell(r.student or ""), "yes" if r.taken else "no",
                             cell(r.reason)])


_FORMULA_START = ("=", "+", "-", "@")


def cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: printable, never a formula."""
    text = printable(str(value))
    if text.lstrip()[:1] in _FORMULA_START and not _is_number(text):
        text = "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip().lower().lstrip("+-") not in ("inf", "infinity", "nan")


def write_outputs(summary: RunSummary, gradebook_scores: dict[str, dict[str, float]]
                  ) -> dict[str, Path]:
    """Write grades.csv, intake.csv and report.html into the run's folder; return their paths."""
    table = rows(summary, gradebook_scores)
    files = {"grades": summary.out_dir / "grades.csv", "intake": summary.out_dir / "intake.csv",
             "report": summary.out_dir / "report.html",
             "manifest": summary.out_dir / "manifest.json"}
    write_grades_csv(files["grades"], table, summary.exercises)
    write_intake_csv(files["intake"], summary)
    write_report(files["report"], summary, table)
    return files


def _num(x: float) -> str:
    return f"{x:g}"
