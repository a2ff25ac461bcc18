"""Pay the grading workers' one-off costs once, in the fork server, before any worker forks.

``rnnkit grade``'s workers are forked from a fork server that imports ``PRELOAD``
(executor.py); importing this module last makes the server also do what each worker's
first submission would otherwise do on its own: import matplotlib (the sandbox copies
its font list), and render a small notebook to HTML the way the feedback page is made,
which compiles pygments', jinja's, mistune's and the HTML parser's regular expressions,
and sanitise a little HTML the way feedback pages are (bleach's html5lib parser)
(module- and class-level caches that forked workers inherit). Measured on chapter 01:
a worker's first submission cost about 1 s more CPU than the next ones without it.

Nothing here can fail a grading: every step is best effort.
"""

from __future__ import annotations

import contextlib
import logging


def warm_up() -> None:
    """Do the one-off work now (see the module docstring); never raises."""
    with contextlib.suppress(Exception):
        from .sandbox import _matplotlib_font_cache

        _matplotlib_font_cache()
    with contextlib.suppress(Exception):
        _render_sample_page()
    with contextlib.suppress(Exception):  # bleach's html5lib parser, for feedback pages
        from .feedback import safe_html

        safe_html("<p>a <b>table</b>:</p><table><tr><td>1</td></tr></table><script></script>")


def _render_sample_page() -> None:
    import nbformat
    from nbconvert.exporters import HTMLExporter

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title\n\nSome *text* with `code` and $x^2$."),
        nbformat.v4.new_code_cell("import numpy as np\n\ndef f(x):\n    return np.tanh(x)  # c",
                                  outputs=[nbformat.v4.new_output(
                                      "error", ename="AssertionError", evalue="no",
                                      traceback=["\x1b[0;31mAssertionError\x1b[0m: no"])]),
    ])
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    quiet = logging.getLogger("rnnkit.warmup")
    quiet.disabled = True
    HTMLExporter(template_name="classic", log=quiet).from_notebook_node(nb)  # feedback's base


warm_up()
