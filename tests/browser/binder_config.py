"""What ``binder/postBuild`` does to JupyterLab, applied to a test server's own config dir."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

DISABLE = re.compile(r"^jupyter\s+(labextension|server\s+extension)\s+disable\s+(.*)$")


def disabled_extensions(post_build: Path) -> dict[str, list[str]]:
    """The names ``postBuild`` disables: ``{"labextension": [...], "server": [...]}``."""
    found: dict[str, list[str]] = {"labextension": [], "server": []}
    for line in post_build.read_text().splitlines():
        match = DISABLE.match(line.split("#", 1)[0].strip())
        if match:
            kind = "labextension" if match.group(1) == "labextension" else "server"
            found[kind] += [w for w in match.group(2).split() if not w.startswith("-")]
    return found


def apply_student_config(post_build: Path, config_dir: Path, env: dict[str, str]) -> None:
    """Disable, in ``config_dir`` (a ``JUPYTER_CONFIG_DIR``), what ``postBuild`` disables.

    Binder runs the commands with ``--sys-prefix``, where nbgrader enabled its extensions.
    Here the lab extensions go through the same ``jupyter labextension disable`` at the
    user level. A server extension is switched off in the user's ``jupyter_server_config.json``
    instead: ``jupyter server extension disable --user`` refuses a name that no user-level
    file enables (it logs an error and still exits 0), and the ``.d`` snippets that the
    command writes merge with the lowest-priority path winning.
    """
    names = disabled_extensions(post_build)
    for name in names["labextension"]:
        subprocess.run(["jupyter", "labextension", "disable", "--level=user", name], env=env,
                       check=True, capture_output=True)
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": dict.fromkeys(names["server"], False)}}))
