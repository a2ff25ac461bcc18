"""``rnnkit lab``: students get Validate only; ``--instructor`` keeps nbgrader's tools."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from rnnkit.lab import STUDENT_DISABLED_LAB, STUDENT_DISABLED_SERVER, lab_environment

REPO = Path(__file__).resolve().parents[1]


def test_the_student_view_disables_what_binder_disables(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "binder_config", REPO / "tests" / "browser" / "binder_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    binder = module.disabled_extensions(REPO / "binder" / "postBuild")
    assert sorted(binder["labextension"]) == sorted(STUDENT_DISABLED_LAB)
    assert sorted(binder["server"]) == sorted(STUDENT_DISABLED_SERVER)
    env = lab_environment(False, env={"JUPYTER_CONFIG_PATH": "/elsewhere"}, config_parent=tmp_path)
    extra, rest = env["JUPYTER_CONFIG_PATH"].split(os.pathsep)
    assert rest == "/elsewhere"
    page = json.loads((Path(extra) / "labconfig" / "page_config.json").read_text())
    assert set(page["disabledExtensions"]) == set(STUDENT_DISABLED_LAB)
    assert "JUPYTER_CONFIG_PATH" not in lab_environment(True, env={})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@pytest.mark.slow
@pytest.mark.parametrize("view", ["student", "instructor"])
def test_rnnkit_lab_serves_the_right_tools(view: str, tmp_path: Path) -> None:
    port = _free_port()
    args = [sys.executable, "-m", "rnnkit.cli", "lab", "--no-browser", f"--port={port}",
            "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token="]
    if view == "instructor":
        args.insert(4, "--instructor")
    log = tmp_path / "lab.log"
    with log.open("w") as out:
        server = subprocess.Popen(args, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            if server.poll() is not None:
                break
            try:
                if _get(f"{base}/api/status")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        status, page = _get(f"{base}/lab")
        assert status == 200, log.read_text()[-2000:]
        formgrader = _get(f"{base}/formgrader")[0]
        if view == "student":
            assert formgrader == 404
            assert all(name in page for name in STUDENT_DISABLED_LAB)
        else:
            assert formgrader in (200, 302)
            assert "@jupyter/nbgrader:formgrader" not in page
        assert "No nbgrader_config.py file found" not in log.read_text()
        assert ("student view" if view == "student" else "instructor view") in log.read_text()
    finally:
        server.terminate()
        server.wait(timeout=20)
