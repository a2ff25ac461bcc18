"""Defences inside the grading run that the sandbox alone does not give.

The sandbox protects the machine, the gradebook and other students. It cannot stop a
submission from fooling *its own* tests, because the tests run in the same kernel as
the student's code. Measured with plain nbgrader 0.9.6 (see ``tests/hostile.py``):

* ``np.allclose = lambda *a, **k: True`` (or patching ``builtins``, ``rnnkit.checks``,
  ``torch``) in a solution cell makes every later check pass;
* a student function that calls ``sys.displayhook(1)`` before failing puts an
  ``execute_result`` in the test cell's output, and nbgrader reads the first
  ``execute_result`` as the cell's (partial) score, ignoring the error after it;
* a kernel that dies (``os._exit``, a segfault, the whole-notebook clock) or a cell
  that ignores interrupts aborts the notebook: nbgrader then records no grade at all;
* cells that are skipped or never reach their end (a skip tag, IPython hooks that
  blank cells) leave no error, which nbgrader scores as full marks.

``HardenedExecute`` replaces nbgrader's ``Execute`` preprocessor and adds:

1. a **guard** (``rnnkit.grading.guard``) installed in the kernel before any cell: numpy,
   torch, builtins and rnnkit are restored before every cell, before every test cell
   (with the test's canonical names ``np``, ``check_close``... rebound) and at every call
   of an ``rnnkit.checks`` helper;
2. a **completion sentinel**: each test cell runs with ``print(<random token>)`` appended;
   a test cell whose output lacks the token gets an error output, so it scores 0. The
   token is removed from the saved output and the cell's source is restored;
3. ``execute_result`` outputs of test cells become ``display_data`` (no fake partial
   credit), outputs beyond ``max_output_bytes`` per cell or ``max_notebook_output_bytes``
   per notebook are dropped;
4. **recovery**: when the kernel dies or stops answering, the cell gets an error output,
   a new kernel replays the earlier non-test cells (skipping the ones that crashed) and
   grading goes on; after ``max_restarts`` restarts or when the whole-notebook clock
   (``notebook_timeout``) runs out, the remaining test cells get an error output instead;
5. stray processes left by a cell (fork bombs) are killed after each cell when the
   kernel is sandboxed, and the kernel is asked to collect them (zombies would keep
   counting against the process limit).

``hardening_config`` also adds ``DropEmptyNbgraderMetadata`` to the sanitize step: with
the course's ``add_missing_cells``, nbgrader 0.9.6 otherwise fails a student who
duplicated a solution or test cell (``KeyError: 'grade_id'``).

What happened is written beside the notebook, in ``rnnkit-execution.json``
(``EXECUTION_REPORT``): ``kernel_deaths``, ``wall_clock_expired``,
``incomplete_tests``, ``not_run``, ``restarts``, ``truncated_cells``,
``truncated_notebook``. The pipeline reads it with ``read_execution_report(folder)`` to
tell the student and the instructor.

The guard and the sentinel are not a security boundary against code that attacks the
kernel's own machinery (``get_ipython()``, ``sys.modules``, ``gc``, frames). That is why,
with ``judge_setup`` set (``rnnkit grade`` sets it), test cells do not run in the kernel
at all but in a judge process (``rnnkit.grading.relay``, ``rnnkit.judge``); only the test
cells listed in ``judge_in_kernel`` still run here, with the guard and the sentinel. Use::

    config.merge(sandbox_config(limits))    # rnnkit.grading.sandbox
    config.merge(hardening_config(limits))  # swaps Execute for HardenedExecute in autograde
"""

from __future__ import annotations

import ast
import copy
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Float, Int, List, Unicode
from traitlets.config import Config

from .guard import CANONICAL, CHECK_MODULES
from .model import MAX_CELL_OUTPUT_BYTES, MAX_NOTEBOOK_OUTPUT_BYTES
from .relay import JudgeRelay, never_a_score
from .relay import error_output as _error
from .sandbox import DEFAULT_LIMITS, SandboxLimits

__all__ = [
    "EXECUTION_REPORT",
    "DropEmptyNbgraderMetadata",
    "HardenedExecute",
    "hardening_config",
    "is_test_cell",
    "read_execution_report",
]

EXECUTION_REPORT = "rnnkit-execution.json"
_INSTALL_GUARD = (
    "import sys as __s, os as __o\n"
    "__p = list(__s.path)\n"
    "__s.path[:] = [p for p in __s.path if p not in ('', '.', __o.getcwd())]\n"
    "try:\n"
    "    __import__('rnnkit.grading.guard', fromlist=['install']).install()\n"
    "finally:\n"
    "    __s.path[:] = __p\n"
    "del __s, __o, __p\n"
)


def is_test_cell(cell: NotebookNode) -> bool:
    """An autograded test cell: a code cell with ``nbgrader.grade`` and not ``solution``."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def canonical_names(source: str) -> list[str]:
    """The names a test cell uses that the guard rebinds (``np``, ``check_close``...)."""
    import importlib

    helpers: set[str] = set()
    for module in CHECK_MODULES:
        try:
            helpers |= set(getattr(importlib.import_module(module), "__all__", ()))
        except ImportError:
            continue
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return sorted(used & (set(CANONICAL) | helpers))


class HardenedExecute(JudgeRelay, Execute):
    """nbgrader's ``Execute`` with the defences listed in this module's docstring."""

    notebook_timeout = Float(DEFAULT_LIMITS.notebook_seconds,
                             help="Seconds for the whole notebook, restarts included.").tag(
                                 config=True)
    max_output_bytes = Int(MAX_CELL_OUTPUT_BYTES, help="Output kept per cell; the rest is "
                           "dropped.").tag(config=True)
    max_notebook_output_bytes = Int(MAX_NOTEBOOK_OUTPUT_BYTES, help="Output kept per notebook; "
                                    "the rest is dropped.").tag(config=True)
    max_restarts = Int(3, help="Kernel restarts after deaths before giving up.").tag(config=True)
    guard = Bool(True, help="Install rnnkit.grading.guard in the kernel.").tag(config=True)
    write_report = Bool(True, help=f"Write {EXECUTION_REPORT} beside the notebook.").tag(
        config=True)
    judge_setup = Unicode("", help="The instructor's imports cell: with it, test cells run in "
                          "a judge process (rnnkit.judge), not in the student's kernel.").tag(
                              config=True)
    judge_names = List(Unicode(), help="The exercise names the judge proxies.").tag(config=True)
    judge_in_kernel = List(Unicode(), help="Test cells (grade_ids) that run in the student's "
                           "kernel even with the judge (the instructor's choice).").tag(config=True)

    # -- the whole notebook ------------------------------------------------------------
    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> Any:
        from nbclient import NotebookClient

        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        # never honour a skip tag on this run, whatever the config says
        self.skip_cells_with_tag = "rnnkit-never-skip-" + secrets.token_hex(16)
        self._token = "rnnkit-test-complete-" + secrets.token_hex(16)
        self._cell_bytes = 0
        self._notebook_bytes = 0
        self._truncated = False
        self._token_seen = False
        self.report: dict[str, Any] = {
            "kernel_deaths": [], "wall_clock_expired": False, "incomplete_tests": [],
            "not_run": [], "restarts": 0, "truncated_cells": [], "guard_errors": [],
            "truncated_notebook": False,
        }
        started = time.monotonic()
        self._deadline = started + self.notebook_timeout
        self._expired = False
        crashed: set[int] = set()
        self._judge: Any = None
        self.report["judge"] = bool(self.judge_setup)
        if self.judge_setup:
            self.report.update({"judge_seconds": 0.0, "judge_cpu_seconds": 0.0, "judge_calls": 0,
                                "judge_restarts": 0, "judge_errors": [],
                                "in_kernel_tests": list(self.judge_in_kernel)})
            self._judge_cpu_done = 0.0
        restore_files = self._hide_tests() if self.judge_setup else (lambda: None)
        try:
            if self.judge_setup:  # forked before the kernel's threads start
                self._start_judge(required=True)
            with self.setup_kernel():
                timer = threading.Timer(self.notebook_timeout, self._on_deadline)
                timer.daemon = True
                timer.start()
                try:
                    self._after_kernel_start()
                    self._run_cells(resources, crashed)
                finally:
                    timer.cancel()
        finally:
            if self._judge is not None:
                self._judge.close()
            restore_files()
        self.set_widgets_metadata()
        self.report["seconds"] = round(time.monotonic() - started, 2)
        self.report["wall_clock_expired"] = self._expired or self._km_expired()
        self._save_report()
        return self.nb, self.resources

    def _run_cells(self, resources: Any, crashed: set[int]) -> None:
        cells = self.nb.cells
        index = 0
        while index < len(cells):
            try:
                self.preprocess_cell(cells[index], resources, index)
                self._reap_strays()
            except (DeadKernelError, CellTimeoutError) as err:
                crashed.add(index)
                self._record_death(index, err)
                if not self._recover(index, crashed):
                    self._mark_not_run(index + 1)
                    return
            index += 1

    def _record_death(self, index: int, err: Exception) -> None:
        cell = self.nb.cells[index]
        if isinstance(err, CellTimeoutError):
            reason = "the kernel stopped answering (it ignored the interrupt at the cell timeout)"
        elif self._expired or self._km_expired():
            self._expired = True
            reason = f"the whole-notebook time limit of {self.notebook_timeout:g} s ran out"
        else:
            reason = "the kernel died (the code exited the process, crashed or ran out of memory)"
        self.log.warning("cell %d: %s", index, reason)
        self.report["kernel_deaths"].append(
            {"cell": index, "grade_id": _grade_id(cell), "reason": reason})
        if cell.cell_type == "code":
            cell.outputs.append(_error("KernelDied", f"this cell did not finish: {reason}"))

    def _recover(self, index: int, crashed: set[int]) -> bool:
        """Restart the kernel and replay the earlier non-test cells; False to give up."""
        while True:
            if self._expired or self._km_expired() or time.monotonic() >= self._deadline:
                self._expired = True
                return False
            if self.report["restarts"] >= self.max_restarts:
                return False
            self.report["restarts"] += 1
            self._restart_kernel()
            cells = self.nb.cells
            replay = [i for i in range(index) if i not in crashed
                      and cells[i].cell_type == "code" and not is_test_cell(cells[i])]
            current = None
            try:
                self._after_kernel_start()
                for current in replay:
                    self._execute_quietly(self.nb.cells[current], current)
                return True
            except (DeadKernelError, CellTimeoutError):
                if current is not None:
                    crashed.add(current)  # never replay the cell that crashed the replay

    def _restart_kernel(self) -> None:
        self._cleanup_kernel()
        self.km = self.create_kernel_manager()
        self.start_new_kernel()
        self.start_new_kernel_client()

    def _after_kernel_start(self) -> None:
        assert self.kc is not None
        info = self.wait_for_reply(self.kc.kernel_info())
        if info is not None:
            self.nb.metadata["language_info"] = info["content"]["language_info"]
        if self.guard and (not self.judge_setup or self.judge_in_kernel):
            reply = self._run_silently(_INSTALL_GUARD)
            if reply.get("status") != "ok":
                self.report["guard_errors"].append(reply.get("evalue", "unknown"))
                self.log.warning("rnnkit guard not installed: %s", reply.get("evalue"))

    def _execute_quietly(self, cell: NotebookNode, index: int) -> None:
        """Re-run a cell to rebuild the kernel's state; its new outputs are thrown away."""
        scratch = copy.deepcopy(cell)
        self.execute_cell(scratch, index, store_history=False)

    def _run_silently(self, code: str) -> dict[str, Any]:
        assert self.kc is not None
        msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        reply = self.wait_for_reply(msg_id)
        return reply["content"] if reply else {"status": "error", "evalue": "no reply"}

    def _mark_not_run(self, start: int) -> None:
        reason = (f"the whole-notebook time limit of {self.notebook_timeout:g} s ran out"
                  if self._expired or self._km_expired()
                  else "the kernel died too often to go on")
        for cell in self.nb.cells[start:]:
            if is_test_cell(cell):
                self.report["not_run"].append(_grade_id(cell))
                cell.outputs = [_error("NotRun", f"this test did not run: {reason}")]

    # -- one cell ----------------------------------------------------------------------
    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int) -> Any:
        self._cell_bytes = 0
        self._truncated = False
        if not is_test_cell(cell):
            return super().preprocess_cell(cell, resources, index)
        if self.judge_setup and _grade_id(cell) not in self.judge_in_kernel:
            return self._judge_test_cell(cell, resources, index)
        original = cell.source
        names = canonical_names(original)
        if self.guard:
            self._run_silently("__import__('rnnkit.grading.guard', fromlist=['before_test'])"
                               f".before_test({names!r})")
        cell.source = f"{original.rstrip()}\nprint({self._token!r})\n"
        self._token_seen = False
        try:
            result = super().preprocess_cell(cell, resources, index)
        finally:
            cell.source = original
        self._finish_test_cell(cell)
        return result

    def _finish_test_cell(self, cell: NotebookNode) -> None:
        outputs = []
        for out in map(never_a_score, cell.outputs):
            if out.output_type == "stream" and out.get("name") == "stdout":
                text = out.text.replace(self._token + "\n", "").replace(self._token, "")
                if not text:
                    continue
                out.text = text
            outputs.append(out)
        cell.outputs = outputs
        failed = any(o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr")
                     for o in outputs)
        if not self._token_seen and not failed:
            self.report["incomplete_tests"].append(_grade_id(cell))
            cell.outputs.append(_error(
                "IncompleteTest",
                "this test cell did not run to its end, so it scores 0 (was it skipped, "
                "or did code in the notebook stop it silently?)"))

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> Any:
        content = msg.get("content", {})
        if msg.get("msg_type") == "stream" and self._token in content.get("text", ""):
            self._token_seen = True
        size = len(json.dumps(content, default=str))
        self._cell_bytes += size
        self._notebook_bytes += size
        over_notebook = self._notebook_bytes > self.max_notebook_output_bytes
        if self._cell_bytes > self.max_output_bytes or over_notebook:
            if not self._truncated:
                self._truncated = True
                self.report["truncated_cells"].append(cell_index)
                self.report["truncated_notebook"] |= over_notebook
                limit, per = ((self.max_notebook_output_bytes, "in this notebook") if over_notebook
                              else (self.max_output_bytes, "per cell"))
                outs.append(NotebookNode(
                    output_type="stream", name="stdout",
                    text=f"\n[rnnkit: output beyond {limit} bytes {per} dropped]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)

    # -- clocks and processes ----------------------------------------------------------
    def _on_deadline(self) -> None:
        self._expired = True
        km = self.km
        if km is None:
            return
        if hasattr(km, "kill_sandbox"):
            km.kill_sandbox()
            return
        process = getattr(getattr(km, "provisioner", None), "process", None)
        if process is not None and process.poll() is None:
            process.kill()

    def _km_expired(self) -> bool:
        return bool(getattr(self.km, "wall_clock_expired", False))

    def _reap_strays(self) -> None:
        """Kill processes a cell left in the sandbox, then let the kernel collect them."""
        reap = getattr(self.km, "reap_strays", None)
        if reap is not None and reap():
            self._run_silently(
                "__import__('rnnkit.grading.guard', fromlist=['reap_children']).reap_children()")

    def _save_report(self) -> None:
        folder = (self.resources or {}).get("metadata", {}).get("path")
        if not (self.write_report and folder):
            return
        key = (self.resources or {}).get("unique_key", "notebook")
        write_file_safely(Path(folder) / EXECUTION_REPORT,
                          json.dumps({"notebook": key, **self.report}, indent=1) + "\n")


def _grade_id(cell: NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def write_file_safely(path: Path, text: str) -> None:
    """Replace ``path`` without following a symlink a student may have put there."""
    try:
        if path.is_symlink() or path.exists():
            if path.is_dir() and not path.is_symlink():
                import shutil

                shutil.rmtree(path)
            else:
                path.unlink()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except OSError:
        return
    with os.fdopen(fd, "w") as f:
        f.write(text)


def read_execution_report(folder: Path | str) -> dict[str, Any] | None:
    """What ``HardenedExecute`` recorded for the notebook in ``folder`` (None if nothing)."""
    path = Path(folder) / EXECUTION_REPORT
    if path.is_symlink() or not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class DropEmptyNbgraderMetadata(NbGraderPreprocessor):
    """Remove the empty ``nbgrader`` metadata ``DeduplicateIds`` leaves on duplicated cells.

    nbgrader 0.9.6 keeps the last cell of a duplicated ``grade_id`` and sets the others'
    metadata to ``{}``; ``OverwriteCells.add_missing_cells`` then fails on them with
    ``KeyError: 'grade_id'`` and the student gets no grade. Without the empty dict the
    duplicates are plain cells: they still run, in order, and are not graded.
    """

    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int) -> Any:
        meta = cell.get("metadata", {})
        if "nbgrader" in meta and not meta["nbgrader"].get("grade_id"):
            del meta["nbgrader"]
        return cell, resources


def hardening_config(limits: SandboxLimits = DEFAULT_LIMITS, judge: Any = None) -> Config:
    """Config that makes ``nbgrader autograde`` execute with ``HardenedExecute``.

    It also puts ``DropEmptyNbgraderMetadata`` right after ``DeduplicateIds`` in the
    sanitize step, so a duplicated solution or test cell no longer aborts the student.
    ``judge``, a ``rnnkit.judge.plan.JudgePlan``, runs test cells in a judge process.
    """
    from nbgrader.converters.autograde import Autograde
    from nbgrader.preprocessors import DeduplicateIds

    traits = Autograde.class_traits()
    c = Config()
    c.Autograde.autograde_preprocessors = [
        HardenedExecute if p is Execute else p for p in traits["autograde_preprocessors"].default()
    ]
    sanitize = []
    for p in traits["sanitize_preprocessors"].default():
        sanitize.append(p)
        if p is DeduplicateIds:
            sanitize.append(DropEmptyNbgraderMetadata)
    c.Autograde.sanitize_preprocessors = sanitize
    c.HardenedExecute.notebook_timeout = float(limits.notebook_seconds)
    c.Execute.timeout = limits.cell_seconds
    if judge is not None:
        c.HardenedExecute.judge_setup = judge.setup
        c.HardenedExecute.judge_names = list(judge.names)
        c.HardenedExecute.judge_in_kernel = list(judge.in_kernel)
    return c
