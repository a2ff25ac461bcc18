"""``HardenedExecute``'s judge mode: test cells run in a judge, calls relayed to the kernel.

With ``HardenedExecute.judge_setup`` set (``rnnkit grade`` sets it from the instructor's
notebook, ``rnnkit.judge.plan``), a graded notebook runs like this:

* before the kernel starts, the notebook file in the kernel's working copy gets its test
  cells blanked, and any other notebook there is moved out of the kernel's sight: student
  code cannot read hidden tests from disk;
* a judge process is forked (``rnnkit.judge.process``) and runs the instructor's imports
  cell; the student's cells run in the sandboxed kernel as before, test cells never do;
* a test cell runs in the judge. Each call of an exercise there becomes one request that
  this relay evaluates in the kernel as a ``user_expressions`` entry
  (``rnnkit.judge.serve.handle``); what the student's code prints or displays meanwhile
  becomes the cell's output, in order with the judge's own, and the reply text goes back
  to the judge, which decodes it as data;
* the judge's outputs (an error when a check failed) are the cell's outputs, which
  nbgrader scores as usual.

A call that runs past the cell timeout is interrupted and fails the test; a kernel that
does not answer the interrupt, or dies, is restarted by ``HardenedExecute`` as before. A
judge that dies or runs past the cell timeout fails its cell and is replaced for the
next one. What happened is in the execution report (``judge_*`` keys).
"""

from __future__ import annotations

import copy
import json
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat import NotebookNode, from_dict

__all__ = ["BLANKED", "JudgeRelay", "error_output", "never_a_score"]

BLANKED = "# A test cell: while the notebook is graded, it runs in the judge, not here.\n"
_SERVE = "__import__('rnnkit.judge.serve', fromlist=['handle']).handle({!r})"
_INTERRUPT_GRACE = 5.0


def never_a_score(out: NotebookNode) -> NotebookNode:
    """A test cell's ``execute_result`` as ``display_data``: nbgrader would read it as a score."""
    if out.output_type != "execute_result":
        return out
    return NotebookNode(output_type="display_data", data=out.get("data", {}),
                        metadata=out.get("metadata", {}))


def error_output(ename: str, evalue: str) -> NotebookNode:
    """An error output with a one-line traceback (what nbgrader scores as a failure)."""
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


class JudgeRelay:
    """Mixed into ``HardenedExecute``: the judge's start, its cells and the call relay."""

    # -- before the kernel ----------------------------------------------------------------
    def _notebook_folder(self) -> Path | None:
        folder = (getattr(self, "resources", None) or {}).get("metadata", {}).get("path")
        return Path(folder) if folder else None

    def _hide_tests(self) -> Callable[[], None]:
        """Blank test cells in the kernel's copy of the notebook; move other notebooks out."""
        folder = self._notebook_folder()
        if folder is None or not folder.is_dir():
            return lambda: None
        from .hardening import is_test_cell, write_file_safely

        key = (self.resources or {}).get("unique_key", "")  # type: ignore[attr-defined]
        own = folder / f"{key}.ipynb"
        blank = copy.deepcopy(self.nb)  # type: ignore[attr-defined]
        for cell in blank.cells:
            if is_test_cell(cell):
                cell.source, cell.outputs = BLANKED, []
        write_file_safely(own, json.dumps(blank, indent=1))
        aside = folder.parent / f".rnnkit-aside-{secrets.token_hex(8)}"
        moved: list[tuple[Path, Path]] = []
        for path in folder.glob("*.ipynb"):
            if path != own and not path.is_symlink():
                aside.mkdir(exist_ok=True)
                shutil.move(str(path), str(aside / path.name))
                moved.append((aside / path.name, path))

        def restore() -> None:
            for src, dst in moved:
                if not dst.exists():
                    shutil.move(str(src), str(dst))
            shutil.rmtree(aside, ignore_errors=True)

        return restore

    def _start_judge(self, required: bool = False) -> None:
        """Fork the judge; ``required``: raise when it cannot start (the grading fails).

        The first judge's set-up runs while the kernel starts; the first test cell waits
        for it (``_ready_judge``).
        """
        from rnnkit.judge.process import Judge, JudgeDied

        started = time.monotonic()
        self._judge_required = required
        try:
            self._judge = Judge.start(self.judge_setup, list(self.judge_names),  # type: ignore[attr-defined]
                                      timeout=float(self.timeout or 120),  # type: ignore[attr-defined]
                                      wait=not required)
        except (JudgeDied, OSError) as err:
            self._judge = None
            self.report["judge_errors"].append(str(err))  # type: ignore[attr-defined]
            self.log.warning("judge not started: %s", err)  # type: ignore[attr-defined]
            if required:
                raise RuntimeError(f"the grader's judge did not start: {err}") from None
        self.report["judge_seconds"] += time.monotonic() - started  # type: ignore[attr-defined]

    def _ready_judge(self) -> None:
        """Wait for the judge's set-up; a first judge that fails it fails the grading."""
        from rnnkit.judge.process import JudgeDied

        if self._judge is None:
            return
        try:
            self._judge.ready()
        except JudgeDied as err:
            self._judge = None
            self.report["judge_errors"].append(str(err))  # type: ignore[attr-defined]
            if getattr(self, "_judge_required", False):
                raise RuntimeError(f"the grader's judge did not start: {err}") from None

    # -- one test cell ----------------------------------------------------------------------
    def _judge_test_cell(self, cell: NotebookNode, resources: Any, index: int) -> Any:
        from rnnkit.judge.process import JudgeDied

        self._ready_judge()
        self._judge_required = False
        cell.outputs = []
        if self._judge is None:
            self._start_judge()
            self.report["judge_restarts"] += 1  # type: ignore[attr-defined]
        if self._judge is None:
            cell.outputs.append(error_output("JudgeUnavailable", "this test could not run: the "
                                       "grader's judge did not start, so it scores 0"))
            return cell, resources
        outputs: list[NotebookNode] = []
        self._call_timed_out = False
        deadline = time.monotonic() + float(self.timeout or 120)  # type: ignore[attr-defined]
        pending: list[BaseException] = []
        started = time.monotonic()
        calls_before = self.report["judge_calls"]  # type: ignore[attr-defined]

        def relay(request: str, judge_outputs: list[dict[str, Any]]) -> Any:
            outputs.extend(from_dict(o) for o in judge_outputs)
            if pending:  # the kernel is gone: every further call fails at once
                return (None, "the student's kernel died during this test")
            self.report["judge_calls"] += 1  # type: ignore[attr-defined]
            try:
                return self._relay_call(request, outputs, index, deadline)
            except (DeadKernelError, CellTimeoutError) as err:
                pending.append(err)
                return (None, "the student's kernel died or stopped answering during this "
                              "call")

        try:
            # the judge waits on the relay, which interrupts a call at the deadline
            judge_outputs, _ = self._judge.run_cell(cell.source, relay,
                                                    deadline + 3 * _INTERRUPT_GRACE)
            outputs.extend(from_dict(o) for o in judge_outputs)
        except JudgeDied as err:
            self._judge_cpu_done += self._judge.cpu_seconds
            self._judge.close()
            self._judge = None
            why = (f"the test ran past the cell timeout of {self.timeout} s"  # type: ignore[attr-defined]
                   if time.monotonic() >= deadline else str(err))
            self.report["judge_errors"].append(f"cell {index}: {why}")  # type: ignore[attr-defined]
            outputs.append(error_output("TestDidNotFinish", f"this test did not finish: {why}"))
        self.report["judge_seconds"] += (time.monotonic() - started)  # type: ignore[attr-defined]
        if self._judge is not None:
            self.report["judge_cpu_seconds"] = round(
                self._judge_cpu_done + self._judge.cpu_seconds, 3)  # type: ignore[attr-defined]
        if self._call_timed_out:  # named in the student's row, as nbgrader's own timeouts are
            spec = dict(getattr(self, "error_on_timeout", None) or {})
            outputs.append(error_output(str(spec.get("ename") or "CellTimeoutError"), str(spec.get(
                "evalue") or f"a call ran past the cell timeout of {self.timeout} s and was "  # type: ignore[attr-defined]
                "interrupted")))
        cell.outputs = outputs
        cell.execution_count = self.report["judge_calls"] - calls_before  # type: ignore[attr-defined]
        self._finish_judged_cell(cell)
        if pending:
            raise pending[0]
        return cell, resources

    def _finish_judged_cell(self, cell: NotebookNode) -> None:
        cell.outputs = [never_a_score(out) for out in cell.outputs]

    # -- one call -------------------------------------------------------------------------------
    def _relay_call(self, request: str, outputs: list[NotebookNode], index: int,
                    deadline: float) -> Any:
        """Evaluate ``request`` in the kernel; the reply text, or ``(None, why)``."""
        kc = self.kc  # type: ignore[attr-defined]
        msg_id = kc.execute("", silent=True, store_history=False, allow_stdin=True,
                            user_expressions={"r": _SERVE.format(request)})
        scratch = NotebookNode(cell_type="code", source="", outputs=outputs,
                               metadata=NotebookNode(execution=NotebookNode()))
        interrupted = self._drain(msg_id, scratch, index, deadline)
        reply = self._shell_reply(msg_id)
        if interrupted:
            self._call_timed_out = True
            return (None, f"the call did not finish within the cell timeout of "
                          f"{self.timeout} s (an infinite loop, or far too much work?)")  # type: ignore[attr-defined]
        if reply is None:
            return (None, "the student's kernel sent no reply")
        result = reply.get("content", {}).get("user_expressions", {}).get("r", {})
        if result.get("status") != "ok":
            return (None, "the student's kernel could not run the call: "
                          f"{result.get('ename', 'error')}: {result.get('evalue', '')}"[:2000])
        text = result.get("data", {}).get("text/plain")
        return text if isinstance(text, str) else (None, "the student's kernel sent no text")

    def _drain(self, msg_id: str, scratch: NotebookNode, index: int, deadline: float) -> bool:
        """Read the call's outputs until the kernel is idle; True if it had to be interrupted."""
        from nbclient.exceptions import CellExecutionComplete

        get = run_sync(self.kc.get_iopub_msg)  # type: ignore[attr-defined]
        interrupted = False
        idle_polls, calling_back = 0, False
        while True:
            wait = deadline - time.monotonic()
            if wait <= 0:
                if interrupted:
                    raise CellTimeoutError.error_from_timeout_and_cell(
                        "the kernel ignored the interrupt", self.timeout, scratch)  # type: ignore[attr-defined]
                interrupted = True
                run_sync(self.km.interrupt_kernel)()  # type: ignore[attr-defined]
                deadline = time.monotonic() + _INTERRUPT_GRACE
                continue
            try:
                # short waits while the code calls back (a callback asks on stdin, not iopub)
                pause = 0.001 if calling_back else 0.01 if idle_polls < 100 else 0.2
                msg = get(timeout=min(wait, pause))
            except Exception:  # queue.Empty: a callback? is the kernel still there?
                idle_polls += 1
                if self._answer_stdin(scratch, deadline):
                    idle_polls, calling_back = 0, True
                elif idle_polls % 50 == 0 and not run_sync(
                        self.kc.is_alive)():  # type: ignore[attr-defined]
                    raise DeadKernelError("Kernel died") from None
                continue
            idle_polls = 0
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            try:
                self.process_message(msg, scratch, index)  # type: ignore[attr-defined]
            except CellExecutionComplete:
                return interrupted

    def _answer_stdin(self, scratch: NotebookNode, deadline: float) -> bool:
        """Answer an ``input()`` of the kernel: a callback to the judge, else an empty line."""
        from rnnkit.judge.serve import CALLBACK_PROMPT

        kc = self.kc  # type: ignore[attr-defined]
        try:
            msg = run_sync(kc.get_stdin_msg)(timeout=0)
        except Exception:
            return False
        if msg.get("msg_type") != "input_request":
            return True
        prompt = msg.get("content", {}).get("prompt", "")
        answer = ""
        if prompt.startswith(CALLBACK_PROMPT) and self._judge is not None:
            self.report["judge_calls"] += 1  # type: ignore[attr-defined]
            answer, judge_outputs = self._judge.callback(prompt[len(CALLBACK_PROMPT):],
                                                         deadline)
            scratch.outputs.extend(from_dict(o) for o in judge_outputs)
        kc.input(answer)
        return True

    def _shell_reply(self, msg_id: str) -> dict[str, Any] | None:
        get = run_sync(self.kc.get_shell_msg)  # type: ignore[attr-defined]
        end = time.monotonic() + _INTERRUPT_GRACE
        while time.monotonic() < end:
            try:
                msg = get(timeout=max(0.05, end - time.monotonic()))
            except Exception:
                return None
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return msg
        return None

