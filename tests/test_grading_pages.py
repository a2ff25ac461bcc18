"""The pages rnnkit grade writes: student HTML and JavaScript never run in them.

Feedback pages go through the exporter ``rnnkit grade`` uses (nbgrader's feedback template,
``SafeOutputs``, ``SafeFeedbackExporter``) without a gradebook; the class report and the
failure page through their Jinja2 templates. Where Chromium is installed, each page is
also opened in it, with the sanitiser bypassed too, to show that the Content-Security-
Policy alone stops inline scripts and event handlers.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from rnnkit.grading.feedback import (
    SafeFeedbackExporter,
    SafeOutputs,
    failure_page,
    safe_html,
    with_csp,
)
from rnnkit.grading.intake import FileRecord, Intake
from rnnkit.grading.model import Entry, RunSummary, StudentRow
from rnnkit.grading.pages import FEEDBACK_CSP, PAGE_CSP
from rnnkit.grading.report import write_report
from rnnkit.nbgrader_api import load_config

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
# Each payload sets document.title to "pwned..." when it runs.
SCRIPT = "<script>document.title='pwned-script'</script>"
HANDLER = "<img src=x onerror=\"document.title='pwned-onerror'\">"
LINK = "<a id=jslink href=\"javascript:void(document.title='pwned-link')\">click</a>"
MARKDOWN = (f"# Notes\n\nMy answer, with <kbd>Shift</kbd> and $x^2$.\n\n{SCRIPT}\n\n{HANDLER}\n\n"
            f"<details><summary>Hint</summary>kept</details>\n\n"
            "[a link](javascript:document.title='pwned-md-link')\n")


def _hostile_notebook() -> nbformat.NotebookNode:
    out = nbformat.v4.new_output
    cell = nbformat.v4.new_code_cell("show()", outputs=[
        out("display_data", data={"text/html": f"<table><tr><td>1</td></tr></table>{SCRIPT}"
                                               f"{HANDLER}{LINK}", "text/plain": "table"}),
        out("display_data", data={"application/javascript": "document.title='pwned-js'"}),
        out("display_data", data={"image/svg+xml": f"<svg xmlns='http://www.w3.org/2000/svg'>"
                                                   f"{SCRIPT}</svg>"}),
        out("display_data", data={"text/markdown": SCRIPT}),
        out("display_data", data={"application/vnd.jupyter.widget-view+json": {
            "model_id": "m", "version_major": 2, "version_minor": 0}, "text/plain": "Slider"}),
        out("display_data", data={"text/html": SCRIPT}, metadata={"text/html": {"isolated": True}}),
        out("stream", name="stdout", text=SCRIPT),
    ])
    answer = nbformat.v4.new_markdown_cell(MARKDOWN, metadata={"nbgrader": {
        "grade": True, "grade_id": "written", "points": 1, "solution": True, "locked": False,
        "schema_version": 3, "task": False, "score": 0}})  # score: GetGrades' job
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(MARKDOWN), answer, cell])
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


def _feedback(nb: nbformat.NotebookNode, safe: bool = True) -> str:
    """The feedback page rnnkit grade's worker makes (without the gradebook's GetGrades)."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    config = load_config(REPO)
    converter = GenerateFeedback(coursedir=CourseDirectory(config=config), config=config)
    exporter = SafeFeedbackExporter(parent=converter, config=converter.config)
    if safe:
        exporter.register_preprocessor(SafeOutputs(), enabled=True)
    resources = {"nbgrader": {"notebook": "01_sequences", "student": "s", "score": 1,
                              "max_score": 2, "late_penalty": 0}}
    html, _ = exporter.from_notebook_node(nb, resources=resources)
    return html


def _scripts(page: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>", page, re.I)


def test_feedback_keeps_no_student_script_and_starts_with_a_csp() -> None:
    page = _feedback(_hostile_notebook())
    for tag in _scripts(page):  # nbconvert's own MathJax loader and its configuration only
        assert ('src="https://cdnjs.cloudflare.com/ajax/libs/mathjax/' in tag
                or 'type="text/x-mathjax-config"' in tag), tag
    for needle in ("onerror", "href=\"javascript:", "<svg", "<iframe", "widget-state", "pwned-js"):
        assert needle not in page, needle
    assert "application/javascript output: not shown in feedback" in page
    head = page[page.index("<head"):]
    assert head.index('http-equiv="Content-Security-Policy"') < head.index("<script")
    assert FEEDBACK_CSP in page and "'unsafe-inline'" not in FEEDBACK_CSP.split(";")[1]
    # what honest markdown and output HTML use survives
    for kept in ("<kbd>Shift</kbd>", "<details><summary>Hint</summary>", "<h1", "<table>",
                 "<td>1</td>", "data:image/svg+xml;base64,"):
        assert kept in page, kept


def test_safe_html_keeps_structure_and_drops_code() -> None:
    cleaned = safe_html(f"<p style='x' onclick='y'>a</p><style>b</style>{SCRIPT}{LINK}"
                        "<img src='data:image/png;base64,AAAA' alt=ok><iframe src=x></iframe>")
    assert cleaned.startswith("<p>a</p>") and "<img" in cleaned and 'alt="ok"' in cleaned
    for needle in ("style", "onclick", "<script", "javascript:", "<iframe"):
        assert needle not in cleaned, needle


def test_failure_page_says_why_escaped_with_a_csp() -> None:
    page = failure_page("dave", "01_sequences", "invalid", f"the file is <empty>{SCRIPT}\x1b[2J", 9)
    assert "the file is &lt;empty&gt;&lt;script&gt;" in page and "0 of 9" in page
    assert PAGE_CSP in page and not _scripts(page) and "\x1b" not in page


def test_report_escapes_what_students_control(tmp_path: Path) -> None:
    table = [StudentRow("ann", "graded", 1, 2, {"01_a_tests": 1, "01_b_tests": 0},
                        failures={"01_b_tests": f"AssertionError: {SCRIPT}"},
                        flags=[{"pattern": "module_patch", "code": SCRIPT}],
                        notes=[f"graded {HANDLER}.ipynb as 01_sequences.ipynb (renamed)"],
                        limits=[f"cell {SCRIPT} hit the cell timeout (120 s)"])]
    intake = Intake(tmp_path, "nbgrader", {"ann": None},
                    [FileRecord(f"ann/01_sequences/{LINK}.txt", "ann", False, "not graded")])
    summary = RunSummary("01_sequences", tmp_path, intake, {"ann": Entry("fp", "graded")},
                         exercises=[("01_a_tests", 1.0), ("01_b_tests", 1.0)],
                         feedback_dir=tmp_path / "feedback")
    page_path = tmp_path / "report.html"
    write_report(page_path, summary, table)
    page = page_path.read_text()
    assert not _scripts(page) and "<img src=x" not in page and "<a id=jslink" not in page
    assert "&lt;script&gt;document.title=&#39;pwned-script&#39;&lt;/script&gt;" in page
    assert PAGE_CSP in page and "style=" not in page


# -- in a browser --------------------------------------------------------------------------------
_TITLE_SCRIPT = """
import sys
from playwright.sync_api import sync_playwright
with sync_playwright() as pw:
    browser = pw.chromium.launch(executable_path=sys.argv[1], headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"])
    try:
        tab = browser.new_page()
        tab.goto(sys.argv[2])
        tab.wait_for_timeout(300)
        if tab.locator("#jslink").count():
            tab.locator("#jslink").first.click()
            tab.wait_for_timeout(200)
        print(tab.title())
    finally:
        browser.close()
"""


def _title_in_chromium(tmp_path: Path, page: str) -> str:
    """The page's title after it ran in headless Chromium (a payload sets it to "pwned...").

    Chromium runs from its own process: the browser tests' Playwright session may already
    be running in this one, and Playwright's sync API cannot be nested.
    """
    path = tmp_path / "page.html"
    path.write_text(page, encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", _TITLE_SCRIPT, str(CHROMIUM), path.as_uri()],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


needs_chromium = pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs /usr/bin/chromium")


@needs_chromium
@pytest.mark.parametrize("safe", [True, False], ids=["sanitised", "csp-only"])
def test_no_student_script_runs_in_chromium(tmp_path: Path, safe: bool) -> None:
    """csp-only: the outputs are not sanitised (student HTML as it came): the CSP alone
    keeps every payload from running."""
    title = _title_in_chromium(tmp_path, _feedback(_hostile_notebook(), safe=safe))
    assert "pwned" not in title, title


@needs_chromium
def test_the_csp_alone_stops_inline_code_in_chromium(tmp_path: Path) -> None:
    bare = f"<!DOCTYPE html><html><head><title>ok</title></head><body>{SCRIPT}{HANDLER}{LINK}"
    assert "pwned" in _title_in_chromium(tmp_path, bare)  # the payloads do run without it
    assert _title_in_chromium(tmp_path, with_csp(bare, FEEDBACK_CSP)) == "ok"
    assert _title_in_chromium(tmp_path, with_csp(bare, PAGE_CSP)) == "ok"


def test_feedback_page_says_what_nbconvert_says_without_its_soup_pass() -> None:
    """``SafeFeedbackExporter`` skips nbconvert's BeautifulSoup pass and caches highlighting
    and markdown: its page has the same text and image alt texts as nbconvert's."""
    from bs4 import BeautifulSoup
    from nbconvert.exporters import HTMLExporter

    png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
           "AAAABJRU5ErkJggg==")
    cells = [nbformat.v4.new_markdown_cell("# Title\n\nSome *text* and `code`."),
             nbformat.v4.new_code_cell("def f(x):\n    return x + 1  # comment", outputs=[
                 nbformat.v4.new_output("display_data", data={"image/png": png,
                                                              "text/plain": "<Figure>"})]),
             nbformat.v4.new_code_cell("f(1)")]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    ours = [_feedback(nb) for _ in range(2)]  # the second page from the caches
    assert ours[0] == ours[1]
    theirs, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)

    def text(page: str) -> str:
        body = BeautifulSoup(page, "html.parser").find(id="notebook-container") or \
            BeautifulSoup(page, "html.parser").body
        return " ".join(body.get_text().split())

    assert "return x + 1" in text(ours[0]) and text(ours[0]) == text(theirs)
    assert re.findall(r"<img[^>]*alt=\"([^\"]*)\"", ours[0]) == \
        ["No description has been provided for this image"]
    # the cache is per markdown text and settings; a cell with attachments is not cached
    attached = nbformat.v4.new_markdown_cell("# Title\n\n![x](attachment:x.png)")
    attached["attachments"] = {"x.png": {"image/png": png}}
    nb.cells.append(attached)
    assert f"data:image/png;base64,{png}" in _feedback(nb)


def test_with_image_alt_adds_alt_text_where_there_is_none() -> None:
    from rnnkit.grading.feedback import NO_ALT, with_image_alt

    html = ("<p><img src=\"a>b\"><IMG alt='x' src=y><img data-x=\"alt=1\" src=z/>"
            "<imgur>no</imgur></p>")
    assert with_image_alt(html) == (f"<p><img alt=\"{NO_ALT}\" src=\"a>b\"><IMG alt='x' src=y>"
                                    f"<img alt=\"{NO_ALT}\" data-x=\"alt=1\" src=z/>"
                                    "<imgur>no</imgur></p>")
