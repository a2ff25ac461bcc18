"""Run each submission's kernel in a bubblewrap sandbox.

What the kernel sees (``SandboxedKernelManager`` builds the ``bwrap`` command):

* no network: new network, IPC, PID and UTS namespaces (``--unshare-*``); the kernel
  talks to the grader over ZMQ's ``ipc`` transport, through Unix sockets in a private
  runtime directory that is bound into the sandbox;
* a read-only system: ``/usr`` (with the ``/bin``, ``/lib*`` symlinks), a few files of
  ``/etc``, the Python installation (``sys.prefix``, ``sys.base_prefix``) and the
  ``rnnkit`` package directory, all at their own paths; a private ``/tmp`` (tmpfs),
  ``/proc`` of its own PID namespace and a minimal ``/dev``;
* one writable folder, the submission's *working copy*, which is also the cwd. Nothing
  else of the course root is mounted: no gradebook, ``solutions/``, ``autograder/``,
  configuration or other students' folders;
* a clean environment (``--clearenv`` plus an allow-list: ``NBGRADER_EXECUTION``,
  ``OMP_NUM_THREADS``...), Python in isolated mode (``-I``: the working copy is not on
  ``sys.path``, so a ``numpy.py`` shipped beside the notebook is never imported);
* its own unprivileged user id (one per sandbox, no capabilities) with resource limits:
  address space (``RLIMIT_AS``), processes and threads (``RLIMIT_NPROC``, enforced
  because the uid is neither root nor shared with another sandbox), CPU seconds, file
  size, no core dumps, and ``oom_score_adj=1000`` so the kernel dies first on a
  machine short of memory;
* a whole-notebook wall clock: after ``notebook_seconds`` the manager kills the sandbox
  (every process in it: the PID namespace dies with bubblewrap) and sets
  ``wall_clock_expired``. Per-cell timeouts stay nbgrader's ``Execute.timeout``.

Plugging it into nbgrader's autograde (the kernel starts in the notebook's folder,
``autograded/<student>/<chapter>``, which becomes the working copy)::

    from rnnkit.grading.sandbox import SandboxLimits, require_bwrap, sandbox_config
    from rnnkit.nbgrader_api import load_config, make_api

    require_bwrap()                      # SandboxUnavailable (with BWRAP_MISSING) if absent
    config = load_config(root)
    config.merge(sandbox_config(SandboxLimits(notebook_seconds=300)))
    api = make_api(config)
    api.autograde("01_sequences", "alice", force=True, create=True)

``rnnkit.grading.hardening.hardening_config()`` adds the defences against tampering
inside the kernel; merge it after this one. Outside nbgrader, start a kernel with
``SandboxedKernelManager(working_copy=...)`` like any ``AsyncKernelManager``.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Float, Int, List, Unicode
from traitlets.config import Config

from .model import DEFAULT_CELL_TIMEOUT, DEFAULT_MEMORY_BYTES, DEFAULT_TIME_LIMIT, MiB

__all__ = [
    "BWRAP_MISSING",
    "SandboxError",
    "SandboxLimits",
    "SandboxUnavailable",
    "SandboxedKernelManager",
    "bwrap_available",
    "bwrap_command",
    "require_bwrap",
    "sandbox_config",
]

BWRAP_MISSING = (
    "bubblewrap (bwrap) is not installed, so student code cannot be isolated: it would run "
    "as you, beside the gradebook and the hidden tests, with network access. Install it "
    "(Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install bubblewrap) "
    "or, only for code you trust, pass --no-sandbox."
)


class SandboxError(RuntimeError):
    """The sandbox cannot be set up as asked (a bad working copy, for example)."""


class SandboxUnavailable(SandboxError):
    """bubblewrap is missing or cannot create namespaces on this machine."""


def bwrap_path() -> str | None:
    """The ``bwrap`` executable on ``PATH`` (or in /usr/bin), or None."""
    return shutil.which("bwrap") or (
        "/usr/bin/bwrap" if os.access("/usr/bin/bwrap", os.X_OK) else None
    )


def bwrap_available() -> bool:
    """Whether ``bwrap`` is installed (``require_bwrap`` also checks that it runs)."""
    return bwrap_path() is not None


@functools.lru_cache(maxsize=1)
def require_bwrap() -> str:
    """The path of a working ``bwrap``; raises ``SandboxUnavailable`` with ``BWRAP_MISSING``."""
    import subprocess

    path = bwrap_path()
    if path is None:
        raise SandboxUnavailable(BWRAP_MISSING)
    probe = subprocess.run(
        [path, "--unshare-net", "--unshare-pid", "--ro-bind", "/", "/", "--proc", "/proc",
         "--dev", "/dev", "true"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    if probe.returncode != 0:
        raise SandboxUnavailable(
            f"bubblewrap is installed at {path} but cannot create a sandbox here "
            f"({probe.stderr.strip() or 'exit status ' + str(probe.returncode)}): grading "
            "needs root or unprivileged user namespaces. Pass --no-sandbox only for code "
            "you trust."
        )
    return path


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one submission's kernel.

    Defaults fit the course: a sandboxed kernel that imports numpy, matplotlib, torch and
    rnnkit and runs a small LSTM peaks at about 1.3 GiB of address space (0.35 GiB of
    private data, 0.3 GiB resident) with 11 threads (measured with torch 2.13 CPU,
    OMP_NUM_THREADS=1). ``memory_bytes`` caps the address space of each process
    (``RLIMIT_AS``; the private-data limit ``RLIMIT_DATA`` is the same), so an allocation
    beyond it raises ``MemoryError``. ``max_processes`` counts threads too.
    """

    memory_bytes: int = DEFAULT_MEMORY_BYTES  # RLIMIT_AS and RLIMIT_DATA of every process
    max_processes: int = 64  # RLIMIT_NPROC: processes *and threads* of the sandbox's uid
    notebook_seconds: float = DEFAULT_TIME_LIMIT  # wall clock for the whole notebook
    cell_seconds: int = DEFAULT_CELL_TIMEOUT  # per-cell timeout (nbgrader's Execute.timeout)
    file_bytes: int = 256 * MiB  # RLIMIT_FSIZE: the largest file the kernel may write
    tmp_bytes: int = 512 * MiB  # size of the private /tmp (tmpfs, counts against RAM)
    open_files: int = 1024  # RLIMIT_NOFILE

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not value > 0:
                raise ValueError(f"SandboxLimits.{name} must be > 0; got {value!r}")


DEFAULT_LIMITS = SandboxLimits()

# Environment variables passed from the grader into the sandbox (everything else is cleared).
PASSED_ENV = ("NBGRADER_EXECUTION", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "MPLBACKEND",
              "RNNKIT_DEVICE", "PYDEVD_DISABLE_FILE_VALIDATION", "LANG", "LC_ALL", "TZ")
# /etc entries a Python kernel needs; the rest of /etc (shadow, ssh keys...) stays hidden.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts",
             "alternatives", "mime.types")
SANDBOX_HOME = "/tmp/home"

# Runs inside the sandbox: set the limits (inside the new namespaces, so RLIMIT_NPROC counts
# only this sandbox's processes), drop to the sandbox's uid when started as root, then exec
# the kernel. Python's own stdlib only (`python -I -S`).
_LAUNCHER = r"""
import json, os, resource, shutil, sys
spec = json.loads(sys.argv[1])
for name, value in spec["rlimits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
try:
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")
except OSError:
    pass
if spec["uid"] is not None:
    os.setgroups([])
    os.setresgid(spec["gid"], spec["gid"], spec["gid"])
    os.setresuid(spec["uid"], spec["uid"], spec["uid"])
os.umask(0o077)
for d in spec["mkdirs"]:
    os.makedirs(d, mode=0o700, exist_ok=True)
for src, dst in spec["copies"]:
    try:
        shutil.copyfile(src, dst)
    except OSError:
        pass
os.chdir(spec["cwd"])
os.execv(spec["argv"][0], spec["argv"])
"""

_UID_BASE = 1_900_000_000
_uid_counter = itertools.count()


def _sandbox_uid() -> int:
    """A uid no other live sandbox uses: RLIMIT_NPROC counts per uid, machine-wide."""
    return _UID_BASE + (os.getpid() * 16 + next(_uid_counter) % 16) % 100_000_000


def _ancestors(path: Path) -> list[Path]:
    """``/a``, ``/a/b`` for ``/a/b/c`` (never ``/``)."""
    return list(reversed(path.parents))[1:]


def readonly_paths() -> list[Path]:
    """The Python installation and the rnnkit package: mounted read-only at their own paths."""
    import rnnkit

    candidates = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
                  Path(sys.base_exec_prefix), Path(rnnkit.__file__).resolve().parent]
    exe = Path(sys.executable)
    candidates.append(exe.resolve().parent.parent)  # the interpreter the venv links to
    out: list[Path] = []
    for p in candidates:
        p = Path(os.path.abspath(p))
        if p in (Path("/"), Path("/usr")) or str(p).startswith("/usr/"):
            continue  # /usr is mounted anyway
        if p.exists() and not any(p == q or q in p.parents for q in out):
            out = [q for q in out if p not in q.parents] + [p]
    return out


def bwrap_command(
    working_copy: Path,
    runtime_dir: Path,
    kernel_argv: list[str],
    *,
    uid: int | None,
    limits: SandboxLimits = DEFAULT_LIMITS,
    env: dict[str, str] | None = None,
    extra_readonly: list[Path] | tuple[Path, ...] = (),
    bwrap: str = "bwrap",
) -> list[str]:
    """The full command that runs ``kernel_argv`` sandboxed (see the module docstring).

    ``working_copy`` is the only writable host folder and the cwd; ``runtime_dir`` holds
    the connection file and the ipc sockets. Both are mounted at their host paths.

    ``uid`` is the sandbox's own user id when the grader runs as root (bwrap keeps only
    CAP_SETUID/CAP_SETGID, the launcher drops to ``uid`` and so loses those too). A
    grader that is not root passes None: bwrap then makes a user namespace and the
    kernel runs as the grader's user, mapped to uid 1000, with no capabilities.
    """
    working_copy = Path(os.path.abspath(working_copy))
    runtime_dir = Path(os.path.abspath(runtime_dir))
    ro = [*readonly_paths(), *(Path(os.path.abspath(p)) for p in extra_readonly)]
    for p in ro:
        if working_copy == p or working_copy in p.parents or p in working_copy.parents:
            raise SandboxError(f"the working copy {working_copy} overlaps the read-only {p}")

    cmd = [bwrap, "--unshare-net", "--unshare-ipc", "--unshare-pid", "--unshare-uts",
           "--unshare-cgroup-try", "--hostname", "sandbox", "--die-with-parent",
           "--new-session", "--cap-drop", "ALL"]
    if uid is None:
        cmd += ["--unshare-user", "--uid", "1000", "--gid", "1000"]
    else:
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    cmd += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        target = Path("/") / name
        if target.is_symlink():
            cmd += ["--symlink", os.readlink(target), str(target)]
        elif target.is_dir():
            cmd += ["--ro-bind", str(target), str(target)]
    cmd += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_FILES:
        cmd += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    cmd += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
    cmd += ["--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]

    made: set[Path] = {Path("/etc"), Path("/tmp"), Path("/usr"), Path("/proc"), Path("/dev")}

    def parents_of(dest: Path) -> None:
        for parent in _ancestors(dest):
            if parent not in made:
                cmd.extend(["--perms", "0755", "--dir", str(parent)])
                made.add(parent)

    for p in ro:
        parents_of(p)
        cmd += ["--ro-bind", str(p), str(p)]
        made.add(p)
    for p in (runtime_dir, working_copy):
        parents_of(p)
        cmd += ["--bind", str(p), str(p)]
        made.add(p)
    cmd += ["--chdir", "/", "--clearenv"]  # the launcher enters the working copy as the uid
    for key, value in sorted((env or {}).items()):
        cmd += ["--setenv", key, value]

    rlimits = {
        "RLIMIT_AS": limits.memory_bytes,
        "RLIMIT_DATA": limits.memory_bytes,
        "RLIMIT_NPROC": limits.max_processes,
        "RLIMIT_CPU": int(limits.notebook_seconds) + 30,
        "RLIMIT_FSIZE": limits.file_bytes,
        "RLIMIT_CORE": 0,
        "RLIMIT_NOFILE": limits.open_files,
    }
    copies = []
    font_cache = _matplotlib_font_cache()
    mpl_dir = "/tmp/matplotlib"
    if font_cache is not None:
        cmd += ["--ro-bind", str(font_cache), "/tmp/.fontlist.json"]
        copies.append(("/tmp/.fontlist.json", f"{mpl_dir}/{font_cache.name}"))
    spec = {"rlimits": rlimits, "uid": uid, "gid": uid, "argv": kernel_argv,
            "mkdirs": [SANDBOX_HOME, mpl_dir, "/tmp/ipython"], "copies": copies,
            "cwd": str(working_copy)}
    cmd += ["--", sys.executable, "-I", "-S", "-c", _LAUNCHER, json.dumps(spec)]
    return cmd


def _matplotlib_font_cache() -> Path | None:
    """The grader's matplotlib font list, copied into the sandbox to skip a rebuild (~1 s)."""
    from importlib.util import find_spec

    if find_spec("matplotlib") is None:
        return None
    try:
        import matplotlib
        from matplotlib import font_manager
    except Exception:  # a broken matplotlib install: the kernel builds its own cache
        return None
    name = f"fontlist-v{font_manager.FontManager.__version__}.json"
    path = Path(matplotlib.get_cachedir()) / name
    return path if path.is_file() else None


def sandbox_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The kernel's whole environment: a fixed base, then the allow-listed grader variables."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": SANDBOX_HOME,
        "USER": "student",
        "LOGNAME": "student",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "IPYTHONDIR": "/tmp/ipython",
        "JUPYTER_PLATFORM_DIRS": "1",
        "JUPYTER_CONFIG_DIR": "/tmp/jupyter/config",
        "JUPYTER_DATA_DIR": "/tmp/jupyter/data",
        "JUPYTER_RUNTIME_DIR": "/tmp/jupyter/runtime",
        "XDG_CACHE_HOME": "/tmp/cache",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update({k: os.environ[k] for k in PASSED_ENV if k in os.environ})
    env.update(extra or {})
    return env


def _remove_links_and_specials(root: Path) -> list[str]:
    """Delete symlinks, fifos, sockets and device nodes a kernel left in its working copy.

    After the kernel stops, the grader (root) writes the graded notebook into this folder
    and later reads it: a symlink there would redirect that write anywhere on the host,
    and a fifo would block the read.
    """
    removed = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
                continue
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed.append(os.path.relpath(path, root))
    return removed


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    """``chown -R`` without following symlinks (a student's symlink must not redirect it)."""
    os.chown(root, uid, gid, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            with contextlib.suppress(OSError):
                os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def _runtime_parent(preferred: str = "") -> str:
    """A short directory for ipc socket paths (Unix socket paths stop at 107 bytes)."""
    for candidate in (preferred, tempfile.gettempdir(), "/tmp", "/dev/shm"):
        if not candidate:
            continue
        if len(candidate) < 40 and os.access(candidate, os.W_OK):
            return candidate
    raise SandboxError("no short writable temp directory for the kernel's ipc sockets")


class SandboxedKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernel runs in a bubblewrap sandbox.

    The working copy is ``working_copy`` when set, else the ``cwd`` the caller passes to
    ``start_kernel`` (nbclient and nbgrader pass the notebook's folder). After a start,
    ``sandbox_uid`` (None when the grader is not root) and ``runtime_dir`` describe the
    sandbox; ``wall_clock_expired`` says whether the whole-notebook clock killed it,
    ``reap_strays()`` kills processes a cell left behind, ``removed_files`` lists the
    links and fifos deleted at the end, and ``sandbox_log()`` returns the tail of the
    kernel process's own stdout/stderr (bwrap's errors land there).
    """

    working_copy = Unicode("", help="The one writable folder (default: the kernel's cwd).").tag(
        config=True)
    memory_bytes = Int(DEFAULT_LIMITS.memory_bytes).tag(config=True)
    max_processes = Int(DEFAULT_LIMITS.max_processes).tag(config=True)
    notebook_seconds = Float(DEFAULT_LIMITS.notebook_seconds).tag(config=True)
    file_bytes = Int(DEFAULT_LIMITS.file_bytes).tag(config=True)
    tmp_bytes = Int(DEFAULT_LIMITS.tmp_bytes).tag(config=True)
    open_files = Int(DEFAULT_LIMITS.open_files).tag(config=True)
    extra_readonly = List(Unicode(), help="More host paths to mount read-only.").tag(config=True)
    runtime_parent = Unicode("", help="Where to make the kernel's runtime folder (connection "
                             "file, ipc sockets, log); default: a short temp folder. "
                             "Paths of 40 characters or more are ignored (socket paths are short)."
                             ).tag(config=True)
    chown_working_copy = Bool(True, help="Give the working copy to the sandbox's uid while "
                              "the kernel runs, and back afterwards.").tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.privileged = os.geteuid() == 0  # root: a uid of its own; else a user namespace
        self.sandbox_uid: int | None = None
        self.runtime_dir: Path | None = None
        self.sandbox_working_copy: Path | None = None
        self.wall_clock_expired = False
        self._timer: threading.Timer | None = None
        self._owner: tuple[int, int] | None = None
        self.last_log = ""
        self.removed_files: list[str] = []
        self._namespace: str | None = None

    @property
    def limits(self) -> SandboxLimits:
        return SandboxLimits(
            memory_bytes=self.memory_bytes, max_processes=self.max_processes,
            notebook_seconds=self.notebook_seconds, file_bytes=self.file_bytes,
            tmp_bytes=self.tmp_bytes, open_files=self.open_files,
        )

    # -- start -------------------------------------------------------------------------
    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        require_bwrap()
        folder = self.working_copy or kw.get("cwd")
        if not folder:
            raise SandboxError("no working copy: set SandboxedKernelManager.working_copy or "
                               "start the kernel with cwd=<the submission's folder>")
        wc = Path(os.path.abspath(folder))
        if not wc.is_dir() or wc == Path("/"):
            raise SandboxError(f"the working copy {wc} is not a folder")
        cwd = Path.cwd().resolve()
        if wc == cwd or wc in cwd.parents or (wc / "gradebook.db").exists():
            raise SandboxError(f"refusing to sandbox {wc}: it holds the grader's own folder or "
                               "a gradebook; give each submission a folder of its own")
        self.sandbox_working_copy = wc
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="rk-",
                                                 dir=_runtime_parent(self.runtime_parent)))
        self.sandbox_uid = _sandbox_uid() if self.privileged else None
        self.transport = "ipc"
        self.cache_ports = False
        self.ip = str(self.runtime_dir / "k")
        self.connection_file = str(self.runtime_dir / "kernel.json")
        kw["cwd"] = str(wc)
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        """The ipykernel command, run by the sandbox's Python in isolated mode."""
        assert self.runtime_dir is not None and self.sandbox_working_copy is not None
        kernel = [sys.executable, "-I", "-m", "ipykernel_launcher", "-f", self.connection_file,
                  *(extra_arguments or [])]
        return bwrap_command(
            self.sandbox_working_copy, self.runtime_dir, kernel, uid=self.sandbox_uid,
            limits=self.limits, env=sandbox_env(), bwrap=bwrap_path() or "bwrap",
            extra_readonly=[Path(p) for p in self.extra_readonly],
        )

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        assert self.runtime_dir is not None and self.sandbox_working_copy is not None
        uid = self.sandbox_uid
        if uid is not None:
            for path in self.runtime_dir.iterdir():  # the connection file: readable inside
                os.chown(path, uid, uid)
            os.chown(self.runtime_dir, uid, uid)
        if uid is not None and self.chown_working_copy:
            st = os.stat(self.sandbox_working_copy)
            self._owner = (st.st_uid, st.st_gid)
            _chown_tree(self.sandbox_working_copy, uid, uid)
        log = open(self.runtime_dir.parent / f"{self.runtime_dir.name}.log", "wb")  # noqa: SIM115
        self._log_path = Path(log.name)
        kw.update(env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, stdout=log,
                  stderr=log)
        try:
            await super()._async_launch_kernel(kernel_cmd, **kw)
        finally:
            log.close()
        self.wall_clock_expired = False
        self._timer = threading.Timer(self.notebook_seconds, self._on_deadline)
        self._timer.daemon = True
        self._timer.start()
        self._namespace = self._find_namespace()

    def _find_namespace(self) -> str | None:
        """The sandbox's PID namespace, read from bwrap's child (its pid 1) once it exists."""
        process = getattr(self.provisioner, "process", None)
        deadline = time.monotonic() + 5
        while process is not None and process.poll() is None and time.monotonic() < deadline:
            for child in _children(process.pid):
                ns = _pid_namespace(child)
                if ns and ns != _pid_namespace(os.getpid()):
                    return ns
            time.sleep(0.01)
        return None

    def _on_deadline(self) -> None:
        self.wall_clock_expired = True
        self.kill_sandbox()

    def kill_sandbox(self) -> None:
        """SIGKILL the sandbox now (every process in it dies with its PID namespace)."""
        process = getattr(self.provisioner, "process", None)
        if process is not None and process.poll() is None:
            with contextlib.suppress(OSError):
                process.send_signal(signal.SIGKILL)

    def kernel_host_pid(self) -> int | None:
        """The host pid of the kernel: bwrap's grandchild (bwrap -> its pid 1 -> kernel)."""
        process = getattr(self.provisioner, "process", None)
        if process is None or process.poll() is not None:
            return None
        pid = process.pid
        for _ in range(2):
            children = _children(pid)
            if not children:
                return None
            pid = children[0]
        return pid

    def reap_strays(self) -> int:
        """SIGKILL every process in the sandbox but its init and the kernel; returns the count.

        Runs after every cell, so it walks the sandbox init's descendants (every process of
        a PID namespace descends from its init: orphans are re-parented to it) rather than
        all of /proc.
        """
        kernel = self.kernel_host_pid()
        process = getattr(self.provisioner, "process", None)
        if kernel is None or process is None:
            return 0
        init = _children(process.pid)
        victims = [pid for pid in _descendants_of(init) if pid != kernel and pid not in init]
        for pid in victims:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        _wait_until_dead(victims, 2.0)
        return len(victims)

    def sandbox_log(self, limit: int = 4000) -> str:
        """The last ``limit`` bytes the sandbox wrote to its own stdout/stderr (bwrap errors)."""
        path = getattr(self, "_log_path", None)
        if path is None or not path.exists():
            return self.last_log
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - limit))
            return f.read().decode("utf-8", "replace")

    # -- interrupt and clean-up --------------------------------------------------------
    async def interrupt_kernel(self) -> None:  # type: ignore[override]
        """Interrupt by message: a signal to bwrap would not reach the kernel inside."""
        if not self.has_kernel:
            raise RuntimeError("Cannot interrupt kernel. No kernel is running!")
        msg = self.session.msg("interrupt_request", content={})
        self._connect_control_socket()
        self.session.send(self._control_socket, msg)

    async def cleanup_resources(self, restart: bool = False) -> None:  # type: ignore[override]
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        namespace = self._namespace
        self.kill_sandbox()
        process = getattr(self.provisioner, "process", None)
        if process is not None:
            with contextlib.suppress(Exception):  # a stuck bwrap: nothing more to do
                process.wait(timeout=10)
        # The namespace's processes die with its init. Zombies count as dead: they run no
        # code, and the host's init may take a second to reap bwrap's orphaned init.
        deadline = time.monotonic() + 10
        while (namespace and any(_alive(p) for p in _members(namespace))
               and time.monotonic() < deadline):
            time.sleep(0.005)
        await AsyncKernelManager.cleanup_resources(self, restart=restart)
        if self.sandbox_working_copy is not None:
            self.removed_files += _remove_links_and_specials(self.sandbox_working_copy)
            if self._owner is not None:
                _chown_tree(self.sandbox_working_copy, *self._owner)
                self._owner = None
        if self.runtime_dir is not None:
            self.last_log = self.sandbox_log()
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
            Path(f"{self.runtime_dir}.log").unlink(missing_ok=True)
            self.runtime_dir = None


def sandbox_config(
    limits: SandboxLimits = DEFAULT_LIMITS, working_copy: Path | str | None = None
) -> Config:
    """traitlets ``Config`` overrides that run nbgrader's ``Execute`` kernels sandboxed.

    Merge them into the course config (``config.merge(sandbox_config(...))``). Leave
    ``working_copy`` None under ``nbgrader autograde``: each kernel's working copy is
    then the notebook's own folder ``autograded/<student>/<chapter>``.
    """
    c = Config()
    c.Execute.kernel_manager_class = SandboxedKernelManager
    c.Execute.timeout = limits.cell_seconds
    c.Execute.interrupt_on_timeout = True
    c.Execute.shutdown_kernel = "immediate"
    k = c.SandboxedKernelManager
    k.memory_bytes = limits.memory_bytes
    k.max_processes = limits.max_processes
    k.notebook_seconds = float(limits.notebook_seconds)
    k.file_bytes = limits.file_bytes
    k.tmp_bytes = limits.tmp_bytes
    k.open_files = limits.open_files
    if working_copy is not None:
        k.working_copy = str(Path(working_copy).resolve())
    return c


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            continue
    return out


def _descendants_of(roots: list[int]) -> list[int]:
    """Every process below ``roots`` (children, their children...), roots excluded."""
    out: list[int] = []
    stack = list(roots)
    while stack:
        for child in _children(stack.pop()):
            if child not in out:
                out.append(child)
                stack.append(child)
    return out


def _pids_of_uid(uid: int) -> list[int]:
    """Host pids whose real uid is ``uid``."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"{entry.path}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(entry.name))
                        break
        except (OSError, ValueError):
            continue
    return pids


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _wait_until_dead(pids: list[int], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)


def _pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _members(namespace: str) -> list[int]:
    if namespace == _pid_namespace(os.getpid()):
        return []  # never the grader's own namespace
    return [int(e.name) for e in os.scandir("/proc")
            if e.name.isdigit() and _pid_namespace(int(e.name)) == namespace]


def sandbox_processes(uid: int) -> list[int]:
    """Host pids still running as the sandbox uid ``uid`` (empty once it is shut down)."""
    return _pids_of_uid(uid)
