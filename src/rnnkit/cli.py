"""The ``rnnkit`` command: launch the course, regenerate and check the release, validate."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

from .paths import CourseError, find_root, notebook_path, resolve_chapters


def _root(args: argparse.Namespace) -> Path:
    return find_root(Path(args.root) if args.root else None)


def cmd_lab(args: argparse.Namespace, extra: list[str]) -> int:
    from .lab import lab_environment, working_dir

    root = _root(args)
    folder = "solutions" if args.solutions else "course"
    instructor = args.instructor or args.solutions
    first = resolve_chapters(root, None, folder)
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root / folder}"]
    if first:
        argv.append(f"--LabApp.default_url=/lab/tree/{first[0]}/{first[0]}.ipynb")
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        argv.append("--allow-root")  # containers and CI machines often run as root
    argv.extend(extra)
    view = "instructor view (formgrader, create assignment)" if instructor else \
        "student view (Validate; --instructor for nbgrader's instructor tools)"
    print(f"rnnkit: starting JupyterLab on {root / folder}, {view}", flush=True)
    os.chdir(working_dir(root))
    os.execve(sys.executable, argv, lab_environment(instructor))
    return 0  # not reached


def cmd_release(args: argparse.Namespace, extra: list[str]) -> int:
    from . import release

    root = _root(args)
    chapters = resolve_chapters(root, args.chapters)
    if args.check:
        stale = [s for s in release.check(root, chapters) if s.stale]
        for s in stale:
            print(s.describe())
        if stale:
            print(f"rnnkit: {len(stale)} of {len(chapters)} chapters not in sync with "
                  "solutions/; run `rnnkit release` and commit course/", file=sys.stderr)
            return 1
        print(f"rnnkit: course/ is in sync with solutions/ ({len(chapters)} chapters)")
        return 0
    for path in release.release(root, chapters):
        print(f"wrote {path.relative_to(root)}")
    return 0


def cmd_validate(args: argparse.Namespace, extra: list[str]) -> int:
    from .validate import validate

    root = _root(args)
    chapters = resolve_chapters(root, args.chapters)
    missing = [c for c in chapters if not notebook_path(root, "course", c).is_file()]
    if missing:
        raise CourseError(f"no release for {', '.join(missing)}: run `rnnkit release` first")
    problems = validate(root, chapters)
    for problem in problems:
        print(problem)
    if problems:
        print(f"rnnkit: validation failed ({len(problems)} problems)", file=sys.stderr)
        return 1
    print(f"rnnkit: {len(chapters)} chapters valid: every solution passes its tests, "
          "every release fails them")
    return 0


def cmd_execute(args: argparse.Namespace, extra: list[str]) -> int:
    from .execute import execute_in_place

    root = _root(args)
    for chapter in resolve_chapters(root, args.chapters):
        seconds = execute_in_place(notebook_path(root, "solutions", chapter))
        print(f"executed solutions/{chapter} in {seconds:.1f} s")
    return 0


def cmd_experiments(args: argparse.Namespace, extra: list[str]) -> int:
    from .training import main as run_experiments

    if args.chapter not in ("06", "06_examples"):
        raise CourseError(f"only chapter 06 has headless experiments; got {args.chapter!r}")
    return run_experiments(["--budget", args.budget, "--out", args.out]
                           + (["--device", args.device] if args.device else [])
                           + (["--no-figures"] if args.no_figures else []))


def cmd_grade(args: argparse.Namespace, extra: list[str]) -> int:
    from .grading.pipeline import GradeOptions, run

    root = _root(args)
    options = GradeOptions(
        chapter=args.chapter, source=Path(args.source) if args.source else None,
        naming=args.naming, pattern=args.pattern, workers=args.workers,
        sandbox=not args.no_sandbox, db_url=args.db_url, students=tuple(args.student or ()),
        force=args.force, out=Path(args.out) if args.out else None,
        time_limit=args.time_limit, cell_timeout=args.cell_timeout,
        memory_bytes=int(args.memory_gb * 1024**3) if args.memory_gb else None,
        max_file_bytes=int(args.max_file_mb * 1024**2), progress=not args.no_progress,
        judge=not args.in_kernel_tests)
    if options.workers is not None and options.workers < 1:
        raise CourseError(f"--workers must be at least 1; got {options.workers}")
    summary = run(root, options)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.counts().items()))
    flagged = sum(1 for s, e in summary.entries.items() if e.flags and s in
                  summary.intake.submissions)
    print(f"rnnkit: {summary.chapter}: {len(summary.intake.submissions)} students ({counts}); "
          f"{flagged} flagged for review")
    print(f"  graded now {len(summary.graded)}, already up to date {len(summary.up_to_date)}; "
          f"{len(summary.intake.left_out)} files left out (see intake.csv)")
    for name in ("grades", "report", "intake"):
        print(f"  {name + ':':9} {_shown(summary.files[name], root)}")
    print(f"  feedback: {_shown(summary.feedback_dir or root, root)}/<student>/"
          f"{summary.chapter}/")
    return 0


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit", description="rnnkit: launch the course in JupyterLab, regenerate and "
        "check the student release, validate the chapters, grade a class.")
    parser.add_argument("--root", help="course root (default: found from the current folder)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    lab = sub.add_parser("lab", help="launch JupyterLab on the student notebooks (course/)",
                         description="Launch JupyterLab on course/; extra arguments go to "
                                     "JupyterLab (for example --port 8890 --no-browser).")
    lab.add_argument("--solutions", action="store_true",
                     help="open solutions/ (the instructor's source) instead of course/; "
                          "implies --instructor")
    lab.add_argument("--instructor", action="store_true",
                     help="keep nbgrader's formgrader and create-assignment tools (the default "
                          "is the student view: Validate only)")
    lab.set_defaults(func=cmd_lab, passthrough=True)

    rel = sub.add_parser("release", help="regenerate course/ from solutions/ with nbgrader")
    rel.add_argument("chapters", nargs="*", help="chapter ids or numbers (default: all)")
    rel.add_argument("--check", action="store_true",
                     help="change nothing; fail and list stale chapters if course/ differs")
    rel.set_defaults(func=cmd_release, passthrough=False)

    exe = sub.add_parser("execute", help="re-run solution notebooks in place (saved outputs)")
    exe.add_argument("chapters", nargs="*", help="chapter ids or numbers (default: all)")
    exe.set_defaults(func=cmd_execute, passthrough=False)

    exp = sub.add_parser("experiments", help="run chapter 06's experiments headless and write "
                                             "the results table (python -m rnnkit.training)")
    exp.add_argument("chapter", help="06")
    exp.add_argument("--budget", default="gpu", choices=["smoke", "grading", "default", "gpu"])
    exp.add_argument("--out", default="results", help="folder for the tables and figures")
    exp.add_argument("--device", help="default: rnnkit.device() (CUDA, then MPS, then CPU)")
    exp.add_argument("--no-figures", action="store_true")
    exp.set_defaults(func=cmd_experiments, passthrough=False)

    val = sub.add_parser("validate", help="solutions pass their tests; releases fail them")
    val.add_argument("chapters", nargs="*", help="chapter ids or numbers (default: all)")
    val.set_defaults(func=cmd_validate, passthrough=False)

    from .grading.model import (  # light: no nbgrader
        DEFAULT_MAX_FILE_BYTES,
        DEFAULT_MEMORY_BYTES,
        DEFAULT_TIME_LIMIT,
        GiB,
        MiB,
    )

    gra = sub.add_parser(
        "grade", help="grade a chapter for a whole class: parallel, sandboxed, with feedback",
        description="Grade every submission of CHAPTER with nbgrader, in parallel, each kernel "
                    "in a bubblewrap sandbox; write the gradebook, grades.csv, one feedback "
                    "page per student and a class report. Re-runs grade only what changed.")
    gra.add_argument("chapter", help="chapter id or number")
    gra.add_argument("source", nargs="?",
                     help="nbgrader's submitted/ folder (default: autograder/submitted), or a "
                          "folder or .zip of LMS downloads")
    gra.add_argument("--workers", type=int, help="submissions graded at once (default: cores)")
    gra.add_argument("--no-sandbox", action="store_true",
                     help="run student code WITHOUT bubblewrap (only for code you trust)")
    gra.add_argument("--in-kernel-tests", action="store_true",
                     help="run test cells in the student's kernel, as plain nbgrader does, not "
                          "in the judge (a student's code can then fool its tests)")
    gra.add_argument("--db-url", help="gradebook database URL (default: autograder/gradebook.db)")
    gra.add_argument("--student", action="append", metavar="ID",
                     help="(re)grade only this student; repeatable")
    gra.add_argument("--force", action="store_true", help="regrade submissions already graded")
    gra.add_argument("--naming", default="auto",
                     choices=["auto", "nbgrader", "canvas", "moodle"],
                     help="how SOURCE names students (default: auto-detect)")
    gra.add_argument("--pattern", metavar="REGEX",
                     help="file-name pattern with a (?P<student>...) group, for other LMSs")
    gra.add_argument("--out", help="folder for grades.csv, report.html, intake.csv "
                                   "(default: autograder/reports/CHAPTER)")
    gra.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT, metavar="SECONDS",
                     help=f"wall clock per notebook (default: {DEFAULT_TIME_LIMIT:g})")
    gra.add_argument("--cell-timeout", type=int, metavar="SECONDS",
                     help="per-cell limit (default: Execute.timeout of nbgrader_config.py)")
    gra.add_argument("--memory-gb", type=float, metavar="GB",
                     help="memory limit of each sandboxed kernel (default: "
                          f"{DEFAULT_MEMORY_BYTES / GiB:g})")
    gra.add_argument("--max-file-mb", type=float, default=DEFAULT_MAX_FILE_BYTES / MiB,
                     metavar="MB", help="larger files are left out (default: "
                                        f"{DEFAULT_MAX_FILE_BYTES / MiB:g})")
    gra.add_argument("--no-progress", action="store_true", help="no progress bar")
    gra.set_defaults(func=cmd_grade, passthrough=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rnnkit`` command."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not args.passthrough:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args, extra) or 0)
    except CourseError as err:
        print(f"rnnkit: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130


def console_main() -> None:
    """The ``rnnkit`` console script: ``main()``, then exit without tearing Python down.

    Once a command has written everything, interpreter shutdown only frees memory, and
    with nbgrader's SQLAlchemy models and nbconvert loaded that takes 0.3-0.6 s (measured
    here), a serial tail on every ``rnnkit grade``. Streams and logs are flushed first.
    """
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    console_main()
