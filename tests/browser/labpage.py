"""Driving a JupyterLab notebook the way a student does: menus, toolbar buttons, widgets.

Everything here acts through the page (clicks, keys, the DOM); nothing reaches into
JupyterLab's JavaScript objects, so what passes here works for a person too.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# a widget view: a cell's own output (not one nested in an Output widget) holding a widget
WIDGET_VIEW = (".jp-Cell-outputArea > .jp-OutputArea-child > "
               ".jp-OutputArea-output:has(> .jupyter-widgets)")
ERROR_MIMES = ("application/vnd.jupyter.error", "application/vnd.jupyter.stderr")
OPEN_TIMEOUT_MS = 120_000
RUN_TIMEOUT_MS = 900_000  # one notebook, Run All; chapters target far less
REACT_TIMEOUT_MS = 60_000
VALIDATE_TIMEOUT_MS = 900_000
MIN_CONTRAST = 4.5  # WCAG AA for body text
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in the visible tab
CELLS = f"{PANEL} .jp-Notebook .jp-Cell"


def notebook_facts(path: Path) -> dict[str, Any]:
    """What the saved notebook says: cell count, code cells, widget cells, graded test cells."""
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    widget_cells = [i for i, c in enumerate(cells) if c["cell_type"] == "code"
                    and any(WIDGET_MIME in o.get("data", {}) for o in c.get("outputs", []))]
    graded = [("".join(c["source"]), c["metadata"]["nbgrader"]["grade_id"])
              for c in cells if c["metadata"].get("nbgrader", {}).get("grade")]
    own = [i for i, c in enumerate(cells) if c["metadata"].get("nbgrader", {}).get("solution")
           or c["metadata"].get("nbgrader", {}).get("grade")]
    return {"cells": len(cells), "widget_cells": widget_cells, "graded": graded,
            "code_cells": [i for i, c in enumerate(cells) if c["cell_type"] == "code"],
            "own_cells": own}


@dataclass
class LabNotebook:
    """One notebook open in its own JupyterLab tab."""

    page: Any  # playwright.sync_api.Page
    relpath: str
    timings: dict[str, float] = field(default_factory=dict)

    # ----- opening and running -------------------------------------------------------
    def open(self, base_url: str, expected_cells: int) -> None:
        start = time.perf_counter()
        # a workspace of its own: JupyterLab reopens nothing from an earlier test
        workspace = re.sub(r"[^a-z0-9]+", "-", self.relpath.lower())
        self.page.goto(f"{base_url}/lab/workspaces/{workspace}/tree/{self.relpath}")
        self.page.wait_for_function(
            "([sel, n]) => document.querySelectorAll(sel).length === n",
            arg=[CELLS, expected_cells], timeout=OPEN_TIMEOUT_MS)
        self.wait_kernel_idle(OPEN_TIMEOUT_MS)
        self.timings["open"] = time.perf_counter() - start

    def wait_kernel_idle(self, timeout_ms: int) -> None:
        self.page.wait_for_selector(
            f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=timeout_ms)

    def menu(self, menu: str, command: str, label: str | None = None,
             submenu: str | None = None) -> None:
        """Click menu > [submenu >] item, the item found by its command (and label)."""
        self.page.click(f".lm-MenuBar-itemLabel:text-is('{menu}')")
        if submenu:
            self.page.hover(f".lm-Menu-item:has(.lm-Menu-itemLabel:text-is('{submenu}'))")
        item = f".lm-Menu-item[data-command='{command}']"
        if label:
            item += f":has(.lm-Menu-itemLabel:text-is('{label}'))"
        self.page.click(item)

    def clear_outputs(self) -> None:
        self.menu("Edit", "editmenu:clear-all")
        self.page.wait_for_function(
            "sel => !document.querySelector(sel)", arg=f"{PANEL} .jp-OutputArea-output")

    def run_all(self) -> None:
        """Run > Run All Cells, then wait until every code cell has its execution number."""
        start = time.perf_counter()
        self.menu("Run", "runmenu:run-all")
        self.wait_cells_done(RUN_TIMEOUT_MS)
        self.timings["run_all"] = time.perf_counter() - start

    def wait_cells_done(self, timeout_ms: int) -> None:
        """Until every code cell has its number, or the run stopped at an error."""
        self.page.wait_for_function(
            """a => {
                const prompts = [...document.querySelectorAll(a.prompts)]
                    .map(p => p.textContent.trim());
                if (prompts.length && prompts.every(p => /^\\[\\d+\\]:$/.test(p))) return true;
                const idle = document.querySelector(a.idle);
                const error = a.errors.some(m => document.querySelector(
                    `${a.panel} [data-mime-type="${m}"]`));
                return !!idle && error && !prompts.some(p => p.includes('*'));
            }""", arg={"prompts": f"{PANEL} .jp-CodeCell .jp-InputArea-prompt",
                       "idle": f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']",
                       "errors": list(ERROR_MIMES), "panel": PANEL},
            timeout=timeout_ms, polling=250)
        self.wait_kernel_idle(timeout_ms)

    def run_cells_one_by_one(self) -> None:
        """Shift+Enter through every cell, waiting for each: a failing cell stops nothing.

        A student's notebook has failing test cells; Run All would stop at the first.
        """
        start = time.perf_counter()
        cells = self.page.locator(CELLS)
        cells.first.locator(".jp-Cell-inputWrapper").click(position={"x": 5, "y": 5})
        self.page.keyboard.press("Escape")  # command mode
        count = cells.count()
        for i in range(count):
            is_code = "jp-CodeCell" in (cells.nth(i).get_attribute("class") or "")
            # Shift+Enter runs and moves on; on the last cell it would add a new cell
            self.page.keyboard.press("Shift+Enter" if i < count - 1 else "Control+Enter")
            if is_code:
                prompt = cells.nth(i).locator(".jp-InputArea-prompt")
                self.page.wait_for_function(
                    "el => /^\\[\\d+\\]:$/.test(el.textContent.trim())",
                    arg=prompt.element_handle(), timeout=RUN_TIMEOUT_MS, polling=100)
        self.wait_kernel_idle(RUN_TIMEOUT_MS)
        self.timings["run_cells"] = time.perf_counter() - start

    # ----- reading what is on screen ---------------------------------------------------
    def cell(self, index: int) -> Any:
        return self.page.locator(CELLS).nth(index)

    def error_outputs(self) -> list[dict[str, Any]]:
        """Every traceback or stderr output: its cell index and first lines."""
        return self.page.evaluate(
            """a => {
                const cells = [...document.querySelectorAll(a.cells)];
                const found = [];
                cells.forEach((cell, index) => {
                    for (const out of cell.querySelectorAll('[data-mime-type]')) {
                        if (a.mimes.includes(out.dataset.mimeType)) {
                            found.push({cell: index, mime: out.dataset.mimeType,
                                        text: out.innerText.slice(0, 800)});
                        }
                    }
                });
                return found;
            }""", {"cells": CELLS, "mimes": list(ERROR_MIMES)})

    def widget_outputs(self) -> list[dict[str, Any]]:
        """Every widget view output: cell index, whether it rendered, its text."""
        return self.page.evaluate(
            """a => {
                const cells = [...document.querySelectorAll(a.cells)];
                const found = [];
                cells.forEach((cell, index) => {
                    cell.querySelectorAll(a.top)
                        .forEach((out, k) => found.push({
                            cell: index, k,
                            rendered: !/Error displaying widget|Loading widget/
                                          .test(out.innerText),
                            text: out.innerText}));
                });
                return found;
            }""", {"cells": CELLS, "top": WIDGET_VIEW})

    def widget_locator(self, cell: int, k: int = 0) -> Any:
        return self.cell(cell).locator(WIDGET_VIEW).nth(k)

    # ----- widgets ---------------------------------------------------------------------
    def widget_snapshot(self, widget: Any) -> dict[str, Any]:
        """What a widget shows apart from its controls: HTML and output text, plot images."""
        return widget.evaluate(
            """el => ({
                html: [...el.querySelectorAll('.widget-html-content')].map(e => e.innerText),
                outputs: [...el.querySelectorAll('.widget-output')].map(e => e.innerText),
                images: [...el.querySelectorAll('img')].map(e => e.src),
                svgs: [...el.querySelectorAll('svg')].map(e => e.outerHTML.length),
            })""")

    def interact(self, widget: Any) -> str:
        """Make one change with the widget's first control, as a user would; says which."""
        slider = widget.locator(".widget-slider .noUi-handle, .widget-slider [role='slider']")
        if slider.count():
            handle = slider.first
            handle.focus()
            before = handle.get_attribute("aria-valuenow")
            handle.press("ArrowRight")
            if handle.get_attribute("aria-valuenow") == before:  # at its maximum already
                handle.press("ArrowLeft")
            return f"slider moved from {before} to {handle.get_attribute('aria-valuenow')}"
        select = widget.locator(".widget-dropdown select")
        if select.count():
            options = select.first.locator("option").all_inner_texts()
            current = select.first.evaluate("s => s.options[s.selectedIndex].text")
            choice = next(o for o in options if o != current)
            select.first.select_option(label=choice)
            return f"dropdown set to {choice}"
        toggle = widget.locator(".widget-toggle-buttons button:not(.mod-active)")
        if toggle.count():
            toggle.first.click()
            return "toggle button clicked"
        button = widget.locator("button.jupyter-button, .widget-button")
        if button.count():
            button.first.click()
            return "button clicked"
        checkbox = widget.locator(".widget-checkbox input")
        if checkbox.count():
            checkbox.first.click()
            return "checkbox clicked"
        raise AssertionError("the widget has no control to interact with (slider, dropdown, "
                             "toggle, button or checkbox)")

    # ----- nbgrader ----------------------------------------------------------------------
    def validate(self) -> dict[str, Any]:
        """Click nbgrader's Validate button; the results dialog's class, text and cell sources."""
        start = time.perf_counter()
        self.page.locator(f"{PANEL} .jp-NotebookPanel-toolbar .validate-button").click()
        dialog = self.page.locator(".jp-Dialog:has(.jp-Dialog-header:has-text('Validat'))")
        dialog.wait_for(timeout=VALIDATE_TIMEOUT_MS)
        self.timings["validate"] = time.perf_counter() - start
        result = dialog.evaluate(
            """d => {
                const body = d.querySelector('.jp-Dialog-body');
                const marked = [body, ...body.querySelectorAll('*')]
                    .flatMap(e => [...e.classList]).find(c => c.startsWith('validation-'));
                const kind = marked || '';
                const sources = [];
                for (const p of body.querySelectorAll('p')) {
                    if (p.innerText.startsWith('The following cell failed')) {
                        const src = p.parentElement.nextElementSibling;
                        if (src) sources.push(src.innerText);
                    }
                }
                return {title: d.querySelector('.jp-Dialog-header').innerText,
                        kind, text: body.innerText, failed_sources: sources};
            }""")
        result["locator"] = dialog
        return result

    def close_dialog(self) -> None:
        self.page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
        self.page.locator(".jp-Dialog").wait_for(state="detached")

    # ----- themes and accessibility ------------------------------------------------------
    def set_theme(self, name: str) -> None:
        """Settings > Theme > ``name``, as a student switches it."""
        self.menu("Settings", "apputils:change-theme", label=name, submenu="Theme")
        self.page.wait_for_function(
            "name => document.body.dataset.jpThemeName === name", arg=name, timeout=30_000)
        self.page.wait_for_timeout(500)  # let the theme's CSS variables apply

    def figures_without_caption(self) -> list[dict[str, Any]]:
        """Output images with neither alt text nor a "*Figure N.k. ...*" caption after them."""
        return self.page.evaluate(
            """a => {
                const cells = [...document.querySelectorAll(a.cells)];
                const missing = [];
                cells.forEach((cell, index) => {
                    const imgs = [...cell.querySelectorAll('.jp-OutputArea img')];
                    if (!imgs.length) return;
                    const next = cells[index + 1];
                    const em = next && next.classList.contains('jp-MarkdownCell')
                        ? next.querySelector('.jp-RenderedMarkdown em') : null;
                    const caption = em && /^Figure \\d+\\.\\d+/.test(em.innerText.trim());
                    imgs.forEach(img => {
                        const alt = (img.getAttribute('alt') || img.getAttribute('aria-label')
                                     || '').trim();
                        if (!caption && !alt) missing.push({cell: index,
                            next: next ? next.innerText.slice(0, 80) : null});
                    });
                });
                const md = [...document.querySelectorAll('.jp-RenderedMarkdown img')]
                    .filter(img => !(img.getAttribute('alt') || '').trim())
                    .map(img => ({cell: -1, next: 'markdown image without alt: ' + img.src}));
                return missing.concat(md);
            }""", {"cells": CELLS})

    def transparent_figures(self) -> list[dict[str, Any]]:
        """Output images with transparent corners: black axis text vanishes on a dark theme."""
        return self.page.evaluate(
            """async a => {
                const cells = [...document.querySelectorAll(a.cells)];
                const bad = [];
                for (const [index, cell] of cells.entries()) {
                    for (const img of cell.querySelectorAll('.jp-OutputArea img')) {
                        await img.decode().catch(() => null);
                        const w = img.naturalWidth, h = img.naturalHeight;
                        if (!w || !h) { bad.push({cell: index, why: 'image did not load'});
                                        continue; }
                        const canvas = document.createElement('canvas');
                        canvas.width = w; canvas.height = h;
                        const ctx = canvas.getContext('2d');
                        ctx.drawImage(img, 0, 0);
                        const corners = [[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]]
                            .map(([x, y]) => ctx.getImageData(x, y, 1, 1).data[3]);
                        if (corners.some(a => a < 255))
                            bad.push({cell: index, why: `corner alpha ${corners}`});
                    }
                }
                return bad;
            }""", {"cells": CELLS})

    def low_contrast_text(self, minimum: float = MIN_CONTRAST) -> dict[str, Any]:
        """Text in markdown and outputs whose contrast with its background is below ``minimum``.

        The colour is what ``getComputedStyle`` says, blended over the first opaque
        background up the tree (WCAG 2 contrast ratio). Returns ``checked`` (how many text
        elements were measured) and ``bad`` (those below ``minimum``).
        """
        return self.page.evaluate(
            """a => {
                const parse = c => {
                    let m = c.match(/^rgba?\\(([^)]+)\\)/);
                    if (m) {
                        const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(parseFloat);
                        return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
                    }
                    m = c.match(/^color\\(srgb ([^)]+)\\)/);
                    if (m) {
                        const p = m[1].split(/[\\s\\/]+/).filter(Boolean).map(parseFloat);
                        return {r: p[0] * 255, g: p[1] * 255, b: p[2] * 255,
                                a: p.length > 3 ? p[3] : 1};
                    }
                    return null;
                };
                const over = (top, bottom) => ({
                    r: top.r * top.a + bottom.r * (1 - top.a),
                    g: top.g * top.a + bottom.g * (1 - top.a),
                    b: top.b * top.a + bottom.b * (1 - top.a), a: 1});
                const background = el => {
                    const layers = [];
                    for (let e = el; e; e = e.parentElement) {
                        const c = parse(getComputedStyle(e).backgroundColor);
                        if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
                    }
                    let bg = {r: 255, g: 255, b: 255, a: 1};  // the canvas, if nothing is opaque
                    for (const layer of layers.reverse()) bg = over(layer, bg);
                    return bg;
                };
                const lum = c => {
                    const f = v => { v /= 255;
                        return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
                    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
                };
                const roots = document.querySelectorAll(a.roots);
                const bad = [];
                let checked = 0;
                const cells = [...document.querySelectorAll(a.cells)];
                for (const root of roots) {
                    for (const el of [root, ...root.querySelectorAll('*')]) {
                        const text = [...el.childNodes]
                            .filter(n => n.nodeType === Node.TEXT_NODE)
                            .map(n => n.textContent).join('').trim();
                        if (!text) continue;
                        const style = getComputedStyle(el);
                        if (style.display === 'none' || style.visibility === 'hidden') continue;
                        if (!el.getClientRects().length) continue;
                        const fg0 = parse(style.color);
                        if (!fg0) continue;
                        const bg = background(el);
                        const fg = over(fg0, bg);
                        const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
                        const ratio = (hi + 0.05) / (lo + 0.05);
                        checked += 1;
                        if (ratio < a.minimum) {
                            const cell = cells.findIndex(c => c.contains(el));
                            bad.push({cell, ratio: Math.round(ratio * 100) / 100,
                                      color: style.color, text: text.slice(0, 60),
                                      tag: el.tagName.toLowerCase() + '.' + el.className});
                        }
                    }
                }
                return {checked, bad};
            }""", {"cells": CELLS, "minimum": minimum,
                   "roots": f"{PANEL} .jp-RenderedMarkdown, {PANEL} .jp-OutputArea-output"})
