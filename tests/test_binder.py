"""binder/ stays in step with the package: same pins, CPU-only torch, the student set-up."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name, sep, version = line.partition("==")
            assert sep, f"not an exact pin: {line!r}"
            pins[_canon(name)] = version.strip()
    return pins


BINDER_PINS = _pins((BINDER / "requirements.txt").read_text())
CONSTRAINTS = _pins((REPO / "requirements" / "constraints.txt").read_text())


def test_binder_installs_every_package_dependency_at_its_pinned_version() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name, _, version = requirement.partition("==")
        got = BINDER_PINS.get(_canon(name))
        want = f"{version}+cpu" if _canon(name) == "torch" else version
        assert got == want, f"binder/requirements.txt pins {name} to {got}; pyproject: {want}"


def test_binder_torch_is_the_cpu_build_from_pytorchs_index() -> None:
    text = (BINDER / "requirements.txt").read_text()
    assert re.search(r"^--(extra-)?index-url https://download\.pytorch\.org/whl/cpu\s*$", text,
                     re.MULTILINE)
    assert BINDER_PINS["torch"].endswith("+cpu")


def test_binder_pins_match_the_tested_versions() -> None:
    drift = {name: (version, CONSTRAINTS.get(name)) for name, version in BINDER_PINS.items()
             if name != "setuptools" and CONSTRAINTS.get(name) != version.split("+")[0]}
    assert not drift, f"binder pin vs requirements/constraints.txt: {drift}"
    # torch 2.13 needs setuptools >= 77.0.3 at run time
    assert tuple(int(p) for p in BINDER_PINS["setuptools"].split(".")[:2]) >= (77, 0)


def test_runtime_is_a_python_the_package_supports() -> None:
    runtime = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-3\.(\d+)", runtime)
    assert match, f"runtime.txt should read python-3.X, not {runtime!r}"
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert int(match.group(1)) >= int(requires.split(">=3.")[1])


@pytest.mark.parametrize("script", ["postBuild", "start"])
def test_binder_scripts_are_executable_bash(script: str) -> None:
    mode = subprocess.run(["git", "ls-files", "-s", f"binder/{script}"], cwd=REPO, text=True,
                          capture_output=True, check=True).stdout.split()
    assert mode and mode[0] == "100755", f"binder/{script} must be committed executable"
    lines = (BINDER / script).read_text().splitlines()
    assert lines[0] == "#!/bin/bash"
    assert subprocess.run(["bash", "-n", str(BINDER / script)]).returncode == 0


def test_post_build_fails_fast_and_installs_the_package_without_dependencies() -> None:
    lines = [line.strip() for line in (BINDER / "postBuild").read_text().splitlines()]
    code = [line for line in lines if line and not line.startswith("#")]
    assert code[0].startswith("set -e"), "postBuild must stop at the first failing command"
    assert any(re.match(r"python -m pip install .*--no-deps .*\.$", line) for line in code)


def test_start_gives_torch_one_thread_and_hands_over() -> None:
    text = (BINDER / "start").read_text()
    assert re.search(r"^export OMP_NUM_THREADS=1$", text, re.MULTILINE)
    assert re.search(r"^export MPLBACKEND=module://matplotlib_inline\.backend_inline$", text,
                     re.MULTILINE)
    assert text.rstrip().splitlines()[-1] == 'exec "$@"'
    out = subprocess.run(["bash", str(BINDER / "start"), "bash", "-c", "echo $OMP_NUM_THREADS"],
                         text=True, capture_output=True, check=True).stdout
    assert out.strip() == "1"


def test_readme_badge_opens_the_first_chapter_in_jupyterlab() -> None:
    readme = (REPO / "README.md").read_text()
    match = re.search(r"\[!\[Binder\]\(https://mybinder\.org/badge_logo\.svg\)\]\(([^)]+)\)",
                      readme)
    assert match, "no Binder badge in README.md"
    url = urlparse(match.group(1))
    assert url.netloc == "mybinder.org"
    assert re.fullmatch(r"/v2/gh/[\w.-]+/[\w.-]+/HEAD", url.path), url.path
    (urlpath,) = parse_qs(url.query)["urlpath"]
    assert urlpath.startswith("lab/tree/"), "the badge should open JupyterLab"
    target = REPO / urlpath.removeprefix("lab/tree/")
    assert target.is_file(), f"the badge opens {target.relative_to(REPO)}, which does not exist"
    assert target.relative_to(REPO).parts[:2] == ("course", "01_sequences")
