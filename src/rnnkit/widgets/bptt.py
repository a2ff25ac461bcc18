"""Chapter 04 widget: gradient norm against time lag for a chosen recurrent matrix.

Controls: the spectral radius of ``Wh``, the activation (tanh or ReLU) and the
initialisation (random Gaussian rescaled to that radius, an orthogonal matrix times the
radius, or the radius times the identity). The widget runs a random RNN forward, asks
the student's ``hidden_jacobian_norms`` for the spectral norm of d h_{T-1} / d h_{T-1-k}
at every lag ``k``, plots it on a log scale with the bound ``sigma_max ** k``, and states
the plotted numbers in words.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..plotting import OKABE_ITO
from ._common import NotReady, call_student, error_message, message_html

__all__ = ["ACTIVATIONS", "INITIALISATIONS", "LagRun", "bptt_widget", "describe", "lag_run",
           "recurrent_matrix", "reference_norms"]

ACTIVATIONS = ("tanh", "relu")
INITIALISATIONS = ("random", "orthogonal-scaled", "identity")
LAGS_IN_WORDS = (1, 10, 50)


def recurrent_matrix(init: str, radius: float, hidden: int, rng: np.random.Generator) -> np.ndarray:
    """``Wh (H, H)`` with spectral radius ``radius``, built the way ``init`` names."""
    if not radius > 0:
        raise ValueError(f"the spectral radius must be > 0; got {radius}")
    if init == "random":
        g = rng.normal(0.0, 1.0 / np.sqrt(hidden), (hidden, hidden))
        return g * (radius / float(np.max(np.abs(np.linalg.eigvals(g)))))
    if init == "orthogonal-scaled":
        q, r = np.linalg.qr(rng.normal(size=(hidden, hidden)))
        return radius * q * np.sign(np.diag(r))  # sign fix: a uniformly random orthogonal matrix
    if init == "identity":
        return radius * np.eye(hidden)
    raise ValueError(f"initialisation must be one of {', '.join(INITIALISATIONS)}; got {init!r}")


def _forward(xs: np.ndarray, wx: np.ndarray, wh: np.ndarray, activation: str) -> np.ndarray:
    h, states = np.zeros(wh.shape[0]), []
    for x in xs:
        a = x @ wx + h @ wh
        h = np.tanh(a) if activation == "tanh" else np.maximum(a, 0.0)
        states.append(h)
    return np.array(states)


def reference_norms(wh: np.ndarray, hs: np.ndarray, activation: str) -> np.ndarray:
    """rnnkit's own ``hidden_jacobian_norms``, to check the student's against."""
    steps, hidden = hs.shape
    norms, product = np.ones(steps), np.eye(hidden)
    for k in range(1, steps):
        h = hs[steps - k]
        slope = 1 - h ** 2 if activation == "tanh" else (h > 0).astype(float)
        product = product @ (slope[:, None] * wh.T)
        norms[k] = np.linalg.norm(product, 2)
    return norms


@dataclass
class LagRun:
    """One run of the widget: the matrix's numbers and the gradient norm at every lag."""

    activation: str
    init: str
    radius: float
    sigma_max: float
    norms: np.ndarray  # (T,): entry k is ||d h_{T-1} / d h_{T-1-k}||
    largest_state: float
    gap: float  # largest relative difference from rnnkit's own computation


def lag_run(hidden_jacobian_norms: Callable[..., Any], radius: float, activation: str = "tanh",
            init: str = "random", steps: int = 100, hidden: int = 32, seed: int = 0) -> LagRun:
    """Run a random RNN; measure the gradient norm against the lag with the student's function."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
    rng = np.random.default_rng(seed)
    inputs = 4
    xs = rng.normal(size=(steps, inputs))
    wx = rng.normal(0.0, 1.0 / np.sqrt(inputs), (inputs, hidden))
    wh = recurrent_matrix(init, radius, hidden, rng)
    hs = _forward(xs, wx, wh, activation)
    got = call_student(hidden_jacobian_norms, wh.copy(), hs.copy(), activation)
    norms = np.asarray(got, dtype=np.float64)
    if norms.shape != (steps,):
        raise ValueError(f"hidden_jacobian_norms returned shape {norms.shape}; expected "
                         f"({steps},), one entry per lag")
    want = reference_norms(wh, hs, activation)
    scale = np.maximum(np.abs(want), 1e-300)
    gap = np.inf
    if np.all(np.isfinite(norms)):
        with np.errstate(invalid="ignore", over="ignore"):
            gap = float(np.nanmax(np.abs(norms - want) / scale))
    return LagRun(activation, init, float(radius), float(np.linalg.norm(wh, 2)), norms,
                  float(np.max(np.abs(hs))), gap)


def _first_below(norms: np.ndarray, level: float) -> int | None:
    hits = np.flatnonzero(norms < level)
    return int(hits[0]) if hits.size else None


def describe(run: LagRun) -> str:
    """The numbers the plot shows, in words (plain text)."""
    n = run.norms
    last = len(n) - 1
    lags = [k for k in LAGS_IN_WORDS if k < last] + [last]
    at = ", ".join(f"lag {k}: {n[k]:.1e}" for k in lags)
    parts = [f"{run.init} Wh with spectral radius {run.radius:.2f} and largest singular value "
             f"{run.sigma_max:.2f}, {run.activation}.",
             f"Gradient norm ||d h_{last} / d h_({last}-k)||: {at}."]
    zero = np.flatnonzero(n == 0)
    if zero.size:
        parts.append(f"It is exactly 0 from lag {int(zero[0])} on: every unit has been off "
                     "(ReLU slope 0) at some step in between.")
    if n[last] < 1e-8:
        below = _first_below(n, 1e-8)
        parts.append(f"It vanishes: below 1e-8 from lag {below} on.")
    elif n[last] > 1e8:
        above = int(np.flatnonzero(n > 1e8)[0])
        parts.append(f"It explodes: above 1e8 from lag {above} on.")
    elif n[last] > 0:
        parts.append("Over this span it neither vanishes nor explodes.")
    if run.sigma_max < 1 - 1e-9:
        parts.append(f"The largest singular value {run.sigma_max:.2f} is below 1, so the gradient "
                     f"must shrink at least as fast as {run.sigma_max:.2f}**k (the dashed bound).")
    elif run.sigma_max <= 1 + 1e-9:
        parts.append("The largest singular value is 1: the norm can never exceed 1 (the dashed "
                     "bound); whether it vanishes depends on the activation's slopes.")
    elif run.radius <= 1:
        parts.append("The spectral radius is at most 1, so no explosion is expected (a radius "
                     f"above 1 is necessary for it), but the largest singular value "
                     f"{run.sigma_max:.2f} is above 1, so the bound does not promise vanishing.")
    else:
        parts.append("The spectral radius is above 1: explosion is possible, not certain "
                     "(saturating tanh units can still make the gradient vanish).")
    parts.append(f"Largest |h| on the run: {run.largest_state:.2g}.")
    return " ".join(parts)


def _draw(run: LagRun) -> None:
    import matplotlib.pyplot as plt

    lags = np.arange(len(run.norms))
    shown = np.where(run.norms > 0, run.norms, np.nan)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.semilogy(lags, shown, color=OKABE_ITO["blue"], label="your hidden_jacobian_norms")
    with np.errstate(over="ignore", under="ignore"):
        bound = run.sigma_max ** lags.astype(float)
    ax.semilogy(lags, np.clip(bound, 1e-300, 1e300), color=OKABE_ITO["black"], linestyle="--",
                linewidth=1, label=f"bound sigma_max**k = {run.sigma_max:.2f}**k")
    ax.axhline(1.0, color=OKABE_ITO["orange"], linestyle=":", linewidth=1, label="norm 1")
    finite = shown[np.isfinite(shown)]
    low = max(min(float(np.min(finite)) if finite.size else 1e-3, 1e-3) / 10, 1e-300)
    high = max(float(np.max(finite)) if finite.size else 1e3, 1e3) * 10
    ax.set_ylim(low, high)
    ax.set(title=f"Gradient norm against lag: {run.activation}, {run.init} Wh, spectral radius "
                 f"{run.radius:.2f}",
           xlabel="lag k (steps back)", ylabel="||d h_T / d h_(T-k)|| (log scale)")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    plt.show()


def bptt_widget(hidden_jacobian_norms: Callable[..., Any], steps: int = 100, hidden: int = 32,
                seed: int = 0) -> Any:
    """Spectral radius, activation and initialisation controls over a log-scale lag plot."""
    import ipywidgets as widgets
    from IPython.display import clear_output

    radius = widgets.FloatSlider(value=1.0, min=0.5, max=3.0, step=0.05,
                                 description="spectral radius", continuous_update=False,
                                 readout_format=".2f",
                                 style={"description_width": "initial"})
    activation = widgets.Dropdown(options=list(ACTIVATIONS), value="tanh", description="activation")
    init = widgets.Dropdown(options=list(INITIALISATIONS), value="random",
                            description="initialisation", style={"description_width": "initial"})
    status = widgets.HTML()
    out = widgets.Output()

    def recompute(_: Any = None) -> None:
        try:
            run = lag_run(hidden_jacobian_norms, float(radius.value), activation.value, init.value,
                          steps, hidden, seed)
        except NotReady as err:
            status.value = message_html(err.message())
            out.clear_output()
            return
        except Exception as err:  # a student's bug: name it, keep the widget alive
            status.value = error_message("hidden_jacobian_norms", err)
            out.clear_output()
            return
        note = "" if run.gap < 1e-6 else (
            f" <b>Note:</b> these norms differ from rnnkit's own computation by up to "
            f"{run.gap:.2g} (relative): check <code>hidden_jacobian_norms</code> with its tests.")
        status.value = message_html(html.escape(describe(run)) + note)
        with out:
            clear_output(wait=True)
            _draw(run)

    for control in (radius, activation, init):
        control.observe(recompute, names="value")
    recompute()
    return widgets.VBox([widgets.HBox([radius, activation, init]), status, out])
