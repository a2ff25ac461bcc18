"""The judge process: where test cells run while a notebook is graded.

``Judge.start(setup, names)`` forks a process that holds only the course's code: it runs
``setup`` (the instructor's imports cell, from the source notebook) in an IPython shell
of its own, then binds each exercise name in ``names`` to a
:class:`rnnkit.judge.proxy.RemoteName`. ``judge.run_cell(source, relay, deadline)`` runs
one test cell there. Whenever the cell calls an exercise, the judge sends the request
(JSON text) back through the pipe; the grader hands it to ``relay``, which evaluates it
in the student kernel (``rnnkit.judge.serve``) and returns the kernel's reply text, and
the judge goes on. The cell's outputs (stdout, stderr, displays and its error, in the
order they happened) come back as nbformat output dicts, ready for nbgrader to score.

Nothing from the student kernel reaches this process except reply texts, which the
proxies decode as data. The judge's streams are its own; the student's prints during a
call are the relay's to keep.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
import types
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["Judge", "JudgeDied"]

MEMORY_BYTES = 4 * 2**30


class JudgeDied(RuntimeError):
    """The judge process exited or stopped answering."""


class Judge:
    """The grader's handle on one judge process (one per graded notebook)."""

    def __init__(self, pid: int, conn: Any, setup_outputs: list[dict[str, Any]]) -> None:
        self.pid = pid
        self._conn = conn
        self.setup_outputs = setup_outputs
        self.cpu_seconds = 0.0  # the judge's CPU time so far (set-up included)

    @classmethod
    def start(cls, setup: str, names: list[str], timeout: float = 120.0,
              wait: bool = True) -> Judge:
        """Fork a judge, run ``setup`` in it and bind ``names`` to proxies.

        With ``wait=False`` the set-up runs while the caller goes on (the grader starts
        the kernel meanwhile); :meth:`ready` or the first :meth:`run_cell` waits for it.
        """
        import multiprocessing

        parent, child = multiprocessing.Pipe(duplex=True)
        # the worker's objects (nbgrader, torch...) go to the permanent generation, so the
        # judge's garbage collector never walks (and copies the pages of) the whole heap
        gc.freeze()
        try:
            pid = os.fork()
        finally:
            if pid != 0:
                gc.unfreeze()
        if pid == 0:  # the judge
            code = 0
            try:
                parent.close()
                _main(child)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        child.close()
        judge = cls(pid, parent, [])
        judge._timeout = timeout
        judge._pending_setup = True
        parent.send(("setup", setup, list(names)))
        if wait:
            judge.ready()
        return judge

    def ready(self) -> None:
        """Wait for the set-up; :class:`JudgeDied` (the judge closed) when it failed."""
        if not getattr(self, "_pending_setup", False):
            return
        self._pending_setup = False
        try:
            kind, payload = self._recv(time.monotonic() + self._timeout)
        except JudgeDied:
            self.close()
            raise
        if kind != "ready":
            self.close()
            raise JudgeDied(f"the judge's set-up did not finish: {payload}")
        self.setup_outputs = payload

    def _recv(self, deadline: float) -> tuple[str, Any]:
        wait = max(0.0, deadline - time.monotonic())
        try:
            if not self._conn.poll(wait):
                raise JudgeDied(f"the judge did not answer within {wait:.0f} s")
            message = self._conn.recv()
        except (EOFError, OSError) as err:
            raise JudgeDied(f"the judge stopped ({type(err).__name__})") from None
        return message[0], message[1] if len(message) == 2 else message[1:]

    def run_cell(self, source: str, relay: Callable[[str, list[dict[str, Any]]], str],
                 deadline: float) -> tuple[list[dict[str, Any]], bool]:
        """Run a test cell; ``(outputs, finished)``. ``relay(request, outputs_so_far)``.

        ``finished`` is False when the cell raised (its error is the last output).
        Raises :class:`JudgeDied` when the judge dies or runs past ``deadline``.
        """
        self.ready()
        try:
            self._conn.send(("cell", source))
        except OSError as err:
            raise JudgeDied(f"the judge stopped ({type(err).__name__})") from None
        while True:
            kind, payload = self._recv(deadline)
            if kind == "call":
                request, outputs = payload
                reply = relay(request, outputs)
                try:
                    self._conn.send(("reply", reply))
                except OSError as err:
                    raise JudgeDied(f"the judge stopped ({type(err).__name__})") from None
            elif kind == "done":
                outputs, finished, self.cpu_seconds = payload
                return outputs, finished
            else:
                raise JudgeDied(f"the judge sent {kind!r}")

    def callback(self, request: str, deadline: float) -> tuple[str, list[dict[str, Any]]]:
        """Run a test function the student's code calls back, during a call; its reply."""
        try:
            self._conn.send(("callback", request))
        except OSError as err:
            raise JudgeDied(f"the judge stopped ({type(err).__name__})") from None
        kind, payload = self._recv(deadline)
        if kind != "callback_reply":
            raise JudgeDied(f"the judge sent {kind!r} for a callback")
        answer, outputs = payload
        return answer, outputs

    def close(self) -> None:
        """Stop the judge (at once: it holds nothing worth keeping)."""
        with contextlib.suppress(OSError):
            self._conn.close()
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)


# -- inside the judge -------------------------------------------------------------------------
class _Outputs:
    """What a cell prints and displays, as nbformat outputs in order."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def stream(self, name: str, text: str) -> None:
        if not text:
            return
        last = self.items[-1] if self.items else None
        if last is not None and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.items.append({"output_type": "stream", "name": name, "text": text})

    def take(self) -> list[dict[str, Any]]:
        items, self.items = self.items, []
        return items


class _Stream(io.TextIOBase):
    def __init__(self, outputs: _Outputs, name: str) -> None:
        self._outputs, self.name = outputs, name

    def write(self, text: str) -> int:
        self._outputs.stream(self.name, str(text))
        return len(text)

    def writable(self) -> bool:
        return True


def _make_shell(outputs: _Outputs) -> Any:
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    class Publisher(DisplayPublisher):
        def publish(self, data: dict[str, Any], metadata: dict[str, Any] | None = None,
                    **kw: Any) -> None:
            outputs.items.append({"output_type": "display_data", "data": data,
                                  "metadata": metadata or {}})

        def clear_output(self, wait: bool = False) -> None:
            pass

    class JudgeShell(InteractiveShell):
        def _showtraceback(self, etype: Any, evalue: Any, stb: list[str]) -> None:
            remote = getattr(evalue, "__rnnkit_remote_traceback__", None)
            lines = list(stb)
            if remote:
                lines.append("In the student's code:\n" + remote)
            outputs.items.append({"output_type": "error", "ename": getattr(
                etype, "__name__", str(etype)), "evalue": str(evalue), "traceback": lines})

        def enable_gui(self, gui: Any = None) -> None:  # %matplotlib inline: no event loop
            pass

        def init_display_pub(self) -> None:
            self.display_pub = Publisher(shell=self, parent=self)

    with warnings.catch_warnings():  # IPython's own deprecations are not the test's
        warnings.simplefilter("ignore")
        shell = JudgeShell.instance(colors="nocolor", ast_node_interactivity="none",
                                    history_length=0, cache_size=0)
    shell.history_manager.enabled = False
    return shell


def _default_warning_filters() -> None:
    """Python's own warning filters, as a fresh kernel has them, whatever the forking process
    set (a test run's ``-W error`` would turn the student's re-issued warnings into errors)."""
    warnings.resetwarnings()
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning,
                     ResourceWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")


def _main(conn: Any) -> None:
    """The judge's loop: set-up, then one test cell at a time."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["IPYTHONDIR"] = home = tempfile.mkdtemp(prefix="rnnkit-judge-")
    os.chdir(home)
    sys.path[:] = [p for p in sys.path if p not in ("", ".")]
    _default_warning_filters()
    outputs = _Outputs()
    sys.stdout, sys.stderr = _Stream(outputs, "stdout"), _Stream(outputs, "stderr")
    from . import proxy

    def send(request: str) -> str:
        conn.send(("call", (request, outputs.take())))
        kind, reply = conn.recv()
        while kind == "callback":  # the student's code calls a function of the test
            answer = link.answer_callback(reply)
            conn.send(("callback_reply", (answer, outputs.take())))
            kind, reply = conn.recv()
        if kind != "reply":
            raise proxy.RemoteError(f"the grader sent {kind!r}")
        if reply is None:
            raise proxy.RemoteError("the student's kernel did not answer")
        if isinstance(reply, tuple):  # (None, why): the call failed on the grader's side
            raise proxy.RemoteError(reply[1])
        return reply

    link = proxy.Link(send)
    proxy.set_link(link)
    shell = None
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        kind = message[0]
        if kind == "setup":
            _, setup, names = message
            try:
                shell = _make_shell(outputs)
                result = shell.run_cell(setup, store_history=False)
                for name in names:
                    shell.user_ns[name] = proxy.RemoteName(name)
                # the tests use torch: calls carry its grad mode and random state
                proxy.set_torch_context(any(
                    getattr(v, "__name__", "").split(".")[0] == "torch"
                    for v in shell.user_ns.values() if isinstance(v, types.ModuleType)))
                _torch_threads()
                ok = result.success
            except BaseException:
                outputs.stream("stderr", traceback.format_exc())
                ok = False
            conn.send(("ready" if ok else "failed", outputs.take()))
            if not ok:
                return
        elif kind == "cell":
            assert shell is not None
            result = shell.run_cell(message[1], store_history=False)
            conn.send(("done", (outputs.take(), bool(result.success), time.process_time())))
        else:
            return


def _torch_threads() -> None:
    torch = sys.modules.get("torch")
    if torch is not None:
        with contextlib.suppress(Exception):
            torch.set_num_threads(1)
