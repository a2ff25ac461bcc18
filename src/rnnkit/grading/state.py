"""The run's state file (``manifest.json``): what was graded, from which bytes, with what result.

It is rewritten (atomically) after every submission, so an interrupted run resumes where
it stopped: a submission whose bytes, assignment and grader are unchanged since it was
graded, and that the gradebook still holds, is not graded again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .model import Entry

STATE_VERSION = 1
#: Bump when a change of the pipeline changes results, so old results are regraded.
GRADER_VERSION = "4"  # 3: test cells run in the judge; 4: autograd tests there too


@dataclass
class RunState:
    """All students' entries, valid for one assignment key and one gradebook."""

    path: Path
    key: str = ""
    db_url: str = ""
    students: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, key: str, db_url: str) -> RunState:
        """The state at ``path``; empty when missing, unreadable, or for another key or db."""
        state = cls(path, key, db_url)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return state
        if (not isinstance(data, dict) or data.get("version") != STATE_VERSION
                or data.get("key") != key or data.get("db_url") != db_url):
            return state
        for student, raw in (data.get("students") or {}).items():
            try:
                state.students[student] = Entry(**raw)
            except TypeError:
                continue
        return state

    def record(self, student: str, entry: Entry) -> None:
        entry.graded_at = entry.graded_at or datetime.now(UTC).isoformat(timespec="seconds")
        self.students[student] = entry
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": STATE_VERSION, "key": self.key, "db_url": self.db_url,
                "students": {s: asdict(e) for s, e in sorted(self.students.items())}}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".manifest-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        os.replace(tmp, self.path)


def fingerprint(parts: list[tuple[str, bytes]]) -> str:
    """A hash of named byte strings, order-independent."""
    h = hashlib.sha256()
    for name, data in sorted(parts):
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()
