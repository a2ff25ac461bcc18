"""Chapter 01 data and widget, driven with reference implementations."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.datasets import load_sunspots
from rnnkit.widgets import NotReady, call_student, sunspot_window_widget
from rnnkit.widgets.sequences import baselines, evaluate_window


def make_windows(series, window, horizon=1):
    n = len(series) - window - horizon + 1
    return np.stack([series[i:i + window] for i in range(n)]), series[window + horizon - 1:]


def fit(X, y, l2=0.0):
    A = np.hstack([X, np.ones((len(X), 1))])
    P = np.diag([l2] * X.shape[1] + [0.0])
    return np.linalg.solve(A.T @ A + P, A.T @ y)


def predict(X, w):
    return X @ w[:-1] + w[-1]


def todo(*args, **kwargs):
    raise NotImplementedError


def test_sunspots_are_the_yearly_series() -> None:
    years, numbers = load_sunspots()
    assert years[0] == 1700 and years[-1] == 2008 and len(years) == 309
    assert numbers.dtype == np.float64 and numbers.min() >= 0 and numbers.max() > 150


def test_a_window_beats_the_mean() -> None:
    result = evaluate_window(make_windows, fit, predict, window=10)
    assert result.test_years[0] == 1900
    assert result.rmse < 0.5 * result.baseline_rmse


def test_baselines_are_one_number_for_every_window() -> None:
    # the chapter prints the same two numbers: the mean of 1700-1899 and next year = this year
    years, numbers = load_sunspots()
    truth = numbers[years >= 1900]
    mean = np.sqrt(np.mean((numbers[years < 1900].mean() - truth) ** 2))
    persistence = np.sqrt(np.mean((numbers[np.flatnonzero(years >= 1900) - 1] - truth) ** 2))
    assert baselines() == pytest.approx((mean, persistence))
    assert round(mean, 1) == 50.1 and round(persistence, 1) == 28.6
    for window in (1, 10, 40):
        result = evaluate_window(make_windows, fit, predict, window=window)
        assert (result.baseline_rmse, result.persistence_rmse) == pytest.approx((mean, persistence))


def test_not_ready_names_the_function() -> None:
    with pytest.raises(NotReady) as info:
        call_student(todo, 1)
    assert "todo" in info.value.message() and "NotImplementedError" in info.value.message()


def test_widget_shows_a_message_before_implementation() -> None:
    box = sunspot_window_widget(todo, fit, predict)
    slider, status, _ = box.children
    assert "Implement <code>todo</code> first" in status.value
    slider.value = 5  # still no traceback


def test_widget_redraws_on_slider_change() -> None:
    box = sunspot_window_widget(make_windows, fit, predict, window=3)
    slider, status, _ = box.children
    before = status.value
    slider.value = 12
    assert "Window of <b>12</b> years" in status.value and status.value != before
