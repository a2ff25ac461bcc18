"""The bubblewrap sandbox: each property the grading pipeline relies on, checked for real."""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any, ClassVar

import nbformat
import pytest
from traitlets.config import Config

from rnnkit.grading import sandbox
from rnnkit.grading.model import GiB
from rnnkit.grading.sandbox import (
    BWRAP_MISSING,
    SandboxedKernelManager,
    SandboxError,
    SandboxLimits,
    SandboxUnavailable,
    bwrap_available,
    bwrap_command,
    sandbox_config,
    sandbox_processes,
)

REPO = Path(__file__).resolve().parents[1]
needs_bwrap = pytest.mark.skipif(
    not bwrap_available(),
    reason="bubblewrap (bwrap) is not installed: apt-get install bubblewrap")


class RecordingKM(SandboxedKernelManager):
    """Remembers its instances, so a test can inspect the sandbox after the run."""

    made: ClassVar[list[RecordingKM]] = []

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        RecordingKM.made.append(self)


def run_cells(working_copy: Path, cells: list[str], limits: SandboxLimits | None = None,
              cell_timeout: int = 60) -> tuple[list[Any], RecordingKM, Exception | None]:
    """Run ``cells`` in a sandboxed kernel; returns outputs per cell, the manager, any error."""
    from nbclient import NotebookClient

    limits = limits or SandboxLimits()
    config = Config()
    config.merge(sandbox_config(limits, working_copy))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    RecordingKM.made.clear()
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
                            kernel_manager_class=RecordingKM, config=config,
                            interrupt_on_timeout=True,
                            error_on_timeout={"ename": "CellTimeoutError", "evalue": "timeout",
                                              "traceback": []},
                            resources={"metadata": {"path": str(working_copy)}})
    error = None
    try:
        client.execute()
    except Exception as err:  # DeadKernelError and friends: the test decides
        error = err
    return [c.outputs for c in nb.cells], RecordingKM.made[-1], error


def text(outputs: list[Any]) -> str:
    """Everything a cell printed or raised, as one string."""
    parts = []
    for out in outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
        elif "data" in out:
            parts.append(str(out.data.get("text/plain", "")))
    return "".join(parts)


@pytest.fixture
def working_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "submitted" / "alice" / "01_sequences"
    folder.mkdir(parents=True)
    (folder / "data.txt").write_text("the student's own file\n")
    return folder


# -- without bwrap ----------------------------------------------------------------------
def test_missing_bwrap_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    sandbox.require_bwrap.cache_clear()
    try:
        assert not bwrap_available()
        with pytest.raises(SandboxUnavailable) as err:
            sandbox.require_bwrap()
    finally:
        sandbox.require_bwrap.cache_clear()
    assert str(err.value) == BWRAP_MISSING
    assert "apt-get install bubblewrap" in BWRAP_MISSING and "--no-sandbox" in BWRAP_MISSING


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_processes"):
        SandboxLimits(max_processes=0)


def test_command_mounts_only_the_working_copy_writable(tmp_path: Path) -> None:
    wc, runtime = tmp_path / "wc", tmp_path / "rt"
    cmd = bwrap_command(wc, runtime, ["python", "-m", "ipykernel_launcher"], uid=1_900_000_001)
    for flag in ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent",
                 "--new-session", "--clearenv"):
        assert flag in cmd
    writable = [cmd[i + 2] for i, a in enumerate(cmd) if a == "--bind"]
    assert writable == [str(runtime), str(wc)]
    readonly = {cmd[i + 2] for i, a in enumerate(cmd) if a in ("--ro-bind", "--ro-bind-try")}
    course_paths = {p for p in readonly if p.startswith(str(REPO))}
    import rnnkit

    allowed = {str(Path(rnnkit.__file__).parent), str(Path(os.sys.prefix))}
    assert course_paths <= allowed, f"course files visible in the sandbox: {course_paths - allowed}"
    assert "/" not in readonly and "/etc" not in readonly and "/root" not in readonly


def test_command_without_root_uses_a_user_namespace(tmp_path: Path) -> None:
    cmd = bwrap_command(tmp_path / "wc", tmp_path / "rt", ["python"], uid=None)
    assert cmd[cmd.index("--unshare-user"):][:5] == ["--unshare-user", "--uid", "1000",
                                                    "--gid", "1000"]
    assert "--cap-add" not in cmd
    assert '"uid": null' in cmd[-1]


def test_working_copy_may_not_overlap_the_python_install(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="overlaps"):
        bwrap_command(Path(os.sys.prefix), tmp_path, ["python"], uid=1_900_000_002)


def test_sandbox_config_plugs_into_execute(tmp_path: Path) -> None:
    limits = SandboxLimits(cell_seconds=7, notebook_seconds=42, memory_bytes=3 * GiB)
    c = sandbox_config(limits, tmp_path)
    assert c.Execute.kernel_manager_class is SandboxedKernelManager
    assert c.Execute.timeout == 7
    assert c.SandboxedKernelManager.notebook_seconds == 42
    assert c.SandboxedKernelManager.memory_bytes == 3 * GiB
    assert c.SandboxedKernelManager.working_copy == str(tmp_path.resolve())


# -- in a real sandbox ------------------------------------------------------------------


@pytest.mark.slow
@needs_bwrap
def test_course_code_runs_inside(working_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("RNNKIT_SECRET_TOKEN", "must-not-pass")
    outs, km, error = run_cells(working_copy, [
        "import matplotlib.pyplot as plt\nimport numpy as np\nimport torch\nimport rnnkit\n"
        "from rnnkit.checks import check_close\nfrom rnnkit.datasets import load_sunspots\n"
        "years, spots = load_sunspots()\ncheck_close(np.ones(2), [1.0, 1.0], 'ones')\n"
        "net = torch.nn.LSTM(3, 4, batch_first=True)\nout, _ = net(torch.zeros(2, 5, 3))\n"
        "plt.plot(years, spots)\nplt.savefig('plot.png')\n"
        "print('ok', len(spots), tuple(out.shape), rnnkit.device())",
        "import os\nprint(os.getuid(), os.getcwd() == " + repr(str(working_copy))
        + ", open('data.txt').read().strip())",
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith(('CapEff', "
        "'NoNewPrivs'))])",
        "import os\nprint(os.environ.get('NBGRADER_EXECUTION'), "
        "os.environ.get('RNNKIT_SECRET_TOKEN'), os.environ['HOME'])",
        "open('result.txt', 'w').write('written inside')",
    ])
    assert error is None, error
    assert text(outs[0]).startswith("ok 309 (2, 5, 4) cpu"), text(outs[0])
    stderr = [o.text for cell in outs for o in cell if o.get("name") == "stderr"]
    assert stderr == [], stderr  # no font-cache rebuild, no warnings from a missing /sys
    uid, same_cwd, own_file = text(outs[1]).split(maxsplit=2)
    assert int(uid) == km.sandbox_uid and int(uid) != 0 and same_cwd == "True"
    assert own_file.strip() == "the student's own file"
    assert text(outs[2]).strip() == "['0000000000000000', '1']"  # no capabilities, no setuid
    assert text(outs[3]).split() == ["autograde", "None", sandbox.SANDBOX_HOME]
    assert (working_copy / "result.txt").read_text() == "written inside"
    assert (working_copy / "plot.png").stat().st_size > 1000
    assert (working_copy / "result.txt").stat().st_uid == os.getuid()  # ownership given back
    assert sandbox_processes(km.sandbox_uid) == []


@pytest.mark.slow
@needs_bwrap
def test_course_root_and_other_students_are_invisible(working_copy: Path) -> None:
    other = working_copy.parent.parent / "bob" / "01_sequences"
    other.mkdir(parents=True)
    (other / "01_sequences.ipynb").write_text("{}")
    probes = [REPO / "autograder", REPO / "solutions", REPO / "course", REPO / "tests",
              REPO / ".git", REPO / "pyproject.toml", other, other.parent,
              Path("/etc/shadow"), Path("/etc/passwd"), Path("/root/.ssh"), Path("/home")]
    outs, _, error = run_cells(working_copy, [
        f"import os\nfor p in {[str(p) for p in probes]!r}:\n    print(p, os.path.exists(p))",
        f"print(sorted(os.listdir({str(REPO)!r})), sorted(os.listdir({str(REPO / 'src')!r})))",
        f"print(sorted(os.listdir({str(working_copy.parent)!r})))",
    ])
    assert error is None, error
    visible = [line for line in text(outs[0]).splitlines() if line.endswith("True")]
    assert visible == [], f"visible inside the sandbox: {visible}"
    assert text(outs[1]).strip() == "['.venv', 'src'] ['rnnkit']"
    assert text(outs[2]).strip() == "['01_sequences']"


@pytest.mark.slow
@needs_bwrap
def test_network_is_unreachable(working_copy: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        outs, _, error = run_cells(working_copy, [
            "import socket\n"
            f"for host, port in [('127.0.0.1', {port}), ('1.1.1.1', 53), ('8.8.8.8', 443)]:\n"
            "    s = socket.socket(); s.settimeout(3)\n"
            "    try:\n        s.connect((host, port)); print('CONNECTED', host)\n"
            "    except OSError as e:\n        print('blocked', host, e.errno)\n",
            "print(sorted(name for _, name in socket.if_nameindex()))",
        ])
    finally:
        server.close()
    assert error is None, error
    assert "CONNECTED" not in text(outs[0]), text(outs[0])
    assert text(outs[0]).count("blocked") == 3
    assert text(outs[1]).strip() == "['lo']"


@pytest.mark.slow
@needs_bwrap
def test_writes_outside_the_working_copy_fail(working_copy: Path) -> None:
    import rnnkit

    targets = ["/usr/rnnkit-x", "/etc/rnnkit-x", "/rnnkit-x", f"{os.sys.prefix}/rnnkit-x",
               f"{Path(rnnkit.__file__).parent}/rnnkit-x", f"{working_copy.parent}/rnnkit-x",
               f"{REPO}/rnnkit-x"]
    marker = f"/tmp/rnnkit-sandbox-test-{os.getpid()}"
    outs, _, error = run_cells(working_copy, [
        f"for t in {targets!r}:\n"
        "    try:\n        open(t, 'w').write('x'); print('WROTE', t)\n"
        "    except OSError as e:\n        print('refused', t, type(e).__name__)",
        f"open({marker!r}, 'w').write('private tmp'); print(open({marker!r}).read())",
        "open('inside.txt', 'w').write('ok')",
    ])
    assert error is None, error
    assert "WROTE" not in text(outs[0]), text(outs[0])
    assert text(outs[0]).count("refused") == len(targets)
    assert text(outs[1]).strip() == "private tmp"
    assert not Path(marker).exists(), "the sandbox's /tmp is the host's"
    assert (working_copy / "inside.txt").read_text() == "ok"
    for t in targets:
        assert not Path(t).exists()


@pytest.mark.slow
@needs_bwrap
def test_memory_bomb_is_stopped(working_copy: Path) -> None:
    outs, _km, error = run_cells(working_copy, [
        "x = bytearray(3 * 1024**3)",
        "hoard = []\nwhile True:\n    hoard.append(bytearray(100 * 1024**2))",
        "del hoard\nprint('alive')",
    ], SandboxLimits(memory_bytes=1 * GiB))
    assert error is None, error
    assert text(outs[0]).startswith("MemoryError")
    assert text(outs[1]).startswith("MemoryError")
    assert text(outs[2]).strip() == "alive"


@pytest.mark.slow
@needs_bwrap
def test_fork_bomb_is_contained(working_copy: Path) -> None:
    limits = SandboxLimits(max_processes=24)
    outs, km, error = run_cells(working_copy, [
        "import os, time\nn = 0\ntry:\n    for _ in range(500):\n"
        "        if os.fork() == 0:\n            time.sleep(600); os._exit(0)\n        n += 1\n"
        "except OSError as e:\n    print('stopped after', n, e.strerror)",
        "while True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)",
        "print('alive')",
    ], limits, cell_timeout=8)
    assert error is None, error
    stopped = text(outs[0]).split()
    assert stopped[:2] == ["stopped", "after"] and int(stopped[2]) < 24, text(outs[0])
    assert "Resource temporarily unavailable" in text(outs[0])
    assert "CellTimeoutError" in text(outs[1]) or "KeyboardInterrupt" in text(outs[1])
    assert text(outs[2]).strip() == "alive"
    assert sandbox_processes(km.sandbox_uid) == []


@pytest.mark.slow
@needs_bwrap
def test_per_cell_timeout_interrupts_a_loop(working_copy: Path) -> None:
    outs, _, error = run_cells(working_copy, ["while True:\n    pass", "print('next')"],
                               cell_timeout=4)
    assert error is None, error
    assert "KeyboardInterrupt" in text(outs[0]) or "CellTimeoutError" in text(outs[0])
    assert text(outs[1]).strip() == "next"


@pytest.mark.slow
@needs_bwrap
def test_wall_clock_stops_a_loop_that_ignores_interrupts(working_copy: Path) -> None:
    start = time.monotonic()
    _outs, km, error = run_cells(working_copy, [
        "import time\nwhile True:\n    try:\n        time.sleep(1)\n"
        "    except KeyboardInterrupt:\n        pass",
    ], SandboxLimits(notebook_seconds=6), cell_timeout=120)
    elapsed = time.monotonic() - start
    assert type(error).__name__ == "DeadKernelError", error
    assert km.wall_clock_expired
    assert elapsed < 60, f"took {elapsed:.0f} s"
    assert sandbox_processes(km.sandbox_uid) == []


@pytest.mark.slow
@needs_bwrap
@pytest.mark.parametrize("crash", ["import os\nos._exit(3)", "import ctypes\nctypes.string_at(0)"],
                         ids=["os_exit", "segfault"])
def test_crashes_are_contained(working_copy: Path, crash: str) -> None:
    outs, km, error = run_cells(working_copy, [crash, "print('never')"])
    assert type(error).__name__ == "DeadKernelError", error
    assert "never" not in text(outs[1])
    assert not km.wall_clock_expired
    assert sandbox_processes(km.sandbox_uid) == []
    assert working_copy.stat().st_uid == os.getuid()


@pytest.mark.slow
@needs_bwrap
def test_links_and_fifos_are_removed_after_the_run(working_copy: Path) -> None:
    (working_copy / "01_sequences.ipynb").write_text("{}")
    _outs, km, error = run_cells(working_copy, [
        "import os\nos.remove('01_sequences.ipynb')\n"
        "os.symlink('/tmp/rnnkit-elsewhere', '01_sequences.ipynb')\n"
        "os.symlink('/etc/passwd', 'passwd')\nos.mkfifo('pipe')\nos.mkdir('sub')\n"
        "os.symlink('/', 'sub/root')\nopen('sub/keep.txt', 'w').write('kept')",
    ])
    assert error is None, error
    names = sorted(p.relative_to(working_copy).as_posix() for p in working_copy.rglob("*"))
    assert names == ["data.txt", "sub", "sub/keep.txt"]
    assert sorted(km.removed_files) == ["01_sequences.ipynb", "passwd", "pipe", "sub/root"]
    assert all(p.stat().st_uid == os.getuid() for p in working_copy.rglob("*"))


@pytest.mark.slow
@needs_bwrap
def test_processes_left_by_a_cell_are_killed(working_copy: Path) -> None:
    from rnnkit.grading.hardening import HardenedExecute

    config = sandbox_config(SandboxLimits(), working_copy)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in [
        "import os, time\nfor _ in range(5):\n    if os.fork() == 0:\n"
        "        time.sleep(600)\n        os._exit(0)",
        "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))",
    ]])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    HardenedExecute(config=config, timeout=60).preprocess(
        nb, {"metadata": {"path": str(working_copy)}})
    assert text(nb.cells[1].outputs).strip() == "[1, 2]"  # bwrap's init and the kernel


def test_a_zombie_counts_as_dead() -> None:
    """Clean-up waits for the sandbox's processes to die, not for the host's init to reap
    them: bwrap's orphaned init can stay a zombie for a second."""
    sleeper = os.fork()
    if sleeper == 0:
        time.sleep(60)
        os._exit(0)
    exited = os.fork()
    if exited == 0:
        os._exit(0)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(f"/proc/{exited}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.01)
        assert sandbox._alive(sleeper)
        assert not sandbox._alive(exited)  # a zombie: still in /proc, running nothing
    finally:
        os.kill(sleeper, 9)
        os.waitpid(sleeper, 0)
        os.waitpid(exited, 0)
    assert not sandbox._alive(exited)
