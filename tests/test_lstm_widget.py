"""Chapter 05 widget: the toy LSTM unit, run through students' gate functions, and the explorer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.widgets import lstm_gate_explorer
from rnnkit.widgets.lstm import (
    TOY_VOCAB,
    draw_toy,
    latch_gradient,
    run_toy,
    toy_inputs,
    toy_lstm_weights,
)


def sigmoid(z):
    return np.exp(-np.logaddexp(0, -z))


def lstm_gates(x, h_prev, Wx, Wh, b):
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b
    i, f, g, o = (a[:, k * H:(k + 1) * H] for k in range(4))
    return sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)


def lstm_cell_update(c_prev, i, f, g):
    return f * c_prev + i * g


def lstm_output(c_next, o):
    return o * np.tanh(c_next)


def todo(*args):
    raise NotImplementedError


def broken(*args):
    raise IndexError("index 4 is out of bounds")


def three_gates(x, h_prev, Wx, Wh, b):
    return lstm_gates(x, h_prev, Wx, Wh, b)[:3]


def _children(box):
    forget, inputs, output, text, status, out = box.children
    return forget, inputs, output, text, status, out


def test_toy_weights_follow_the_gate_layout() -> None:
    w = toy_lstm_weights(input_bias=1.0, forget_bias=3.0, output_bias=-2.0)
    assert w["Wx"].shape == (len(TOY_VOCAB), 4) and w["Wh"].shape == (1, 4) and w["b"].shape == (4,)
    np.testing.assert_array_equal(w["b"], [1.0, 3.0, 0.0, -2.0])
    a, b, eq = (TOY_VOCAB.index(ch) for ch in "ab=")
    assert w["Wx"][a, 0] > 0 > w["Wx"][TOY_VOCAB.index("x"), 0]  # the input gate opens for letters
    assert w["Wx"][a, 2] > 0 > w["Wx"][b, 2]  # the candidate stores +1 for a, -1 for b
    assert w["Wx"][eq, 3] > 0 > w["Wx"][a, 3]  # the output gate opens at "="
    assert not w["Wh"].any()


def test_toy_unit_remembers_the_first_letter() -> None:
    for first, sign in (("a", 1), ("b", -1)):
        run = run_toy(lstm_gates, lstm_cell_update, lstm_output, first + "xyzzyx=")
        assert sign * run.c[0] > 0.99 and sign * run.c[-1] > 0.85  # f = 0.982 per step
        assert np.all(np.abs(run.h[:-1]) < 0.01) and sign * run.h[-1] > 0.5
        p = run.readout()
        assert (p > 0.99) if first == "a" else (p < 0.01)
    faded = run_toy(lstm_gates, lstm_cell_update, lstm_output, "axyzzyxzyxzy=",
                    toy_lstm_weights(forget_bias=0.0))
    assert abs(faded.c[-1]) < 0.01
    np.testing.assert_allclose(faded.gradient_to_start, 0.5 ** np.arange(13))
    assert run_toy(lstm_gates, lstm_cell_update, lstm_output, "axy").readout() is None


def test_toy_run_matches_pytorch() -> None:
    w = toy_lstm_weights(input_bias=0.5, forget_bias=2.0, output_bias=1.0)
    text = "bzyx=x"
    run = run_toy(lstm_gates, lstm_cell_update, lstm_output, text, w)
    layer = torch.nn.LSTM(len(TOY_VOCAB), 1, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        layer.weight_ih_l0.copy_(torch.tensor(w["Wx"].T))
        layer.weight_hh_l0.copy_(torch.tensor(w["Wh"].T))
        layer.bias_ih_l0.copy_(torch.tensor(w["b"]))
        layer.bias_hh_l0.zero_()
        out, (_, c_n) = layer(torch.tensor(toy_inputs(text))[None])
    np.testing.assert_allclose(run.h, out[0, :, 0].numpy(), atol=1e-12)
    np.testing.assert_allclose(run.c[-1], c_n.item(), atol=1e-12)
    np.testing.assert_allclose(run.gradient_to_start[1:], np.cumprod(run.f[1:]))


def test_the_latch_holds_its_bit_but_not_its_gradient() -> None:
    grad = latch_gradient("axyzzyxzyxzy=")
    assert grad[0] == 1.0 and grad.shape == (13,)
    np.testing.assert_allclose(grad[-1], np.prod(grad[1:] / grad[:-1]))
    assert 0.1 < grad[1] < 0.2 and grad[-1] < 1e-8  # about 0.17 per step


def test_toy_inputs_reject_unknown_symbols() -> None:
    assert toy_inputs("ab=").shape == (3, len(TOY_VOCAB))
    with pytest.raises(ValueError, match="'Q'"):
        toy_inputs("aQ=")
    with pytest.raises(ValueError, match="empty"):
        toy_inputs("")


def test_run_toy_checks_what_students_return() -> None:
    with pytest.raises(ValueError, match=r"tuple \(i, f, g, o\)"):
        run_toy(three_gates, lstm_cell_update, lstm_output, "ax=")
    with pytest.raises(ValueError, match="c_next has shape"):
        run_toy(lstm_gates, lambda c, i, f, g: np.zeros((2, 1)), lstm_output, "ax=")


def test_draw_toy_labels_every_axis() -> None:
    import matplotlib.pyplot as plt

    fig = draw_toy(run_toy(lstm_gates, lstm_cell_update, lstm_output, "axy="))
    try:
        for ax in fig.axes:
            assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    finally:
        plt.close(fig)


def test_widget_asks_for_the_missing_pieces_first() -> None:
    for gates, update, output, name in ((todo, lstm_cell_update, lstm_output, "todo"),
                                        (lstm_gates, todo, lstm_output, "todo")):
        forget, _, _, _, status, _ = _children(lstm_gate_explorer(gates, update, output))
        assert f"Implement <code>{name}</code> first" in status.value
        forget.value = 1.0  # still no traceback
        assert "Implement" in status.value
    _, _, _, _, status, _ = _children(lstm_gate_explorer(broken, lstm_cell_update, lstm_output))
    assert "IndexError" in status.value and "lstm_gates" in status.value


def test_widget_reacts_to_the_biases_and_the_sequence() -> None:
    import matplotlib.pyplot as plt

    try:
        forget, inputs, output, text, status, _ = _children(
            lstm_gate_explorer(lstm_gates, lstm_cell_update, lstm_output, text="axyzzy="))
        assert all(not s.continuous_update for s in (forget, inputs, output))
        assert "readout says <b>a</b>" in status.value and "<b>right</b>" in status.value
        forget.value = -4.0  # the memory fades: the readout is no longer sure
        assert "f = sigmoid(b_f) = 0.0180" in status.value
        forget.value = 4.0
        inputs.value = 8.0  # the distractors overwrite the letter
        assert "c = " in status.value
        text.value = "bxy="
        assert "readout says <b>b</b>" in status.value
        text.value = "bQ="
        assert "not in the toy vocabulary" in status.value and "Q" in status.value
    finally:
        plt.close("all")
