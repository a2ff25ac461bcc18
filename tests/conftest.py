"""Test set-up: every Jupyter, IPython and matplotlib directory lives in a temp dir."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Sample submissions (tests/data) are graded by the tests, never collected by nbval.
collect_ignore = ["data"]
_ISOLATED = Path(tempfile.mkdtemp(prefix="rnnkit-tests-home-"))


def _isolate_jupyter() -> None:
    """Point Jupyter, IPython and matplotlib at fresh dirs so tests never touch ~."""
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
                "IPYTHONDIR", "MPLCONFIGDIR"):
        path = _ISOLATED / var.lower()
        path.mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(path)
    os.environ["JUPYTER_PLATFORM_DIRS"] = "1"
    os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["MPLBACKEND"] = "Agg"


_isolate_jupyter()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The mutant corpus' counts (tests/test_mutants.py), when it ran."""
    from mutants import summary_lines

    lines = summary_lines()
    if lines:
        terminalreporter.section("mutant corpus: mistakes named by their test message")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_ISOLATED, ignore_errors=True)


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (the course root)."""
    return REPO


@pytest.fixture
def course_copy(tmp_path: Path) -> Path:
    """A throw-away copy of the course (solutions, release, nbgrader config)."""
    root = tmp_path / "course-root"
    for folder in ("solutions", "course"):
        shutil.copytree(REPO / folder, root / folder,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    (root / "autograder").mkdir()
    shutil.copy2(REPO / "autograder" / "nbgrader_config.py", root / "autograder")
    return root
