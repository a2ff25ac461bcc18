"""``rnnkit lab``: JupyterLab as students get it (Validate only), or with the instructor's tools.

nbgrader installs its formgrader, create-assignment, assignment-list and course-list tools
for every JupyterLab of the environment. Students need only Validate, so the student view
switches the others off, as ``binder/postBuild`` does on Binder, through an extra Jupyter
config directory (``JUPYTER_CONFIG_PATH``) that this module writes: the user's own
Jupyter configuration stays untouched. The instructor view (``--instructor``) keeps them
and points nbgrader at the course's ``autograder/nbgrader_config.py``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .paths import CONFIG_RELPATH

__all__ = ["STUDENT_DISABLED_LAB", "STUDENT_DISABLED_SERVER", "lab_environment",
           "student_config_dir", "working_dir"]

# nbgrader 0.9.6's plugin ids and server extension modules (binder/postBuild disables the same)
STUDENT_DISABLED_LAB = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                        "@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:course-list")
STUDENT_DISABLED_SERVER = ("nbgrader.server_extensions.formgrader",
                           "nbgrader.server_extensions.assignment_list",
                           "nbgrader.server_extensions.course_list")


def student_config_dir(parent: Path | None = None) -> Path:
    """Write (idempotently) the Jupyter config directory of the student view; returns it."""
    folder = (parent or Path(tempfile.gettempdir())) / f"rnnkit-student-lab-{os.getuid()}"
    (folder / "labconfig").mkdir(parents=True, exist_ok=True)
    (folder / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": dict.fromkeys(STUDENT_DISABLED_LAB, True),
         "lockedExtensions": dict.fromkeys(STUDENT_DISABLED_LAB, True)}, indent=1))
    (folder / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": dict.fromkeys(STUDENT_DISABLED_SERVER, False)}},
        indent=1))
    return folder


def lab_environment(instructor: bool, env: dict[str, str] | None = None,
                    config_parent: Path | None = None) -> dict[str, str]:
    """The environment JupyterLab starts with, for the student or the instructor view."""
    env = dict(os.environ if env is None else env)
    if not instructor:
        extra = str(student_config_dir(config_parent))
        paths = [p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join([extra, *paths])
    return env


def working_dir(root: Path) -> Path:
    """Where JupyterLab starts: nbgrader reads ``nbgrader_config.py`` from there."""
    return (root / CONFIG_RELPATH).parent
