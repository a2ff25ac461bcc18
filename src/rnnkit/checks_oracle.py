"""Checks that compare a student's function with a reference ("oracle") over many shapes.

Hidden tests build the reference (for example a ``torch.nn.RNN``) themselves; these
helpers only run the comparison and word the failure:

* :func:`dims_cases` gives dimension sets that include the edge cases (every size 1,
  N=1, T=1, ...) and random sizes where D != H;
* :func:`check_against_oracle` calls the function on inputs built for each case and
  compares every output, naming the case ("hs for N=1, T=3, D=2, H=5 ...");
* :func:`find_mistake` and :func:`check_close_or_diagnose` compare a wrong answer with
  the outputs of known mistakes (weights swapped, bias missing, ...) and name the one
  that matches.

Every check raises ``AssertionError``; ``NotImplementedError`` from the student's code
passes through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .checks import check_close, check_dtype, check_type, default_rtol, inputs_unchanged
from .ready import NotDoneYet

__all__ = [
    "as_numpy",
    "call_checked",
    "check_against_oracle",
    "check_close_or_diagnose",
    "describe_dims",
    "dims_cases",
    "find_mistake",
    "matches",
]

Mistakes = Mapping[str, Any]


def describe_dims(dims: Mapping[str, int]) -> str:
    """``{"N": 1, "T": 3}`` as ``"N=1, T=3"``, for messages."""
    return ", ".join(f"{key}={value}" for key, value in dims.items())


def dims_cases(
    rng: np.random.Generator,
    names: Sequence[str] = ("N", "T", "D", "H"),
    random: int = 3,
    high: int = 6,
    distinct: Sequence[tuple[str, str]] = (("D", "H"),),
) -> list[dict[str, int]]:
    """Dimension sets for randomised tests, edge cases first.

    Returns every size 1; then, for each name, that size 1 and the others random in
    ``[2, high]``; then ``random`` sets of random sizes in ``[2, high]``. In every set
    but the all-ones one, each pair in ``distinct`` (by default D and H) differs, so a
    transposed or swapped matrix shows up as a wrong shape.
    """
    if high < 3:
        raise ValueError(f"high must be >= 3 so that distinct sizes exist; got {high}")

    def draw(fixed: Mapping[str, int]) -> dict[str, int]:
        while True:
            dims = {n: int(fixed.get(n, rng.integers(2, high + 1))) for n in names}
            if all(dims[a] != dims[b] for a, b in distinct if a in dims and b in dims
                   and not (a in fixed and b in fixed)):
                return dims

    cases = [dict.fromkeys(names, 1)]
    cases += [draw({name: 1}) for name in names]
    cases += [draw({}) for _ in range(random)]
    return cases


def as_numpy(value: Any) -> Any:
    """A torch tensor as a numpy array (detached, on the CPU); anything else unchanged."""
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy"):
        return value.detach().cpu().numpy()
    return value


def call_checked(func: Callable[..., Any], *args: Any, call: str, hint: str = "",
                 **kwargs: Any) -> Any:
    """``func(*args, **kwargs)``; an unexpected exception becomes an ``AssertionError``.

    The message names the call (``call``, for example ``"rnn_step(N=2, D=3, H=5)"``),
    the error and ``hint``. ``AssertionError`` passes through; ``NotImplementedError``
    (the release's stub) becomes :class:`rnnkit.ready.NotDoneYet`, one line in JupyterLab.
    """
    try:
        return func(*args, **kwargs)
    except NotDoneYet:
        raise
    except NotImplementedError:
        # the release's stub: one line in JupyterLab, not a traceback through rnnkit
        raise NotDoneYet(getattr(func, "__name__", None) or call.split("(")[0]) from None
    except AssertionError:
        raise
    except Exception as err:
        message = f"{call} raised {type(err).__name__}: {err}"
        raise AssertionError(f"{message}; {hint}" if hint else message) from None


def _tolerances(actual: np.ndarray, expected: np.ndarray, rtol: float | None,
                atol: float | None) -> tuple[float, float]:
    rtol = default_rtol(actual, expected) if rtol is None else rtol
    if atol is None:
        scale = float(np.max(np.abs(expected))) if expected.size else 0.0
        atol = rtol * max(scale, 1.0)
    return rtol, atol


def matches(actual: Any, expected: Any, *, rtol: float | None = None,
            atol: float | None = None) -> bool:
    """Whether ``actual`` has ``expected``'s shape and values, at ``check_close``'s tolerance."""
    try:
        a = np.asarray(as_numpy(actual), dtype=np.float64)
        e = np.asarray(as_numpy(expected), dtype=np.float64)
    except (TypeError, ValueError):
        return False
    if a.shape != e.shape:
        return False
    r, t = _tolerances(np.asarray(as_numpy(actual)), np.asarray(as_numpy(expected)), rtol, atol)
    return bool(np.allclose(a, e, rtol=r, atol=t, equal_nan=False))


def find_mistake(actual: Any, mistakes: Mistakes, *, correct: Any = None,
                 rtol: float | None = None) -> str | None:
    """The first mistake in ``mistakes`` (description -> its output) that ``actual`` matches.

    A mistake whose output equals ``correct`` is skipped: on those inputs it cannot be
    told apart from a right answer. Outputs of ``None`` (a mistake that does not apply
    to these shapes) are skipped too. Comparison uses a tolerance of at least 1e-6
    relative, so a float32 answer still matches a float64 mistake.
    """
    loose = max(rtol or 0.0, 1e-6, default_rtol(as_numpy(actual)))
    for description, output in mistakes.items():
        if output is None:
            continue
        if correct is not None and matches(output, correct, rtol=loose):
            continue
        if matches(actual, output, rtol=loose):
            return description
    return None


def check_close_or_diagnose(
    actual: Any,
    expected: Any,
    name: str,
    mistakes: Mistakes | None = None,
    hint: str = "",
    *,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """``check_close``; when ``actual`` is wrong and matches a known mistake, name the mistake.

    ``mistakes`` maps a description of a mistake (``"the bias b is missing"``) to the
    output that mistake gives on the same inputs; the hidden test computes them.
    """
    actual = as_numpy(actual)
    expected = as_numpy(expected)
    if mistakes and not matches(actual, expected, rtol=rtol, atol=atol):
        found = find_mistake(actual, mistakes, correct=expected, rtol=rtol)
        if found is not None:
            raise AssertionError(f"{name} is wrong: it matches what this mistake gives: {found}")
    check_close(actual, expected, name, hint, rtol=rtol, atol=atol)


def _float_dtype(arrays: Sequence[Any]) -> np.dtype | None:
    floats = [np.asarray(a).dtype for a in arrays
              if isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating)]
    return np.result_type(*floats) if floats else None


def check_against_oracle(
    func: Callable[..., Any],
    oracle: Callable[..., Any],
    make_inputs: Callable[[dict[str, int]], Mapping[str, Any]],
    cases: Sequence[dict[str, int]],
    name: str,
    *,
    outputs: Sequence[str] = ("output",),
    mistakes: Callable[..., Mistakes | Sequence[Mistakes]] | None = None,
    hint: str = "",
    same_dtype: bool = True,
    rtol: float | None = None,
) -> None:
    """Compare ``func`` with ``oracle`` on the inputs ``make_inputs(dims)`` of every case.

    ``make_inputs`` returns the arguments as an ordered mapping, name -> value; both
    functions are called positionally with its values (names only appear in messages).
    ``oracle`` returns the expected output, or a tuple of them when ``outputs`` names
    several. For each case this checks that ``func`` raises nothing, returns one array
    per name in ``outputs`` with the expected shape and values, keeps the inputs' float
    dtype (``same_dtype``) and leaves its inputs unchanged. The tolerance (``rtol``)
    defaults to that of the least precise input: about 1e-5 when any is float32, so a
    float64 oracle can check a float32 run. ``mistakes(*inputs)``, when
    given, returns description -> wrong output (one mapping per output for several
    outputs); a wrong answer that matches one is reported by that description.
    """
    for dims in cases:
        args = dict(make_inputs(dims))
        arrays = {k: v for k, v in args.items() if isinstance(v, np.ndarray)}
        dtype = _float_dtype(list(arrays.values()))
        precision = f"; {dtype.name} inputs" if dtype is not None and dtype != np.float64 else ""
        label = f"{name}({describe_dims(dims)}{precision})"
        tolerance = default_rtol(*arrays.values()) if rtol is None else rtol
        expected = oracle(*args.values())
        with inputs_unchanged(label, **arrays):
            actual = call_checked(func, *args.values(), call=label, hint=hint)
        if len(outputs) == 1:
            actual, expected = (actual,), (expected,)
        else:
            check_type(actual, (tuple, list), f"the result of {label}",
                       f"return {len(outputs)} values: {', '.join(outputs)}")
            if len(actual) != len(outputs):
                raise AssertionError(f"{label} returned {len(actual)} values; expected "
                                     f"{len(outputs)}: {', '.join(outputs)}")
        wrong = mistakes(*args.values()) if mistakes is not None else None
        if wrong is not None and len(outputs) == 1:
            wrong = (wrong,)
        for i, out_name in enumerate(outputs):
            what = f"{out_name} from {label}"
            value, want = actual[i], as_numpy(expected[i])
            if isinstance(want, np.ndarray):
                check_type(value, np.ndarray, what, "return a numpy array")
            check_close_or_diagnose(value, want, what,
                                    wrong[i] if wrong is not None else None, hint, rtol=tolerance)
            if same_dtype and dtype is not None and isinstance(want, np.ndarray):
                check_dtype(value, dtype, what, "return the inputs' float dtype "
                            "(float32 in, float32 out)")
