"""What ``rnnkit grade`` does to start fast: lean imports, a warmed-up fork server, a client
that does not linger on dead kernels. (The speed itself: benchmarks/grading_speed.py.)"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import zmq
from jupyter_client.session import Session

from rnnkit.grading.executor import PRELOAD
from rnnkit.kernelclient import (
    GradingKernelClient,
    NoLingerHBChannel,
    SlicedPollKernelClient,
)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300, check=False)


def test_grading_processes_skip_the_iri_grammar_and_still_validate_notebooks() -> None:
    out = _python("""
        import sys
        import rnnkit.grading
        import nbformat
        from nbformat.validator import NotebookValidationError
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
        nbformat.validate(nb)
        nb.cells[0]["outputs"] = "not a list"
        try:
            nbformat.validate(nb)
        except NotebookValidationError:
            print("invalid notebook rejected")
        print("rfc3987_syntax loaded:", sys.modules.get("rfc3987_syntax") is not None)
    """)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "invalid notebook rejected" in out.stdout
    assert "rfc3987_syntax loaded: False" in out.stdout


def test_fork_server_preload_modules_import_cleanly() -> None:
    out = _python(f"""
        import importlib, sys
        for name in {PRELOAD!r}:
            importlib.import_module(name)
        print("ok", "rfc3987_syntax" in sys.modules and sys.modules["rfc3987_syntax"] is not None)
    """)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["ok", "False"]
    assert PRELOAD[-1] == "rnnkit.grading.warmup"  # warms up after everything is imported


def test_heartbeat_sockets_are_closed_without_lingering() -> None:
    assert GradingKernelClient.hb_channel_class.default_value is NoLingerHBChannel
    assert SlicedPollKernelClient.hb_channel_class.default_value is not NoLingerHBChannel
    context = zmq.Context()
    channel = NoLingerHBChannel(context=context, session=Session(),
                                address="ipc:///tmp/rnnkit-test-no-such-kernel")
    try:
        channel._create_socket()
        first = channel.socket
        assert first is not None and first.linger == 0
        first.send(b"ping", zmq.NOBLOCK)  # queued for a kernel that never answers
        channel._create_socket()  # what the channel does on a missed heartbeat
        assert first.closed
        assert channel.socket is not first and channel.socket.linger == 0
    finally:
        channel.close()
        context.term()  # would wait out a lingering ping; returns at once here
