"""The integrity scan: each tampering pattern is found, honest course code is not flagged."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from rnnkit.grading import integrity, worker
from rnnkit.grading.integrity import (
    PATTERNS,
    Flag,
    scan_files,
    scan_notebook,
    scan_source,
    scan_submission,
)
from rnnkit.grading.model import GradeJob

REPO = Path(__file__).resolve().parents[1]

# one snippet per pattern: (pattern, code that must be flagged with it)
POSITIVE = [
    ("module_patch", "np.allclose = lambda *a, **k: True"),
    ("module_patch", "import numpy as xp\nxp.linalg.solve = None"),
    ("module_patch", "from numpy import ndarray\nndarray.foo = 1"),
    ("module_patch", "setattr(np, 'max', min)"),
    ("module_patch", "import builtins\nbuiltins.isinstance = lambda *a: True"),
    ("module_patch", "__builtins__.len = lambda x: 0"),
    ("module_patch", "import torch\ntorch.Tensor.__eq__ = lambda s, o: True"),
    ("module_patch", "import rnnkit.checks\nrnnkit.checks.check_close = print"),
    ("module_patch", "vars(np)['allclose'] = None"),
    ("module_patch", "def f():\n    np.all = any"),
    ("rebinds_course_name", "check_close = lambda *a, **k: None"),
    ("rebinds_course_name", "def check_shape(*a):\n    pass"),
    ("rebinds_course_name", "np = None"),
    ("sys_modules", "import sys\nsys.modules['numpy'] = object()"),
    ("sys_modules", "import importlib\nimportlib.reload(np)"),
    ("sys_modules", "from sys import modules"),
    ("ctypes", "import ctypes"),
    ("ctypes", "from ctypes import string_at"),
    ("ctypes", "__import__('ctypes')"),
    ("file_outside", "open('/etc/passwd').read()"),
    ("file_outside", "open('../../gradebook.db', 'rb')"),
    ("file_outside", "from pathlib import Path\nPath('..', 'solutions').exists()"),
    ("file_outside", "import os\nos.symlink('/etc/passwd', 'x')"),
    ("file_outside", "np.load('/tmp/answers.npy')"),
    ("file_outside", "p = 'autograder/gradebook.db'"),
    ("grading_sniffing", "import os\nif os.environ.get('NBGRADER_EXECUTION'):\n    pass"),
    ("grading_sniffing", "import os\nos.getenv('HOME')"),
    ("grading_sniffing", "from os import environ"),
    ("grading_sniffing", "import os\nprint('autograded' in os.getcwd())"),
    ("grading_sniffing", "import sys\nprint(sys.argv)"),
    ("traceback_suppression", "get_ipython().showtraceback = lambda *a, **k: None"),
    ("traceback_suppression", "import sys\nsys.excepthook = print"),
    ("traceback_suppression", "get_ipython().set_custom_exc((Exception,), print)"),
    ("displayhook", "import sys\nsys.displayhook(2)"),
    ("kernel_internals", "get_ipython().input_transformers_cleanup.append(f)"),
    ("kernel_internals", "print(In[-1])"),
    ("kernel_internals", "print(_ih)"),
    ("kernel_internals", "from IPython import get_ipython"),
    ("introspection", "import inspect\ninspect.stack()"),
    ("introspection", "import sys\nsys._getframe(1).f_globals"),
    ("introspection", "import gc\ngc.get_objects()"),
    ("introspection", "import sys\nsys.settrace(None)"),
    ("process_exit", "import sys\nsys.exit(0)"),
    ("process_exit", "import os\nos._exit(1)"),
    ("process_exit", "exit()"),
    ("process_exit", "raise SystemExit"),
    ("process_exit", "import os as o\no.kill(1, 9)"),
    ("process_spawn", "import os\nos.fork()"),
    ("process_spawn", "import subprocess"),
    ("process_spawn", "!ls /"),
    ("process_spawn", "%%bash\nls /"),
    ("always_true_eq", "class A:\n    def __eq__(self, other):\n        return True"),
    ("always_true_eq", "class A:\n    __eq__ = lambda self, other: True"),
    ("fake_type", "class A:\n    @property\n    def __class__(self):\n        return dict"),
    ("fake_type", "class M(type):\n    def __instancecheck__(cls, obj):\n        return True"),
    ("interrupt_suppression", "while True:\n    try:\n        pass\n    except KeyboardInterrupt:"
                              "\n        pass"),
    ("interrupt_suppression", "while True:\n    try:\n        pass\n    except:\n        pass"),
    ("interrupt_suppression", "import signal\nsignal.signal(2, print)"),
    ("network", "import socket"),
    ("network", "from urllib.request import urlopen"),
    ("dynamic_code", "exec(bytes.fromhex('7072696e74283129').decode())"),
    ("dynamic_code", "code = 'x = 1'\neval(compile(code, 'f', 'exec'))"),
]

# honest student code the course asks for: nothing to flag
NEGATIVE = [
    "import numpy as np\nX = np.stack([s[i : i + 3] for i in range(4)])",
    "stoi = {}\nfor i, ch in enumerate(sorted(set(text))):\n    stoi[ch] = i",
    "out = np.zeros((3, 4))\nnp.put_along_axis(out, idx[..., None], 1.0, axis=-1)",
    "w, *_ = np.linalg.lstsq(A, y, rcond=None)",
    "try:\n    x = int(s)\nexcept ValueError:\n    x = 0",
    "for s in items:\n    try:\n        x = int(s)\n    except:\n        x = 0",
    "%matplotlib inline\nimport matplotlib.pyplot as plt",
    "with open('my_notes.txt', 'w') as f:\n    f.write('ok')",
    "class Model:\n    def __eq__(self, other):\n        return self.w == other.w",
    "def make_windows(series, window, horizon=1):\n    raise NotImplementedError()",
    "print(\"autograd's gradient equals the hand-derived one\")",
    "exec('x = 1')",
]


@pytest.mark.parametrize(("pattern", "code"), POSITIVE, ids=[f"{p}-{i}" for i, (p, _) in
                                                              enumerate(POSITIVE)])
def test_pattern_is_found(pattern: str, code: str) -> None:
    found = {p for _, p, _ in scan_source(code)}
    assert pattern in found, f"{pattern} not found in {code!r}; found {sorted(found)}"


@pytest.mark.parametrize("code", NEGATIVE)
def test_honest_code_is_not_flagged(code: str) -> None:
    assert scan_source(code) == []


def test_every_pattern_has_a_description_and_a_test() -> None:
    tested = {p for p, _ in POSITIVE} | {"suspicious_tags", "shadowing_module",
                                         "unreadable_notebook", "scan_failed"}
    assert tested == set(PATTERNS)
    assert all(PATTERNS.values())


def test_flag_points_at_cell_line_and_code() -> None:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# title"),
        nbformat.v4.new_code_cell("x = 1\nimport numpy as np\nnp.max = min",
                                  metadata={"nbgrader": {"grade_id": "01_f", "solution": True}}),
    ])
    assert scan_notebook(nb) == [Flag(1, "01_f", 3, "module_patch", "np.max = min")]


def test_unparseable_cell_falls_back_to_regex() -> None:
    found = scan_source("def broken(:\n    np.allclose = f\nimport ctypes\nos._exit(0)")
    assert {(line, p) for line, p, _ in found} >= {(2, "module_patch"), (3, "ctypes"),
                                                   (4, "process_exit")}


RELEASED = sorted(p.parent.name for p in (REPO / "course").glob("*/*.ipynb")
                  if (REPO / "solutions" / p.parent.name / p.name).is_file())


@pytest.mark.parametrize("chapter", RELEASED)
def test_chapter_notebooks_are_clean(chapter: str) -> None:
    """What an honest student hands in (the release with the solutions filled in), scanned
    as rnnkit grade scans it (the release as the reference, so instructor cells, which may
    read NBGRADER_EXECUTION, are skipped), has no flag: the solutions are clean code."""
    release = REPO / "course" / chapter / f"{chapter}.ipynb"
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nbformat.read(
        REPO / "solutions" / chapter / f"{chapter}.ipynb", as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = answers[cell.metadata["nbgrader"]["grade_id"]]
    assert scan_notebook(nb, reference=release) == []


def test_reference_skips_unchanged_instructor_cells(tmp_path: Path) -> None:
    sniff = "import os\nbudget = 10 if os.environ.get('NBGRADER_EXECUTION') else 1000"
    release = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(sniff)])
    path = tmp_path / "release.ipynb"
    nbformat.write(release, path)
    assert scan_notebook(release, reference=path) == []
    edited = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(sniff + "\n")])
    assert [f.pattern for f in scan_notebook(edited, reference=path)] == ["grading_sniffing"]


def test_tags_that_skip_or_allow_failure_are_flagged() -> None:
    cell = nbformat.v4.new_code_cell("pass", metadata={
        "tags": ["raises-exception"], "nbgrader": {"grade_id": "01_f_tests", "grade": True}})
    flags = scan_notebook(nbformat.v4.new_notebook(cells=[cell]))
    assert [(f.pattern, f.grade_id) for f in flags] == [("suspicious_tags", "01_f_tests")]


def test_submission_folder(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import ctypes")])
    nbformat.write(nb, tmp_path / "01_sequences.ipynb")
    (tmp_path / "numpy.py").write_text("allclose = lambda *a, **k: True\n")
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("")
    (tmp_path / "helper.py").write_text("x = 1\n")
    (tmp_path / "broken.ipynb").write_text('{"cells": [')
    (tmp_path / "notes.txt").write_text("np.allclose = 1")
    got = sorted((f.file, f.pattern) for f in scan_submission(tmp_path))
    assert got == [("01_sequences.ipynb", "ctypes"), ("broken.ipynb", "unreadable_notebook"),
                   ("numpy.py", "shadowing_module"), ("torch", "shadowing_module")]
    assert json.dumps([f.as_dict() for f in scan_submission(tmp_path)])  # serialisable


# -- the scan never changes a score, never crashes -------------------------------------------
def _deep(n: int) -> str:
    return "total = " + " + ".join(["1"] * n)


@pytest.mark.parametrize("terms", [500, 5_000, 100_000])
def test_a_deeply_nested_expression_is_scanned_without_crashing(terms: int) -> None:
    """Correct code with one long sum (nested `terms` deep) is not flagged, and a patch in the
    same cell is still found (by the tree walk at 500, by the line scan past the parser)."""
    assert scan_source(_deep(terms)) == []
    found = scan_source(_deep(terms) + "\nnp.allclose = lambda *a, **k: True")
    assert [(line, p) for line, p, _ in found] == [(2, "module_patch")]


def test_loop_state_survives_the_iterative_walk() -> None:
    source = ("while True:\n    def f():\n        try:\n            pass\n        except:\n"
              "            pass\n    try:\n        pass\n    except:\n        pass\n")
    assert [(line, p) for line, p, _ in scan_source(source)] == [(9, "interrupt_suppression")]


def test_a_deeply_nested_notebook_file_is_unreadable_not_a_crash() -> None:
    data = b'{"cells": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    flags = scan_files({"01_sequences.ipynb": data})
    assert [(f.pattern, f.file) for f in flags] == [("unreadable_notebook", "01_sequences.ipynb")]


def test_other_files_are_judged_by_name() -> None:
    flags = scan_files({"01_sequences.ipynb": nbformat.writes(nbformat.v4.new_notebook()).encode(),
                        "numpy.py": None, "torch/__init__.py": None, "torch/extra.py": None,
                        "sub/evil.pth": None, "helper.py": None, "notes.txt": None})
    assert sorted((f.file, f.pattern) for f in flags) == [
        ("numpy.py", "shadowing_module"), ("sub/evil.pth", "shadowing_module"),
        ("torch", "shadowing_module")]


def _job(notebook: nbformat.NotebookNode, reference: bytes | None = None) -> GradeJob:
    return GradeJob("s", "01_sequences", "rnnkit", {"01_sequences.ipynb":
                                                    nbformat.writes(notebook).encode()}, b"", None,
                    reference=reference)


def test_worker_scan_of_a_deep_expression_has_no_flag() -> None:
    nb = nbformat.read(REPO / "solutions" / "01_sequences" / "01_sequences.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(_deep(500)))
    release = (REPO / "course" / "01_sequences" / "01_sequences.ipynb").read_bytes()
    assert worker._scan(_job(nb, release)) == []


def test_a_failing_scan_is_one_flag_never_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> list[Flag]:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(integrity, "scan_files", broken)
    flags = worker._scan(_job(nbformat.v4.new_notebook()))
    assert [f["pattern"] for f in flags] == ["scan_failed"]
    assert "RecursionError" in flags[0]["code"] and flags[0]["description"]
