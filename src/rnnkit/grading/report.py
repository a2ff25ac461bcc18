"""The class report: one self-contained HTML page an instructor reads after grading.

Sections: a summary, what needs a human look (broken submissions, integrity flags,
notes), three figures (score distribution, pass rate per exercise, the most common
failure messages; PNG embedded as base64, colour-blind-safe colours), the whole class
with links to each feedback page, and the intake: every file that was left out and why.
"""

from __future__ import annotations

import base64
import html
import io
import os
import statistics
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..plotting import OKABE_ITO
from .model import RunSummary, StudentRow, exercise_name, flag_label, flag_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STATUS_COLOURS = {"graded": OKABE_ITO["green"], "timeout": OKABE_ITO["orange"],
                  "error": OKABE_ITO["vermillion"], "invalid": OKABE_ITO["vermillion"],
                  "missing": OKABE_ITO["purple"], "not graded": "#777777"}


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
    graded = [r for r in table if r.status in ("graded", "timeout")]
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
    counted = [r for r in table if r.status != "not graded"]
    edges = [x - 0.5 for x in range(int(max_score) + 2)] if max_score <= 40 else 20
    groups = [("graded", [r.score for r in counted if r.status in ("graded", "timeout")]),
              ("not gradable", [r.score for r in counted if r.status not in ("graded", "timeout")])]
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
def write_report(path: Path, summary: RunSummary, table: list[StudentRow], root: Path) -> None:
    exercises = summary.exercises
    max_score = sum(m for _, m in exercises)
    rates = pass_rates(table, exercises)
    failures = failure_counts(table)
    statuses = Counter(r.status for r in table)
    scored = [r.score for r in table if r.status != "not graded"]
    e = html.escape

    def feedback_link(student: str) -> str:
        page = summary.feedback_page(student)
        if page is None or not page.is_file():
            return ""
        rel = os.path.relpath(page, path.parent)
        return f'<a href="{e(rel)}">feedback</a>'

    review = [r for r in table if r.status not in ("graded", "not graded") or r.flags or r.notes]
    parts = [f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Class report: {e(summary.chapter)}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:68rem;margin:1.5rem auto;padding:0 1rem;
line-height:1.45;color:#222}}
table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}
th,td{{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:left;vertical-align:top}}
th{{background:#f3f3f3}} td.num{{text-align:right}} .ok{{color:#009E73}} .bad{{color:#D55E00}}
.status{{font-weight:600}} figure{{margin:1rem 0}} figcaption{{font-style:italic}}
code{{font-size:.9em}} .small{{font-size:.9em;color:#555}}
</style></head><body>
<h1>Class report: {e(summary.chapter)}</h1>
<p class="small">Generated {datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")} by
<code>rnnkit grade</code> from <code>{e(str(summary.intake.source))}</code>
(naming: {e(summary.intake.naming)}). Scores are read from the gradebook. Student code ran
{"in the bubblewrap sandbox" if summary.sandbox else "<strong>without the sandbox</strong>"}.</p>
<h2>Summary</h2>
<table><tr><th>students</th><th>graded</th><th>not gradable</th><th>mean score</th>
<th>median score</th><th>full marks</th><th>files left out</th></tr>
<tr><td class="num">{len(table)}</td><td class="num">{statuses.get("graded", 0)}</td>
<td class="num">{sum(n for s, n in statuses.items() if s not in ("graded", "not graded"))}</td>
<td class="num">{statistics.fmean(scored) if scored else 0:.2f} / {max_score:g}</td>
<td class="num">{statistics.median(scored) if scored else 0:g}</td>
<td class="num">{sum(1 for s in scored if s >= max_score > 0)}</td>
<td class="num">{len(summary.intake.left_out)}</td></tr></table>
<p>Statuses: {", ".join(f'<span class="status" style="color:{STATUS_COLOURS.get(s, "#222")}">'
                        f'{e(s)}</span> {n}' for s, n in sorted(statuses.items()))}.</p>
"""]
    parts.append("<h2>Needs a look</h2>")
    if review:
        parts.append("<table><tr><th>student</th><th>status</th><th>score</th>"
                     "<th>integrity flags</th><th>reason and notes</th></tr>")
        for r in review:
            flags = "<br>".join(e(flag_text(f)) for f in r.flags) or "–"
            notes = "<br>".join(e(x) for x in [r.reason, *r.notes] if x) or "–"
            parts.append(f'<tr><td>{e(r.student)}</td><td class="status" style="color:'
                         f'{STATUS_COLOURS.get(r.status, "#222")}">{e(r.status)}</td>'
                         f'<td class="num">{r.score:g}</td><td>{flags}</td><td>{notes}</td></tr>')
        parts.append("</table><p class=\"small\">Flags come from a static scan of the "
                     "submitted code: they are reasons to read it, not verdicts.</p>")
    else:
        parts.append("<p>Nothing: every submission was graded, with no flags and no notes.</p>")

    parts.append("<h2>Figures</h2>")
    figures = [
        (score_histogram(table, max_score), "Figure 1. Score distribution",
         "Histogram of total scores per student; submissions that could not be graded "
         "score 0 and are stacked in a second colour. The dashed line is the mean."),
        (pass_rate_chart(rates), "Figure 2. Pass rate per exercise",
         "Share of graded students with full marks on each exercise. A low bar points at "
         "an exercise, or a test, worth revisiting."),
        (failure_chart(failures), "Figure 3. Most common failure messages",
         "How many test cells failed with each message, and in which exercises. The table "
         "below lists every message."),
    ]
    for png, title, caption in figures:
        parts.append(f'<figure><img src="data:image/png;base64,{png}" alt="{e(title)}: '
                     f'{e(caption)}"><figcaption>{e(title)}. {e(caption)}</figcaption></figure>')

    parts.append("<h2>Failure messages</h2>")
    if failures:
        parts.append("<table><tr><th>test cells</th><th>exercise</th><th>message</th></tr>")
        for message, where, n in failures[:30]:
            parts.append(f'<tr><td class="num">{n}</td><td>{e(", ".join(where))}</td>'
                         f"<td><code>{e(message)}</code></td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>No test failed.</p>")

    parts.append("<h2>Pass rate per exercise</h2><table><tr><th>exercise</th><th>points</th>"
                 "<th>full marks</th></tr>")
    for (name, rate, n), (_, top) in zip(rates, exercises, strict=True):
        parts.append(f'<tr><td>{e(name)}</td><td class="num">{top:g}</td>'
                     f'<td class="num">{100 * rate:.0f}% of {n}</td></tr>')
    parts.append("</table>")

    parts.append("<h2>Class</h2><table><tr><th>student</th><th>status</th><th>score</th>"
                 + "".join(f"<th>{e(exercise_name(g))}</th>" for g, _ in exercises)
                 + "<th>flags</th><th>feedback</th></tr>")
    for r in table:
        cells = []
        for gid, top in exercises:
            got = r.exercises.get(gid, 0.0)
            cls = "ok" if got >= top > 0 else "bad"
            tip = r.failures.get(gid, "")
            cells.append(f'<td class="num {cls}" title="{e(tip)}">{got:g}</td>')
        flags = ", ".join(sorted({e(flag_label(f)) for f in r.flags})) or "–"
        parts.append(f'<tr><td>{e(r.student)}</td><td class="status" style="color:'
                     f'{STATUS_COLOURS.get(r.status, "#222")}">{e(r.status)}</td>'
                     f'<td class="num">{r.score:g}</td>{"".join(cells)}<td>{flags}</td>'
                     f"<td>{feedback_link(r.student)}</td></tr>")
    parts.append("</table>")

    left_out = summary.intake.left_out
    taken = len(summary.intake.records) - len(left_out)
    parts.append(f"<h2>Intake</h2><p>{taken} files taken, {len(left_out)} left out "
                 "(every file of the source is listed in <code>intake.csv</code>).</p>")
    if left_out:
        parts.append("<table><tr><th>file</th><th>student</th><th>why it was left out</th></tr>")
        for rec in left_out:
            parts.append(f"<tr><td><code>{e(rec.path)}</code></td><td>{e(rec.student or '–')}"
                         f"</td><td>{e(rec.reason)}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>\n")
    path.write_text("\n".join(parts), encoding="utf-8")
