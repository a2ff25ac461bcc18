"""nbgrader configuration for rnnkit, hardened against student code.

The course root is the repository: ``solutions/`` is nbgrader's source (the one
hand-edited copy of each chapter), ``course/`` its release. Everything a class
produces (gradebook, submissions, grades, feedback) stays under ``autograder/``.
"""

import os
import secrets

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

_here = os.path.dirname(os.path.abspath(__file__))
_root = os.path.dirname(_here)

c.CourseDirectory.course_id = "rnnkit"
c.CourseDirectory.root = _root
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "course"
c.CourseDirectory.submitted_directory = "autograder/submitted"
c.CourseDirectory.autograded_directory = "autograder/autograded"
c.CourseDirectory.feedback_directory = "autograder/feedback"
# The gradebook lives beside this file, never inside a folder student code can see.
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_here, "gradebook.db")

# A random tag per run: a student who tags test cells "skip-execution" (nbclient's
# default skip tag) would otherwise have them skipped and keep full marks.
c.Execute.skip_cells_with_tag = "rnnkit-never-skip-" + secrets.token_hex(16)
# Per-cell limit against infinite loops (nbgrader has no whole-notebook limit).
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
# Deleted test cells come back from the gradebook instead of silently scoring 0.
c.OverwriteCells.add_missing_cells = True
# Known harmless stderr (matplotlib's first-run font cache); any other stderr in a
# test cell scores it 0, so the pattern stays narrow.
c.IgnorePattern.pattern = r"Matplotlib is building the font cache"
# Feedback returned to students never shows hidden tests.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# Solution stubs students see.
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()",
}
