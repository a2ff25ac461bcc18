"""Assertions for exercise test cells: each failure says in plain words what is wrong.

Test cells call these instead of bare ``assert np.allclose(...)`` so that a student
reads "h_next has shape (5, 3); expected (3, 5)" rather than a bare AssertionError.
Every helper raises ``AssertionError`` (nbgrader scores a cell 0 on any error).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = [
    "check_close",
    "check_dtype",
    "check_equal",
    "check_raises",
    "check_shape",
    "check_type",
    "default_rtol",
    "inputs_unchanged",
]


def _fail(message: str, hint: str = "") -> None:
    raise AssertionError(f"{message}: {hint}" if hint else message)


def check_type(value: Any, expected: type | tuple[type, ...], name: str, hint: str = "") -> None:
    """``value`` is an instance of ``expected``."""
    if not isinstance(value, expected):
        names = (
            " or ".join(t.__name__ for t in expected)
            if isinstance(expected, tuple) else expected.__name__
        )
        _fail(f"{name} is a {type(value).__name__}; expected a {names}", hint)


def check_shape(value: Any, expected: tuple[int, ...], name: str, hint: str = "") -> None:
    """``value`` has a ``.shape`` equal to ``expected``."""
    shape = getattr(value, "shape", None)
    if shape is None:
        _fail(f"{name} is a {type(value).__name__} with no shape; expected an array of "
              f"shape {tuple(expected)}", hint)
    if tuple(shape) != tuple(expected):
        _fail(f"{name} has shape {tuple(shape)}; expected {tuple(expected)}", hint)


def check_dtype(value: Any, expected: Any, name: str, hint: str = "") -> None:
    """``value`` has the numpy dtype ``expected``."""
    dtype = getattr(value, "dtype", None)
    if dtype is None or np.dtype(dtype) != np.dtype(expected):
        _fail(f"{name} has dtype {dtype}; expected {np.dtype(expected)}", hint)


def default_rtol(*arrays: Any) -> float:
    """Relative tolerance for the least precise float dtype among ``arrays``."""
    kinds = [np.asarray(a).dtype for a in arrays]
    return 1e-5 if any(k == np.float32 or k == np.float16 for k in kinds) else 1e-10


def check_close(
    actual: Any,
    expected: Any,
    name: str,
    hint: str = "",
    *,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """``actual`` matches ``expected`` in shape and value, to a dtype-aware tolerance.

    The default tolerances are the course's: about 1e-10 relative in float64 and
    1e-5 in float32, with an absolute floor scaled to the size of ``expected``.
    """
    actual_arr = np.asarray(actual)
    expected_arr = np.asarray(expected)
    check_shape(actual_arr, expected_arr.shape, name, hint)
    if not np.issubdtype(actual_arr.dtype, np.number) and actual_arr.dtype != bool:
        _fail(f"{name} has dtype {actual_arr.dtype}; expected numbers", hint)
    if rtol is None:
        rtol = default_rtol(actual_arr, expected_arr)
    if atol is None:
        scale = float(np.max(np.abs(expected_arr))) if expected_arr.size else 0.0
        atol = rtol * max(scale, 1.0)
    a = actual_arr.astype(np.float64)
    e = expected_arr.astype(np.float64)
    if np.array_equal(np.isnan(a), np.isnan(e)) and np.allclose(
        a, e, rtol=rtol, atol=atol, equal_nan=True
    ):
        return
    diff = np.atleast_1d(np.abs(a - e))  # a 0-d array does not take item assignment
    diff[np.isnan(diff)] = np.inf
    if a.ndim == 0:
        _fail(f"{name} is wrong: got {float(a):.6g}, expected {float(e):.6g}", hint)
    worst = np.unravel_index(int(np.argmax(diff)), a.shape)
    where = f" at index {tuple(int(i) for i in worst)}"
    _fail(f"{name} is wrong{where}: got {a[worst]:.6g}, expected {e[worst]:.6g} "
          f"({int(np.sum(diff > atol + rtol * np.abs(e)))} of {max(e.size, 1)} entries differ)",
          hint)


def check_equal(actual: Any, expected: Any, name: str, hint: str = "") -> None:
    """``actual == expected`` for plain values (ints, strings, lists, dicts)."""
    if isinstance(actual, np.ndarray) or isinstance(expected, np.ndarray):
        a, e = np.asarray(actual), np.asarray(expected)
        if a.shape == e.shape and bool(np.all(a == e)):
            return
        check_shape(a, e.shape, name, hint)
        _fail(f"{name} is {a.tolist()!r}; expected {e.tolist()!r}", hint)
    # compare the expected side first: a student's object cannot override the check
    if not (type(actual) is type(expected) and expected == actual):
        _fail(f"{name} is {actual!r}; expected {expected!r}", hint)


def check_raises(
    exception: type[BaseException],
    func: Callable[..., Any],
    *args: Any,
    call: str = "",
    **kwargs: Any,
) -> None:
    """``func(*args, **kwargs)`` raises ``exception`` with a message that explains itself."""
    label = call or f"{getattr(func, '__name__', 'the function')}(...)"
    try:
        func(*args, **kwargs)
    except exception as err:
        if isinstance(err, NotImplementedError) and exception is not NotImplementedError:
            raise
        if len(str(err).strip()) < 10:
            _fail(f"{label} raised {exception.__name__}({str(err)!r}); "
                  "give a message that says what was expected")
        return
    except NotImplementedError:
        raise
    except Exception as err:
        _fail(f"{label} raised {type(err).__name__}: {err}; expected {exception.__name__}")
    _fail(f"{label} did not raise {exception.__name__}")


@contextmanager
def inputs_unchanged(name: str, **arrays: Any) -> Iterator[None]:
    """Check that the arrays passed as keywords are not modified inside the block."""
    copies = {key: np.array(value, copy=True) for key, value in arrays.items()}
    yield
    for key, before in copies.items():
        after = np.asarray(arrays[key])
        if after.shape != before.shape or not np.array_equal(after, before, equal_nan=True):
            _fail(f"{name} modified its input {key}: work on a copy (for example "
                  f"{key} = {key}.copy()) or build new arrays")
