"""Keep jsonschema's 2-second IRI grammar out of the grading processes.

``nbformat`` imports ``jsonschema``, whose ``_format`` module eagerly imports
``rfc3987_syntax`` (pulled in by ``jsonschema[format-nongpl]``); that package compiles
about 35 Earley grammars at import: 1.4-1.8 s of CPU here, paid by ``rnnkit grade``'s
parent and by its fork server, on a machine where every core grades. Only jsonschema's
``iri``/``iri-reference`` format checkers use it, and no notebook or nbgrader schema has
a ``format`` keyword (``nbformat``, ``nbgrader``, ``nbconvert`` and ``nbclient`` never
build a format checker), so grading is unchanged without it. Known upstream:
python-jsonschema/jsonschema#1428, opendatahub-io/notebooks#3532.
"""

from __future__ import annotations

import sys

SLOW_OPTIONAL = "rfc3987_syntax"


def skip_slow_optional_imports() -> bool:
    """Make ``import rfc3987_syntax`` fail fast (ImportError), as if it were not installed.

    Call it before ``nbformat`` is first imported. Returns False (and does nothing) when
    jsonschema's format checkers are already loaded, or the module already imported.
    """
    if "jsonschema._format" in sys.modules or SLOW_OPTIONAL in sys.modules:
        return False
    sys.modules[SLOW_OPTIONAL] = None  # type: ignore[assignment]
    return True
