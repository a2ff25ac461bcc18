"""Intake: find every student's notebook in a submissions source, and account for every file.

A source is one of

* nbgrader's ``submitted/<student>/<chapter>/`` folder (the default, under ``autograder/``);
* a folder, or a ``.zip``, of LMS downloads whose file names carry the student id:
  Canvas (``doejane_12345_678901_01_sequences.ipynb``, ``doejane_late_12345_...``,
  re-submissions ``01_sequences-1.ipynb``), Moodle (``Jane Doe_12345_assignsubmission_file_/
  01_sequences.ipynb``, in a folder per student or flat), or any naming described by a
  regular expression with a ``student`` group.

``collect`` returns the accepted submissions and one ``FileRecord`` per file of the source:
taken (as whose notebook), or left out with the reason. Nothing is executed or parsed here
beyond file names and sizes; a zip is unpacked with its paths, sizes and links checked.
"""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..paths import CourseError
from .model import DEFAULT_MAX_FILE_BYTES, MAX_ARCHIVE_BYTES, MAX_ARCHIVE_FILES, MiB

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")

#: Named file-name patterns of learning-management systems, matched against the path of
#: each file relative to the source (``/`` separators). Each has a ``student`` group and
#: a ``filename`` group (the name the student uploaded).
PRESETS: dict[str, str] = {
    # Canvas "Download submissions": lastfirst[_late]_userid_submissionid_filename
    "canvas": r"^(?:.*/)?(?P<name>[^/_]+)_(?:(?P<late>(?i:late))_)?(?P<student>\d+)_"
              r"(?P<submission>\d+)_(?P<filename>[^/]+)$",
    # Moodle "Download all submissions": Full Name_participantid_assignsubmission_file_
    # then either a folder per student (".../file.ipynb") or the file name directly.
    "moodle": r"^(?:.*/)?(?P<name>[^/]+?)_(?P<student>\d+)_assignsubmission_(?P<plugin>[a-z]+)_"
              r"/?(?P<filename>[^/]+)$",
}
NAMINGS = ("auto", "nbgrader", *PRESETS)

# Canvas adds "-1", "-2" to re-submitted file names.
_RESUBMISSION = re.compile(r"^(?P<stem>.+?)-(?P<n>\d+)(?P<ext>\.ipynb)$", re.I)
_SYSTEM_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}


@dataclass
class FileRecord:
    """One file of the source: taken into a submission, or left out, with the reason."""

    path: str
    student: str | None
    taken: bool
    reason: str


@dataclass
class Submission:
    """What one student submitted for the chapter, ready to grade.

    ``notebooks`` maps the name the notebook is graded as (``01_sequences.ipynb``) to the
    file on disk; it is empty when the student has no gradable notebook, and ``problem``
    says why. ``timestamp`` is nbgrader's ``timestamp.txt`` when the source has one.
    """

    student: str
    notebooks: dict[str, Path] = field(default_factory=dict)
    timestamp: str | None = None
    other_files: list[str] = field(default_factory=list)  # left-out files, as named
    notes: list[str] = field(default_factory=list)
    problem: str | None = None


@dataclass
class Intake:
    """The result of reading a source: submissions by student and every file's fate."""

    source: Path
    naming: str
    submissions: dict[str, Submission] = field(default_factory=dict)
    records: list[FileRecord] = field(default_factory=list)

    @property
    def left_out(self) -> list[FileRecord]:
        return [r for r in self.records if not r.taken]

    def note(self, path: str, student: str | None, taken: bool, reason: str) -> None:
        self.records.append(FileRecord(path, student, taken, reason))


def collect(
    source: Path,
    chapter: str,
    notebooks: list[str],
    *,
    naming: str = "auto",
    pattern: str | None = None,
    staging: Path | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Intake:
    """Read ``source`` for ``chapter``, whose notebooks are named ``notebooks``.

    ``naming`` is ``auto`` (nbgrader's layout when ``source/*/<chapter>/`` exists, else
    the LMS preset that matches most files), ``nbgrader``, ``canvas`` or ``moodle``;
    ``pattern`` (a regular expression with a ``student`` group) overrides it. A zip is
    unpacked under ``staging`` first.
    """
    source = Path(source)
    if not source.exists():
        raise CourseError(f"no submissions at {source}: expected nbgrader's submitted/ folder, "
                          "or a folder or .zip of LMS downloads")
    if naming not in NAMINGS:
        raise CourseError(f"unknown naming {naming!r}: expected one of {', '.join(NAMINGS)}")
    regex = _compile(pattern) if pattern else None
    intake = Intake(source=source, naming="pattern" if regex else naming)
    if source.is_file():
        if not zipfile.is_zipfile(source):
            raise CourseError(f"{source} is a file but not a zip archive: pass the folder of "
                              "submissions or the .zip the LMS produced")
        if staging is None:
            raise CourseError("internal: a zip source needs a staging folder")
        root = _unpack(source, staging, intake, max_file_bytes)
        prefix = f"{source.name}!/"
    else:
        root, prefix = source, ""
    if regex is None and naming in ("auto", "nbgrader") and _looks_like_nbgrader(root, chapter):
        intake.naming = "nbgrader"
        _collect_nbgrader(root, chapter, notebooks, intake, prefix, max_file_bytes)
        return intake
    if regex is None and naming == "nbgrader":
        raise CourseError(f"{source} has no <student>/{chapter}/ folders (nbgrader's layout)")
    files = _walk(root, intake, prefix, max_file_bytes)
    if regex is None:
        chosen = naming if naming in PRESETS else _guess_preset(files)
        if chosen is None:
            raise CourseError(
                f"no file in {source} is named the way Canvas or Moodle name downloads, and "
                f"it has no <student>/{chapter}/ folders: pass --pattern REGEX with a "
                "(?P<student>...) group")
        intake.naming, regex = chosen, re.compile(PRESETS[chosen])
    _collect_lms(files, regex, notebooks, intake, prefix)
    return intake


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise CourseError(f"--pattern {pattern!r} is not a valid regular expression: "
                          f"{err}") from None
    if "student" not in regex.groupindex:
        raise CourseError(f"--pattern {pattern!r} has no (?P<student>...) group naming the "
                          "student id")
    return regex


def _looks_like_nbgrader(root: Path, chapter: str) -> bool:
    return root.is_dir() and any(
        (p / chapter).is_dir() and not p.is_symlink() for p in root.iterdir() if p.is_dir())


# -- nbgrader's submitted/<student>/<chapter>/ ------------------------------------------------
def _collect_nbgrader(root: Path, chapter: str, notebooks: list[str], intake: Intake,
                      prefix: str, max_file_bytes: int) -> None:
    for entry in sorted(root.iterdir()):
        rel = prefix + entry.name
        if entry.is_symlink() or not entry.is_dir():
            reason = _special(entry) or "not in a <student>/<chapter>/ folder"
            intake.note(rel, None, False, reason)
            continue
        student = entry.name
        chapter_dir = entry / chapter
        _account_others(entry, chapter, student, intake, prefix)
        if not chapter_dir.is_dir() or chapter_dir.is_symlink():
            continue
        if not STUDENT_ID.match(student):
            for f in _files_under(chapter_dir):
                intake.note(prefix + f.relative_to(root).as_posix(), None, False,
                            f"folder name {student!r} is not a usable student id (letters, "
                            "digits, . _ @ - only)")
            continue
        sub = Submission(student)
        candidates: list[tuple[str, Path]] = []
        for f in _files_under(chapter_dir):
            rel = prefix + f.relative_to(root).as_posix()
            reason = _special(f) or _too_large(f, max_file_bytes)
            if reason:
                intake.note(rel, student, False, reason)
            elif f.parent == chapter_dir and f.name == "timestamp.txt":
                sub.timestamp = f.read_text(errors="replace").strip()[:100]
                intake.note(rel, student, True, "submission time (nbgrader's timestamp.txt)")
            elif f.suffix.lower() == ".ipynb" and ".ipynb_checkpoints" not in f.parts:
                candidates.append((rel, f))
            else:
                intake.note(rel, student, False, _NOT_GRADED)
                sub.other_files.append(f.relative_to(chapter_dir).as_posix())
        _choose(sub, candidates, notebooks, intake)
        intake.submissions[student] = sub


_NOT_GRADED = ("not a notebook of the chapter: only the chapter's notebooks are graded "
               "(other files are not copied, so none can shadow a module)")


def _account_others(student_dir: Path, chapter: str, student: str, intake: Intake,
                    prefix: str) -> None:
    """Files beside the chapter folder: other chapters are left alone, summed per folder."""
    for entry in sorted(student_dir.iterdir()):
        if entry.name == chapter:
            continue
        rel = f"{prefix}{student_dir.name}/{entry.name}"
        if entry.is_dir() and not entry.is_symlink():
            count = sum(1 for _ in _files_under(entry))
            intake.note(rel + "/", None, False,
                        f"another chapter's folder ({count} files): not part of this run")
        else:
            intake.note(rel, None, False,
                        _special(entry) or f"not inside {student_dir.name}/{chapter}/")


# -- LMS downloads --------------------------------------------------------------------------
def _walk(root: Path, intake: Intake, prefix: str, max_file_bytes: int) -> list[tuple[str, Path]]:
    """Every regular file under ``root`` as (relative posix path, path); the rest recorded."""
    found = []
    for f in _files_under(root):
        rel = f.relative_to(root).as_posix()
        reason = _special(f) or _junk(rel) or _too_large(f, max_file_bytes)
        if reason:
            intake.note(prefix + rel, None, False, reason)
        else:
            found.append((rel, f))
    return found


def _guess_preset(files: list[tuple[str, Path]]) -> str | None:
    counts = {name: sum(1 for rel, _ in files if re.match(rx, rel)) for name, rx in PRESETS.items()}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else None


def _collect_lms(files: list[tuple[str, Path]], regex: re.Pattern[str], notebooks: list[str],
                 intake: Intake, prefix: str) -> None:
    by_student: dict[str, list[tuple[str, Path, re.Match[str]]]] = {}
    for rel, path in files:
        m = regex.search(rel)
        if m is None or not m.group("student"):
            intake.note(prefix + rel, None, False,
                        f"name does not match the {intake.naming} naming, so it names no student")
            continue
        student = m.group("student")
        if not STUDENT_ID.match(student):
            intake.note(prefix + rel, None, False,
                        f"student id {student!r} is not usable (letters, digits, . _ @ - only)")
            continue
        by_student.setdefault(student, []).append((rel, path, m))
    for student, entries in sorted(by_student.items()):
        sub = intake.submissions.setdefault(student, Submission(student))
        candidates = []
        for rel, path, m in entries:
            uploaded = _uploaded_name(m, path)
            if uploaded.lower().endswith(".ipynb"):
                candidates.append((prefix + rel, path, uploaded, m))
            else:
                intake.note(prefix + rel, student, False, _NOT_GRADED)
                sub.other_files.append(uploaded)
        if any(m.groupdict().get("late") for _, _, _, m in candidates):
            sub.notes.append("marked late by the LMS")
        ordered = sorted(candidates, key=_recency, reverse=True)
        _choose(sub, [(rel, path) for rel, path, _, _ in ordered], notebooks, intake,
                names=[uploaded for _, _, uploaded, _ in ordered])


def _uploaded_name(m: re.Match[str], path: Path) -> str:
    name = m.groupdict().get("filename") or path.name
    r = _RESUBMISSION.match(name)
    return f"{r.group('stem')}{r.group('ext')}" if r else name


def _recency(entry: tuple[str, Path, str, re.Match[str]]) -> tuple[int, int, float]:
    """Newest first: the LMS submission number, Canvas's re-submission suffix, then mtime."""
    _, path, _, m = entry
    sub_no = m.groupdict().get("submission")
    r = _RESUBMISSION.match(m.groupdict().get("filename") or path.name)
    return (int(sub_no) if sub_no and sub_no.isdigit() else 0,
            int(r.group("n")) if r else 0, path.stat().st_mtime)


# -- choosing the notebook(s) of one student ----------------------------------------------------
def _choose(sub: Submission, candidates: list[tuple[str, Path]], notebooks: list[str],
            intake: Intake, names: list[str] | None = None) -> None:
    """Pick the file graded as each expected notebook; record every candidate's fate.

    ``candidates`` come newest first when ``names`` (the uploaded names) are given. An
    exact name wins; a chapter with one notebook also takes a single renamed notebook.
    """
    lms = names is not None
    names = names if names is not None else [Path(p).name for _, p in candidates]
    taken: set[int] = set()
    for expected in notebooks:
        exact = [i for i, n in enumerate(names) if n == expected and i not in taken]
        if exact:
            i = exact[0]
            sub.notebooks[expected] = candidates[i][1]
            taken.add(i)
            intake.note(candidates[i][0], sub.student, True, f"graded as {expected}")
            for j in exact[1:]:
                taken.add(j)
                intake.note(candidates[j][0], sub.student, False,
                            f"older copy of {expected}: superseded by {candidates[i][0]}")
    rest = [i for i in range(len(candidates)) if i not in taken]
    if len(notebooks) == 1 and not sub.notebooks and rest:
        expected = notebooks[0]
        if len(rest) == 1 or (lms and len({names[i] for i in rest}) == 1):
            i = rest[0]
            sub.notebooks[expected] = candidates[i][1]
            sub.notes.append(f"graded {names[i]} as {expected} (renamed)")
            intake.note(candidates[i][0], sub.student, True,
                        f"graded as {expected} (submitted as {names[i]})")
            for j in rest[1:]:
                intake.note(candidates[j][0], sub.student, False,
                            f"older copy: superseded by {candidates[i][0]}")
            return
        for j in rest:
            intake.note(candidates[j][0], sub.student, False,
                        f"{len(rest)} notebooks and none named {expected}: cannot tell which "
                        "to grade")
        sub.problem = (f"{len(rest)} notebooks ({', '.join(sorted(names[i] for i in rest))}) "
                       f"and none named {expected}")
        return
    for j in rest:
        intake.note(candidates[j][0], sub.student, False,
                    f"not a notebook of this chapter (expected {', '.join(notebooks)})")
    if not sub.notebooks:
        sub.problem = f"no notebook submitted (expected {', '.join(notebooks)})"


# -- files, safely ------------------------------------------------------------------------------
def _files_under(folder: Path) -> list[Path]:
    """Every entry under ``folder`` that is not a directory, without following links."""
    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_symlink() or not p.is_dir():
            out.append(p)
    return out


def _special(path: Path) -> str | None:
    if path.is_symlink():
        return "symbolic link: not followed"
    mode = path.lstat().st_mode
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        return "not a regular file"
    return None


def _junk(rel: str) -> str | None:
    parts = PurePosixPath(rel).parts
    if parts and (parts[0] == "__MACOSX" or parts[-1] in _SYSTEM_FILES
                  or parts[-1].startswith("._")):
        return "operating-system metadata, not a submission"
    if ".ipynb_checkpoints" in parts:
        return "Jupyter's automatic checkpoint, not a submission"
    if parts and parts[-1].lower().endswith((".zip", ".tar", ".gz", ".7z", ".rar")):
        return "an archive inside the download: ask the student to submit the notebook itself"
    return None


def _too_large(path: Path, limit: int) -> str | None:
    size = path.stat().st_size
    if size > limit:
        return f"too large ({size / MiB:.1f} MiB; the limit is {limit / MiB:.0f} MiB)"
    return None


def _unpack(archive: Path, staging: Path, intake: Intake, max_file_bytes: int) -> Path:
    """Extract ``archive`` under ``staging``: no absolute or ``..`` paths, no links, bounded."""
    dest = staging / "unpacked"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    total = 0
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ARCHIVE_FILES:
                raise CourseError(f"{archive} holds {len(infos)} files; at most "
                                  f"{MAX_ARCHIVE_FILES} are read")
            for info in infos:
                if info.is_dir():
                    continue
                name = info.filename.replace("\\", "/")
                rel = f"{archive.name}!/{name}"
                pure = PurePosixPath(name)
                kind = (info.external_attr >> 16) & 0o170000
                if pure.is_absolute() or ".." in pure.parts or not pure.parts or \
                        re.match(r"^[A-Za-z]:", name):
                    intake.note(rel, None, False, "unsafe path in the archive: not extracted")
                elif kind == stat.S_IFLNK:
                    intake.note(rel, None, False, "symbolic link: not followed")
                elif info.file_size > max_file_bytes:
                    intake.note(rel, None, False, f"too large ({info.file_size / MiB:.1f} MiB; "
                                f"the limit is {max_file_bytes / MiB:.0f} MiB)")
                elif total + info.file_size > MAX_ARCHIVE_BYTES:
                    intake.note(rel, None, False, "archive too large: extraction stopped")
                else:
                    target = dest.joinpath(*pure.parts)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(target, "wb") as out:
                        copied = _copy_bounded(src, out, max_file_bytes)
                    if copied is None:
                        target.unlink()
                        intake.note(rel, None, False, "too large once unpacked: not extracted")
                        continue
                    total += copied
    except (zipfile.BadZipFile, OSError) as err:
        raise CourseError(f"cannot read {archive}: {err}") from None
    return dest


def _copy_bounded(src: BinaryIO, out: BinaryIO, limit: int) -> int | None:
    copied = 0
    while chunk := src.read(1 << 20):
        copied += len(chunk)
        if copied > limit:
            return None
        out.write(chunk)
    return copied
