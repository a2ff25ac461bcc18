"""Generate the student release (``course/``) from the solutions with nbgrader."""

from __future__ import annotations

import filecmp
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import reference
from .nbgrader_api import ensure_success, load_config, make_api
from .paths import notebook_path

REFERENCE_DIR = Path("src") / "rnnkit" / "reference"  # generated beside the release


@dataclass
class Staleness:
    """How a chapter's committed release differs from a fresh one."""

    chapter: str
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    reference: str | None = None  # the generated reference module, when it is stale

    @property
    def stale(self) -> bool:
        return bool(self.changed or self.missing or self.extra or self.reference)

    def describe(self) -> str:
        parts = [f"{kind}: {', '.join(files)}" for kind, files in
                 (("changed", self.changed), ("missing", self.missing), ("extra", self.extra))
                 if files]
        lines = [f"course/{self.chapter} is stale ({'; '.join(parts)})"] if parts else []
        if self.reference:
            lines.append(f"{self.reference} is stale")
        return "; ".join(lines)


def generate(root: Path, chapters: list[str], dest: Path) -> None:
    """Write the release of each chapter under ``dest/<chapter>/``, normalised."""
    with tempfile.TemporaryDirectory(prefix="rnnkit-release-") as tmp:
        db = Path(tmp) / "release.db"
        config = load_config(root, release_directory=str(dest), db_url=f"sqlite:///{db}")
        api = make_api(config)
        for chapter in chapters:
            ensure_success(api.generate_assignment(chapter, force=True, create=True),
                           f"generate the release of {chapter}")
            normalise(dest / chapter / f"{chapter}.ipynb")


ANSWERS_TAG = "answers"  # a markdown cell of model answers to ungraded questions
ANSWERS_STUB = "*Your answers:*\n\n1. \n2. \n3. "


def normalise(path: Path) -> None:
    """Make a release notebook byte-stable: no outputs, counts or run-time metadata.

    A markdown cell tagged ``answers`` (model answers to the chapter's ungraded questions)
    becomes a stub for the student's own.
    """
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and ANSWERS_TAG in cell.metadata.get("tags", []):
            cell.source = ANSWERS_STUB
    nb.metadata.get("language_info", {}).pop("version", None)  # the contributor's Python
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(nb, path)


def release(root: Path, chapters: list[str]) -> list[Path]:
    """Regenerate ``course/<chapter>`` for each chapter; returns the notebooks written."""
    with tempfile.TemporaryDirectory(prefix="rnnkit-release-") as tmp:
        out = Path(tmp) / "course"
        generate(root, chapters, out)
        for chapter in chapters:
            target = root / "course" / chapter
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(out / chapter, target)
    for chapter in chapters:
        path = reference_path(root, chapter)
        if path is not None:
            path.write_text(reference_text(root, chapter))
    return [notebook_path(root, "course", c) for c in chapters]


def reference_path(root: Path, chapter: str) -> Path | None:
    """Where ``chapter``'s reference module lives, or None in a course without rnnkit's source."""
    folder = root / REFERENCE_DIR
    return folder / f"{reference.module_name(chapter)}.py" if folder.is_dir() else None


def reference_text(root: Path, chapter: str) -> str:
    """The reference module generated from ``chapter``'s solution notebook."""
    nb = nbformat.read(notebook_path(root, "solutions", chapter), as_version=4)
    return reference.render(nb, chapter)


def check(root: Path, chapters: list[str]) -> list[Staleness]:
    """Compare a fresh release with ``course/`` without changing it; one entry per chapter."""
    results = []
    with tempfile.TemporaryDirectory(prefix="rnnkit-release-") as tmp:
        out = Path(tmp) / "course"
        generate(root, chapters, out)
        for chapter in chapters:
            result = _compare(chapter, out / chapter, root / "course" / chapter)
            path = reference_path(root, chapter)
            if path is not None and (not path.is_file()
                                     or path.read_text() != reference_text(root, chapter)):
                result.reference = path.relative_to(root).as_posix()
            results.append(result)
    return results


def _compare(chapter: str, fresh: Path, committed: Path) -> Staleness:
    result = Staleness(chapter)
    fresh_files = _files(fresh)
    committed_files = _files(committed) if committed.is_dir() else set()
    result.missing = sorted(fresh_files - committed_files)
    result.extra = sorted(committed_files - fresh_files)
    result.changed = sorted(
        f for f in fresh_files & committed_files
        if not filecmp.cmp(fresh / f, committed / f, shallow=False)
    )
    return result


def _files(folder: Path) -> set[str]:
    ignored = {"__pycache__", ".ipynb_checkpoints"}
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and not ignored & set(p.relative_to(folder).parts)
    }
