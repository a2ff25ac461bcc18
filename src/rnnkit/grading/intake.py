"""Intake: find every student's notebook in a submissions source, and account for every entry.

A source is one of

* nbgrader's ``submitted/<student>/<chapter>/`` folder (the default, under ``autograder/``);
* a folder, or a ``.zip``, of LMS downloads whose file names carry the student id:
  Canvas (``doejane_12345_678901_01_sequences.ipynb``, ``doejane_late_12345_...``,
  re-submissions ``01_sequences-1.ipynb``), Moodle (``Jane Doe_12345_assignsubmission_file_/
  01_sequences.ipynb``, in a folder per student or flat), or any naming described by a
  regular expression with a ``student`` group.

``collect`` returns the accepted submissions and one ``FileRecord`` per entry of the source
that is not a folder (plus folders that could not be read, and other chapters' folders
summed up): taken (as whose notebook), or left out with the reason. Nothing is executed
or parsed here beyond names and sizes. The source is first *listed* (``SourceEntry``: its
path inside the source, its kind, where its bytes are); a folder is walked without
following links, a zip is unpacked entry by entry, each into a short file name of its own
(an LMS's 266-byte file name cannot be created on disk, and need not be), with its path,
size and type checked. No single entry stops the run: an entry that cannot be read,
unpacked or used is recorded with the reason, and the rest is collected. Only the source
itself (missing, not a folder or a zip, unreadable) is an error.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..paths import CourseError
from .model import DEFAULT_MAX_FILE_BYTES, MAX_ARCHIVE_BYTES, MAX_ARCHIVE_FILES, MiB, printable

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
class SourceEntry:
    """One entry of a source, before anything is decided about it.

    ``rel`` is its path inside the source (``/`` separators, as the source names it);
    ``kind`` is ``file``, ``dir``, ``link``, ``special`` (fifo, socket, device) or
    ``unreadable``; ``path`` is where a file's bytes are (for a zip: the unpacked copy);
    ``problem`` says why the entry cannot be used whatever the naming, if it cannot.
    """

    rel: str
    kind: str
    path: Path | None = None
    size: int = 0
    mtime: float = 0.0
    problem: str | None = None

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.rel.split("/"))


@dataclass
class Submission:
    """What one student submitted for the chapter, ready to grade.

    ``notebooks`` maps the name the notebook is graded as (``01_sequences.ipynb``) to the
    file on disk (for a zip: its unpacked copy), ``sources`` to the path the source gives
    it; both are empty when the student has no gradable notebook, and ``problem`` says
    why. ``timestamp`` is nbgrader's ``timestamp.txt`` when the source has one.
    """

    student: str
    notebooks: dict[str, Path] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # graded name -> path in the source
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
        """Record an entry's fate; names are made printable (no control characters)."""
        self.records.append(FileRecord(printable(path), student, taken, printable(reason)))


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
        entries = _list_zip(source, staging, max_file_bytes)
        prefix = f"{source.name}!/"
    else:
        entries = _list_folder(source)
        prefix = ""
    if regex is None and naming in ("auto", "nbgrader") and _looks_like_nbgrader(entries, chapter):
        intake.naming = "nbgrader"
        _collect_nbgrader(entries, chapter, notebooks, intake, prefix, max_file_bytes)
        return intake
    if regex is None and naming == "nbgrader":
        raise CourseError(f"{source} has no <student>/{chapter}/ folders (nbgrader's layout)")
    files = _usable_files(entries, intake, prefix, max_file_bytes)
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


def _looks_like_nbgrader(entries: list[SourceEntry], chapter: str) -> bool:
    """Some ``<student>/<chapter>`` entry exists (a folder, or a link or file in its place)."""
    dirs = {e.rel for e in entries if e.kind == "dir"}
    return any(len(e.parts) == 2 and e.parts[1] == chapter and e.parts[0] in dirs
               for e in entries)


# -- nbgrader's submitted/<student>/<chapter>/ ------------------------------------------------
_NOT_A_FOLDER = {
    "link": "is a symbolic link, not a folder: not followed",
    "file": "is a file, where a folder of the submission's files should be",
    "special": "is not a folder (a fifo, socket or device)",
}


def _collect_nbgrader(entries: list[SourceEntry], chapter: str, notebooks: list[str],
                      intake: Intake, prefix: str, max_file_bytes: int) -> None:
    by_top: dict[str, list[SourceEntry]] = {}
    for e in entries:
        by_top.setdefault(e.parts[0], []).append(e)
    for name, group in sorted(by_top.items()):
        head = next((e for e in group if e.rel == name), None)
        if head is None:  # entries with no folder of their own (unsafe paths in a zip)
            for e in group:
                intake.note(prefix + e.rel, None, False, e.problem or "not in a folder")
            continue
        if head.kind != "dir":
            intake.note(prefix + name, None, False,
                        head.problem or "not in a <student>/<chapter>/ folder")
            continue
        student = name
        inside = [e for e in group if len(e.parts) > 1]
        _account_others(inside, student, chapter, intake, prefix)
        chapter_head = next((e for e in inside if e.parts[1:] == (chapter,)), None)
        if chapter_head is None:
            if not inside:
                intake.note(prefix + name + "/", None, False,
                            f"an empty folder: no {chapter}/ folder in it")
            continue  # another chapter's submitter: not part of this chapter's class
        files = [e for e in inside if len(e.parts) > 2 and e.parts[1] == chapter]
        if not STUDENT_ID.match(student):
            why = (f"folder name {student!r} is not a usable student id (letters, digits, "
                   ". _ @ - only)")
            for e in [chapter_head, *files] if chapter_head.kind != "dir" else files:
                if e.kind != "dir":
                    intake.note(prefix + e.rel, None, False, why)
            continue
        sub = intake.submissions[student] = Submission(student)
        if chapter_head.kind != "dir":
            what = _NOT_A_FOLDER.get(chapter_head.kind) or chapter_head.problem or "unusable"
            intake.note(prefix + chapter_head.rel, student, False, f"{chapter}/ {what}")
            sub.problem = f"{student}/{chapter} {what}"
            continue
        candidates: list[tuple[str, SourceEntry]] = []
        for e in files:
            rel = prefix + e.rel
            in_chapter = "/".join(e.parts[2:])
            if e.kind == "dir":
                continue
            reason = e.problem or _too_large(e, max_file_bytes)
            if reason:
                intake.note(rel, student, False, reason)
            elif in_chapter == "timestamp.txt":
                try:
                    assert e.path is not None
                    sub.timestamp = e.path.read_text(errors="replace").strip()[:100]
                except OSError as err:
                    intake.note(rel, student, False, f"cannot be read ({err.strerror or err})")
                    continue
                intake.note(rel, student, True, "submission time (nbgrader's timestamp.txt)")
            elif e.rel.lower().endswith(".ipynb") and ".ipynb_checkpoints" not in e.parts:
                candidates.append((rel, e))
            else:
                intake.note(rel, student, False, _NOT_GRADED)
                sub.other_files.append(in_chapter)
        _choose(sub, candidates, notebooks, intake)


_NOT_GRADED = ("not a notebook of the chapter: only the chapter's notebooks are graded "
               "(other files are not copied, so none can shadow a module)")


def _account_others(inside: list[SourceEntry], student: str, chapter: str, intake: Intake,
                    prefix: str) -> None:
    """Entries beside the chapter folder: other chapters are left alone, summed per folder."""
    children = sorted({e.parts[1] for e in inside} - {chapter})
    for child in children:
        rel = f"{student}/{child}"
        entry = next((e for e in inside if e.rel == rel), None)
        if entry is not None and entry.kind == "dir":
            under = [e for e in inside if e.parts[1] == child and len(e.parts) > 2]
            files = sum(1 for e in under if e.kind != "dir")
            intake.note(prefix + rel + "/", None, False,
                        f"another chapter's folder ({files} files): not part of this run")
            for e in under:  # what could not be read inside it is named, not summed
                if e.kind == "unreadable":
                    intake.note(prefix + e.rel, None, False, e.problem or "cannot be read")
        else:
            intake.note(prefix + rel, None, False,
                        (entry.problem if entry else None) or f"not inside {student}/{chapter}/")


# -- LMS downloads --------------------------------------------------------------------------
def _usable_files(entries: list[SourceEntry], intake: Intake, prefix: str,
                  max_file_bytes: int) -> list[tuple[str, SourceEntry]]:
    """Every usable file as (relative path, entry); every other entry recorded, with why."""
    found = []
    for e in entries:
        if e.kind == "dir":
            continue
        reason = e.problem or _junk(e.rel) or _too_large(e, max_file_bytes)
        if reason:
            intake.note(prefix + e.rel, None, False, reason)
        else:
            found.append((e.rel, e))
    return found


def _guess_preset(files: list[tuple[str, SourceEntry]]) -> str | None:
    counts = {name: sum(1 for rel, _ in files if re.match(rx, rel)) for name, rx in PRESETS.items()}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else None


def _collect_lms(files: list[tuple[str, SourceEntry]], regex: re.Pattern[str],
                 notebooks: list[str], intake: Intake, prefix: str) -> None:
    by_student: dict[str, list[tuple[str, SourceEntry, re.Match[str]]]] = {}
    for rel, entry in files:
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
        by_student.setdefault(student, []).append((rel, entry, m))
    for student, found in sorted(by_student.items()):
        sub = intake.submissions.setdefault(student, Submission(student))
        candidates = []
        for rel, entry, m in found:
            uploaded = _uploaded_name(m, entry)
            if uploaded.lower().endswith(".ipynb"):
                candidates.append((prefix + rel, entry, uploaded, m))
            else:
                intake.note(prefix + rel, student, False, _NOT_GRADED)
                sub.other_files.append(uploaded)
        if any(m.groupdict().get("late") for _, _, _, m in candidates):
            sub.notes.append("marked late by the LMS")
        ordered = sorted(candidates, key=_recency, reverse=True)
        _choose(sub, [(rel, entry) for rel, entry, _, _ in ordered], notebooks, intake,
                names=[uploaded for _, _, uploaded, _ in ordered])


def _uploaded_name(m: re.Match[str], entry: SourceEntry) -> str:
    name = m.groupdict().get("filename") or entry.parts[-1]
    r = _RESUBMISSION.match(name)
    return f"{r.group('stem')}{r.group('ext')}" if r else name


def _recency(candidate: tuple[str, SourceEntry, str, re.Match[str]]) -> tuple[int, int, float]:
    """Newest first: the LMS submission number, Canvas's re-submission suffix, then mtime."""
    _, entry, _, m = candidate
    sub_no = m.groupdict().get("submission")
    r = _RESUBMISSION.match(m.groupdict().get("filename") or entry.parts[-1])
    return (int(sub_no) if sub_no and sub_no.isdigit() else 0,
            int(r.group("n")) if r else 0, entry.mtime)


# -- choosing the notebook(s) of one student ----------------------------------------------------
def _choose(sub: Submission, candidates: list[tuple[str, SourceEntry]], notebooks: list[str],
            intake: Intake, names: list[str] | None = None) -> None:
    """Pick the file graded as each expected notebook; record every candidate's fate.

    ``candidates`` come newest first when ``names`` (the uploaded names) are given. An
    exact name wins; a chapter with one notebook also takes a single renamed notebook.
    """
    lms = names is not None
    names = names if names is not None else [e.parts[-1] for _, e in candidates]
    taken: set[int] = set()
    for expected in notebooks:
        exact = [i for i, n in enumerate(names) if n == expected and i not in taken]
        if exact:
            i = exact[0]
            sub.notebooks[expected] = _path(candidates[i][1])
            sub.sources[expected] = printable(candidates[i][0])
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
            sub.notebooks[expected] = _path(candidates[i][1])
            sub.sources[expected] = printable(candidates[i][0])
            sub.notes.append(printable(f"graded {names[i]} as {expected} (renamed)"))
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
        listed = ", ".join(sorted(names[i] for i in rest))
        sub.problem = printable(f"{len(rest)} notebooks ({listed}) and none named {expected}")
        return
    for j in rest:
        intake.note(candidates[j][0], sub.student, False,
                    f"not a notebook of this chapter (expected {', '.join(notebooks)})")
    if not sub.notebooks:
        sub.problem = f"no notebook submitted (expected {', '.join(notebooks)})"


def _path(entry: SourceEntry) -> Path:
    assert entry.path is not None, entry
    return entry.path


# -- listing a source, safely -------------------------------------------------------------------
def _list_folder(root: Path) -> list[SourceEntry]:
    """Every entry under ``root``, links not followed, in path order; never recurses."""
    out: dict[str, SourceEntry] = {}
    todo: list[tuple[Path, str]] = [(root, "")]
    while todo:
        folder, prefix = todo.pop()
        try:
            with os.scandir(folder) as it:
                items = sorted(it, key=lambda d: d.name)
        except OSError as err:
            if not prefix:
                raise CourseError(f"cannot read {root}: {err.strerror or err}") from None
            rel = prefix.rstrip("/")
            out[rel] = SourceEntry(rel, "unreadable",
                                   problem=f"a folder that cannot be read ({err.strerror or err})")
            continue
        for item in items:
            rel = prefix + item.name
            try:
                st = item.stat(follow_symlinks=False)
            except OSError as err:
                out[rel] = SourceEntry(rel, "unreadable",
                                       problem=f"cannot be read ({err.strerror or err})")
                continue
            if stat.S_ISLNK(st.st_mode):
                out[rel] = SourceEntry(rel, "link", problem="symbolic link: not followed")
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = SourceEntry(rel, "dir", Path(item.path))
                todo.append((Path(item.path), rel + "/"))
            elif stat.S_ISREG(st.st_mode):
                out[rel] = SourceEntry(rel, "file", Path(item.path), st.st_size, st.st_mtime)
            else:
                out[rel] = SourceEntry(rel, "special",
                                       problem="not a regular file (a fifo, socket or device)")
    return [out[k] for k in sorted(out)]


def _list_zip(archive: Path, staging: Path, max_file_bytes: int) -> list[SourceEntry]:
    """Unpack ``archive`` under ``staging``, each entry into a short name of its own.

    Entries with an absolute or ``..`` path, links, entries too large (declared or once
    unpacked), beyond the archive's size or entry limits, encrypted, damaged or in an
    unknown compression are recorded with the reason and not unpacked. The folders an
    entry's path implies are listed too (zips often omit them).
    """
    dest = staging / "unpacked"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    out: dict[str, SourceEntry] = {}
    total = 0
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise CourseError(f"cannot read {archive}: {err}") from None
    with zf:
        infos = zf.infolist()
        for index, info in enumerate(infos):
            if index == MAX_ARCHIVE_FILES:
                rel = f"(entries {index + 1} to {len(infos)})"
                out[rel] = SourceEntry(rel, "unreadable", problem=(
                    f"the archive holds {len(infos)} entries; only the first "
                    f"{MAX_ARCHIVE_FILES} are read"))
                break
            name = info.filename.replace("\\", "/")
            pure = PurePosixPath(name)
            unsafe = (pure.is_absolute() or ".." in pure.parts or not pure.parts
                      or re.match(r"^[A-Za-z]:", name) is not None)
            rel = name if unsafe else "/".join(pure.parts)
            key = rel if rel not in out else f"{rel}\0{index}"  # a name the archive holds twice
            kind = (info.external_attr >> 16) & 0o170000
            problem = None
            if unsafe:
                problem = "unsafe path in the archive: not extracted"
            elif info.is_dir():
                out.setdefault(rel, SourceEntry(rel, "dir"))
                continue
            elif kind == stat.S_IFLNK:
                problem = "symbolic link: not followed"
            elif kind not in (0, stat.S_IFREG):
                problem = "not a regular file (a fifo, socket or device)"
            elif info.flag_bits & 0x1:
                problem = "encrypted: cannot be read"
            elif info.file_size > max_file_bytes:
                problem = (f"too large ({info.file_size / MiB:.1f} MiB; the limit is "
                           f"{max_file_bytes / MiB:.0f} MiB)")
            elif total + info.file_size > MAX_ARCHIVE_BYTES:
                problem = (f"archive too large: entries past {MAX_ARCHIVE_BYTES / MiB:.0f} MiB "
                           "unpacked are not extracted")
            if problem:
                out[key] = SourceEntry(rel, "unreadable" if kind != stat.S_IFLNK else "link",
                                       problem=problem)
                continue
            target = dest / f"{index:06d}"
            try:
                with zf.open(info) as src, open(target, "wb") as sink:
                    copied = _copy_bounded(src, sink, max_file_bytes)
            except (OSError, EOFError, RuntimeError, NotImplementedError, ValueError,
                    zipfile.BadZipFile, zlib.error) as err:
                target.unlink(missing_ok=True)
                out[key] = SourceEntry(rel, "unreadable",
                                       problem=f"cannot be extracted: {err}"[:300])
                continue
            if copied is None:
                target.unlink()
                out[key] = SourceEntry(rel, "unreadable",
                                       problem="too large once unpacked: not extracted")
                continue
            total += copied
            out[key] = SourceEntry(rel, "file", target, copied, _zip_time(info))
    for entry in list(out.values()):  # the folders each path implies
        if entry.problem and entry.problem.startswith("unsafe path"):
            continue
        parts = entry.parts
        for depth in range(1, len(parts)):
            out.setdefault("/".join(parts[:depth]), SourceEntry("/".join(parts[:depth]), "dir"))
    return [out[k] for k in sorted(out)]


def _zip_time(info: zipfile.ZipInfo) -> float:
    try:
        return datetime(*info.date_time).timestamp()
    except (ValueError, OverflowError):
        return 0.0


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


def _too_large(entry: SourceEntry, limit: int) -> str | None:
    if entry.size > limit:
        return f"too large ({entry.size / MiB:.1f} MiB; the limit is {limit / MiB:.0f} MiB)"
    return None


def _copy_bounded(src: BinaryIO, out: BinaryIO, limit: int) -> int | None:
    copied = 0
    while chunk := src.read(1 << 20):
        copied += len(chunk)
        if copied > limit:
            return None
        out.write(chunk)
    return copied
