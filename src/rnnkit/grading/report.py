"""The class report: one self-contained HTML page an instructor reads after grading.

Sections: a summary, what needs a human look (broken submissions, integrity flags,
notes), three figures (score distribution, pass rate per exercise, the most common
failure messages; PNG embedded as base64, colour-blind-safe colours), the whole class
with links to each feedback page, and the intake: every file that was left out and why.
"""

from __future__ import annotations

import base64
import io
import os
import statistics
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..plotting import OKABE_ITO
from .model import (
    NOT_GRADED,
    RAN,
    STATUSES,
    RunSummary,
    StudentRow,
    exercise_name,
    flag_label,
    flag_text,
)
from .pages import render

if TYPE_CHECKING:
    from matplotlib.figure import Figure

def failure_counts(table: list[StudentRow]) -> list[tuple[str, list[str], int]]:
    """``(message, exercises, failed test cells)`` for each failure message, most common first."""
    count: Counter[str] = Counter()
    where: dict[str, set[str]] = {}
    for row in table:
        for gid, message in row.failures.items():
            count[message] += 1
            where.setdefault(message, set()).add(exercise_name(gid))
    return [(m, sorted(where[m]), n) for m, n in count.most_common()]


def pass_rates(table: list[StudentRow], exercises: list[tuple[str, float]]
               ) -> list[tuple[str, float, int]]:
    """``(exercise, fraction with full marks, students counted)`` over graded students."""
    graded = [r for r in table if r.status in RAN]
    out = []
    for gid, top in exercises:
        full = sum(1 for r in graded if r.exercises.get(gid, 0.0) >= top > 0)
        out.append((exercise_name(gid), full / len(graded) if graded else 0.0, len(graded)))
    return out


# -- figures -------------------------------------------------------------------------------------
def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig


def _png(fig: Figure) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def score_histogram(table: list[StudentRow], max_score: float) -> str:
    fig = _figure(7.0, 3.2)
    ax = fig.add_subplot()
    counted = [r for r in table if r.status != NOT_GRADED]
    edges = [x - 0.5 for x in range(int(max_score) + 2)] if max_score <= 40 else 20
    groups = [("graded", [r.score for r in counted if r.status in RAN]),
              ("not gradable", [r.score for r in counted if r.status not in RAN])]
    ax.hist([g[1] for g in groups], bins=edges, stacked=True, label=[g[0] for g in groups],
            color=[OKABE_ITO["blue"], OKABE_ITO["vermillion"]], edgecolor="white")
    scores = [r.score for r in counted]
    if scores:
        mean = statistics.fmean(scores)
        ax.axvline(mean, color=OKABE_ITO["black"], linestyle="--", linewidth=1)
        ax.annotate(f"mean {mean:.1f}", (mean, 1), xycoords=("data", "axes fraction"),
                    xytext=(4, -14), textcoords="offset points")
    ax.set(title="Score distribution", xlabel=f"score (points, out of {max_score:g})",
           ylabel="students (count)", xlim=(-0.7, max_score + 0.7))
    if max_score <= 40:
        ax.set_xticks(range(int(max_score) + 1))
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    return _png(fig)


def pass_rate_chart(rates: list[tuple[str, float, int]]) -> str:
    fig = _figure(7.0, 0.45 * len(rates) + 1.2)
    ax = fig.add_subplot()
    names = [r[0] for r in rates][::-1]
    values = [100 * r[1] for r in rates][::-1]
    bars = ax.barh(names, values, color=OKABE_ITO["green"])
    for bar, value in zip(bars, values, strict=True):
        ax.text(min(value + 1, 92), bar.get_y() + bar.get_height() / 2, f"{value:.0f}%",
                va="center")
    ax.set(title="Pass rate per exercise (full marks)", xlabel="graded students (%)",
           xlim=(0, 100))
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def failure_chart(failures: list[tuple[str, list[str], int]], top: int = 8) -> str:
    shown = failures[:top][::-1]
    fig = _figure(8.0, 0.6 * max(len(shown), 1) + 1.2)
    ax = fig.add_subplot()

    def label(message: str, exercises: list[str]) -> str:
        where = ", ".join(exercises) if len(exercises) <= 2 else f"{len(exercises)} exercises"
        return f"{_shorten(message, 55)}\n({_shorten(where, 50)})"

    ax.barh([label(m, ex) for m, ex, _ in shown] or ["(no failures)"],
            [n for _, _, n in shown] or [0], color=OKABE_ITO["vermillion"])
    ax.tick_params(axis="y", labelsize=8)
    ax.set(title="Most common failure messages", xlabel="failed test cells (count)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def _shorten(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# -- the page ------------------------------------------------------------------------------------
_ORDER = {status: i for i, status in enumerate((*STATUSES, NOT_GRADED))}


def write_report(path: Path, summary: RunSummary, table: list[StudentRow]) -> None:
    """Render the class report (``pages.py``'s ``report.html.j2``) to ``path``."""
    exercises = summary.exercises
    max_score = sum(m for _, m in exercises)
    rates = pass_rates(table, exercises)
    failures = failure_counts(table)
    statuses = Counter(r.status for r in table)
    scored = [r.score for r in table if r.status != NOT_GRADED]

    def feedback_link(student: str) -> str:
        page = summary.feedback_page(student)
        if page is None or not page.is_file():
            return ""
        return Path(os.path.relpath(page, path.parent)).as_posix()

    rows = [{
        "student": r.student, "status": r.status, "score": r.score, "reason": r.reason,
        "notes": r.notes, "limits": r.limits, "flag_texts": [flag_text(f) for f in r.flags],
        "flag_labels": sorted({flag_label(f) for f in r.flags}),
        "feedback": feedback_link(r.student),
        "cells": [{"got": r.exercises.get(gid, 0.0), "full": r.exercises.get(gid, 0.0) >= top > 0,
                   "tip": r.failures.get(gid, "")} for gid, top in exercises],
    } for r in table]
    review = [row for row, r in zip(rows, table, strict=True)
              if r.status not in ("graded", NOT_GRADED) or r.flags or r.notes or r.limits]
    figures = [
        {"png": score_histogram(table, max_score), "title": "Figure 1. Score distribution",
         "caption": "Histogram of total scores per student; submissions that could not be "
                    "graded score 0 and are stacked in a second colour. The dashed line is "
                    "the mean."},
        {"png": pass_rate_chart(rates), "title": "Figure 2. Pass rate per exercise",
         "caption": "Share of graded students with full marks on each exercise. A low bar "
                    "points at an exercise, or a test, worth revisiting."},
        {"png": failure_chart(failures), "title": "Figure 3. Most common failure messages",
         "caption": "How many test cells failed with each message, and in which exercises. "
                    "The table below lists every message."},
    ]
    left_out = summary.intake.left_out
    page = render(
        "report.html.j2", chapter=summary.chapter,
        generated=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        source=str(summary.intake.source), naming=summary.intake.naming,
        sandbox=summary.sandbox, table=rows, review=review, figures=figures,
        statuses=sorted(statuses.items(), key=lambda kv: _ORDER.get(kv[0], len(_ORDER))),
        failures=failures, max_score=max_score,
        mean=statistics.fmean(scored) if scored else 0.0,
        median=statistics.median(scored) if scored else 0.0,
        counts={"graded": statuses.get("graded", 0),
                "not_gradable": sum(n for st, n in statuses.items()
                                    if st not in ("graded", NOT_GRADED)),
                "full": sum(1 for x in scored if x >= max_score > 0),
                "limited": sum(1 for r in table if r.limits)},
        rates=[(name, rate, n, top) for (name, rate, n), (_, top) in
               zip(rates, exercises, strict=True)],
        exercise_names=[exercise_name(g) for g, _ in exercises],
        left_out=left_out, taken=len(summary.intake.records) - len(left_out))
    path.write_text(page, encoding="utf-8")
