"""Feedback for students: nbgrader's feedback HTML, with nothing of the hidden tests in it.

nbgrader's ``ClearHiddenTests`` removes the hidden block from each test cell's *source*,
but the *outputs* of a failing hidden test still carry its traceback, whose context lines
quote the hidden code. ``HideHiddenTests`` runs before it and, in every test cell that
has hidden tests, replaces each traceback by its last line (``AssertionError: <message>``)
and drops any output line that quotes a hidden line. It also defuses hidden-test markers
that a student typed into their own cells (``ClearHiddenTests`` would otherwise refuse
the notebook). ``failure_page`` is the feedback of a submission that could not be graded.

Student HTML and JavaScript never run in a feedback page: ``SafeOutputs`` keeps only
inert output types and sanitises HTML outputs, ``SafeFeedbackExporter`` sanitises the
rendered markdown and starts the page with a Content-Security-Policy that allows no
inline script (``pages.FEEDBACK_CSP``).
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import pass_context
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Int, Unicode

from .model import printable
from .pages import FEEDBACK_CSP, csp_meta, render

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain(text: str) -> str:
    """``text`` without terminal colour codes."""
    return _ANSI.sub("", text)


ERROR_LINE_LIMIT = 1200  # characters: the longest hint of the course's checks is ~400


def error_line(output: dict[str, Any], limit: int = ERROR_LINE_LIMIT) -> str:
    """``Name: message`` of an error output, on one line, colour codes removed.

    A message longer than ``limit`` is cut after its last whole clause (at ``". "``,
    ``"; "`` or ``": "``) that fits, so a hint is never cut mid-sentence.
    """
    evalue = plain(str(output.get("evalue", ""))).strip().splitlines()
    text = f"{output.get('ename', 'Error')}: {evalue[0] if evalue else ''}".rstrip(": ")
    if len(text) <= limit:
        return text
    head = text[: limit - 2]
    cut = max(head.rfind(sep) for sep in (". ", "; ", ": "))
    return (head[: cut + 1] if cut > limit // 3 else head).rstrip() + " …"


class HideHiddenTests(NbGraderPreprocessor):
    """Keep hidden tests' code out of feedback: tracebacks become their message only."""

    begin_test_delimeter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end_test_delimeter = Unicode("END HIDDEN TESTS").tag(config=True)
    min_quote = Int(8, help="Output lines quoting a hidden line at least this long are "
                    "dropped.").tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict,
                        cell_index: int) -> tuple[NotebookNode, ResourcesDict]:
        source = cell.get("source", "")
        if cell.cell_type == "code" and utils.is_grade(cell):
            hidden = self._hidden_lines(source)
            if hidden is not None:
                cell.outputs = [o for o in (self._scrub(o, hidden) for o in cell.outputs) if o]
        elif self.begin_test_delimeter in source or self.end_test_delimeter in source:
            # A student's own cell: ClearHiddenTests would raise on an unmatched marker.
            cell.source = source.replace(self.begin_test_delimeter, "BEGIN-HIDDEN-TESTS") \
                .replace(self.end_test_delimeter, "END-HIDDEN-TESTS")
        return cell, resources

    def _hidden_lines(self, source: str) -> list[str] | None:
        """The stripped lines of the hidden block, or None when the cell has none."""
        lines, inside, found = [], False, False
        for line in source.splitlines():
            if self.begin_test_delimeter in line:
                inside = found = True
            elif self.end_test_delimeter in line:
                inside = False
            elif inside and len(line.strip()) >= self.min_quote:
                lines.append(line.strip())
        return lines if found else None

    def _quotes(self, text: str, hidden: list[str]) -> bool:
        stripped = plain(text).strip()
        return len(stripped) >= self.min_quote and any(
            stripped in h or h in stripped for h in hidden)

    def _scrub(self, output: NotebookNode, hidden: list[str]) -> NotebookNode | None:
        kind = output.get("output_type")
        if kind == "error":
            line = error_line(output)
            if self._quotes(line, hidden):
                line = f"{output.get('ename', 'Error')}: (message hidden: it quotes a hidden test)"
            output.traceback = [line]
            return output
        if kind == "stream":
            kept = [ln for ln in output.get("text", "").splitlines(keepends=True)
                    if not self._quotes(ln, hidden)]
            output.text = "".join(kept)
            return output if kept else None
        data = output.get("data", {})
        if "text/plain" in data:
            text = data["text/plain"]
            text = "".join(text) if isinstance(text, list) else str(text)
            if any(self._quotes(ln, hidden) for ln in text.splitlines()):
                return None
        return output


def feedback_preprocessors(configured: list[Any]) -> list[Any]:
    """The course's ``GenerateFeedback.preprocessors`` with ``HideHiddenTests`` before
    ``ClearHiddenTests`` (both added when missing) and ``SafeOutputs`` last."""
    from nbgrader.preprocessors import ClearHiddenTests, GetGrades

    def short_names() -> list[str]:
        return [(p if isinstance(p, str) else p.__qualname__).rsplit(".", 1)[-1] for p in out]

    out = [p for p in configured
           if (p if isinstance(p, str) else p.__qualname__).rsplit(".", 1)[-1]
           not in ("HideHiddenTests", "SafeOutputs")]
    if "GetGrades" not in short_names():
        out.insert(0, GetGrades)
    if "ClearHiddenTests" not in short_names():
        out.insert(short_names().index("GetGrades") + 1, ClearHiddenTests)
    out.insert(short_names().index("ClearHiddenTests"), HideHiddenTests)
    out.append(SafeOutputs)
    return out


def failure_page(student: str, chapter: str, status: str, reason: str, max_score: float,
                 score: float = 0.0) -> str:
    """A short feedback page for a submission without nbgrader's page (it could not be graded)."""
    what = {
        "missing": "We found no notebook to grade.",
        "invalid": "Your file could not be read as a Jupyter notebook.",
        "timeout": "Your notebook did not finish within the time limit.",
        "graded": "Your notebook was graded, but its feedback page could not be made.",
    }.get(status, "Your notebook could not be graded.")
    return render("failure.html.j2", student=student, chapter=chapter, what=what,
                  reason=printable(reason), score=score, max_score=max_score)


# -- student HTML, made inert ------------------------------------------------------------------
#: What student HTML may keep in a feedback page: text structure, tables, images, links.
#: No script, style, iframe, object, form or SVG element; no event handler or style
#: attribute; links and images only to http(s), mailto and (images) embedded data.
SAFE_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
    "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp",
    "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "u", "ul", "var"})
SAFE_ATTRIBUTES = {"*": ["class", "id", "title", "align"], "a": ["href", "title", "name"],
                   "img": ["src", "alt", "title", "width", "height"],
                   "td": ["colspan", "rowspan", "align"], "th": ["colspan", "rowspan", "align",
                                                                  "scope"],
                   "ol": ["start"], "col": ["span"]}
SAFE_PROTOCOLS = frozenset({"http", "https", "mailto", "data"})
#: Output types a feedback page shows; the rest (JavaScript, widget views, other
#: application/* types) is dropped. SVG is shown as an <img> (scripts in it never run).
SAFE_MIMETYPES = ("text/plain", "text/html", "text/markdown", "text/latex", "image/png",
                  "image/jpeg", "image/gif", "image/svg+xml")


def safe_html(markup: str) -> str:
    """``markup`` with everything but ``SAFE_TAGS``/``SAFE_ATTRIBUTES`` removed (bleach)."""
    import bleach

    return bleach.clean(markup, tags=SAFE_TAGS, attributes=SAFE_ATTRIBUTES,
                        protocols=SAFE_PROTOCOLS, strip=True, strip_comments=True)


class SafeOutputs(NbGraderPreprocessor):
    """Make every output of the notebook inert for the feedback page.

    Outputs keep only ``SAFE_MIMETYPES``; ``text/html`` goes through ``safe_html``; an
    output left with nothing to show says what was dropped. Widget state is dropped from
    the notebook's metadata (the page would load the widget manager's scripts for it).
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict
                   ) -> tuple[NotebookNode, ResourcesDict]:
        nb.metadata.pop("widgets", None)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict,
                        cell_index: int) -> tuple[NotebookNode, ResourcesDict]:
        for output in cell.get("outputs", []):
            data = output.get("data")
            if not isinstance(data, dict):
                continue
            kept = {k: v for k, v in data.items() if k in SAFE_MIMETYPES}
            if "text/html" in kept:
                html = kept["text/html"]
                kept["text/html"] = safe_html("".join(html) if isinstance(html, list) else
                                              str(html))
            dropped = sorted(set(data) - set(kept))
            if not kept:
                kept["text/plain"] = f"[{', '.join(dropped)} output: not shown in feedback]"
            output["data"] = kept
            meta = output.get("metadata")
            if isinstance(meta, dict):  # e.g. {"text/html": {"isolated": true}}: an iframe
                output["metadata"] = {k: v for k, v in meta.items() if k in kept
                                      and k != "text/html"}
        return cell, resources


class SafeFeedbackExporter(HTMLExporter):
    """nbgrader's feedback exporter, made safe to open: markdown sanitised, a strict CSP.

    Markdown (cells, ``text/markdown`` outputs, comments) is rendered as usual, then goes
    through ``safe_html``; the page's ``<head>`` starts with ``pages.FEEDBACK_CSP``, so no
    inline script or event handler runs even if one got through.
    """

    @pass_context
    def markdown2html(self, context: Any, source: str) -> str:
        def render() -> str:
            return safe_html(super(SafeFeedbackExporter, self).markdown2html(context, source))

        if self.embed_images or context.get("cell", {}).get("attachments"):
            return render()
        return rendered_once(("markdown", self.anchor_link_text, self.exclude_anchor_links,
                              source), render, source)

    def from_notebook_node(self, nb: NotebookNode, resources: Any = None,
                           **kw: Any) -> tuple[str, Any]:
        # HTMLExporter.from_notebook_node (nbconvert 7.17), less its BeautifulSoup pass
        # over the whole page: in the classic template that pass only gives images an alt
        # text, and it cost 1.4 s of CPU per page (most of a page's rendering).
        info = nb.metadata.get("language_info", {})
        lexer = info.get("pygments_lexer", info.get("name", None))
        self.register_filter("highlight_code", self.filters.get(
            "highlight_code", CachedHighlight(pygments_lexer=lexer, parent=self)))
        resources = self._init_resources(resources)
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources))
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return with_csp(with_image_alt(html), FEEDBACK_CSP), resources


_IMG = re.compile(r"""<img\b(?:[^>"']|"[^"]*"|'[^']*')*>""", re.I)
_QUOTED = re.compile(r""""[^"]*"|'[^']*'""")
_ALT = re.compile(r"\salt\s*=", re.I)
NO_ALT = "No description has been provided for this image"  # nbconvert's words


def with_image_alt(html: str) -> str:
    """``html`` with an ``alt`` text on every ``<img>`` that has none, as nbconvert does."""
    def one(match: re.Match[str]) -> str:
        tag = match.group(0)
        if _ALT.search(_QUOTED.sub('""', tag)):
            return tag
        return f'<img alt="{NO_ALT}"' + tag[4:]
    return _IMG.sub(one, html)


CACHED_TEXT = 20_000  # characters: a longer cell is a student's, and is rendered each time
_RENDERED: dict[tuple[Any, ...], str] = {}


def rendered_once(key: tuple[Any, ...], render: Any, text: str) -> str:
    """``render()``, kept under ``key`` for the next page (not for ``text`` over
    ``CACHED_TEXT``): the course's own cells are the same in every student's page."""
    if len(text) > CACHED_TEXT:
        return render()
    try:
        return _RENDERED[key]
    except KeyError:
        if len(_RENDERED) >= 4096:
            _RENDERED.clear()
        _RENDERED[key] = html = render()
        return html


class CachedHighlight(Highlight2HTML):
    """nbconvert's code highlighting, once per code text (see ``rendered_once``)."""

    def __call__(self, source: str, language: str | None = None,
                 metadata: Any = None) -> str:
        def render() -> str:
            return super(CachedHighlight, self).__call__(source, language, metadata)

        magics = metadata.get("magics_language") if metadata else None  # all it reads
        key = ("code", self.pygments_lexer, tuple(sorted(self.extra_formatter_options.items())),
               language, magics, source)
        try:
            hash(key)
        except TypeError:  # an unhashable formatter option: no cache
            return render()
        return rendered_once(key, render, source)


def with_csp(html: str, policy: str) -> str:
    """``html`` with a Content-Security-Policy ``<meta>`` as the first element of its head."""
    meta = csp_meta(policy)
    head = re.search(r"<head[^>]*>", html, re.I)
    if head is None:
        return f"<!DOCTYPE html><html><head>{meta}</head>" + re.sub(
            r"^\s*<!DOCTYPE[^>]*>", "", html, flags=re.I)
    return html[:head.end()] + "\n" + meta + html[head.end():]
