"""What one submission may leave behind: outputs capped per notebook, never silently.

While a notebook runs, ``HardenedExecute`` keeps at most ``OutputCaps.cell_bytes`` of output
per cell and ``OutputCaps.notebook_bytes`` per notebook (so the worker never holds more).
After it ran, ``cap_notebook`` applies the notebook's cap to everything a notebook can carry
that is not code: cell outputs (including what display updates and saved outputs left),
markdown attachments and widget state. Outputs past the cap are dropped, in cell order,
and the cell says so in a note; the cap never changes a score: a test cell keeps a small
copy of each error and stderr output (what nbgrader scores), and a graded cell whose grade
would change anyway keeps its outputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from nbformat import NotebookNode

from .model import MiB

KEEP_CHARS = 1000  # of an error message or stderr text kept in a test cell past the cap
#: A transparent 1x1 PNG: what a dropped markdown attachment becomes.
BLANK_PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASU"
             "VORK5CYII=")


@dataclass
class Capped:
    """What ``cap_notebook`` dropped: bytes before and after, and where."""

    before: int = 0
    after: int = 0
    cells: list[str] = field(default_factory=list)  # "01_encode_tests", "cell 12"
    attachments: int = 0
    widget_state: bool = False

    @property
    def hit(self) -> bool:
        return bool(self.cells or self.attachments or self.widget_state)


def size(obj: Any) -> int:
    """Bytes of ``obj`` as JSON (what it costs in the saved notebook)."""
    return len(json.dumps(obj, default=str, ensure_ascii=False).encode("utf-8"))


def output_bytes(nb: NotebookNode) -> int:
    """Everything of ``nb`` that the cap counts: outputs, attachments, widget state."""
    total = size(nb.metadata.get("widgets", {})) if "widgets" in nb.metadata else 0
    for cell in nb.cells:
        total += sum(size(o) for o in cell.get("outputs", []))
        total += size(cell["attachments"]) if cell.get("attachments") else 0
    return total


def cell_label(cell: NotebookNode, index: int) -> str:
    grade_id = (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")
    return str(grade_id) if grade_id else f"cell {index}"


def cap_notebook(nb: NotebookNode, limit: int) -> Capped:
    """Drop what is past ``limit`` bytes of outputs, in place; see the module docstring."""
    from nbgrader import utils

    report = Capped(before=output_bytes(nb))
    if report.before <= limit:
        report.after = report.before
        return report
    used = 0
    for index, cell in enumerate(nb.cells):
        if cell.get("attachments"):
            cost = size(cell["attachments"])
            if used + cost > limit:  # a blank pixel each: the markdown still renders
                report.attachments += len(cell["attachments"])
                cell["attachments"] = {name: {"image/png": BLANK_PNG} for name in
                                       cell["attachments"]}
                used += size(cell["attachments"])
            else:
                used += cost
        outputs = cell.get("outputs")
        if not outputs:
            continue
        graded = utils.is_grade(cell) and cell.cell_type == "code"
        grade = utils.determine_grade(cell) if graded else None
        original, used_before = list(outputs), used
        kept, dropped = [], False
        for output in outputs:
            cost = size(output)
            if used + cost <= limit:
                kept.append(output)
                used += cost
                continue
            dropped = True
            stub = _scored_stub(output) if graded else None
            if stub is not None:
                kept.append(stub)
                used += size(stub)
        if not dropped:
            continue
        kept.append(NotebookNode(output_type="stream", name="stdout", text=(
            f"\n[rnnkit: output past this notebook's cap of {limit / MiB:g} MiB was "
            "dropped]\n")))
        cell.outputs = kept
        if graded and utils.determine_grade(cell) != grade:
            cell.outputs = original  # never a changed score: keep this cell as it ran
            used = used_before + sum(size(o) for o in original)
            continue
        report.cells.append(cell_label(cell, index))
    if "widgets" in nb.metadata and used + size(nb.metadata["widgets"]) > limit:
        del nb.metadata["widgets"]
        report.widget_state = True
    report.after = output_bytes(nb)
    return report


def _scored_stub(output: NotebookNode) -> NotebookNode | None:
    """A small copy of an output nbgrader reads to score a cell (errors, stderr), else None."""
    kind = output.get("output_type")
    if kind == "error":
        ename = str(output.get("ename", "Error"))[:200]
        evalue = str(output.get("evalue", ""))[:KEEP_CHARS]
        return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                            traceback=[f"{ename}: {evalue}"])
    if kind == "stream" and output.get("name") == "stderr":
        return NotebookNode(output_type="stream", name="stderr",
                            text=str(output.get("text", ""))[:KEEP_CHARS])
    if kind == "execute_result":  # nbgrader reads its text as a partial score
        text = output.get("data", {}).get("text/plain", "")
        text = "".join(text) if isinstance(text, list) else str(text)
        return NotebookNode(output_type="execute_result", execution_count=output.get(
            "execution_count"), metadata={}, data={"text/plain": text[:KEEP_CHARS]})
    return None
