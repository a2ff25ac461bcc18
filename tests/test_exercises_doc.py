"""docs/exercises.md, the exercise contract, matches the chapters' graded cells both ways."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rnnkit.paths import chapters, notebook_path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "exercises.md"
CHAPTERS = chapters(REPO)


def _documented(chapter: str) -> list[str]:
    sections = re.split(r"^## ", DOC.read_text(), flags=re.M)
    body = next((s for s in sections if s.split("\n", 1)[0].strip() == chapter), None)
    assert body is not None, f"docs/exercises.md has no section ## {chapter}"
    return re.findall(r"^- `([A-Za-z_]\w*)\(", body, re.M)


def test_every_documented_chapter_exists() -> None:
    documented = re.findall(r"^## (\d\d_\w+)\s*$", DOC.read_text(), flags=re.M)
    assert sorted(documented) == sorted(set(documented)), "a chapter is documented twice"
    missing = sorted(set(CHAPTERS) - set(documented))
    assert not missing, f"chapters without a section in docs/exercises.md: {missing}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_contract_and_the_notebook_agree(chapter: str) -> None:
    names = _documented(chapter)
    assert names, f"docs/exercises.md lists no exercise for {chapter}"
    nb = json.loads(notebook_path(REPO, "solutions", chapter).read_text())
    meta = [(c, c.get("metadata", {}).get("nbgrader", {})) for c in nb["cells"]]
    solutions = {m["grade_id"]: "".join(c["source"]) for c, m in meta if m.get("solution")}
    tests = {m["grade_id"]: "".join(c["source"]) for c, m in meta if m.get("grade")}
    for name in names:
        owner = [gid for gid, src in solutions.items()
                 if re.search(rf"^(def|class) {name}\b", src, re.M)]
        assert owner, f"{chapter}: {name} is not defined in a graded solution cell"
        test = tests.get(f"{owner[0]}_tests")
        assert test is not None, f"{chapter}: {name} has no test cell {owner[0]}_tests"
        assert "BEGIN HIDDEN TESTS" in test, f"{chapter}: {name} has no hidden tests"
    for gid, src in solutions.items():
        if f"{gid}_tests" not in tests:
            continue
        defined = re.findall(r"^(?:def|class) (\w+)", src, re.M)
        assert set(defined) & set(names), (
            f"{chapter}: the graded exercise {gid} ({', '.join(defined)}) is not in "
            "docs/exercises.md")
