"""One place that loads the course's nbgrader config and hands out nbgrader's API."""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

from .paths import CONFIG_RELPATH, CourseError


def load_config(root: Path, **overrides: Any) -> Any:
    """The course's nbgrader config, with ``CourseDirectory`` traits overridden.

    ``overrides`` are ``CourseDirectory`` trait names, for example
    ``release_directory="/tmp/x"`` or ``db_url="sqlite:////tmp/x.db"``.
    """
    from traitlets.config.loader import PyFileConfigLoader

    _put_scripts_on_path()
    path = root / CONFIG_RELPATH
    if not path.is_file():
        raise CourseError(f"missing nbgrader config: expected {path}")
    config = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
    for key, value in overrides.items():
        setattr(config.CourseDirectory, key, value)
    return config


def _put_scripts_on_path() -> None:
    """nbgrader's gradebook runs the ``alembic`` script by name: find it beside our Python."""
    scripts = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if scripts not in parts:
        os.environ["PATH"] = os.pathsep.join([scripts, *parts])


def make_api(config: Any) -> Any:
    """An ``NbGraderAPI`` built from ``config`` (nbgrader needs it passed explicitly)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    api.log.setLevel(logging.WARNING)
    return api


def ensure_success(result: dict[str, Any], what: str) -> None:
    """Raise ``CourseError`` with nbgrader's own log when an API call failed."""
    if not result.get("success"):
        text = "\n".join(filter(None, (result.get("log"), result.get("error"))))
        causes = [m.group(1) for m in _CAUSE.finditer(text)
                  if "NbGraderException" not in m.group(1)]
        cause = causes[-1] if causes else text.strip()[-300:]
        raise CourseError(f"nbgrader failed to {what}: {cause}")


_CAUSE = re.compile(r"^\s*(?:\[ERROR\]\s*)?((?:[\w.]+(?:Error|Exception)): .+)$", re.M)
