"""Cells that need a student's function: one line saying what to do, never a traceback.

A demonstration cell wraps its body in ``with needs(rnn_step, rnn_forward):``. While
those functions still raise ``NotImplementedError`` (the release's stub), the block
stops where it first calls one and the cell prints one line::

    Implement rnn_forward first (it still raises NotImplementedError), run its cell, then this one.

When a function the block needs raises another error, the line names the function and
the error and points at its tests. A later block that fails while one of its functions
is still waiting (an earlier block stopped for it: a result was never made), or with a
``NameError`` after any block stopped, says which function it is waiting for; a block
that runs through clears the wait for its functions.
Errors that do not come from the named functions propagate unchanged (they are the
chapter's own bugs, and nbval must see them).

Test cells use :class:`NotDoneYet` (raised by ``rnnkit.checks_oracle.call_checked``):
a ``NotImplementedError`` whose traceback IPython shows as one line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = ["NotDoneYet", "needs", "student_frames"]

_waiting: list[str] = []  # functions earlier needs() blocks stopped for, in order


class NotDoneYet(NotImplementedError):
    """A graded function is still the release's stub; shown as one line in JupyterLab."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not implemented yet: write it in its cell (replace "
                         "raise NotImplementedError()), run that cell, then run these tests")
        self.name = name

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"NotDoneYet: {self}"]


def _codes(func: Any) -> set[Any]:
    """The code objects of a function, or of every method of a class."""
    if isinstance(func, type):
        codes = set()
        for klass in func.__mro__:
            if klass.__module__ in {"builtins", "torch.nn.modules.module"}:
                continue
            for value in vars(klass).values():
                value = getattr(value, "__func__", value)
                code = getattr(value, "__code__", None)
                if code is not None:
                    codes.add(code)
        return codes
    code = getattr(getattr(func, "__func__", func), "__code__", None)
    return {code} if code is not None else set()


def _label(func: Any) -> str:
    return getattr(func, "__name__", None) or type(func).__name__


def student_frames(tb: TracebackType | None, funcs: tuple[Any, ...]) -> list[str]:
    """Names of the functions in ``funcs`` that have a frame in traceback ``tb``, innermost last."""
    by_code = {code: _label(f) for f in funcs for code in _codes(f)}
    names = []
    while tb is not None:
        name = by_code.get(tb.tb_frame.f_code)
        if name is not None and (not names or names[-1] != name):
            names.append(name)
        tb = tb.tb_next
    return names


def _say(line: str) -> None:
    print(line, file=sys.stdout, flush=True)


class needs:  # lowercase: used like contextlib's context managers
    """``with needs(f, g): ...``: stop the block with one line while ``f`` or ``g`` is not done."""

    def __init__(self, *funcs: Callable[..., Any] | type) -> None:
        if not funcs:
            raise ValueError("needs() expects the student functions the cell uses, "
                             "for example needs(rnn_step)")
        self.funcs = funcs

    def __enter__(self) -> needs:
        pyplot = sys.modules.get("matplotlib.pyplot")
        self._figures = set(pyplot.get_fignums()) if pyplot is not None else set()
        return self

    def _stop(self, line: str) -> bool:
        """Print ``line`` and drop the figures the stopped block left half drawn."""
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            for number in set(pyplot.get_fignums()) - self._figures:
                pyplot.close(number)
        _say(line)
        return True

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> bool:
        labels = [_label(f) for f in self.funcs]
        if err is None:
            for name in labels:  # the block ran: what it needs is there now
                while name in _waiting:
                    _waiting.remove(name)
            return False
        if not isinstance(err, Exception):
            return False
        names = student_frames(tb, self.funcs)
        ready_error = type(err).__name__ == "NotReady" and hasattr(err, "name")
        if isinstance(err, NotImplementedError) or ready_error:
            name = (getattr(err, "name", None) if ready_error or isinstance(err, NotDoneYet)
                    else None) or (names[-1] if names else None)
            if name is not None:
                _waiting.append(name)
                return self._stop(f"Implement {name} first (it still raises "
                                  "NotImplementedError), run its cell, then run this cell again.")
        waiting = [n for n in labels if n in _waiting]
        if waiting or (isinstance(err, NameError) and _waiting):
            # a consequence of an earlier cell that stopped (a result it never made)
            name = waiting[0] if waiting else _waiting[-1]
            return self._stop(f"This cell needs {name}, which a cell above is still waiting "
                              f"for: implement {name} first, then run the cells from there again.")
        if names:
            first_line = (str(err).strip().splitlines() or [""])[0][:300]
            return self._stop(f"{names[-1]} raised {type(err).__name__}: {first_line}. Its "
                              "tests above say what is wrong; fix it, run its cell, then run "
                              "this cell again.")
        return False
