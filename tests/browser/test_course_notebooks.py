"""Every student notebook in a real JupyterLab, as released: nothing implemented yet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labpage import LabNotebook, notebook_facts

from rnnkit.paths import chapters, notebook_path

REPO = Path(__file__).resolve().parents[2]
CHAPTERS = chapters(REPO)
pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module", params=CHAPTERS)
def course(request: pytest.FixtureRequest, browser: Any, lab_server: Any,
           artifacts: Path) -> Iterator[tuple[str, LabNotebook, dict[str, Any]]]:
    """A student notebook opened in JupyterLab, every cell run in turn (Shift+Enter)."""
    chapter = request.param
    facts = notebook_facts(notebook_path(REPO, "course", chapter))
    # the widget cells are those of the solution (the release has no outputs)
    facts["widget_cells"] = notebook_facts(notebook_path(REPO, "solutions", chapter))[
        "widget_cells"]
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    nb = LabNotebook(page, f"course/{chapter}/{chapter}.ipynb")
    try:
        nb.open(lab_server.url, facts["cells"])
        page.screenshot(path=str(artifacts / f"{chapter}-course-open.png"))
        nb.run_cells_one_by_one()
        yield chapter, nb, facts
    finally:
        print(f"{chapter} course timings (s): "
              + ", ".join(f"{k} {v:.1f}" for k, v in nb.timings.items()))
        context.close()


def test_it_opens_with_every_exercise_to_do(course: Any) -> None:
    chapter, nb, facts = course
    text = nb.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").inner_text()
    todo = sum(1 for cell in facts["graded"] if cell[1].endswith("_tests"))
    assert todo, f"{chapter}: no graded test cells in the release"
    assert text.count("YOUR CODE HERE") >= todo, \
        f"{chapter}: fewer 'YOUR CODE HERE' markers on screen than exercises ({todo})"


def test_widgets_say_implement_first_instead_of_a_traceback(course: Any,
                                                           artifacts: Path) -> None:
    chapter, nb, facts = course
    shown = {w["cell"]: w for w in nb.widget_outputs()}
    errors = {e["cell"]: e for e in nb.error_outputs()}
    for cell in facts["widget_cells"]:
        assert cell not in errors, (f"{chapter}: the widget cell {cell} shows a traceback "
                                    f"instead of its message: {errors[cell]['text'][:600]}")
        assert cell in shown and shown[cell]["rendered"], \
            f"{chapter}: the widget of cell {cell} did not render"
        text = shown[cell]["text"]
        assert "Implement" in text and "first" in text, \
            f"{chapter}: widget in cell {cell} should ask to implement a function first: {text!r}"
        assert "Traceback" not in text
        nb.cell(cell).scroll_into_view_if_needed()
        nb.cell(cell).screenshot(path=str(artifacts / f"{chapter}-course-widget-cell{cell}.png"))


def test_only_the_students_cells_and_tests_show_errors(course: Any) -> None:
    """Run All on the untouched release: other cells say "implement X first" in one line."""
    chapter, nb, facts = course
    own = set(facts["own_cells"])
    elsewhere = [e for e in nb.error_outputs() if e["cell"] not in own]
    assert not elsewhere, (f"{chapter}: cells that are not the student's own code or tests "
                           "show an error or stderr: " + "; ".join(
                               f"cell {e['cell']}: {e['text'][:300]!r}" for e in elsewhere))


def test_validate_lists_the_failing_exercises(course: Any, artifacts: Path) -> None:
    chapter, nb, facts = course
    result = nb.validate()
    nb.page.screenshot(path=str(artifacts / f"{chapter}-course-validate.png"))
    assert result["kind"] == "validation-failed", \
        f"{chapter}: Validate on the untouched release: {result['title']}: {result['text'][:800]}"
    failed = {src.strip() for src in result["failed_sources"]}
    tests = {gid: src.strip() for src, gid in facts["graded"] if gid.endswith("_tests")}
    not_reported = sorted(gid for gid, src in tests.items() if src not in failed)
    assert not not_reported, (f"{chapter}: Validate did not report these failing test cells: "
                              f"{not_reported}")
    nb.close_dialog()
