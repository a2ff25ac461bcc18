"""Later chapters run on the student's own functions from earlier chapters.

``rnn_forward = use_earlier("03_rnn", "rnn_forward")`` reads the student's notebook of
that chapter (``../03_rnn/03_rnn.ipynb`` from the current notebook's folder), runs its
first code cell and its solution cells in a fresh namespace, then the test cell of each
requested exercise. When those tests pass, the student's own function is returned;
otherwise (not written yet, failing its tests, no such notebook: for example while
grading, where only one chapter is present) rnnkit's reference implementation is,
generated from ``solutions/`` (:mod:`rnnkit.reference`). Either way one line says
which, and why.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import reference

__all__ = ["Choice", "choose", "use_earlier"]


@dataclass(frozen=True)
class Choice:
    """Which implementation of ``name`` a later chapter uses, and why."""

    name: str
    chapter: str
    value: Any
    yours: bool
    reason: str

    def line(self) -> str:
        if self.yours:
            return f"Using your {self.name} from {self.chapter} (its tests pass)."
        return f"Using rnnkit's reference {self.name}: {self.reason}."


def _defined(source: str) -> set[str]:
    try:
        tree = ast.parse(reference._strip_magics(source))
    except SyntaxError:
        return set()
    return {n.name for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _first_line(err: BaseException) -> str:
    text = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {text[:200]}" if text else type(err).__name__


def _run(source: str, namespace: dict[str, Any]) -> None:
    """Run a cell's code with its output swallowed (it belongs to the other chapter)."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        exec(compile(reference._strip_magics(source), "<earlier chapter>", "exec"), namespace)


def _student(path: Path, chapter: str, names: tuple[str, ...]) -> dict[str, Any | str]:
    """``name -> the student's object``, or ``name -> why it cannot be used``."""
    import nbformat  # here only: ~2 s of imports that grading kernels never need

    if not path.is_file():
        return dict.fromkeys(names, f"there is no {path.as_posix()} here to take yours from")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # an unreadable notebook is a reason, not a crash
        return dict.fromkeys(names, f"{path.name} could not be read ({_first_line(err)})")
    code = [c for c in nb.cells if c.cell_type == "code"]
    solutions = {c.metadata["nbgrader"]["grade_id"]: c for c in code
                 if c.metadata.get("nbgrader", {}).get("solution")}
    tests = {c.metadata["nbgrader"]["grade_id"]: c for c in code
             if c.metadata.get("nbgrader", {}).get("grade")}
    namespace: dict[str, Any] = {"__name__": f"rnnkit_earlier_{chapter}"}
    found: dict[str, Any | str] = {}
    try:
        if code:
            _run(code[0].source, namespace)
        for cell in solutions.values():
            _run(cell.source, namespace)
    except Exception as err:
        return dict.fromkeys(names, f"your {chapter} notebook does not run ({_first_line(err)})")
    for name in names:
        gid = next((g for g, c in solutions.items() if name in _defined(c.source)), None)
        if gid is None or name not in namespace:
            found[name] = f"your {chapter} notebook does not define {name}"
            continue
        test = tests.get(f"{gid}_tests")
        try:
            if test is not None:
                _run(test.source, dict(namespace))
        except NotImplementedError:
            found[name] = f"yours in {chapter} is not written yet"
        except Exception as err:
            found[name] = f"yours in {chapter} fails its tests ({_first_line(err)})"
        else:
            found[name] = namespace[name]
    return found


def choose(chapter: str, *names: str, folder: Path | None = None) -> list[Choice]:
    """The implementation of each of ``names`` to use, the student's or the reference."""
    if not names:
        raise ValueError("use_earlier expects the names to take, for example "
                         "use_earlier('03_rnn', 'rnn_forward')")
    ref = reference.load(chapter)
    missing = [n for n in names if not hasattr(ref, n)]
    if missing:
        raise ValueError(f"chapter {chapter} has no exercise named {', '.join(missing)}")
    here = Path.cwd() if folder is None else folder
    path = here.parent / chapter / f"{chapter}.ipynb"
    if os.environ.get("NBGRADER_EXECUTION"):
        found = dict.fromkeys(names, "while grading, every chapter uses the reference")
    else:
        found = _student(path, chapter, names)
    return [Choice(n, chapter, found[n], True, "") if not isinstance(found[n], str)
            else Choice(n, chapter, getattr(ref, n), False, found[n]) for n in names]


def use_earlier(chapter: str, *names: str, folder: Path | None = None) -> Any:
    """The student's own ``names`` from ``chapter`` when they pass their tests, else rnnkit's.

    Prints one line per name saying which is used. Returns the object for one name,
    a tuple for several.
    """
    choices = choose(chapter, *names, folder=folder)
    for choice in choices:
        print(choice.line())
    values = tuple(c.value for c in choices)
    return values[0] if len(values) == 1 else values
