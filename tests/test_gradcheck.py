"""Tests of rnnkit.gradcheck: relative error, verdict bands, numerical gradients, reports."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.gradcheck import (
    FLOAT32_WARNING,
    gradient_check,
    numerical_gradients,
    relative_error,
    verdict,
)


def test_relative_error_is_cs231n_entrywise_max():
    a = np.array([1.0, 2.0, 0.0])
    n = np.array([1.1, 2.0, 0.0])
    # |1 - 1.1| / 1.1 for the first entry; 0 elsewhere (both zero: divided by tiny)
    assert relative_error(a, n) == pytest.approx(0.1 / 1.1, rel=1e-12)
    assert relative_error(n, a) == pytest.approx(0.1 / 1.1, rel=1e-12)
    assert relative_error(a, a) == 0.0


def test_relative_error_tiny_guards_zero_gradients():
    assert relative_error(np.array([0.0]), np.array([1e-12])) == pytest.approx(1e-4)
    assert relative_error(np.array([0.0]), np.array([1e-12]), tiny=1e-12) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="tiny"):
        relative_error(np.array([1.0]), np.array([1.0]), tiny=0.0)


def test_relative_error_shapes_and_nonfinite():
    with pytest.raises(ValueError, match="shape"):
        relative_error(np.zeros(3), np.zeros((3, 1)))
    assert relative_error(np.array([np.nan]), np.array([1.0])) == float("inf")
    assert relative_error(np.zeros(0), np.zeros(0)) == 0.0


@pytest.mark.parametrize(("error", "words"), [
    (0.5, "almost certainly wrong"),
    (2e-2, "almost certainly wrong"),
    (1e-3, "suspicious"),
    (1e-5, "probably fine for a whole sequence"),
    (1e-6, "kink"),
    (1e-8, "correct"),
    (0.0, "correct"),
])
def test_verdict_bands(error, words):
    assert words in verdict(error)


def test_verdict_band_edges_are_distinct():
    assert verdict(1.01e-2) != verdict(0.99e-2)
    assert verdict(1.01e-4) != verdict(0.99e-4)
    assert verdict(1.01e-7) != verdict(0.99e-7)
    assert "wrong" in verdict(float("nan"))


def _quadratic_setup(dtype=np.float64):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 4)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    x = rng.standard_normal((5, 3)).astype(dtype)

    def f():
        return np.sum(np.tanh(x @ W + b) ** 2)

    y = np.tanh(x @ W + b)
    dz = 2 * y * (1 - y ** 2)
    return f, {"W": W, "b": b}, {"W": x.T @ dz, "b": dz.sum(axis=0)}


def test_numerical_gradients_match_analytic_and_restore_inputs():
    f, params, analytic = _quadratic_setup()
    before = {k: v.copy() for k, v in params.items()}
    grads = numerical_gradients(f, params, eps=1e-6)
    assert set(grads) == {"W", "b"}
    for name in params:
        assert grads[name].shape == params[name].shape
        assert grads[name].dtype == np.float64
        np.testing.assert_array_equal(params[name], before[name])  # restored exactly
        assert relative_error(analytic[name], grads[name]) < 1e-7


def test_numerical_gradients_linear_function_exact():
    x = np.array([[1.0, -2.0], [3.0, 0.5]])
    c = np.array([[2.0, 3.0], [-1.0, 4.0]])
    grads = numerical_gradients(lambda: np.sum(c * x), {"x": x}, eps=1e-3)
    np.testing.assert_allclose(grads["x"], c, rtol=1e-9)


def test_numerical_gradients_centred_not_one_sided():
    # f = x**3 at x=1: centred (f(1+e)-f(1-e))/2e = 3 + e**2; one-sided 3 + 3e
    x = np.array([1.0])
    g = numerical_gradients(lambda: x[0] ** 3, {"x": x}, eps=1e-2)["x"][0]
    assert g == pytest.approx(3 + 1e-4, rel=1e-9)


def test_numerical_gradients_restore_when_f_raises():
    x = np.array([1.0, 2.0])
    calls = []

    def f():
        calls.append(x.copy())
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        numerical_gradients(f, {"x": x})
    np.testing.assert_array_equal(x, [1.0, 2.0])
    assert calls and calls[0][0] != 1.0  # it was perturbed in place


def test_numerical_gradients_non_contiguous_view():
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    view = base[:, ::2]
    grads = numerical_gradients(lambda: np.sum(view ** 2), {"v": view})
    np.testing.assert_allclose(grads["v"], 2 * view, rtol=1e-6)


def test_numerical_gradients_bad_arguments():
    x = np.array([1.0])
    with pytest.raises(ValueError, match="eps"):
        numerical_gradients(lambda: 0.0, {"x": x}, eps=0)
    with pytest.raises(ValueError, match="floating"):
        numerical_gradients(lambda: 0.0, {"x": np.array([1, 2])})
    with pytest.raises(ValueError, match="floating"):
        numerical_gradients(lambda: 0.0, {"x": [1.0]})
    ro = np.array([1.0])
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        numerical_gradients(lambda: 0.0, {"x": ro})
    with pytest.raises(ValueError, match="scalar"):
        numerical_gradients(lambda: np.array([x[0], x[0]]), {"x": x})


def test_numerical_gradients_accepts_torch_scalar():
    torch = pytest.importorskip("torch")
    x = np.array([2.0])
    g = numerical_gradients(lambda: torch.tensor(x[0] ** 2), {"x": x})["x"]
    assert g[0] == pytest.approx(4.0, rel=1e-6)


def test_gradient_check_correct_gradients(capsys):
    f, params, analytic = _quadratic_setup()
    report = gradient_check(f, params, analytic)
    out = capsys.readouterr()
    assert out.err == ""
    assert "W: relative error" in out.out and "b: relative error" in out.out
    assert report["W"].verdict == "correct" and report["b"].verdict == "correct"
    assert report.ok() and report.worst < 1e-7
    assert report.warnings == ()


def test_gradient_check_names_the_wrong_parameter(capsys):
    f, params, analytic = _quadratic_setup()
    analytic = dict(analytic, b=analytic["b"] * 1.5)  # a wrong db
    report = gradient_check(f, params, analytic, verbose=False)
    assert capsys.readouterr().out == ""
    assert report["W"].verdict == "correct"
    assert report["b"].verdict == "almost certainly wrong"
    assert not report.ok()
    text = str(report)
    assert "b: relative error" in text and "worst entry b[" in text


def test_gradient_check_float32_warns_on_stdout_not_stderr(capsys, recwarn):
    f, params, analytic = _quadratic_setup(np.float32)
    report = gradient_check(f, params, analytic, eps=1e-3)
    out = capsys.readouterr()
    assert out.err == ""
    assert len(recwarn) == 0  # no Python warning (it would go to stderr)
    assert FLOAT32_WARNING in out.out and "W, b" in out.out
    assert report.warnings and "float32" in report.warnings[0]


def test_gradient_check_float64_has_no_warning(capsys):
    f, params, analytic = _quadratic_setup()
    gradient_check(f, params, analytic)
    assert "float32" not in capsys.readouterr().out


def test_gradient_check_relu_kink_lands_in_the_kink_band():
    # relu at exactly 0: analytic subgradient 0, centred difference 0.5
    x = np.array([0.0, 1.0])
    report = gradient_check(lambda: np.sum(np.maximum(x, 0)), {"x": x},
                            {"x": np.array([0.0, 1.0])}, verbose=False)
    assert report["x"].verdict == "almost certainly wrong"  # the kink: keep points away from 0


def test_gradient_check_mismatched_names_and_shapes():
    f, params, analytic = _quadratic_setup()
    with pytest.raises(ValueError, match="no analytic gradient for"):
        gradient_check(f, params, {"W": analytic["W"]}, verbose=False)
    with pytest.raises(ValueError, match="no parameter for"):
        gradient_check(f, params, dict(analytic, c=1.0), verbose=False)
    with pytest.raises(ValueError, match=r"gradient of W has shape \(4, 3\)"):
        gradient_check(f, params, dict(analytic, W=analytic["W"].T), verbose=False)
