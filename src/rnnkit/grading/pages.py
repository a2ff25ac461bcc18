"""The HTML pages ``rnnkit grade`` writes itself, as Jinja2 templates with autoescape.

``render(name, **context)`` renders ``report.html.j2`` (the class report) or
``failure.html.j2`` (the feedback of a submission that could not be graded). Every value
is escaped unless a template marks it safe, and only figures we drew are: PNG bytes we
encode ourselves. Student-controlled text (ids, file names, failure messages, integrity
flags' code lines) is data, never markup.

Each page carries a Content-Security-Policy (``<meta http-equiv>``) that runs no script at
all and allows our own stylesheet only by its hash: a ``<script>``, an event handler or
a ``javascript:`` link that got into a page anyway does nothing. Feedback pages made by
nbconvert get ``FEEDBACK_CSP`` (see ``feedback.SafeFeedbackExporter``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

import jinja2

#: The stylesheet of our own pages (allowed by its hash in their CSP).
STYLE = """
body{font-family:system-ui,sans-serif;max-width:68rem;margin:1.5rem auto;padding:0 1rem;
line-height:1.45;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#f3f3f3} td.num{text-align:right} .ok{color:#009E73} .bad{color:#D55E00}
.status{font-weight:600} figure{margin:1rem 0} figcaption{font-style:italic}
code{font-size:.9em} .small{font-size:.9em;color:#555}
.st-graded{color:#009E73} .st-timeout{color:#E69F00} .st-error,.st-invalid{color:#D55E00}
.st-missing{color:#CC79A7} .st-not-graded{color:#777777}
.box{border-left:4px solid #D55E00;padding:.5rem 1rem;background:#fdf3ec}
body.narrow{max-width:46rem;margin:2rem auto;line-height:1.5}
"""


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


#: Our pages: no script, no plugin, no form, no base; images only embedded; our styles only.
PAGE_CSP = (f"default-src 'none'; img-src data:; style-src 'sha256-{_sha256(STYLE)}'; "
            "base-uri 'none'; form-action 'none'; object-src 'none'")

_MATHJAX = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/"
#: nbconvert's feedback pages: no inline script, no event handler; the one script allowed is
#: MathJax from the CDN nbconvert loads it from (it evaluates its own configuration block,
#: hence 'unsafe-eval' for it); inline styles (nbconvert's stylesheets); embedded images.
FEEDBACK_CSP = (f"default-src 'none'; script-src {_MATHJAX} 'unsafe-eval'; "
                f"style-src 'unsafe-inline' {_MATHJAX}; font-src {_MATHJAX} data:; "
                f"img-src data: {_MATHJAX}; base-uri 'none'; form-action 'none'; "
                "object-src 'none'")


def csp_meta(policy: str) -> str:
    """The ``<meta>`` element that sets ``policy`` (put it first in ``<head>``)."""
    return f'<meta http-equiv="Content-Security-Policy" content="{policy}">'


TEMPLATES = {
    "base.html.j2": """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
{{ csp_meta(csp) | safe }}
<title>{% block title %}{% endblock %}</title>
<style>{{ style | safe }}</style></head>
<body{% block body_class %}{% endblock %}>
{% block body %}{% endblock %}
</body></html>
""",
    "failure.html.j2": """{% extends "base.html.j2" %}
{% block title %}{{ chapter }} feedback: {{ student }}{% endblock %}
{% block body_class %} class="narrow"{% endblock %}
{% block body %}<h1>{{ chapter }}: feedback for {{ student }}</h1>
<div class="box"><p><strong>{{ what }}</strong></p>
<p>Reason: {{ reason }}</p>
<p>Score: {{ "%g" | format(score) }} of {{ "%g" | format(max_score) }}.</p></div>
<p>Check that you submitted the notebook you worked on, saved and named
<code>{{ chapter }}.ipynb</code>, that it opens in JupyterLab, and that
<em>Kernel, Restart and Run All</em> finishes without errors. Then ask your instructor
to grade it again.</p>{% endblock %}
""",
    "report.html.j2": """{% extends "base.html.j2" %}
{% macro status(s) -%}
<span class="status st-{{ s | replace(' ', '-') }}">{{ s }}</span>
{%- endmacro %}
{% macro lines(items) %}{% for x in items if x %}{{ x }}{% if not loop.last %}<br>{% endif %}
{% else %}–{% endfor %}{% endmacro %}
{% block title %}Class report: {{ chapter }}{% endblock %}
{% block body %}<h1>Class report: {{ chapter }}</h1>
<p class="small">Generated {{ generated }} by <code>rnnkit grade</code> from
<code>{{ source }}</code> (naming: {{ naming }}). Scores are read from the gradebook.
Student code ran {% if sandbox %}in the bubblewrap sandbox{% else %}<strong>without the
sandbox</strong>{% endif %}.</p>

<h2>Summary</h2>
<table><tr><th>students</th><th>graded</th><th>not gradable</th><th>mean score</th>
<th>median score</th><th>full marks</th><th>limits hit</th><th>files left out</th></tr>
<tr><td class="num">{{ table | length }}</td><td class="num">{{ counts.graded }}</td>
<td class="num">{{ counts.not_gradable }}</td>
<td class="num">{{ "%.2f" | format(mean) }} / {{ "%g" | format(max_score) }}</td>
<td class="num">{{ "%g" | format(median) }}</td><td class="num">{{ counts.full }}</td>
<td class="num">{{ counts.limited }}</td><td class="num">{{ left_out | length }}</td></tr></table>
<p>Statuses: {% for s, n in statuses %}{{ status(s) }} {{ n }}{% if not loop.last %}, {% endif %}
{%- endfor %}.</p>

<h2>Needs a look</h2>
{% if review %}<table><tr><th>student</th><th>status</th><th>score</th><th>integrity flags</th>
<th>limits hit</th><th>reason and notes</th></tr>
{% for r in review %}<tr><td>{{ r.student }}</td><td>{{ status(r.status) }}</td>
<td class="num">{{ "%g" | format(r.score) }}</td><td>{{ lines(r.flag_texts) }}</td>
<td>{{ lines(r.limits) }}</td><td>{{ lines([r.reason] + r.notes) }}</td></tr>
{% endfor %}</table>
<p class="small">Flags come from a static scan of the submitted code: they are reasons to
read it, not verdicts. Limits: a cell that ran past the cell timeout, output beyond the caps
(dropped, with a note in the notebook).</p>
{% else %}<p>Nothing: every submission was graded, with no flags, no limits hit and no
notes.</p>{% endif %}

<h2>Figures</h2>
{% for f in figures %}<figure><img src="data:image/png;base64,{{ f.png }}"
alt="{{ f.title }}: {{ f.caption }}"><figcaption>{{ f.title }}. {{ f.caption }}</figcaption>
</figure>
{% endfor %}
<h2>Failure messages</h2>
{% if failures %}<table><tr><th>test cells</th><th>exercise</th><th>message</th></tr>
{% for message, where, n in failures[:30] %}<tr><td class="num">{{ n }}</td>
<td>{{ where | join(", ") }}</td><td><code>{{ message }}</code></td></tr>
{% endfor %}</table>{% else %}<p>No test failed.</p>{% endif %}

<h2>Pass rate per exercise</h2><table><tr><th>exercise</th><th>points</th><th>full marks</th></tr>
{% for name, rate, n, top in rates %}<tr><td>{{ name }}</td>
<td class="num">{{ "%g" | format(top) }}</td>
<td class="num">{{ "%.0f" | format(100 * rate) }}% of {{ n }}</td></tr>
{% endfor %}</table>

<h2>Class</h2><table><tr><th>student</th><th>status</th><th>score</th>
{% for name in exercise_names %}<th>{{ name }}</th>{% endfor %}<th>flags</th><th>limits hit</th>
<th>feedback</th></tr>
{% for r in table %}<tr><td>{{ r.student }}</td><td>{{ status(r.status) }}</td>
<td class="num">{{ "%g" | format(r.score) }}</td>
{% for cell in r.cells %}<td class="num {{ 'ok' if cell.full else 'bad' }}" title="{{ cell.tip }}">
{{- "%g" | format(cell.got) }}</td>{% endfor %}
<td>{{ r.flag_labels | join(", ") or "–" }}</td><td>{{ lines(r.limits) }}</td>
<td>{% if r.feedback %}<a href="{{ r.feedback }}">feedback</a>{% endif %}</td></tr>
{% endfor %}</table>

<h2>Intake</h2><p>{{ taken }} files taken, {{ left_out | length }} left out (every file of
the source is listed in <code>intake.csv</code>).</p>
{% if left_out %}<table><tr><th>file</th><th>student</th><th>why it was left out</th></tr>
{% for rec in left_out %}<tr><td><code>{{ rec.path }}</code></td><td>{{ rec.student or "–" }}</td>
<td>{{ rec.reason }}</td></tr>
{% endfor %}</table>{% endif %}
{% endblock %}
""",
}


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.DictLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=False)
    env.globals.update(csp_meta=csp_meta, style=STYLE)
    return env


def render(name: str, csp: str = PAGE_CSP, **context: Any) -> str:
    """The page ``name`` (a key of ``TEMPLATES``) with ``context``, autoescaped."""
    return environment().get_template(name).render(csp=csp, **context)
