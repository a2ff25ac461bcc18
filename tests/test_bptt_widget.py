"""Chapter 04 widget: gradient norm against lag from the student's hidden_jacobian_norms."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from rnnkit.widgets import bptt_widget
from rnnkit.widgets.bptt import (
    INITIALISATIONS,
    describe,
    lag_run,
    recurrent_matrix,
    reference_norms,
)

matplotlib.use("Agg")


def hidden_jacobian_norms(Wh, hs, activation="tanh"):
    T, H = hs.shape
    norms, product = [1.0], np.eye(H)
    for k in range(1, T):
        h = hs[T - k]
        slope = 1 - h ** 2 if activation == "tanh" else (h > 0).astype(float)
        product = product @ (np.diag(slope) @ Wh.T)
        norms.append(np.linalg.norm(product, 2))
    return np.array(norms)


def frobenius_norms(Wh, hs, activation="tanh"):  # a classic mistake: the wrong norm
    T, H = hs.shape
    norms, product = [1.0], np.eye(H)
    for k in range(1, T):
        product = product @ (np.diag(1 - hs[T - k] ** 2) @ Wh.T)
        norms.append(np.linalg.norm(product))
    return np.array(norms)


def todo(Wh, hs, activation="tanh"):
    raise NotImplementedError


def broken(Wh, hs, activation="tanh"):
    raise IndexError("index 32 is out of bounds for axis 0 with size 32")


def short(Wh, hs, activation="tanh"):
    return np.ones(3)


def _children(box):
    controls, status, out = box.children
    radius, activation, init = controls.children
    return radius, activation, init, status, out


@pytest.mark.parametrize("init", INITIALISATIONS)
@pytest.mark.parametrize("radius", [0.5, 1.0, 2.5])
def test_recurrent_matrix_has_the_spectral_radius(init: str, radius: float) -> None:
    wh = recurrent_matrix(init, radius, 16, np.random.default_rng(1))
    assert wh.shape == (16, 16)
    assert np.max(np.abs(np.linalg.eigvals(wh))) == pytest.approx(radius, rel=1e-9)
    if init != "random":  # orthogonal and identity: every singular value is the radius
        np.testing.assert_allclose(np.linalg.svd(wh, compute_uv=False), radius, rtol=1e-9)


def test_recurrent_matrix_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="initialisation"):
        recurrent_matrix("xavier", 1.0, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="> 0"):
        recurrent_matrix("identity", 0.0, 4, np.random.default_rng(0))


def test_lag_run_measures_vanishing_exploding_and_irnn() -> None:
    small = lag_run(hidden_jacobian_norms, 0.5, "tanh", "orthogonal-scaled", steps=60, hidden=16)
    assert small.norms.shape == (60,) and small.norms[0] == 1.0
    assert small.sigma_max == pytest.approx(0.5)
    assert np.all(small.norms <= 0.5 ** np.arange(60) * (1 + 1e-9))  # below the bound
    assert small.gap < 1e-12
    big = lag_run(hidden_jacobian_norms, 3.0, "tanh", "orthogonal-scaled", steps=60, hidden=16)
    assert big.norms[-1] > 100 and big.norms[-1] > big.norms[10]
    irnn = lag_run(hidden_jacobian_norms, 1.0, "relu", "identity", steps=60, hidden=16)
    assert set(np.unique(irnn.norms)) <= {0.0, 1.0}  # a product of 0/1 diagonals
    assert irnn.largest_state > 1.0  # ReLU states are unbounded


def test_describe_states_the_plotted_numbers() -> None:
    run = lag_run(hidden_jacobian_norms, 0.5, "tanh", "orthogonal-scaled", steps=60, hidden=16)
    text = describe(run)
    for k in (1, 10, 50, 59):
        assert f"lag {k}: {run.norms[k]:.1e}" in text
    assert "spectral radius 0.50" in text and "largest singular value 0.50" in text
    assert "vanishes" in text and "must shrink" in text
    big = describe(lag_run(hidden_jacobian_norms, 3.0, "tanh", "orthogonal-scaled"))
    assert "explodes" in big and "possible, not certain" in big
    irnn = describe(lag_run(hidden_jacobian_norms, 1.0, "relu", "identity"))
    assert "singular value is 1: the norm can never exceed 1" in irnn
    random = describe(lag_run(hidden_jacobian_norms, 1.0, "tanh", "random"))
    assert "no explosion is expected" in random and "does not promise vanishing" in random


def test_reference_norms_match_the_test_implementation() -> None:
    rng = np.random.default_rng(3)
    wh, hs = rng.normal(size=(5, 5)), np.tanh(rng.normal(size=(7, 5)))
    np.testing.assert_allclose(reference_norms(wh, hs, "tanh"),
                               hidden_jacobian_norms(wh, hs, "tanh"), rtol=1e-12)


def test_widget_asks_for_hidden_jacobian_norms_first() -> None:
    radius, _, _, status, _ = _children(bptt_widget(todo))
    assert "Implement <code>todo</code> first" in status.value
    radius.value = 2.0  # still no traceback
    assert "first" in status.value
    _, _, _, status, _ = _children(bptt_widget(broken))
    assert "IndexError" in status.value and "<code>hidden_jacobian_norms</code>" in status.value
    _, _, _, status, _ = _children(bptt_widget(short))
    assert "shape (3,)" in status.value


def test_widget_reacts_to_every_control() -> None:
    radius, activation, init, status, _ = _children(bptt_widget(hidden_jacobian_norms, steps=40,
                                                                hidden=8))
    assert radius.continuous_update is False
    assert "random Wh with spectral radius 1.00" in status.value and "tanh" in status.value
    radius.value = 0.6
    assert "spectral radius 0.60" in status.value
    activation.value = "relu"
    assert "relu" in status.value
    init.value = "identity"
    assert "identity Wh with spectral radius 0.60 and largest singular value 0.60" in status.value
    assert "Note" not in status.value


def test_widget_notes_a_wrong_implementation() -> None:
    _, _, _, status, _ = _children(bptt_widget(frobenius_norms, steps=30, hidden=8))
    assert "differ from rnnkit" in status.value and "hidden_jacobian_norms" in status.value
