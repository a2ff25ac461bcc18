"""rnnkit.checks: each helper passes good values and fails bad ones with a plain message."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.checks import (
    check_close,
    check_dtype,
    check_equal,
    check_raises,
    check_shape,
    check_type,
    default_rtol,
    inputs_unchanged,
)


def test_check_shape_names_both_shapes() -> None:
    check_shape(np.zeros((3, 5)), (3, 5), "h_next")
    message = r"h_next has shape \(5, 3\); expected \(3, 5\): check x @ Wx"
    with pytest.raises(AssertionError, match=message):
        check_shape(np.zeros((5, 3)), (3, 5), "h_next", "check x @ Wx")
    with pytest.raises(AssertionError, match="no shape"):
        check_shape([1, 2], (2,), "y")


def test_check_close_uses_dtype_tolerance() -> None:
    x = np.linspace(1, 2, 10)
    check_close(x * (1 + 1e-12), x, "x")
    message = r"x is wrong at index \(9,\): got 2.00001, expected 2"
    with pytest.raises(AssertionError, match=message):
        check_close(x + np.r_[np.zeros(9), 1e-5], x, "x")
    check_close(x.astype(np.float32), x, "x32")  # float32 is compared at about 1e-5
    assert default_rtol(np.float32(1)) == 1e-5 and default_rtol(1.0) == 1e-10


def test_check_close_reports_nan_and_shape() -> None:
    with pytest.raises(AssertionError, match="1 of 3 entries differ"):
        check_close([1.0, np.nan, 3.0], [1.0, 2.0, 3.0], "v")
    with pytest.raises(AssertionError, match=r"has shape \(2,\); expected \(3,\)"):
        check_close([1.0, 2.0], [1.0, 2.0, 3.0], "v")


def test_check_equal_is_not_fooled_by_custom_eq() -> None:
    class AlwaysEqual:
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = object.__hash__

    check_equal({"a": 1}, {"a": 1}, "stoi")
    with pytest.raises(AssertionError, match="expected"):
        check_equal(AlwaysEqual(), ["a"], "itos")
    with pytest.raises(AssertionError, match=r"\[1, 2\]; expected \[1, 3\]"):
        check_equal(np.array([1, 2]), np.array([1, 3]), "idx")


def test_check_dtype_and_type() -> None:
    check_dtype(np.zeros(2, np.int64), np.int64, "idx")
    with pytest.raises(AssertionError, match="dtype float64; expected int64"):
        check_dtype(np.zeros(2), np.int64, "idx")
    with pytest.raises(AssertionError, match="is a list; expected a dict"):
        check_type([], dict, "stoi")


def test_check_raises() -> None:
    def good(x: int) -> None:
        raise ValueError(f"x must be >= 1; got {x}")

    def terse(x: int) -> None:
        raise ValueError("bad")

    def wrong(x: int) -> None:
        raise TypeError("nope, not this one")

    def todo(x: int) -> None:
        raise NotImplementedError

    check_raises(ValueError, good, 0)
    with pytest.raises(AssertionError, match="give a message"):
        check_raises(ValueError, terse, 0)
    with pytest.raises(AssertionError, match="raised TypeError"):
        check_raises(ValueError, wrong, 0)
    with pytest.raises(AssertionError, match="did not raise ValueError"):
        check_raises(ValueError, lambda x: None, 0, call="f(0)")
    with pytest.raises(NotImplementedError):
        check_raises(ValueError, todo, 0)


def test_inputs_unchanged() -> None:
    a = np.arange(3.0)
    with inputs_unchanged("f", a=a):
        _ = a * 2
    with pytest.raises(AssertionError, match="f modified its input a"), inputs_unchanged("f", a=a):
        a[0] = 7


def test_check_close_on_scalars_says_what_is_wrong() -> None:
    # a wrong scalar used to crash with TypeError (item assignment on a numpy scalar)
    with pytest.raises(AssertionError, match=r"bpc is wrong: got 1, expected 2: use log2"):
        check_close(1.0, 2.0, "bpc", "use log2")
    with pytest.raises(AssertionError, match=r"got nan, expected 2"):
        check_close(float("nan"), 2.0, "bpc")
    check_close(np.float32(2.0), 2.0, "bpc")
