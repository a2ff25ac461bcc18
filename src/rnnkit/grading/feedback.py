"""Feedback for students: nbgrader's feedback HTML, with nothing of the hidden tests in it.

nbgrader's ``ClearHiddenTests`` removes the hidden block from each test cell's *source*,
but the *outputs* of a failing hidden test still carry its traceback, whose context lines
quote the hidden code. ``HideHiddenTests`` runs before it and, in every test cell that
has hidden tests, replaces each traceback by its last line (``AssertionError: <message>``)
and drops any output line that quotes a hidden line. It also defuses hidden-test markers
that a student typed into their own cells (``ClearHiddenTests`` would otherwise refuse
the notebook). ``failure_page`` is the feedback of a submission that could not be graded.
"""

from __future__ import annotations

import html
import re
from typing import Any

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Int, Unicode

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain(text: str) -> str:
    """``text`` without terminal colour codes."""
    return _ANSI.sub("", text)


ERROR_LINE_LIMIT = 1200  # characters: the longest hint of the course's checks is ~400


def error_line(output: dict[str, Any], limit: int = ERROR_LINE_LIMIT) -> str:
    """``Name: message`` of an error output, on one line, colour codes removed.

    A message longer than ``limit`` is cut after its last whole clause (at ``". "``,
    ``"; "`` or ``": "``) that fits, so a hint is never cut mid-sentence.
    """
    evalue = plain(str(output.get("evalue", ""))).strip().splitlines()
    text = f"{output.get('ename', 'Error')}: {evalue[0] if evalue else ''}".rstrip(": ")
    if len(text) <= limit:
        return text
    head = text[: limit - 2]
    cut = max(head.rfind(sep) for sep in (". ", "; ", ": "))
    return (head[: cut + 1] if cut > limit // 3 else head).rstrip() + " …"


class HideHiddenTests(NbGraderPreprocessor):
    """Keep hidden tests' code out of feedback: tracebacks become their message only."""

    begin_test_delimeter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end_test_delimeter = Unicode("END HIDDEN TESTS").tag(config=True)
    min_quote = Int(8, help="Output lines quoting a hidden line at least this long are "
                    "dropped.").tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict,
                        cell_index: int) -> tuple[NotebookNode, ResourcesDict]:
        source = cell.get("source", "")
        if cell.cell_type == "code" and utils.is_grade(cell):
            hidden = self._hidden_lines(source)
            if hidden is not None:
                cell.outputs = [o for o in (self._scrub(o, hidden) for o in cell.outputs) if o]
        elif self.begin_test_delimeter in source or self.end_test_delimeter in source:
            # A student's own cell: ClearHiddenTests would raise on an unmatched marker.
            cell.source = source.replace(self.begin_test_delimeter, "BEGIN-HIDDEN-TESTS") \
                .replace(self.end_test_delimeter, "END-HIDDEN-TESTS")
        return cell, resources

    def _hidden_lines(self, source: str) -> list[str] | None:
        """The stripped lines of the hidden block, or None when the cell has none."""
        lines, inside, found = [], False, False
        for line in source.splitlines():
            if self.begin_test_delimeter in line:
                inside = found = True
            elif self.end_test_delimeter in line:
                inside = False
            elif inside and len(line.strip()) >= self.min_quote:
                lines.append(line.strip())
        return lines if found else None

    def _quotes(self, text: str, hidden: list[str]) -> bool:
        stripped = plain(text).strip()
        return len(stripped) >= self.min_quote and any(
            stripped in h or h in stripped for h in hidden)

    def _scrub(self, output: NotebookNode, hidden: list[str]) -> NotebookNode | None:
        kind = output.get("output_type")
        if kind == "error":
            line = error_line(output)
            if self._quotes(line, hidden):
                line = f"{output.get('ename', 'Error')}: (message hidden: it quotes a hidden test)"
            output.traceback = [line]
            return output
        if kind == "stream":
            kept = [ln for ln in output.get("text", "").splitlines(keepends=True)
                    if not self._quotes(ln, hidden)]
            output.text = "".join(kept)
            return output if kept else None
        data = output.get("data", {})
        if "text/plain" in data:
            text = data["text/plain"]
            text = "".join(text) if isinstance(text, list) else str(text)
            if any(self._quotes(ln, hidden) for ln in text.splitlines()):
                return None
        return output


def feedback_preprocessors(configured: list[Any]) -> list[Any]:
    """The course's ``GenerateFeedback.preprocessors`` with ``HideHiddenTests`` before
    ``ClearHiddenTests`` (both added when missing)."""
    from nbgrader.preprocessors import ClearHiddenTests, GetGrades

    def short_names() -> list[str]:
        return [(p if isinstance(p, str) else p.__qualname__).rsplit(".", 1)[-1] for p in out]

    out = [p for p in configured
           if (p if isinstance(p, str) else p.__qualname__).rsplit(".", 1)[-1] != "HideHiddenTests"]
    if "GetGrades" not in short_names():
        out.insert(0, GetGrades)
    if "ClearHiddenTests" not in short_names():
        out.insert(short_names().index("GetGrades") + 1, ClearHiddenTests)
    out.insert(short_names().index("ClearHiddenTests"), HideHiddenTests)
    return out


def failure_page(student: str, chapter: str, status: str, reason: str, max_score: float,
                 score: float = 0.0) -> str:
    """A short feedback page for a submission without nbgrader's page (it could not be graded)."""
    what = {
        "missing": "We found no notebook to grade.",
        "invalid": "Your file could not be read as a Jupyter notebook.",
        "timeout": "Your notebook did not finish within the time limit.",
        "graded": "Your notebook was graded, but its feedback page could not be made.",
    }.get(status, "Your notebook could not be graded.")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(chapter)} feedback: {html.escape(student)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;line-height:1.5}}
.box{{border-left:4px solid #D55E00;padding:.5rem 1rem;background:#fdf3ec}}</style></head>
<body><h1>{html.escape(chapter)}: feedback for {html.escape(student)}</h1>
<div class="box"><p><strong>{html.escape(what)}</strong></p>
<p>Reason: {html.escape(reason)}</p>
<p>Score: {score:g} of {max_score:g}.</p></div>
<p>Check that you submitted the notebook you worked on, saved and named
<code>{html.escape(chapter)}.ipynb</code>, that it opens in JupyterLab, and that
<em>Kernel, Restart and Run All</em> finishes without errors. Then ask your instructor
to grade it again.</p></body></html>
"""
