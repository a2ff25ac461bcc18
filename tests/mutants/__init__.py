"""The mutant corpus: realistic student mistakes, each with the message it must produce.

One module per chapter, ``tests/mutants/mNN_slug.py``, holds ``MUTANTS``, a list of
:class:`Mutant`. ``tests/test_mutants.py`` runs each chapter's solution notebook in
one kernel (with ``NBGRADER_EXECUTION`` set, as grading does) and, at every graded
solution cell, runs each of its mutants in place of the solution followed by the
cell's test cell (hidden tests included, as nbgrader grades it). A mutant must fail
its test cell, and unless ``named`` is False, the error must contain ``message``
(case-insensitive): the words that name the mistake.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field

# chapter -> [(grade_id, mistake, verdict)], verdict "named", "unnamed" or "passing";
# filled by tests/test_mutants.py and printed at the end of the pytest run (tests/conftest.py)
RESULTS: dict[str, list[tuple[str, str, str]]] = {}


@dataclass(frozen=True)
class Mutant:
    """One realistic mistake in the solution cell ``grade_id``.

    ``replace``: ``(old, new)`` pairs applied to the solution cell's source, each
    ``old`` found exactly once (so a mutant cannot rot silently when the solution
    changes); or ``source``: the whole cell as the student wrote it. ``message``: a
    fragment the failing test's message must contain. ``named=False`` marks a known
    gap: the mutant must still fail, but its message is not checked (counted as unnamed).
    """

    grade_id: str
    mistake: str
    message: str = ""
    replace: tuple[tuple[str, str], ...] = ()
    source: str | None = None
    named: bool = True
    tags: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if (self.source is None) == (not self.replace):
            raise ValueError(f"{self.grade_id}: {self.mistake!r}: give replace or source, "
                             "exactly one")
        if self.named and not self.message.strip():
            raise ValueError(f"{self.grade_id}: {self.mistake!r}: a named mutant needs the "
                             "message fragment it must produce")

    def apply(self, solution_source: str) -> str:
        """The mutated cell source; ``ValueError`` when a ``replace`` pair no longer fits."""
        if self.source is not None:
            return self.source
        text = solution_source
        for old, new in self.replace:
            count = text.count(old)
            if count != 1:
                raise ValueError(f"{self.grade_id}: {self.mistake!r}: {old!r} occurs "
                                 f"{count} times in the solution cell; expected once")
            text = text.replace(old, new)
        return text


def corpus() -> dict[str, list[Mutant]]:
    """``chapter id -> mutants`` for every ``mNN_slug`` module of this package."""
    found: dict[str, list[Mutant]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("m") and info.name[1:3].isdigit():
            module = importlib.import_module(f"{__name__}.{info.name}")
            found[info.name[1:]] = list(module.MUTANTS)
    return dict(sorted(found.items()))


def summary_lines() -> list[str]:
    """The corpus' counts per chapter: mutants, named by their message, passing their tests."""
    if not RESULTS:
        return []
    lines = [f"{'chapter':<20} {'mutants':>7} {'named':>6} {'passing':>7}"]
    totals = [0, 0, 0]
    for chapter, rows in sorted(RESULTS.items()):
        verdicts = [verdict for *_, verdict in rows]
        counts = [len(rows), verdicts.count("named"), verdicts.count("passing")]
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        lines.append(f"{chapter:<20} {counts[0]:>7} {counts[1]:>6} {counts[2]:>7}")
    lines.append(f"{'all':<20} {totals[0]:>7} {totals[1]:>6} {totals[2]:>7}")
    return lines
