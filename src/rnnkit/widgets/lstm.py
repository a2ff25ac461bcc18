"""Chapter 05 widget: the gates of a one-unit LSTM over a toy "remember the first letter" line.

The toy task is chapter 02's: a line starts with ``a`` or ``b``, continues with random
letters from ``xyz``, then ``=``, and the letter after ``=`` repeats the first one. A
one-unit LSTM with hand-set weights solves it for any length: the input gate opens for
the first letter only, the candidate stores +1 for ``a`` and -1 for ``b``, the forget
gate holds the cell state, and the output gate opens at ``=``. The explorer runs that
LSTM through the student's ``lstm_gates``, ``lstm_cell_update`` and ``lstm_output``, and
lets the three gate biases move, so the memory can be seen to hold, fade or be
overwritten. It also plots the gradient that reaches step 0 through the cell state,
d c_t / d c_0 = f_1 f_2 ... f_t, against the same product for a forget bias of 0 and
against chapter 3's one-unit tanh latch, an RNN that holds the same bit.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..plotting import OKABE_ITO
from ._common import NotReady, call_student, error_message, message_html, value_error_html

__all__ = ["TOY_VOCAB", "ToyRun", "latch_gradient", "lstm_gate_explorer", "run_toy",
           "toy_lstm_weights"]

#: The symbols of chapter 02's long-range task, in the order of the one-hot inputs.
TOY_VOCAB = ("\n", "=", "a", "b", "x", "y", "z")
#: What each distractor letter would write into the cell if the input gate let it in.
DISTRACTOR_VALUES = {"x": 0.9, "y": -0.9, "z": 0.5}
GATE_WEIGHT = 6.0  # |pre-activation| that opens or shuts a gate before the biases move it
READOUT_GAIN = 10.0  # p(first letter is a) = sigmoid(READOUT_GAIN * h) at the "=" step
DEFAULT_BIASES = {"input_bias": 0.0, "forget_bias": 4.0, "output_bias": 0.0}


def toy_lstm_weights(input_bias: float = 0.0, forget_bias: float = 4.0,
                     output_bias: float = 0.0) -> dict[str, np.ndarray]:
    """Hand-set weights of a one-unit LSTM (H = 1) on one-hot inputs over :data:`TOY_VOCAB`.

    Returns ``Wx (7, 4)``, ``Wh (1, 4)`` and ``b (4,)``, gates stacked i, f, g, o:

    * input gate: pre-activation +6 for ``a`` and ``b``, -6 for every other symbol, plus
      ``input_bias``;
    * forget gate: ``forget_bias`` for every symbol (f = sigmoid(forget_bias));
    * candidate: +6 for ``a`` (g close to +1), -6 for ``b`` (close to -1), and small values
      for the distractors (:data:`DISTRACTOR_VALUES`), which matter only if the input gate
      lets them in;
    * output gate: +6 at ``=``, -6 elsewhere, plus ``output_bias``.

    The recurrent weights are zero: the unit's memory is its cell state alone.
    """
    w = GATE_WEIGHT
    wx = np.zeros((len(TOY_VOCAB), 4))
    for k, ch in enumerate(TOY_VOCAB):
        wx[k, 0] = w if ch in "ab" else -w
        wx[k, 2] = {"a": w, "b": -w}.get(ch, float(np.arctanh(DISTRACTOR_VALUES.get(ch, 0.0))))
        wx[k, 3] = w if ch == "=" else -w
    b = np.array([input_bias, forget_bias, 0.0, output_bias], dtype=np.float64)
    return {"Wx": wx, "Wh": np.zeros((1, 4)), "b": b}


def toy_inputs(text: str) -> np.ndarray:
    """One-hot rows ``(T, 7)`` for ``text`` over :data:`TOY_VOCAB`; ``ValueError`` otherwise."""
    if not text:
        raise ValueError("the sequence is empty: type at least one symbol, for example a=")
    unknown = sorted(set(text) - set(TOY_VOCAB))
    if unknown:
        raise ValueError(f"symbols not in the toy vocabulary {', '.join(map(repr, unknown))}: "
                         "use a, b, x, y, z and =")
    return np.eye(len(TOY_VOCAB))[[TOY_VOCAB.index(ch) for ch in text]]


@dataclass
class ToyRun:
    """The one-unit LSTM run over a toy line: one value per step for every quantity."""

    text: str
    i: np.ndarray
    f: np.ndarray
    g: np.ndarray
    o: np.ndarray
    c: np.ndarray
    h: np.ndarray

    @property
    def gradient_to_start(self) -> np.ndarray:
        """d c_t / d c_0 along the cell state: the running product f_1 f_2 ... f_t.

        Entry 0 is 1 (c_0 itself); the forget gate of step 0 multiplies the initial state,
        which is zero here, so the chain starts at step 1.
        """
        return np.concatenate([[1.0], np.cumprod(self.f[1:])])

    def readout(self) -> float | None:
        """p(the first letter is a) read from h at the last ``=``, or None without ``=``."""
        if "=" not in self.text:
            return None
        return float(1.0 / (1.0 + np.exp(-READOUT_GAIN * self.h[self.text.rindex("=")])))


def _as_pair(value: Any, name: str, shape: tuple[int, int]) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}; expected {shape}")
    return arr


def run_toy(lstm_gates: Callable[..., Any], lstm_cell_update: Callable[..., Any],
            lstm_output: Callable[..., Any], text: str,
            weights: Mapping[str, np.ndarray] | None = None) -> ToyRun:
    """Run ``text`` through the student's three functions with :func:`toy_lstm_weights`.

    Starts from ``h = c = 0``. Raises :class:`NotReady` while a function is a stub and
    ``ValueError`` for a symbol outside :data:`TOY_VOCAB` or a result of the wrong shape.
    """
    xs = toy_inputs(text)
    w = toy_lstm_weights() if weights is None else weights
    h, c = np.zeros((1, 1)), np.zeros((1, 1))
    rows: dict[str, list[float]] = {k: [] for k in ("i", "f", "g", "o", "c", "h")}
    for x in xs:
        gates = call_student(lstm_gates, x[None], h, w["Wx"], w["Wh"], w["b"])
        if not isinstance(gates, tuple | list) or len(gates) != 4:
            raise ValueError("lstm_gates returned "
                             f"{type(gates).__name__}; expected a tuple (i, f, g, o)")
        i, f, g, o = (_as_pair(v, name, (1, 1)) for v, name in zip(gates, "ifgo", strict=True))
        c = _as_pair(call_student(lstm_cell_update, c, i, f, g), "c_next", (1, 1))
        h = _as_pair(call_student(lstm_output, c, o), "h_next", (1, 1))
        for key, value in (("i", i), ("f", f), ("g", g), ("o", o), ("c", c), ("h", h)):
            rows[key].append(float(value[0, 0]))
    return ToyRun(text, *(np.array(rows[k]) for k in ("i", "f", "g", "o", "c", "h")))


def latch_gradient(text: str) -> np.ndarray:
    """d h_t / d h_0 of chapter 3's one-unit tanh latch reading ``text``: the RNN's counterpart.

    The latch is h_t = tanh(4 x_a - 4 x_b + 2 h_{t-1}) from h = 0 (``a`` sets it, ``b`` resets
    it, the other symbols leave it alone); its gradient along the line is the running
    product of 2 (1 - h_t^2), t = 1 .. T-1, which dies out even while the latch holds its bit.
    """
    xs = toy_inputs(text)
    drive = 4.0 * (xs[:, TOY_VOCAB.index("a")] - xs[:, TOY_VOCAB.index("b")])
    h, factors = 0.0, []
    for t, d in enumerate(drive):
        h = float(np.tanh(d + 2.0 * h))
        if t > 0:
            factors.append(2.0 * (1.0 - h * h))
    return np.concatenate([[1.0], np.cumprod(factors)])


def _label(ch: str) -> str:
    return {"\n": "↵"}.get(ch, ch)


def draw_toy(run: ToyRun, title: str = "") -> Any:
    """Gates, cell state and output over the line, and the gradient reaching step 0."""
    import matplotlib.pyplot as plt

    steps = np.arange(len(run.text))
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 3.6))
    for values, name, colour, marker in ((run.i, "input gate i", OKABE_ITO["blue"], "o"),
                                         (run.f, "forget gate f", OKABE_ITO["orange"], "s"),
                                         (run.o, "output gate o", OKABE_ITO["green"], "^")):
        ax1.plot(steps, values, marker=marker, color=colour, label=name)
    ax1.set(title=title or "Gate values at every step", xlabel="time step (input symbol)",
            ylabel="gate value (0 = shut, 1 = open)", ylim=(-0.05, 1.05))
    ax2.axhline(0.0, color=OKABE_ITO["black"], linewidth=0.6)
    ax2.plot(steps, run.c, marker="o", color=OKABE_ITO["vermillion"], label="cell state c")
    ax2.plot(steps, run.h, marker="s", color=OKABE_ITO["sky"], label="output h")
    ax2.plot(steps, run.i * run.g, linestyle=":", color=OKABE_ITO["purple"],
             label="written this step, i·g")
    ax2.set(title="Cell state and output", xlabel="time step (input symbol)",
            ylabel="value (unitless)", ylim=(-1.15, 1.15))
    for ax in (ax1, ax2):
        ax.set_xticks(steps, [_label(ch) for ch in run.text])
        ax.legend(loc="lower left", fontsize="small")
    grad = run.gradient_to_start
    ax3.semilogy(steps, np.maximum(grad, 1e-300), marker="o", color=OKABE_ITO["orange"],
                 label="this LSTM: f1·f2···ft")
    ax3.semilogy(steps, 0.5 ** steps, linestyle="--", color=OKABE_ITO["black"],
                 label="LSTM, forget bias 0: 0.5^t")
    ax3.semilogy(steps, np.maximum(latch_gradient(run.text), 1e-300), marker="s",
                 color=OKABE_ITO["vermillion"], label="tanh RNN latch (ch. 3): d h_t / d h_0")
    ax3.set(title="Gradient reaching step 0", xlabel="time step t",
            ylabel="d state_t / d state_0 (log scale)")
    ax3.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    return fig


def describe(run: ToyRun) -> str:
    """One paragraph (HTML) on what the memory did over the line."""
    first = run.text[0]
    stored = run.c[0]
    parts = [f"After step 0 (input {html.escape(repr(first))}) the cell holds "
             f"<b>c = {stored:+.3f}</b>; after the last step <b>c = {run.c[-1]:+.3f}</b>."]
    grad = run.gradient_to_start[-1]
    parts.append(f"d c<sub>{len(run.text) - 1}</sub> / d c<sub>0</sub> = {grad:.3g}.")
    p = run.readout()
    if p is None:
        parts.append("Add <code>=</code> to the line to read the memory out.")
    elif first in "ab":
        said = "a" if p >= 0.5 else "b"
        verdict = "right" if said == first else "wrong"
        h_end = run.h[run.text.rindex("=")]
        parts.append(f"At <code>=</code> the output h = {h_end:+.3f}: the readout says "
                     f"<b>{said}</b> (p(a) = {p:.3f}), which is <b>{verdict}</b>.")
    return " ".join(parts)


def lstm_gate_explorer(
    lstm_gates: Callable[..., Any],
    lstm_cell_update: Callable[..., Any],
    lstm_output: Callable[..., Any],
    text: str = "axyzzyxzyxzy=",
    input_bias: float = DEFAULT_BIASES["input_bias"],
    forget_bias: float = DEFAULT_BIASES["forget_bias"],
    output_bias: float = DEFAULT_BIASES["output_bias"],
) -> Any:
    """Bias sliders for the input, forget and output gates of the toy LSTM, and its plots."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import clear_output

    def slider(value: float, label: str) -> Any:
        return widgets.FloatSlider(value=value, min=-8.0, max=8.0, step=0.5, description=label,
                                   continuous_update=False, readout_format="+.1f",
                                   style={"description_width": "150px"},
                                   layout=widgets.Layout(width="480px"))

    forget = slider(forget_bias, "forget gate bias b_f")
    inputs = slider(input_bias, "input gate bias b_i")
    output = slider(output_bias, "output gate bias b_o")
    box = widgets.Text(value=text, description="sequence", continuous_update=False,
                       layout=widgets.Layout(width="50%"))
    status = widgets.HTML()
    out = widgets.Output()

    def redraw(_: Any = None) -> None:
        weights = toy_lstm_weights(inputs.value, forget.value, output.value)
        try:
            run = run_toy(lstm_gates, lstm_cell_update, lstm_output, box.value, weights)
        except NotReady as err:
            status.value = message_html(err.message())
            out.clear_output()
            return
        except ValueError as err:
            status.value = value_error_html("lstm_gates, lstm_cell_update or lstm_output", err)
            out.clear_output()
            return
        except Exception as err:  # a student's bug: name it, keep the widget alive
            status.value = error_message("lstm_gates, lstm_cell_update or lstm_output", err)
            out.clear_output()
            return
        status.value = message_html(
            f"f = sigmoid(b_f) = {1 / (1 + np.exp(-forget.value)):.4f} at every step. "
            + describe(run))
        with out:
            clear_output(wait=True)
            draw_toy(run, title=f"Gates (b_i = {inputs.value:+.1f}, b_f = {forget.value:+.1f}, "
                              f"b_o = {output.value:+.1f})")
            plt.show()

    for control in (forget, inputs, output, box):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([forget, inputs, output, box, status, out])
