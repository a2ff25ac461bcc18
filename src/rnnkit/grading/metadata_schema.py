"""nbgrader's cell-metadata check, with each JSON schema checked once instead of per cell.

nbgrader validates every cell's ``nbgrader`` metadata with ``jsonschema.validate(meta,
schema)`` (``nbgrader.nbgraderformat.common``), which first checks *the schema itself*
against the JSON Schema meta-schema: about 90% of that call's cost, paid for every cell
of every notebook in every pass. Measured with cProfile in a grading worker (chapter 01,
24 submissions): nbgrader's metadata checks were a tenth of the worker's CPU.

``reuse_schema_checks()`` gives that module a ``jsonschema`` whose ``validate`` checks a
schema once, keeps its validator, and then does what ``jsonschema.validate`` does: raise
the ``best_match`` of the instance's errors. Same errors, same messages; nothing else
of ``jsonschema`` changes, for nbgrader or anyone else.
"""

from __future__ import annotations

import functools
import json
import types
from typing import Any

_validators: dict[str, Any] = {}


def validate(instance: Any, schema: dict[str, Any], cls: Any = None, *args: Any,
             **kwargs: Any) -> None:
    """``jsonschema.validate``, with the schema checked and its validator built once."""
    import jsonschema

    if cls is not None or args or kwargs:  # not how nbgrader calls it: the library's own
        jsonschema.validate(instance, schema, cls, *args, **kwargs)
        return
    key = json.dumps(schema, sort_keys=True)
    validator = _validators.get(key)
    if validator is None:
        kind = jsonschema.validators.validator_for(schema)
        kind.check_schema(schema)
        validator = _validators[key] = kind(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


def reuse_schema_checks() -> bool:
    """Make nbgrader's metadata checks use ``validate`` above; False: already done."""
    import jsonschema
    from nbgrader.nbgraderformat import common

    if getattr(common.jsonschema, "_rnnkit", False):
        return False
    shim = types.ModuleType("jsonschema", "jsonschema, with validate() checking a schema once")
    shim.validate = validate  # type: ignore[attr-defined]
    shim.__getattr__ = functools.partial(getattr, jsonschema)  # type: ignore[method-assign]
    shim._rnnkit = True  # type: ignore[attr-defined]
    common.jsonschema = shim
    return True
