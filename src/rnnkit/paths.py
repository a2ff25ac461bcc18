"""Where the course lives: the repository root and its chapters."""

from __future__ import annotations

import re
from pathlib import Path

CONFIG_RELPATH = Path("autograder") / "nbgrader_config.py"
CHAPTER_PATTERN = re.compile(r"^\d\d_[a-z0-9_]+$")


class CourseError(Exception):
    """A problem with the course layout, reported to the user as one line."""


def find_root(start: Path | None = None) -> Path:
    """The course root: the nearest folder at or above ``start`` holding the nbgrader config."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_RELPATH).is_file():
            return folder
    raise CourseError(
        f"no course found at or above {here}: expected a folder with {CONFIG_RELPATH} "
        "(run rnnkit inside the rnnkit repository, or pass --root)"
    )


def chapters(root: Path, folder: str = "solutions") -> list[str]:
    """The chapter ids (``NN_slug``) that have a notebook in ``root/folder``, sorted."""
    base = root / folder
    if not base.is_dir():
        raise CourseError(f"{base} does not exist: expected a folder of NN_slug chapters")
    return sorted(
        p.name
        for p in base.iterdir()
        if p.is_dir() and CHAPTER_PATTERN.match(p.name) and (p / f"{p.name}.ipynb").is_file()
    )


def resolve_chapters(
    root: Path, requested: list[str] | None, folder: str = "solutions"
) -> list[str]:
    """The requested chapters (ids or their ``NN`` prefix), or all of them when none are given."""
    known = chapters(root, folder)
    if not requested:
        return known
    picked = []
    for name in requested:
        matches = [c for c in known if c == name or c.split("_", 1)[0] == name]
        if not matches:
            raise CourseError(
                f"unknown chapter {name!r}: expected one of {', '.join(known) or '(none)'}"
            )
        picked.extend(m for m in matches if m not in picked)
    return picked


def notebook_path(root: Path, folder: str, chapter: str) -> Path:
    """The notebook of ``chapter`` in ``folder`` (``solutions`` or ``course``)."""
    return root / folder / chapter / f"{chapter}.ipynb"
