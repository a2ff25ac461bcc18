"""nbgrader's metadata checks with the schema checked once: the same verdicts and messages."""

from __future__ import annotations

import json
import os
from typing import Any

import jsonschema
import pytest
from nbformat.v4 import new_code_cell
from nbgrader.nbgraderformat import common
from nbgrader.nbgraderformat.v3 import MetadataValidatorV3

from rnnkit.grading import metadata_schema
from rnnkit.grading.metadata_schema import reuse_schema_checks, validate

GOOD = {"schema_version": 3, "grade": True, "solution": False, "grade_id": "t1",
        "points": 2, "locked": True}
CASES = [
    GOOD,
    {**GOOD, "grade": "yes"},
    {**GOOD, "points": "two"},
    {**GOOD, "grade_id": 5},
    {key: value for key, value in GOOD.items() if key != "locked"},
    {"schema_version": 3},
    {**GOOD, "task": "maybe", "cell_type": 7},
]


def _schema() -> dict[str, Any]:
    with open(os.path.join(common.root, "v3.json")) as fh:
        return json.load(fh)


def _outcome(check: Any, meta: dict[str, Any]) -> tuple[str, list[Any], list[Any]] | None:
    try:
        check(meta, _schema())
    except jsonschema.ValidationError as err:
        return err.message, list(err.path), list(err.schema_path)
    return None


@pytest.mark.parametrize("meta", CASES)
def test_the_same_error_as_jsonschema_validate(meta: dict[str, Any]) -> None:
    assert _outcome(validate, meta) == _outcome(jsonschema.validate, meta)


def test_invalid_metadata_is_still_refused_and_the_schema_checked_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metadata_schema, "_validators", {})
    monkeypatch.setattr(common, "jsonschema", jsonschema)
    checked: list[object] = []
    kind = jsonschema.validators.validator_for(_schema())
    original = kind.check_schema
    monkeypatch.setattr(kind, "check_schema", lambda s: checked.append(s) or original(s))
    assert reuse_schema_checks() is True
    assert reuse_schema_checks() is False  # once
    assert jsonschema.validate is not validate  # only nbgrader's module sees the change
    cell = new_code_cell("x = 1")
    for _ in range(3):
        cell.metadata["nbgrader"] = dict(GOOD)
        MetadataValidatorV3().validate_cell(cell)
    cell.metadata["nbgrader"] = {**GOOD, "points": "two"}
    with pytest.raises(jsonschema.ValidationError, match="'two' is not of type 'number'"):
        MetadataValidatorV3().validate_cell(cell)
    assert len(checked) == 1
