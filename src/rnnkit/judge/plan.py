"""What a judge needs from the instructor's notebook: its set-up and the exercise names.

The set-up is the source notebook's imports cell (its first code cell); the exercise
names are those defined at the top level of its solution cells (``def``, ``class`` and
assignments). A test cell whose metadata has ``"rnnkit": {"judge": false}`` runs in the
student's kernel instead (an escape hatch: no cell of the course needs it, since tests
that train a student's model run in the judge too; see ``autograder/README.md``). All
of it comes from the instructor's copy, never from the student's: a student cannot
change what the judge imports, which names it proxies or which tests it runs.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

__all__ = ["JudgePlan", "judge_plan", "plan_for_chapter"]


@dataclass(frozen=True)
class JudgePlan:
    """The judge's set-up source and the names it proxies."""

    setup: str
    names: list[str] = field(default_factory=list)
    # test cells (grade_ids) the instructor marked to run in the student's kernel
    in_kernel: list[str] = field(default_factory=list)

    def modules(self) -> list[str]:
        """The modules the set-up imports at its top level (the grader preloads them)."""
        lines = [ln for ln in self.setup.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            return []
        found: list[str] = []
        for node in tree.body:
            if isinstance(node, ast.Import):
                found += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.append(node.module)
        return list(dict.fromkeys(found))


def _source(cell: Any) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _defined(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def judge_plan(notebook: Any) -> JudgePlan:
    """The plan for an instructor's source notebook (an nbformat 4 dict or NotebookNode)."""
    cells = [c for c in notebook.get("cells", []) if c.get("cell_type") == "code"]
    setup = _source(cells[0]) if cells else ""
    names: list[str] = []
    in_kernel: list[str] = []
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            names += [n for n in _defined(_source(cell)) if n not in names]
        elif meta.get("grade") and cell.get("metadata", {}).get("rnnkit", {}).get(
                "judge") is False:
            in_kernel.append(meta.get("grade_id", ""))
    return JudgePlan(setup, names, in_kernel)


def plan_for_chapter(folder: Any) -> JudgePlan:
    """The plan for the source notebook ``folder/<folder name>.ipynb`` (``solutions/NN_slug``)."""
    import json
    from pathlib import Path

    path = Path(folder) / f"{Path(folder).name}.ipynb"
    return judge_plan(json.loads(path.read_text(encoding="utf-8")))
