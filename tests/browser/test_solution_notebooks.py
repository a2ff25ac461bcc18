"""Every solution notebook in a real JupyterLab: Run All, widgets, figures, dark theme."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labpage import MIN_CONTRAST, REACT_TIMEOUT_MS, LabNotebook, notebook_facts

from rnnkit.paths import chapters, notebook_path

REPO = Path(__file__).resolve().parents[2]
CHAPTERS = chapters(REPO)
pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module", params=CHAPTERS)
def solution(request: pytest.FixtureRequest, browser: Any, lab_server: Any,
             artifacts: Path) -> Iterator[tuple[str, LabNotebook, dict[str, Any]]]:
    """A solution notebook opened in JupyterLab, its outputs cleared, then Run All."""
    chapter = request.param
    facts = notebook_facts(notebook_path(REPO, "solutions", chapter))
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    nb = LabNotebook(page, f"solutions/{chapter}/{chapter}.ipynb")
    try:
        nb.open(lab_server.url, facts["cells"])
        nb.clear_outputs()
        nb.run_all()
        page.screenshot(path=str(artifacts / f"{chapter}-solution-top.png"))
        yield chapter, nb, facts
    finally:
        print(f"{chapter} solution timings (s): "
              + ", ".join(f"{k} {v:.1f}" for k, v in nb.timings.items()))
        context.close()


def test_run_all_finishes_with_no_error_output(solution: Any) -> None:
    chapter, nb, facts = solution
    errors = nb.error_outputs()
    assert not errors, f"{chapter}: Run All left error or stderr output: {errors}"
    counts = nb.page.evaluate(
        "() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell "
        ".jp-InputArea-prompt')].map(p => p.textContent.trim())")
    assert len(counts) == len(facts["code_cells"])
    assert counts == [f"[{k}]:" for k in range(1, len(counts) + 1)], \
        f"{chapter}: not every code cell ran once, in order: {counts}"


def test_every_widget_renders_and_reacts(solution: Any, artifacts: Path) -> None:
    chapter, nb, facts = solution
    shown = nb.widget_outputs()
    cells_with_widgets = sorted({w["cell"] for w in shown})
    assert cells_with_widgets == facts["widget_cells"], (
        f"{chapter}: widgets appeared in cells {cells_with_widgets}; the saved notebook has "
        f"them in {facts['widget_cells']}")
    for w in shown:
        assert w["rendered"], f"{chapter}: the widget in cell {w['cell']} did not render: " \
                              f"{w['text'][:200]!r}"
        for bad in ("Traceback", "NotImplementedError", "Implement "):
            assert bad not in w["text"], \
                f"{chapter}: the widget in cell {w['cell']} shows {bad!r} with the solutions"
        widget = nb.widget_locator(w["cell"], w["k"])
        widget.scroll_into_view_if_needed()
        before = nb.widget_snapshot(widget)
        action = nb.interact(widget)
        nb.page.wait_for_function(
            "([el, before]) => JSON.stringify({"
            "html: [...el.querySelectorAll('.widget-html-content')].map(e => e.innerText),"
            "outputs: [...el.querySelectorAll('.widget-output')].map(e => e.innerText),"
            "images: [...el.querySelectorAll('img')].map(e => e.src),"
            "svgs: [...el.querySelectorAll('svg')].map(e => e.outerHTML.length)"
            "}) !== JSON.stringify(before)",
            arg=[widget.element_handle(), before], timeout=REACT_TIMEOUT_MS)
        nb.wait_kernel_idle(REACT_TIMEOUT_MS)
        nb.page.wait_for_timeout(300)  # the redraw lands in the DOM
        after = nb.widget_snapshot(widget)
        changed = [part for part in ("html", "outputs", "images", "svgs")
                   if after[part] != before[part]]
        assert changed, f"{chapter}: widget in cell {w['cell']}: {action}, but nothing changed"
        print(f"{chapter}: widget in cell {w['cell']}: {action}; changed: {', '.join(changed)}")
        nb.cell(w["cell"]).screenshot(path=str(artifacts / f"{chapter}-widget-cell{w['cell']}.png"))
        assert not nb.error_outputs(), f"{chapter}: interacting with cell {w['cell']} raised"


def test_every_figure_has_a_caption_or_alt_text(solution: Any) -> None:
    chapter, nb, _ = solution
    missing = nb.figures_without_caption()
    assert not missing, (f"{chapter}: figures with no alt text and no '*Figure N.k. ...*' "
                         f"caption in the markdown cell after them: {missing}")


@pytest.mark.parametrize("theme", ["JupyterLab Dark", "JupyterLab Light"])
def test_text_is_readable_in_the_theme(solution: Any, theme: str, artifacts: Path) -> None:
    chapter, nb, facts = solution
    nb.set_theme(theme)
    low = nb.low_contrast_text()
    transparent = nb.transparent_figures()
    slug = theme.split()[-1].lower()
    target = facts["widget_cells"][0] if facts["widget_cells"] else 0
    nb.cell(target).scroll_into_view_if_needed()
    nb.page.screenshot(path=str(artifacts / f"{chapter}-solution-{slug}.png"))
    assert low["checked"] > 0, f"{chapter}, {theme}: found no text to measure"
    assert not low["bad"], (f"{chapter}, {theme}: text with contrast below "
                            f"{MIN_CONTRAST}:1 against its background: {low['bad'][:10]}")
    assert not transparent, (f"{chapter}, {theme}: figures with a transparent background "
                             f"(their black text disappears on a dark theme): {transparent}")


def test_validate_reports_success_on_a_solution(browser: Any, lab_server: Any,
                                                artifacts: Path) -> None:
    chapter = CHAPTERS[0]
    facts = notebook_facts(notebook_path(REPO, "solutions", chapter))
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        nb = LabNotebook(context.new_page(), f"solutions/{chapter}/{chapter}.ipynb")
        nb.open(lab_server.url, facts["cells"])
        result = nb.validate()
        nb.page.screenshot(path=str(artifacts / f"{chapter}-solution-validate.png"))
        assert result["kind"] == "validation-success", (
            f"Validate on solutions/{chapter}: {result['title']}: {result['text'][:1500]}")
        assert "passes all the tests" in result["text"]
        nb.close_dialog()
    finally:
        context.close()
