"""The student set-up of binder/postBuild: instructor tools gone, Validate still there."""

from __future__ import annotations

import json
import sys
import urllib.error
from pathlib import Path
from typing import Any

import pytest
from binder_config import disabled_extensions
from labpage import PANEL, LabNotebook, notebook_facts

from rnnkit.paths import chapters, notebook_path

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_post_build_disables_the_instructor_extensions_by_their_real_names() -> None:
    names = disabled_extensions(REPO / "binder" / "postBuild")
    assert names == {
        "labextension": ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                         "@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:course-list"],
        "server": ["nbgrader.server_extensions.formgrader",
                   "nbgrader.server_extensions.assignment_list",
                   "nbgrader.server_extensions.course_list"],
    }
    # the names exist in the installed nbgrader: plugin ids in its lab extension's bundle,
    # the module in the server config it installs
    bundle = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "@jupyter" / "nbgrader"
    code = "".join(js.read_text() for js in (bundle / "static").glob("*.js"))
    for plugin in [*names["labextension"], "@jupyter/nbgrader:validate-assignment"]:
        assert f'"{plugin}"' in code, f"nbgrader has no lab plugin {plugin}"
    server = json.loads((Path(sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.d" /
                         "nbgrader.json").read_text())["ServerApp"]["jpserver_extensions"]
    assert set(names["server"]) <= set(server)
    assert "nbgrader.server_extensions.validate_assignment" not in names["server"]


def test_students_get_validate_but_no_instructor_tools(browser: Any, lab_server: Any,
                                                       artifacts: Path) -> None:
    for endpoint in ("/formgrader", "/assignments", "/courses"):
        with pytest.raises(urllib.error.HTTPError) as info:
            lab_server.api(endpoint)
        assert info.value.code == 404, f"nbgrader's {endpoint} still answers"
    from nbgrader import __version__ as nbgrader_version

    assert lab_server.api(f"/nbgrader_version?version={nbgrader_version}") == {"success": True}

    chapter = chapters(REPO, "course")[0]
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        nb = LabNotebook(context.new_page(), f"course/{chapter}/{chapter}.ipynb")
        nb.open(lab_server.url, notebook_facts(notebook_path(REPO, "course", chapter))["cells"])
        page = nb.page
        assert page.locator(f"{PANEL} .jp-NotebookPanel-toolbar .validate-button").is_visible()
        tabs = page.evaluate(
            "() => [...document.querySelectorAll('.lm-TabBar-tab')].map(t => t.title)")
        assert not [t for t in tabs if "Create Assignment" in t], tabs
        page.click(".lm-MenuBar-itemLabel:text-is('Nbgrader')")
        visible = page.evaluate(
            "() => [...document.querySelectorAll('.lm-Menu-item')]"
            ".filter(e => getComputedStyle(e).display !== 'none')"
            ".map(e => e.dataset.command)")
        page.screenshot(path=str(artifacts / "student-nbgrader-menu.png"))
        page.keyboard.press("Escape")
        hidden = {"nbgrader:open-formgrader", "nbgrader:open-formgrader-local",
                  "nbgrader:open-create-assignment", "nbgrader:open-assignment-list",
                  "nbgrader:open-course-list"}
        assert not hidden & set(visible), f"instructor items in the Nbgrader menu: {visible}"
    finally:
        context.close()
