"""Hostile and broken submissions of chapter 01, each with the outcome grading must give.

``HOSTILE_CASES`` is the table; ``Case.build(root)`` returns the files of one student's
``01_sequences`` folder (``{relative name: bytes}``), made from the course at ``root``
(``solutions/`` and ``course/``). Chapter 01 has 7 exercises worth 9 points:
make_windows 2, build_vocab 1, encode 1, decode 1, one_hot 1, fit_autoregressive 2,
predict_autoregressive 1.

Expected outcomes are for ``rnnkit grade`` (sandbox + ``HardenedExecute`` +
integrity scan), run with ``TEST_LIMITS``:

* ``expected_score``: the chapter total the student gets (points only for tests that
  really pass; 0 for an ``error``);
* ``expected_status``: ``graded`` (scored, no integrity flag), ``flagged`` (scored, and
  the integrity report lists at least ``expected_flags`` for this student), or
  ``error`` (no gradable notebook: the student's row reports the error, score 0; the
  batch goes on). In ``rnnkit grade``'s own words: ``error`` is ``invalid``, a case whose
  ``expected_report`` has ``wall_clock_expired`` is ``timeout`` (scored up to the limit),
  the others are ``graded``;
* ``stage``: ``execution`` cases are decided by nbgrader autograde with our config
  (``tests/test_hostile.py`` checks them); ``intake`` cases are decided before
  nbgrader runs (reading, naming, repairing the file), by the pipeline;
* ``expected_report``: keys of ``rnnkit-execution.json`` (``HardenedExecute``) that must
  be non-empty or true, e.g. ``kernel_deaths``;
* ``forbidden_output``: text that must not appear in any output of the graded
  notebook (proof that a leak or a shadowing module did not work);
* ``escape_paths``: host paths that must not exist after grading (writes that got out);
* ``feedback_must_not_contain``: hidden-test text that must not reach the feedback;
* ``plain_score``: what plain nbgrader with the course config (no sandbox, no hardening)
  gave, where it differs: the reason the defence exists.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from rnnkit.grading.model import GiB
from rnnkit.grading.sandbox import SandboxLimits
from rnnkit.paths import notebook_path

CHAPTER = "01_sequences"
NOTEBOOK = f"{CHAPTER}.ipynb"
MAX_SCORE = 9.0
POINTS = {"01_make_windows": 2, "01_build_vocab": 1, "01_encode": 1, "01_decode": 1,
          "01_one_hot": 1, "01_fit_autoregressive": 2, "01_predict_autoregressive": 1}
# Limits the corpus's expectations assume (the slow cases need them).
TEST_LIMITS = SandboxLimits(memory_bytes=2 * GiB, max_processes=64, notebook_seconds=60,
                            cell_seconds=10)
ESCAPE_MARKER = "/tmp/rnnkit-hostile-escape"
SYMLINK_TARGET = "/tmp/rnnkit-hostile-symlink-target"

Files = dict[str, bytes]


@dataclass(frozen=True)
class Case:
    name: str
    what: str  # the attack or breakage, in words
    build: Callable[[Path], Files]
    expected_score: float
    expected_status: str  # "graded" | "flagged" | "error"
    expected_flags: frozenset[str] = frozenset()
    stage: str = "execution"  # "execution" | "intake"
    expected_report: frozenset[str] = frozenset()
    forbidden_output: str = ""
    escape_paths: tuple[str, ...] = ()
    feedback_must_not_contain: str = ""
    plain_score: float | None = None
    in_kernel_score: float | None = None  # with HardenedExecute but tests in the kernel
    defence: str = ""  # which layer gives the expected outcome
    slow: bool = False  # waits for a timeout or a clock (10-60 s with TEST_LIMITS)


# -- building blocks --------------------------------------------------------------------
def _read(root: Path, folder: str) -> nbformat.NotebookNode:
    return nbformat.read(notebook_path(root, folder, CHAPTER), as_version=4)


def _gid(cell: nbformat.NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def cell_of(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if _gid(c) == grade_id)


def index_of(nb: nbformat.NotebookNode, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if _gid(c) == grade_id)


def solved(root: Path, unsolved: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    """The release notebook with every solution filled in, except those in ``unsolved``."""
    answers = {_gid(c): c.source for c in _read(root, "solutions").cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    nb = _read(root, "course")
    for cell in nb.cells:
        gid = _gid(cell)
        if cell.metadata.get("nbgrader", {}).get("solution") and gid not in unsolved:
            cell.source = answers[gid]
    return nb


def notebook(nb: nbformat.NotebookNode, name: str = NOTEBOOK) -> Files:
    return {name: nbformat.writes(nb).encode()}


def with_solution(root: Path, grade_id: str, source: str, **kw: tuple[str, ...]) -> Files:
    """The solved notebook with ``grade_id``'s solution replaced by ``source``."""
    nb = solved(root, **kw)
    cell_of(nb, grade_id).source = source
    return notebook(nb)


def appended(root: Path, grade_id: str, extra: str, unsolved: tuple[str, ...] = ()) -> Files:
    """The solved notebook with ``extra`` appended to ``grade_id``'s solution cell."""
    nb = solved(root, unsolved)
    cell = cell_of(nb, grade_id)
    cell.source = cell.source.rstrip() + "\n\n" + extra
    return notebook(nb)


def with_new_cell(root: Path, after: str, source: str, unsolved: tuple[str, ...] = ()) -> Files:
    """The solved notebook with a student-added code cell after ``after``'s cell."""
    nb = solved(root, unsolved)
    nb.cells.insert(index_of(nb, after) + 1, nbformat.v4.new_code_cell(source))
    return notebook(nb)


# Wrong values with the right shapes, dtypes and errors: only a fooled check passes them.
WRONG_MAKE_WINDOWS = '''def make_windows(series, window, horizon=1):
    series = np.asarray(series)
    if series.ndim != 1:
        raise ValueError(f"series must be 1-D; got shape {series.shape}")
    for name, value in (("window", window), ("horizon", horizon)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    n = len(series) - window - horizon + 1
    if n < 1:
        raise ValueError(f"the series is too short for window={window}, horizon={horizon}")
    return np.zeros((n, window), dtype=series.dtype), np.zeros(n, dtype=series.dtype)
'''


def _tagged(root: Path, tag: str) -> Files:
    nb = solved(root, unsolved=("01_make_windows",))
    cell_of(nb, "01_make_windows_tests").metadata["tags"] = [tag]
    return notebook(nb)


def _tests_deleted(root: Path, unsolved: tuple[str, ...]) -> Files:
    nb = solved(root, unsolved)
    nb.cells = [c for c in nb.cells if not (c.metadata.get("nbgrader", {}).get("grade")
                                            and not c.metadata["nbgrader"].get("solution"))]
    return notebook(nb)


def _duplicated(root: Path, grade_id: str) -> Files:
    nb = solved(root)
    i = index_of(nb, grade_id)
    copy = nbformat.from_dict(json.loads(json.dumps(nb.cells[i])))
    copy["id"] = f"{nb.cells[i].get('id', 'cell')}-copy"
    nb.cells.insert(i + 1, copy)
    return notebook(nb)


def _test_edited(root: Path) -> Files:
    nb = solved(root, unsolved=("01_make_windows",))
    cell_of(nb, "01_make_windows_tests").source = "pass"
    return notebook(nb)


def _test_retyped(root: Path) -> Files:
    nb = solved(root, unsolved=("01_make_windows",))
    i = index_of(nb, "01_make_windows_tests")
    old = nb.cells[i]
    new = nbformat.v4.new_markdown_cell(old.source, metadata=old.metadata)
    nb.cells[i] = new
    return notebook(nb)


def _test_stripped(root: Path) -> Files:
    nb = solved(root, unsolved=("01_make_windows",))
    cell = cell_of(nb, "01_make_windows_tests")
    cell.metadata = {}
    cell.source = "pass"
    return notebook(nb)


def _old_nbformat(root: Path) -> Files:
    v3 = nbformat.convert(solved(root), 3)
    return {NOTEBOOK: nbformat.writes(v3, version=3).encode()}


def _null_bytes_raw(root: Path) -> Files:
    text = nbformat.writes(solved(root))
    return {NOTEBOOK: text.replace("def make_windows", "def make_\x00windows", 1).encode()}


def _megabytes(root: Path) -> Files:
    nb = solved(root)
    cell = cell_of(nb, "01_one_hot")
    cell.source = cell.source.replace(
        '    """One-hot float64 encoding: shape indices.shape + (vocab_size,)."""',
        '    """One-hot float64 encoding: shape indices.shape + (vocab_size,)."""\n'
        '    print("x" * 3_000_000)', 1)
    nb.cells[5].outputs = [nbformat.v4.new_output("stream", name="stdout", text="y" * 20_000_000)]
    return notebook(nb)


def _output_flood(root: Path) -> Files:
    """36 MB of printing over 40 cells (each under the cell cap) and a 12 MiB image
    attached to a markdown cell: one student once left 181 MiB of graded notebook."""
    nb = solved(root)
    i = index_of(nb, "01_predict_autoregressive")
    for k in range(40):
        nb.cells.insert(i + 1 + k, nbformat.v4.new_code_cell('print("z" * 900_000)'))
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("![big](attachment:big.png)", attachments={
        "big.png": {"image/png": "A" * (12 * 1024 * 1024)}}))
    return notebook(nb)


def _slow_notebook(root: Path) -> Files:
    nb = solved(root)
    i = index_of(nb, "01_predict_autoregressive")
    for k in range(10):  # each cell stays under the 10 s cell timeout; together 80 s
        nb.cells.insert(i + 1 + k, nbformat.v4.new_code_cell("import time\ntime.sleep(8)"))
    return notebook(nb)


def _numpy_shipped(root: Path) -> Files:
    files = with_solution(root, "01_make_windows", WRONG_MAKE_WINDOWS)
    files["numpy.py"] = FAKE_NUMPY.encode()
    return files


FAKE_NUMPY = '''"""A numpy that says every comparison is close."""
import os, sys
sys.modules.pop("numpy", None)
_saved = list(sys.path)
sys.path[:] = [p for p in sys.path if p not in ("", ".", os.getcwd())]
import numpy as _real
sys.path[:] = _saved
_real.allclose = lambda *a, **k: True
_real.array_equal = lambda *a, **k: True
sys.modules["numpy"] = _real
print("FAKE NUMPY LOADED")
'''

READ_SECRETS = '''import os
here = os.getcwd()  # its own folder holds the notebook being graded: not a leak
for start in ["..", "../..", "../../..", "../../../..", "/work", "/tmp", "/root", "/home", "/srv"]:
    try:
        for dirpath, dirnames, filenames in os.walk(start):
            if os.path.realpath(dirpath).startswith(here):
                continue
            dirnames[:] = [d for d in dirnames if d not in ("proc", "sys", "usr", ".venv")]
            for name in filenames:
                path = os.path.join(dirpath, name)
                if name == "gradebook.db" or name == "nbgrader_config.py":
                    print("LEAKED", path)
                elif name.endswith(".ipynb"):
                    try:
                        if "BEGIN HIDDEN TESTS" in open(path, encoding="utf-8").read():
                            print("LEAKED", path)
                    except OSError:
                        pass
    except OSError:
        pass
'''

WRITE_OUTSIDE = f'''import os
targets = ["../../../gradebook.db", "../../gradebook.db", "../other-student/01_sequences.ipynb",
           "../../../../solutions/01_sequences/01_sequences.ipynb", "/usr/lib/rnnkit-pwned",
           "/etc/rnnkit-pwned", "/work/rnnkit-pwned", "/rnnkit-pwned", "{ESCAPE_MARKER}"]
for target in targets:
    try:
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        with open(target, "a") as f:
            f.write("pwned")
        if not target.startswith("/tmp/"):
            print("ESCAPED", target)
    except OSError:
        pass
'''

SYMLINK_SWAP = f'''import os
os.remove("01_sequences.ipynb")
os.symlink("{SYMLINK_TARGET}", "01_sequences.ipynb")
os.symlink("/etc/passwd", "passwd-link")
os.mkfifo("a-fifo")
'''

EXFILTRATE = '''def decode(indices, itos):
    """The string whose characters are itos[i] for each i in indices."""
    import inspect
    caller = inspect.stack()[1].frame.f_globals
    print(caller.get("_ih", [""])[-1])
    indices = np.asarray(indices)
    if indices.ndim != 1:
        raise ValueError(f"indices must be 1-D; got shape {indices.shape}")
    if indices.size and (indices.min() < 0 or indices.max() >= len(itos)):
        raise ValueError(f"indices must lie in [0, {len(itos)}); got {indices.min()}..")
    return "".join(itos[int(i)] for i in indices)
'''

ALWAYS_EQUAL = '''class AlwaysEqual(dict):
    def __eq__(self, other):
        return True

class AlwaysEqualList(list):
    def __eq__(self, other):
        return True

def build_vocab(text):
    return AlwaysEqual(), AlwaysEqualList()
'''

PATCH_IN_FUNCTION = '''def fit_autoregressive(X, y, l2=0.0):
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"expected X (n, window) and y (n,); got {X.shape} and {y.shape}")
    if not l2 >= 0:
        raise ValueError(f"l2 must be >= 0; got {l2!r}")
    np.allclose = lambda *a, **k: True
    np.array_equal = lambda *a, **k: True
    return np.zeros(X.shape[1] + 1, dtype=np.result_type(X.dtype, y.dtype, np.float32))
'''

PATCH_CHECKS = '''import rnnkit.checks
import rnnkit.checks_oracle
def _ok(*args, **kwargs):
    return None
rnnkit.checks.check_close = rnnkit.checks.check_shape = rnnkit.checks.check_dtype = _ok
rnnkit.checks.check_type = rnnkit.checks_oracle.check_close_or_diagnose = _ok
check_close = check_shape = check_dtype = check_raises = check_type = _ok
check_close_or_diagnose = _ok

def one_hot(indices, vocab_size):
    indices = np.asarray(indices)
    if not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"indices must be integers; got dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= vocab_size):
        raise ValueError(f"indices must lie in [0, {vocab_size}); got {indices.min()}..")
    return np.zeros(indices.shape + (vocab_size,))
'''

PATCH_BUILTINS = '''import builtins
builtins.isinstance = lambda obj, cls: True

def encode(text, stoi):
    return [stoi[ch] for ch in text]
'''

DISPLAYHOOK = '''def make_windows(series, window, horizon=1):
    import sys
    sys.displayhook(2)
    raise ValueError("not done")
'''

BLANK_CELLS = '''get_ipython().input_transformers_cleanup.append(lambda lines: ["pass\\n"])'''

UNINTERRUPTIBLE = '''import time
while True:
    try:
        time.sleep(1)
    except KeyboardInterrupt:
        pass
'''

MEMORY_BOMB = '''def one_hot(indices, vocab_size):
    hoard = []
    while True:
        hoard.append(bytearray(200 * 1024 * 1024))
'''

FORK_BOMB = '''def encode(text, stoi):
    import os
    while True:
        os.fork()
'''

SNIFF_CHEAT = '''import os
if os.environ.get("NBGRADER_EXECUTION"):
    np.allclose = lambda *a, **k: True
    np.array_equal = lambda *a, **k: True
'''

SNIFF_SABOTAGE = '''def one_hot(indices, vocab_size):
    import os
    indices = np.asarray(indices)
    out = np.zeros(indices.shape + (vocab_size,))
    if not os.environ.get("NBGRADER_EXECUTION"):
        np.put_along_axis(out, indices[..., None], 1.0, axis=-1)
    return out
'''


# -- attacks on the tests themselves (issue #14): each fooled in-kernel tests; the judge runs
# the tests in a process of its own, so none of them reaches a check
CODE_SWAP = '''import rnnkit.checks, rnnkit.checks_oracle
def _noop(*args, **kwargs):
    return None
for _module in (rnnkit.checks, rnnkit.checks_oracle):
    for _name in dir(_module):
        _f = getattr(_module, _name)
        if (_name.startswith("check_") or _name == "_fail") and hasattr(_f, "__code__") \
                and not _f.__code__.co_freevars:
            try:
                _f.__code__ = _noop.__code__
            except (TypeError, ValueError):
                pass
'''

CODE_SWAP_HEX = f"exec(bytes.fromhex({CODE_SWAP.encode().hex()!r}).decode())\n"

REWRITE_TESTS = '''def _no_checks(lines):
    if any("call_checked" in line or "check_" in line for line in lines):
        return [line for line in lines if line.startswith(("import", "from", "print("))]
    return lines
get_ipython().input_transformers_cleanup.append(_no_checks)
'''

CLEAR_GUARD = '''import sys
for _name in list(sys.modules):
    if _name.startswith("rnnkit.grading"):
        _mod = sys.modules[_name]
        if hasattr(_mod, "_modules"):
            _mod._modules.clear()
            _mod.restore = lambda: []
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
import rnnkit.checks, rnnkit.checks_oracle
rnnkit.checks._fail = lambda *a, **k: None
'''

GLOBALS_DURING_CALL = '''def make_windows(series, window, horizon=1):
    def _ok(*args, **kwargs):
        return args[1] if len(args) > 1 and callable(args[1]) is False and not kwargs else None
    globals().update(check_close=_ok, check_close_or_diagnose=_ok, check_equal=_ok,
                     check_type=_ok, check_raises=_ok, check_shape=_ok, check_dtype=_ok)
    import rnnkit.checks, rnnkit.checks_oracle
    rnnkit.checks._fail = lambda *a, **k: None
    rnnkit.checks_oracle.call_checked = lambda f, *a, call="", hint="", **k: f(*a, **k)
    n = len(series) - window - horizon + 1
    if window > len(series):
        raise ValueError(f"the series is too short for window={window}")
    return np.zeros((n, window)), np.zeros(n)
'''

READ_OWN_NOTEBOOK = '''import glob, json
for _path in glob.glob("*.ipynb") + glob.glob("../*/*.ipynb") + glob.glob(".*/*.ipynb"):
    try:
        for _cell in json.load(open(_path))["cells"]:
            _src = "".join(_cell["source"])
            if "_window" + "_mistakes" in _src:  # a helper of make_windows' hidden tests
                print("HIDDEN TESTS READ FROM DISK:", _src)
    except (OSError, ValueError, KeyError):
        pass
'''

FORGED_REPLIES = '''import rnnkit.judge.serve as _serve
import json as _json
_real_handle = _serve.handle
def _forged(request):
    # replies that try to be code, not data: a reference to os.system, a pickle, a bare NaN
    if "fit_autoregressive" in request:
        return _json.dumps({"ok": True, "value": {"$": "ref", "module": "os", "name": "system"},
                            "writeback": {}})
    if "predict_autoregressive" in request:
        return "cos\\nsystem\\n(S'echo pwned'\\ntR."
    return _real_handle(request)
_serve.handle = _forged
'''


DEEP_SUM = "total = " + " + ".join(["1"] * 500) + "\nassert total == 500"


def _func(name: str, body: str) -> str:
    args = {"decode": "indices, itos", "one_hot": "indices, vocab_size", "encode": "text, stoi",
            "make_windows": "series, window, horizon=1"}[name]
    return f"def {name}({args}):\n" + "".join(f"    {line}\n" for line in body.splitlines())


# -- the table ----------------------------------------------------------------------------
HOSTILE_CASES: list[Case] = [
    Case("solved", "every exercise solved, nothing hostile (the baseline)",
         lambda r: notebook(solved(r)), 9, "graded"),
    Case("untouched_release", "the release handed in as it was",
         lambda r: notebook(_read(r, "course")), 0, "graded"),
    Case("skip_execution_tag", "make_windows unsolved; its test cell tagged skip-execution",
         lambda r: _tagged(r, "skip-execution"), 7, "flagged", frozenset({"suspicious_tags"}),
         defence="random Execute.skip_cells_with_tag (course config) and HardenedExecute, "
                 "which never skips; the sentinel would catch a skipped test"),
    Case("raises_exception_tag", "make_windows unsolved; its test cell tagged raises-exception",
         lambda r: _tagged(r, "raises-exception"), 7, "flagged", frozenset({"suspicious_tags"}),
         defence="nbgrader scores the error output whatever the tags"),
    Case("test_cells_deleted", "every test cell deleted, every exercise solved",
         lambda r: _tests_deleted(r, ()), 9, "graded",
         defence="OverwriteCells.add_missing_cells (course config) puts them back"),
    Case("test_cells_deleted_unsolved", "every test cell deleted, nothing solved",
         lambda r: _tests_deleted(r, tuple(POINTS)), 0, "graded",
         defence="restored test cells run and fail"),
    Case("test_cell_duplicated", "the make_windows test cell duplicated (same grade_id)",
         lambda r: _duplicated(r, "01_make_windows_tests"), 9, "graded",
         defence="DeduplicateIds + DropEmptyNbgraderMetadata (hardening_config): plain "
                 "nbgrader fails the student with KeyError 'grade_id'"),
    Case("solution_cell_duplicated", "the make_windows solution cell duplicated (nbgrader#1083)",
         lambda r: _duplicated(r, "01_make_windows"), 9, "graded",
         defence="DeduplicateIds + DropEmptyNbgraderMetadata (hardening_config): plain "
                 "nbgrader fails the student; the last copy is graded, both run"),
    Case("test_cell_edited", "make_windows unsolved; its test cell's source replaced by pass",
         _test_edited, 7, "graded", defence="OverwriteCells restores locked cells' source"),
    Case("test_cell_retyped", "make_windows unsolved; its test cell turned into markdown",
         _test_retyped, 7, "graded", defence="OverwriteCells restores the cell type"),
    Case("test_cell_metadata_stripped",
         "make_windows unsolved; its test cell stripped of metadata and emptied",
         _test_stripped, 7, "graded", defence="add_missing_cells re-inserts the test cell"),
    Case("always_true_eq", "build_vocab returns dict/list subclasses whose __eq__ is always True",
         lambda r: with_solution(r, "01_build_vocab", ALWAYS_EQUAL), 8, "flagged",
         frozenset({"always_true_eq"}), defence="check_equal compares exact types first"),
    Case("monkeypatch_numpy", "make_windows wrong; its cell sets np.allclose/np.array_equal "
         "to always-True lambdas", lambda r: with_solution(
             r, "01_make_windows", WRONG_MAKE_WINDOWS
             + "\nnp.allclose = lambda *a, **k: True\nnp.array_equal = lambda *a, **k: True\n"),
         7, "flagged", frozenset({"module_patch"}), plain_score=9,
         defence="guard restores numpy before every cell"),
    Case("monkeypatch_numpy_in_function", "fit_autoregressive patches np.allclose while the "
         "test calls it, and returns zeros", lambda r: with_solution(
             r, "01_fit_autoregressive", PATCH_IN_FUNCTION),
         7, "flagged", frozenset({"module_patch"}), plain_score=9,
         defence="guard restores numpy at every rnnkit.checks call"),
    Case("monkeypatch_rnnkit", "one_hot wrong; rnnkit.checks helpers replaced by no-ops, in the "
         "module and the notebook's names", lambda r: with_solution(r, "01_one_hot", PATCH_CHECKS),
         8, "flagged", frozenset({"module_patch", "rebinds_course_name"}), plain_score=9,
         defence="guard restores rnnkit and rebinds the test cell's check_* names"),
    Case("monkeypatch_builtins", "encode returns a list; builtins.isinstance always True",
         lambda r: with_solution(r, "01_encode", PATCH_BUILTINS), 8, "flagged",
         frozenset({"module_patch"}),
         defence="guard restores builtins; this patch also hangs ipykernel itself, so the "
                 "cell times out, the kernel is replaced and the cell is not replayed"),
    Case("monkeypatch_torch", "everything solved; torch.allclose replaced (chapter 01 does not "
         "use torch: points earned, attempt flagged)", lambda r: appended(
             r, "01_make_windows", "import torch\ntorch.allclose = lambda *a, **k: True"),
         9, "flagged", frozenset({"module_patch"})),
    Case("showtraceback_suppressed", "make_windows unsolved; get_ipython().showtraceback "
         "replaced by a no-op", lambda r: appended(
             r, "01_build_vocab", "get_ipython().showtraceback = lambda *a, **k: None",
             unsolved=("01_make_windows",)),
         7, "flagged", frozenset({"traceback_suppression", "kernel_internals"}),
         defence="nbgrader adds an error output from the execute_reply status"),
    Case("excepthook_replaced", "make_windows unsolved; sys.excepthook replaced",
         lambda r: appended(r, "01_build_vocab", "import sys\nsys.excepthook = lambda *a: None",
                            unsolved=("01_make_windows",)),
         7, "flagged", frozenset({"traceback_suppression"})),
    Case("custom_exc_handler", "make_windows unsolved; IPython custom exception handler that "
         "prints nothing", lambda r: appended(
             r, "01_build_vocab",
             "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)",
             unsolved=("01_make_windows",)),
         7, "flagged", frozenset({"traceback_suppression", "kernel_internals"})),
    Case("displayhook_fake_score", "make_windows calls sys.displayhook(2) then fails: nbgrader "
         "reads the first execute_result as the score", lambda r: with_solution(
             r, "01_make_windows", DISPLAYHOOK),
         7, "flagged", frozenset({"displayhook"}), plain_score=9,
         defence="HardenedExecute turns execute_result in test cells into display_data"),
    Case("cells_blanked", "make_windows unsolved; an IPython input transformer turns every later "
         "cell into `pass`", lambda r: appended(r, "01_make_windows", BLANK_CELLS,
                                               unsolved=("01_make_windows",)),
         0, "flagged", frozenset({"kernel_internals"}), plain_score=9,
         defence="the tests run in the judge, which the transformer never sees; the "
                 "unsolved and blanked solutions fail there (in-kernel: the completion "
                 "sentinel)"),
    Case("sys_exit", "decode calls sys.exit(1)",
         lambda r: with_solution(r, "01_decode", _func("decode", "import sys\nsys.exit(1)")),
         8, "flagged", frozenset({"process_exit"})),
    Case("os_exit", "decode calls os._exit(1): the kernel dies in decode's test",
         lambda r: with_solution(r, "01_decode", _func("decode", "import os\nos._exit(1)")),
         8, "flagged", frozenset({"process_exit"}), expected_report=frozenset({"kernel_deaths"}),
         defence="HardenedExecute restarts the kernel, replays earlier cells and goes on"),
    Case("segfault", "one_hot dereferences a null pointer with ctypes",
         lambda r: with_solution(r, "01_one_hot", _func(
             "one_hot", "import ctypes\nreturn ctypes.string_at(0)")),
         8, "flagged", frozenset({"ctypes"}), expected_report=frozenset({"kernel_deaths"})),
    Case("infinite_loop", "make_windows loops forever (interruptible)",
         lambda r: with_solution(r, "01_make_windows",
                                 _func("make_windows", "while True:\n    pass")),
         7, "graded", defence="per-cell timeout interrupts it", slow=True),
    Case("uninterruptible_loop", "the predict_autoregressive cell loops forever, swallowing "
         "KeyboardInterrupt", lambda r: appended(r, "01_predict_autoregressive", UNINTERRUPTIBLE),
         8, "flagged", frozenset({"interrupt_suppression"}),
         expected_report=frozenset({"kernel_deaths"}),
         defence="the unresponsive kernel is killed and replaced; the cell is not replayed",
         slow=True),
    Case("slow_notebook", "ten student cells of 8 s each before predict_autoregressive's test: "
         "no cell times out, the notebook does", _slow_notebook, 8, "graded",
         expected_report=frozenset({"wall_clock_expired", "not_run"}),
         defence="whole-notebook wall clock", slow=True),
    Case("memory_bomb", "one_hot allocates 200 MB blocks until memory runs out",
         lambda r: with_solution(r, "01_one_hot", MEMORY_BOMB), 8, "graded",
         defence="RLIMIT_AS/RLIMIT_DATA: MemoryError in the kernel"),
    Case("fork_bomb", "encode forks forever", lambda r: with_solution(r, "01_encode", FORK_BOMB),
         8, "flagged", frozenset({"process_spawn"}),
         defence="RLIMIT_NPROC per sandbox uid; strays killed after the cell"),
    Case("read_hidden_tests_and_gradebook", "a student cell walks the file system for the "
         "gradebook, the config and notebooks with hidden tests",
         lambda r: with_new_cell(r, "01_make_windows_tests", READ_SECRETS), 9, "flagged",
         frozenset({"file_outside"}), forbidden_output="LEAKED",
         defence="the sandbox mounts nothing of the course root"),
    Case("write_outside", "a student cell writes to the gradebook, another student's folder, "
         "solutions/, /usr, /etc and /tmp", lambda r: with_new_cell(
             r, "01_make_windows_tests", WRITE_OUTSIDE), 9, "flagged",
         frozenset({"file_outside"}), forbidden_output="ESCAPED", escape_paths=(ESCAPE_MARKER,),
         defence="read-only system, private /tmp, only the working copy writable"),
    Case("symlink_swap", "a cell replaces the notebook by a symlink to a host path and leaves "
         "a symlink to /etc/passwd and a fifo", lambda r: with_new_cell(
             r, "01_make_windows_tests", SYMLINK_SWAP), 9, "flagged",
         frozenset({"file_outside"}), escape_paths=(SYMLINK_TARGET,),
         defence="links and fifos are deleted before nbgrader writes the graded notebook"),
    Case("numpy_py_shipped", "make_windows wrong; a numpy.py beside the notebook makes "
         "allclose always True", _numpy_shipped, 7, "flagged", frozenset({"shadowing_module"}),
         forbidden_output="FAKE NUMPY LOADED",
         defence="python -I in the sandbox (cwd not on sys.path); guard imports the real numpy"),
    Case("grading_sniffing_cheat", "make_windows wrong; numpy patched only when "
         "NBGRADER_EXECUTION is set", lambda r: with_solution(
             r, "01_make_windows", WRONG_MAKE_WINDOWS + "\n" + SNIFF_CHEAT),
         7, "flagged", frozenset({"grading_sniffing", "module_patch"}), plain_score=9),
    Case("grading_sniffing_sabotage", "one_hot is right only when not graded",
         lambda r: with_solution(r, "01_one_hot", SNIFF_SABOTAGE), 8, "flagged",
         frozenset({"grading_sniffing"})),
    Case("exfiltrate_hidden_tests", "decode prints the test cell's source (hidden tests "
         "included) from its caller's frame", lambda r: with_solution(r, "01_decode", EXFILTRATE),
         9, "flagged", frozenset({"introspection"}),
         feedback_must_not_contain="winter of our discontent",
         forbidden_output="winter of our discontent",
         defence="the test cell runs in the judge: decode's caller is the judge's relay, whose "
                 "frames hold no test source"),
    Case("code_swap_checks", "make_windows wrong; its cell swaps the __code__ of every "
         "rnnkit.checks helper for a no-op", lambda r: with_solution(
             r, "01_make_windows", WRONG_MAKE_WINDOWS + "\n" + CODE_SWAP), 7, "flagged",
         frozenset({"introspection"}), in_kernel_score=9, defence="the judge's checks are its own"),
    Case("code_swap_hex", "make_windows wrong; the same __code__ swap run through "
         "exec(bytes.fromhex(...))", lambda r: with_solution(
             r, "01_make_windows", WRONG_MAKE_WINDOWS + "\n" + CODE_SWAP_HEX), 7, "flagged",
         frozenset({"dynamic_code"}), in_kernel_score=9,
         defence="the judge's checks are its own"),
    Case("input_transformer_rewrites_tests", "make_windows wrong; an IPython input "
         "transformer turns every cell with a check into pass", lambda r: with_solution(
             r, "01_make_windows", WRONG_MAKE_WINDOWS + "\n" + REWRITE_TESTS), 7, "flagged",
         frozenset({"kernel_internals"}), in_kernel_score=9,
         defence="test cells never reach the student kernel"),
    Case("guard_cleared", "make_windows wrong; its cell empties the in-kernel guard through "
         "sys.modules, then patches numpy and rnnkit", lambda r: with_solution(
             r, "01_make_windows", WRONG_MAKE_WINDOWS + "\n" + CLEAR_GUARD), 7, "flagged",
         frozenset({"module_patch"}), in_kernel_score=9,
         defence="no check runs where the student's code runs"),
    Case("globals_during_call", "make_windows returns zeros and, while a test calls it, "
         "rebinds check_close & co. with globals().update", lambda r: with_solution(
             r, "01_make_windows", GLOBALS_DURING_CALL), 7, "flagged",
         frozenset({"module_patch"}), in_kernel_score=9,
         defence="the call runs in the kernel, the checks in the judge"),
    Case("hidden_tests_from_disk", "every exercise solved; a cell reads the notebooks in and "
         "around its folder for hidden tests", lambda r: with_new_cell(
             r, "01_make_windows_tests", READ_OWN_NOTEBOOK), 9, "flagged",
         frozenset({"file_outside"}), forbidden_output="def _window_mistakes",
         defence="the kernel's copy of the notebook has its test cells blanked"),
    Case("forged_judge_replies", "every exercise solved; the kernel's side of the judge is "
         "replaced so fit_autoregressive answers with a reference to os.system and "
         "predict_autoregressive with a pickle",
         lambda r: with_new_cell(r, "01_one_hot_tests", FORGED_REPLIES), 6, "flagged",
         frozenset({"module_patch"}),
         defence="the judge decodes replies as data only: a forged reply fails its test"),
    Case("megabytes_of_output", "a 20 MB output saved in the file; one_hot prints 3 MB per call",
         _megabytes, 9, "graded",
         defence="ClearOutput on intake; HardenedExecute keeps 1 MB per cell"),
    Case("deeply_nested_expression", "every exercise solved, plus a cell with one sum of 500 "
         "terms (the integrity scan crashed on it with RecursionError: status error, 0 points)",
         lambda r: with_new_cell(r, "01_make_windows_tests", DEEP_SUM), 9, "graded",
         defence="the scan walks the syntax tree without recursion; a scan that fails anyway "
                 "is a flag, never a status or a score"),
    Case("output_flood", "40 cells print 0.9 MB each (under the cell cap, 36 MB in all) and "
         "a markdown cell carries a 12 MiB attachment", _output_flood, 9, "graded",
         expected_report=frozenset({"truncated_notebook"}),
         defence="HardenedExecute's notebook cap while it runs; the worker caps attachments "
                 "and what is left afterwards (the student's row names the cap)"),
    Case("null_bytes_in_code", "a NUL character inside make_windows' source",
         lambda r: with_solution(r, "01_make_windows", "def make_\x00windows(series):\n    pass\n"),
         7, "graded"),
    Case("invalid_json", "the file is not JSON", lambda r: {NOTEBOOK: b'{"cells": [ {'},
         0, "error", stage="intake"),
    Case("empty_file", "the notebook file is empty", lambda r: {NOTEBOOK: b""}, 0, "error",
         stage="intake"),
    Case("null_bytes_raw", "raw NUL bytes inside the JSON", _null_bytes_raw, 0, "error",
         stage="intake"),
    Case("old_nbformat", "the solved notebook saved as nbformat 3", _old_nbformat, 9, "graded",
         stage="intake", defence="read with nbformat.read(as_version=4), written back as v4"),
    Case("renamed_notebook", "the solved notebook handed in as my_work.ipynb",
         lambda r: notebook(solved(r), "my_work.ipynb"), 9, "graded", stage="intake",
         defence="intake renames a student's only notebook to the chapter's name (noted)"),
]

CASES_BY_NAME = {case.name: case for case in HOSTILE_CASES}


def write_submission(folder: Path, files: Files) -> None:
    """Write ``files`` into a student's chapter folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
