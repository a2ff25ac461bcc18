"""Binder-like check: build binder/'s environment from scratch, run every solution in it.

mybinder.org cannot be reached from here and repo2docker needs Docker, so this does what
repo2docker does with ``binder/``, on this machine:

1. a fresh virtual environment from ``binder/requirements.txt`` (the PyTorch CPU index line
   dropped and ``torch==X+cpu`` taken as ``torch==X``, the local CPU wheel);
2. ``binder/postBuild`` run in a copy of the repository, as repo2docker runs it;
3. checks that the environment matches ``requirements/constraints.txt`` and that postBuild
   really turned off nbgrader's formgrader and create-assignment while keeping Validate
   (the server is started from the new environment and asked);
4. every solution notebook run through ``binder/start`` (one thread), top to bottom, with
   the kernel's peak resident memory (``VmHWM``) read from ``/proc`` before it stops.

Fails when a notebook errors or a kernel peaks at or above the limit (default 1 GB, so
JupyterLab plus one kernel fit mybinder.org's 2 GB). It takes a few minutes (a venv build):
it is not part of ``make test``.

    .venv/bin/python scripts/binder_check.py            # every chapter
    .venv/bin/python scripts/binder_check.py 01 --json test-artifacts/binder-check.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"
LIMIT_BYTES = 1_000_000_000
CELL_TIMEOUT_S = 600
NOTEBOOK_TIMEOUT_S = 1800
STUDENT_OFF = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
               "@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:course-list")
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "test-artifacts", "build", "gradebook.db",
                                     "submitted", "autograded", "feedback",
                                     "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache",
                                     ".ipynb_checkpoints")


def local_requirements(text: str) -> tuple[str, list[str]]:
    """binder/requirements.txt for this machine: no remote index, ``torch==X`` for ``X+cpu``."""
    out, notes = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if re.match(r"^--(extra-)?index-url\b.*download\.pytorch\.org", stripped):
            notes.append(f"dropped {stripped!r} (no remote index here)")
            continue
        match = re.match(r"^torch==([\w.]+)\+cpu\b", stripped)
        if match:
            notes.append(f"{stripped!r} -> 'torch=={match.group(1)}' (the local CPU wheel)")
            line = f"torch=={match.group(1)}"
        out.append(line)
    return "\n".join(out) + "\n", notes


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    print("$", " ".join(str(a) for a in argv), flush=True)
    return subprocess.run(argv, check=True, text=True, **kwargs)  # type: ignore[call-overload]


def isolated_env(base: Path, venv: Path) -> dict[str, str]:
    """The environment of a Binder session: the venv first on PATH, fresh Jupyter dirs."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"VIRTUAL_ENV", "PYTHONPATH", "NBGRADER_EXECUTION", "MPLBACKEND"}}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR",
                "MPLCONFIGDIR"):
        (base / var.lower()).mkdir(parents=True, exist_ok=True)
        env[var] = str(base / var.lower())
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def build(base: Path) -> tuple[Path, Path, dict[str, str], list[str]]:
    """The venv, the repository copy postBuild ran in, their environment, and notes."""
    venv, repo = base / "venv", base / "repo"
    shutil.copytree(REPO, repo, ignore=COPY_IGNORE)
    text, notes = local_requirements((BINDER / "requirements.txt").read_text())
    (base / "requirements-local.txt").write_text(text)
    start = time.perf_counter()
    run([sys.executable, "-m", "venv", str(venv)])
    env = isolated_env(base, venv)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r",
         str(base / "requirements-local.txt")], env=env)
    run(["bash", str(repo / "binder" / "postBuild")], cwd=repo, env=env)
    notes.append(f"environment built in {time.perf_counter() - start:.0f} s")
    return venv, repo, env, notes


def freeze_drift(venv: Path, env: dict[str, str]) -> list[str]:
    """Installed versions that differ from (or are missing in) requirements/constraints.txt."""
    def canon(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    pinned = {}
    for line in (REPO / "requirements" / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pinned[canon(name)] = version.strip()
    frozen = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "freeze",
                             "--exclude-editable"], env=env, text=True, capture_output=True,
                            check=True).stdout
    drift = []
    for line in frozen.splitlines():
        if "==" not in line:
            continue
        name, version = line.split("==", 1)
        key = canon(name)
        if key in {"rnnkit", "pip", "setuptools", "wheel"}:
            continue
        want = pinned.get(key)
        if want is None:
            drift.append(f"{name}=={version} is not in requirements/constraints.txt")
        elif version.split("+")[0] != want.split("+")[0]:
            drift.append(f"{name}=={version}; requirements/constraints.txt pins {want}")
    return drift


def student_setup_problems(venv: Path, env: dict[str, str], base: Path) -> tuple[list[str], int]:
    """What is wrong with postBuild's student set-up, asked of a running server; its RSS."""
    problems = []
    page_config = venv / "etc" / "jupyter" / "labconfig" / "page_config.json"
    config = json.loads(page_config.read_text()) if page_config.is_file() else {}
    disabled = config.get("disabledExtensions", {})
    locked = config.get("lockedExtensions", {})
    for plugin in STUDENT_OFF:
        if not disabled.get(plugin):
            problems.append(f"{plugin} is not disabled in {page_config.relative_to(venv)}")
        if not locked.get(plugin):
            problems.append(f"{plugin} is not locked (students could re-enable it)")
    if disabled.get("@jupyter/nbgrader:validate-assignment"):
        problems.append("the Validate plugin is disabled")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = base / "repo"
    log = (base / "jupyterlab.log").open("wb")
    server = subprocess.Popen(
        ["bash", str(root / "binder" / "start"), "jupyter", "lab", "--no-browser", "--allow-root",
         "--ip=127.0.0.1", f"--port={port}", "--IdentityProvider.token=",
         f"--ServerApp.root_dir={root}"], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    rss = 0
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2).read()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        else:
            return [*problems, "jupyter lab did not start (see jupyterlab.log)"], 0
        for endpoint in ("/formgrader", "/assignments", "/courses"):
            try:
                urllib.request.urlopen(f"{url}{endpoint}", timeout=10)
                problems.append(f"nbgrader's server extension still answers at {endpoint}")
            except urllib.error.HTTPError as err:
                if err.code != 404:
                    problems.append(f"{endpoint} answered {err.code}, expected 404")
        version = json.loads(urllib.request.urlopen(
            f"{url}/nbgrader_version?version=0.9.6", timeout=10).read())
        if version != {"success": True}:
            problems.append(f"Validate's server extension answered {version}")
        time.sleep(2)
        rss = peak_rss_bytes(server.pid, "VmRSS")
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    return problems, rss


def run_with_deadline(argv: list[str], cwd: Path, env: dict[str, str],
                      seconds: float) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in its own process group; past ``seconds``, kill the group (kernel too)."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\nkilled: no result after {seconds:.0f} s"
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def peak_rss_bytes(pid: int, field: str = "VmHWM") -> int:
    """``VmHWM`` (peak) or ``VmRSS`` (now) of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} for process {pid}")


def run_notebook(path: Path) -> None:
    """(Inside the Binder venv.) Execute a notebook; print seconds and the kernel's peak RSS."""
    import nbformat
    from nbclient import NotebookClient

    from rnnkit.kernelclient import patient_config  # installed in the Binder venv

    nb = nbformat.read(path, as_version=4)
    # without it nbclient once slept the whole 600 s cell timeout through a reply here
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            startup_timeout=120, config=patient_config(),
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        seconds = time.perf_counter() - start
        pid = client.km.provisioner.pid
        peak = peak_rss_bytes(pid)
        children = Path(f"/proc/{pid}/task/{pid}/children")
        extra = [int(c) for c in children.read_text().split()] if children.exists() else []
        peak += sum(peak_rss_bytes(c) for c in extra)
        # after the peak is read: how many threads torch takes under binder/start
        probe = nbformat.v4.new_code_cell("import torch\nprint(torch.get_num_threads())")
        nb.cells.append(probe)
        client.execute_cell(probe, len(nb.cells) - 1)
    threads = int(probe.outputs[0]["text"].split()[-1])
    print(json.dumps({"seconds": seconds, "peak_bytes": peak, "torch_threads": threads}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapter ids or numbers (default: all)")
    parser.add_argument("--limit-bytes", type=int, default=LIMIT_BYTES)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (for debugging)")
    parser.add_argument("--run-notebook", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_notebook:
        run_notebook(args.run_notebook)
        return 0

    sys.path.insert(0, str(REPO / "src"))
    from rnnkit.paths import notebook_path, resolve_chapters

    chapters = resolve_chapters(REPO, args.chapters)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still remove the temp dir
    base = Path(tempfile.mkdtemp(prefix="rnnkit-binder-"))
    results: dict[str, object] = {"limit_bytes": args.limit_bytes, "notebooks": {}}
    failures: list[str] = []
    try:
        venv, repo, env, notes = build(base)
        for note in notes:
            print(f"binder-check: {note}")
        results["freeze"] = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "freeze", "--exclude-editable"],
            env=env, text=True, capture_output=True, check=True).stdout.splitlines()
        drift = freeze_drift(venv, env)
        failures += [f"version drift: {d}" for d in drift]
        problems, server_rss = student_setup_problems(venv, env, base)
        failures += [f"student set-up: {p}" for p in problems]
        results["jupyterlab_rss_bytes"] = server_rss
        print(f"binder-check: JupyterLab server resident after start: "
              f"{server_rss / 2**20:.0f} MiB")
        for chapter in chapters:
            nb = notebook_path(repo, "solutions", chapter)
            proc = run_with_deadline(
                ["bash", str(repo / "binder" / "start"), str(venv / "bin" / "python"),
                 str(Path(__file__).resolve()), "--run-notebook", str(nb)],
                cwd=nb.parent, env=env, seconds=NOTEBOOK_TIMEOUT_S)
            if proc.returncode != 0:
                failures.append(f"{chapter}: the notebook failed:\n{proc.stderr[-3000:]}")
                continue
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            results["notebooks"][chapter] = result  # type: ignore[index]
            verdict = "ok" if result["peak_bytes"] < args.limit_bytes else "TOO MUCH"
            print(f"binder-check: {chapter}: {result['seconds']:.1f} s, kernel peak "
                  f"{result['peak_bytes'] / 2**20:.0f} MiB "
                  f"(torch threads: {result['torch_threads']}) {verdict}", flush=True)
            if result["torch_threads"] != 1:
                failures.append(f"{chapter}: torch used {result['torch_threads']} threads, "
                                "binder/start should make it 1")
            if verdict != "ok":
                failures.append(f"{chapter}: kernel peak {result['peak_bytes']} bytes >= "
                                f"{args.limit_bytes}")
    finally:
        if args.keep:
            print(f"binder-check: kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    results["failures"] = failures
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print("\n| notebook | run time (s) | kernel peak memory (MiB) |\n| --- | ---: | ---: |")
    for chapter, r in results["notebooks"].items():  # type: ignore[union-attr]
        print(f"| solutions/{chapter} | {r['seconds']:.1f} | {r['peak_bytes'] / 2**20:.0f} |")
    for failure in failures:
        print(f"binder-check: FAIL: {failure}", file=sys.stderr)
    print(f"binder-check: {'failed' if failures else 'passed'} "
          f"({len(results['notebooks'])} notebooks)")  # type: ignore[arg-type]
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
