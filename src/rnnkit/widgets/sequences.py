"""Chapter 01 widget: how far back a fixed window looks, on yearly sunspot numbers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..datasets import load_sunspots
from ..plotting import OKABE_ITO
from ._common import NotReady, call_student, error_message, message_html


@dataclass
class WindowResult:
    """A fixed-window autoregressive forecast evaluated on held-out years."""

    window: int
    test_years: np.ndarray
    test_true: np.ndarray
    test_pred: np.ndarray
    rmse: float
    baseline_rmse: float
    persistence_rmse: float


def baselines(split_year: int = 1900) -> tuple[float, float]:
    """RMSE on the years from ``split_year`` on of the two forecasts that need no model.

    ``(mean, persistence)``: always predicting the mean of the years before ``split_year``,
    and predicting that next year equals this year. They do not depend on the window: the
    chapter computes them the same way and prints the same numbers.
    """
    years, series = load_sunspots()
    fitted = years < split_year
    truth = series[~fitted]
    mean = float(np.sqrt(np.mean((series[fitted].mean() - truth) ** 2)))
    persistence = float(np.sqrt(np.mean((series[np.flatnonzero(~fitted) - 1] - truth) ** 2)))
    return mean, persistence


def evaluate_window(
    make_windows: Callable[..., Any],
    fit_autoregressive: Callable[..., Any],
    predict_autoregressive: Callable[..., Any],
    window: int,
    split_year: int = 1900,
    l2: float = 1.0,
) -> WindowResult:
    """Fit on targets before ``split_year``, forecast one year ahead after it."""
    years, series = load_sunspots()
    X, y = call_student(make_windows, series, window)
    target_years = years[window:]
    train = target_years < split_year
    w = call_student(fit_autoregressive, X[train], y[train], l2)
    pred = np.asarray(call_student(predict_autoregressive, X[~train], w), dtype=float)
    truth = y[~train]
    rmse = float(np.sqrt(np.mean((pred - truth) ** 2)))
    mean, persistence = baselines(split_year)
    return WindowResult(window, target_years[~train], truth, pred, rmse, mean, persistence)


def sunspot_window_widget(
    make_windows: Callable[..., Any],
    fit_autoregressive: Callable[..., Any],
    predict_autoregressive: Callable[..., Any],
    window: int = 10,
    max_window: int = 40,
    split_year: int = 1900,
) -> Any:
    """A window-size slider that redraws the held-out sunspot forecast and its error."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import clear_output

    slider = widgets.IntSlider(value=window, min=1, max=max_window, step=1,
                               description="window", continuous_update=False,
                               style={"description_width": "initial"})
    status = widgets.HTML()
    out = widgets.Output()
    curve: dict[int, float] = {}

    def run(w: int) -> WindowResult:
        return evaluate_window(make_windows, fit_autoregressive, predict_autoregressive,
                               w, split_year)

    def redraw(_: Any = None) -> None:
        w = int(slider.value)
        try:
            result = run(w)
            if not curve:
                curve.update({k: run(k).rmse for k in range(1, max_window + 1)})
        except NotReady as err:
            status.value = message_html(err.message())
            out.clear_output()
            return
        except Exception as err:  # a student's bug: say which function, keep the widget alive
            status.value = error_message("your forecast functions", err)
            out.clear_output()
            return
        status.value = message_html(
            f"Window of <b>{w}</b> years: held-out RMSE <b>{result.rmse:.1f}</b> "
            f"(persistence, next year = this year, gives {result.persistence_rmse:.1f}; "
            f"predicting the training mean {result.baseline_rmse:.1f}). "
            f"The model sees only the last {w} years; the ~11-year solar cycle needs "
            "about a full cycle to be visible.")
        with out:
            clear_output(wait=True)
            fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.4),
                                          gridspec_kw={"width_ratios": [2, 1]})
            ax.plot(result.test_years, result.test_true, color=OKABE_ITO["black"],
                    label="observed")
            ax.plot(result.test_years, result.test_pred, color=OKABE_ITO["vermillion"],
                    linestyle="--", label=f"forecast, window {w}")
            ax.set(title=f"One-year-ahead forecast after {split_year}", xlabel="year",
                   ylabel="sunspot number")
            ax.legend(loc="upper left")
            ks = sorted(curve)
            ax2.plot(ks, [curve[k] for k in ks], color=OKABE_ITO["blue"], marker=".")
            ax2.axvline(w, color=OKABE_ITO["vermillion"], linestyle=":")
            ax2.set(title="Held-out error by window", xlabel="window (years)",
                    ylabel="RMSE (sunspot number)")
            fig.tight_layout()
            plt.show()

    slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([slider, status, out])
