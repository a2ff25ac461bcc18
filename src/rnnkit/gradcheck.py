"""Gradient checks for students' own backward passes (CS231n style).

Compare the gradients your backward pass computes ("analytic") with centred finite
differences ("numeric") of the loss, one named parameter at a time::

    from rnnkit.gradcheck import gradient_check

    def loss():                      # reads Wx, Wh, b: the arrays below, perturbed in place
        hs = rnn_forward(xs, h0, Wx, Wh, b)
        return float(np.sum(hs * dhs))

    params = {"Wx": Wx, "Wh": Wh, "b": b}
    report = gradient_check(loss, params, {"Wx": dWx, "Wh": dWh, "b": db})
    # prints one line per parameter: its relative error and a verdict in words

The relative error of one entry is ``|a - n| / max(|a|, |n|, tiny)``; a parameter's error
is the largest over its entries. The bands (CS231n's):

* ``> 1e-2``: almost certainly wrong;
* ``1e-4 .. 1e-2``: suspicious;
* ``1e-7 .. 1e-4``: probably fine for a whole sequence (backward through many time steps
  lands near 1e-7 to 1e-6 even when correct), or a kink (ReLU at 0) near a test point;
* ``< 1e-7``: correct.

Finite differences in float32 are far too coarse to trust (PyTorch's own gradcheck is
designed for float64): given float32 arrays, the report carries a warning, printed to
stdout (never a Python warning on stderr, which would score a graded cell 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "BANDS",
    "FLOAT32_WARNING",
    "GradCheckReport",
    "ParamCheck",
    "gradient_check",
    "numerical_gradients",
    "relative_error",
    "verdict",
]

#: (upper bound exclusive of the band above, verdict), from the worst band to the best.
BANDS: tuple[tuple[float, str], ...] = (
    (1e-2, "almost certainly wrong"),
    (1e-4, "suspicious"),
    (1e-7, "probably fine for a whole sequence (or a kink such as ReLU at 0 near a test "
           "point)"),
    (0.0, "correct"),
)

FLOAT32_WARNING = (
    "Warning: float32 arrays given. Finite differences in float32 are too coarse to "
    "trust (rounding of about 1e-7 relative, divided by a small eps): convert the "
    "parameters and inputs to float64 (x.astype(np.float64)) before checking gradients."
)

DEFAULT_TINY = 1e-8


def relative_error(analytic: Any, numeric: Any, tiny: float = DEFAULT_TINY) -> float:
    """The largest entry-wise ``|a - n| / max(|a|, |n|, tiny)``.

    ``tiny`` keeps entries where both gradients are (nearly) zero from dividing by zero:
    there the error is measured in absolute terms, scaled by ``1 / tiny``. Shapes must
    match (``ValueError`` otherwise); an empty array has error 0. NaN or infinite
    gradients give ``inf``.
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"analytic gradient has shape {a.shape} but the numeric one has "
                         f"shape {n.shape}: they must match")
    if not tiny > 0:
        raise ValueError(f"tiny must be > 0; got {tiny}")
    if a.size == 0:
        return 0.0
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(n))):
        return float("inf")
    denom = np.maximum(np.maximum(np.abs(a), np.abs(n)), tiny)
    return float(np.max(np.abs(a - n) / denom))


def verdict(error: float) -> str:
    """The verdict in words for a relative error (see :data:`BANDS`)."""
    if np.isnan(error):
        return "almost certainly wrong (NaN)"
    for bound, words in BANDS:
        if error > bound:
            return words
    return BANDS[-1][1]


def _is_low_precision(array: Any) -> bool:
    dtype = getattr(array, "dtype", None)
    return (dtype is not None and np.issubdtype(dtype, np.floating)
            and np.finfo(dtype).bits < 64)


def _scalar(value: Any, name: str = "f()") -> float:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.size != 1:
        raise ValueError(f"{name} must return a scalar (the loss); it returned an array of "
                         f"shape {array.shape}: sum it, or take its dot with an upstream "
                         "gradient")
    return float(array.reshape(()))


def numerical_gradients(
    f: Callable[[], Any],
    params: Mapping[str, np.ndarray],
    eps: float = 1e-6,
) -> dict[str, np.ndarray]:
    """Centred-difference gradients of the scalar ``f()`` for several named arrays.

    ``f`` takes no arguments and reads the arrays in ``params`` itself (a closure). Each
    entry of each array is perturbed **in place** by ``+eps`` and ``-eps`` and then set
    back to its exact original value, so the arrays are unchanged on return, even when
    ``f`` raises. Returns ``{name: gradient}``, each gradient float64 of the array's
    shape: ``(f(x + eps) - f(x - eps)) / (2 eps)`` entry by entry.

    Raises ``ValueError`` when ``eps <= 0``, an array is not a writable floating numpy
    array, or ``f`` does not return a scalar.
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0; got {eps}")
    for name, x in params.items():
        if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"parameter {name!r} must be a floating numpy array (it is "
                             f"perturbed in place); got {type(x).__name__}"
                             + (f" of dtype {x.dtype}" if hasattr(x, "dtype") else ""))
        if not x.flags.writeable:
            raise ValueError(f"parameter {name!r} is read-only: numerical_gradients "
                             "perturbs it in place")
    grads: dict[str, np.ndarray] = {}
    for name, x in params.items():
        grad = np.zeros(x.shape, dtype=np.float64)
        for idx in np.ndindex(x.shape):
            old = x[idx].copy()
            try:
                x[idx] = old + eps
                plus = _scalar(f())
                x[idx] = old - eps
                minus = _scalar(f())
            finally:
                x[idx] = old
            grad[idx] = (plus - minus) / (2.0 * eps)
        grads[name] = grad
    return grads


@dataclass(frozen=True)
class ParamCheck:
    """The check of one parameter: its relative error and the verdict."""

    name: str
    relative_error: float
    verdict: str
    worst_index: tuple[int, ...] | None
    analytic_at_worst: float | None
    numeric_at_worst: float | None

    def line(self) -> str:
        text = f"{self.name}: relative error {self.relative_error:.2e}: {self.verdict}"
        if self.worst_index is not None and self.relative_error > BANDS[1][0]:
            text += (f" (worst entry {self.name}{list(self.worst_index)}: yours "
                     f"{self.analytic_at_worst:.6g}, numeric {self.numeric_at_worst:.6g})")
        return text


@dataclass(frozen=True)
class GradCheckReport:
    """Per-parameter results plus warnings; ``str(report)`` is what gets printed."""

    params: tuple[ParamCheck, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def worst(self) -> float:
        """The largest relative error over all parameters (0 when there are none)."""
        return max((p.relative_error for p in self.params), default=0.0)

    def ok(self, threshold: float = 1e-4) -> bool:
        """True when every parameter's relative error is at most ``threshold``."""
        return all(p.relative_error <= threshold for p in self.params)

    def __getitem__(self, name: str) -> ParamCheck:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def __str__(self) -> str:
        return "\n".join([*self.warnings, *(p.line() for p in self.params)])


def _worst(analytic: np.ndarray, numeric: np.ndarray,
           tiny: float) -> tuple[tuple[int, ...] | None, float | None, float | None]:
    if analytic.size == 0 or not (np.all(np.isfinite(analytic))
                                  and np.all(np.isfinite(numeric))):
        return None, None, None
    denom = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), tiny)
    flat = int(np.argmax(np.abs(analytic - numeric) / denom))
    idx = tuple(int(i) for i in np.unravel_index(flat, analytic.shape))
    return idx, float(analytic[idx]), float(numeric[idx])


def gradient_check(
    f: Callable[[], Any],
    params: Mapping[str, np.ndarray],
    analytic: Mapping[str, Any],
    eps: float = 1e-6,
    tiny: float = DEFAULT_TINY,
    verbose: bool = True,
) -> GradCheckReport:
    """Check analytic gradients against centred differences of ``f()``, parameter by parameter.

    ``params`` maps names to the arrays ``f`` reads (perturbed in place, restored);
    ``analytic`` maps the same names to your gradients. Returns a
    :class:`GradCheckReport`; with ``verbose`` (default) it is also printed to stdout,
    one line per parameter, preceded by a warning when any array is float32 (or
    float16). Raises ``ValueError`` when names or shapes do not match.
    """
    missing = [name for name in params if name not in analytic]
    extra = [name for name in analytic if name not in params]
    if missing or extra:
        raise ValueError("params and analytic must have the same names; "
                         + (f"no analytic gradient for {missing}" if missing else "")
                         + ("; " if missing and extra else "")
                         + (f"no parameter for {extra}" if extra else ""))
    for name, x in params.items():
        shape = np.shape(analytic[name])
        if shape != np.shape(x):
            raise ValueError(f"the gradient of {name} has shape {shape} but {name} has shape "
                             f"{np.shape(x)}: a gradient has its parameter's shape")
    low = [name for name in params
           if _is_low_precision(params[name]) or _is_low_precision(analytic[name])]
    warnings = (FLOAT32_WARNING + f" (float32 or lower: {', '.join(low)})",) if low else ()
    numeric = numerical_gradients(f, params, eps=eps)
    checks = []
    for name in params:
        a = np.asarray(analytic[name], dtype=np.float64)
        err = relative_error(a, numeric[name], tiny=tiny)
        idx, a_w, n_w = _worst(a, numeric[name], tiny)
        checks.append(ParamCheck(name, err, verdict(err), idx, a_w, n_w))
    report = GradCheckReport(tuple(checks), warnings)
    if verbose:
        print(report, flush=True)
    return report
