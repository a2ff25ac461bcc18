"""Chapter 03 widget: step through a character RNN unrolled over a short text.

One slider position is one time step: the input character, the hidden states so far as
a heatmap, and the probabilities of the next character. The hidden states come from the
student's ``rnn_step``, run on the weights of a trained ``CharRNN``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..plotting import DIVERGING_CMAP, OKABE_ITO
from ._common import NotReady, call_student, error_message, message_html, value_error_html

__all__ = ["UnrolledText", "char_rnn_weights", "unroll_text", "unrolled_rnn_widget"]

STRUCTURE = ("the widget reads CharRNNs made of one-hot inputs or an nn.Embedding, one "
             "one-layer tanh nn.RNN (or nn.RNNCell) and an nn.Linear to the vocabulary")


class UnsupportedModel(ValueError):
    """The model's layers are not the one-hot/embedding, RNN, linear stack the widget reads."""


def char_rnn_weights(model: Any, vocab_size: int) -> dict[str, np.ndarray]:
    """A character RNN's weights as float64 numpy arrays in the course's row-vector layout.

    Returns ``Wx (V, H)``, ``Wh (H, H)``, ``b (H,)`` (PyTorch's two biases added),
    ``Wy (H, V)`` and ``by (V,)``, so that with one-hot inputs ``x`` the model computes
    ``h = tanh(x @ Wx + h @ Wh + b)`` and next-character scores ``h @ Wy + by``. An
    ``nn.Embedding`` in front of the RNN is folded into ``Wx``.
    Raises ``UnsupportedModel`` when the model has another structure.
    """
    from torch import nn

    def numpy(t: Any) -> np.ndarray:
        return t.detach().cpu().double().numpy()

    if not isinstance(model, nn.Module):
        raise UnsupportedModel(f"expected a torch.nn.Module; got a {type(model).__name__}")
    rnns = [m for m in model.modules() if isinstance(m, nn.RNN | nn.RNNCell)]
    embeddings = [m for m in model.modules() if isinstance(m, nn.Embedding)]
    heads = [m for m in model.modules()
             if isinstance(m, nn.Linear) and m.out_features == vocab_size]
    if len(rnns) != 1 or len(embeddings) > 1 or not heads:
        raise UnsupportedModel(STRUCTURE)
    rnn = rnns[0]
    if isinstance(rnn, nn.RNN):
        if rnn.num_layers != 1 or rnn.bidirectional or rnn.nonlinearity != "tanh":
            raise UnsupportedModel(STRUCTURE)
        suffix = "_l0"
    else:
        if rnn.nonlinearity != "tanh":
            raise UnsupportedModel(STRUCTURE)
        suffix = ""
    w_ih = numpy(getattr(rnn, f"weight_ih{suffix}"))
    w_hh = numpy(getattr(rnn, f"weight_hh{suffix}"))
    hidden = w_hh.shape[0]
    b = np.zeros(hidden)
    for name in (f"bias_ih{suffix}", f"bias_hh{suffix}"):
        bias = getattr(rnn, name, None)
        if bias is not None:
            b = b + numpy(bias)
    if embeddings:
        table = numpy(embeddings[0].weight)
        if table.shape[0] != vocab_size or table.shape[1] != w_ih.shape[1]:
            raise UnsupportedModel(STRUCTURE)
        wx = table @ w_ih.T
    elif w_ih.shape[1] == vocab_size:
        wx = w_ih.T.copy()
    else:
        raise UnsupportedModel(STRUCTURE)
    head = heads[-1]
    if head.in_features != hidden:
        raise UnsupportedModel(STRUCTURE)
    by = numpy(head.bias) if head.bias is not None else np.zeros(vocab_size)
    return {"Wx": wx, "Wh": w_hh.T.copy(), "b": b, "Wy": numpy(head.weight).T.copy(), "by": by}


@dataclass
class UnrolledText:
    """A text run through an RNN one character at a time."""

    text: str
    hs: np.ndarray  # (T, H): the state after each character
    probs: np.ndarray  # (T, V): next-character probabilities after each character


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def unroll_text(rnn_step: Callable[..., Any], text: str, stoi: Mapping[str, int],
                weights: Mapping[str, np.ndarray]) -> UnrolledText:
    """Run ``text`` through ``rnn_step`` from a zero state, one one-hot character per step."""
    missing = sorted(set(text) - set(stoi))
    if missing:
        raise ValueError(f"characters not in the vocabulary: {', '.join(map(repr, missing))}")
    if not text:
        raise ValueError("the text is empty: type at least one character")
    wx, wh, b = weights["Wx"], weights["Wh"], weights["b"]
    vocab = wx.shape[0]
    h = np.zeros((1, wh.shape[0]))
    states = []
    for ch in text:
        x = np.zeros((1, vocab))
        x[0, stoi[ch]] = 1.0
        h = np.asarray(call_student(rnn_step, x, h, wx, wh, b), dtype=np.float64)
        if h.shape != (1, wh.shape[0]):
            raise ValueError(f"rnn_step returned shape {h.shape}; expected {(1, wh.shape[0])}")
        states.append(h[0])
    hs = np.stack(states)
    return UnrolledText(text, hs, _softmax(hs @ weights["Wy"] + weights["by"]))


def model_probabilities(model: Any, text: str, stoi: Mapping[str, int]) -> np.ndarray:
    """The model's own next-character probabilities ``(T, V)`` after each character of ``text``."""
    import torch

    param = next(model.parameters())
    idx = torch.tensor([[stoi[ch] for ch in text]], dtype=torch.int64, device=param.device)
    with torch.no_grad():
        logits = model(idx)[0]
    return torch.softmax(logits[0].double(), dim=-1).cpu().numpy()


def _label(ch: str) -> str:
    return {" ": "␣", "\n": "⏎", "\t": "⇥"}.get(ch, ch)


def _text_html(text: str, t: int) -> str:
    done = html.escape(text[:t])
    now = html.escape(_label(text[t]))
    later = html.escape(text[t + 1:])
    return (f'<span style="font-family: monospace; white-space: pre-wrap;">{done}'
            f'<b style="background: {OKABE_ITO["yellow"]}; color: #000;">{now}</b>'
            # the theme's secondary text colour: readable on light and dark themes alike
            f'<span style="color: var(--jp-content-font-color2, #595959);">{later}</span>'
            '</span>')


def _draw(run: UnrolledText, t: int, itos: Sequence[str], top_k: int) -> None:
    import matplotlib.pyplot as plt

    steps, hidden = run.hs.shape
    grid = np.full((hidden, steps), np.nan)
    grid[:, :t + 1] = run.hs[:t + 1].T
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    image = ax.imshow(grid, aspect="auto", cmap=DIVERGING_CMAP, vmin=-1, vmax=1,
                      interpolation="nearest")
    ax.axvline(t + 0.5, color=OKABE_ITO["black"], linewidth=1.0)
    ax.set_xticks(range(steps), [_label(c) for c in run.text])
    ax.grid(False)
    ax.set(title=f"Hidden state after steps 0..{t} (input {_label(run.text[t])!r})",
           xlabel="time step (input character)", ylabel="hidden unit")
    fig.colorbar(image, ax=ax, label="activation (tanh, -1 to 1)")
    probs = run.probs[t]
    order = np.argsort(probs)[::-1][:top_k]
    nxt = run.text[t + 1] if t + 1 < len(run.text) else None
    colours = [OKABE_ITO["vermillion"] if itos[i] == nxt else OKABE_ITO["blue"] for i in order]
    ax2.barh(range(len(order))[::-1], probs[order], color=colours)
    ax2.set_yticks(range(len(order))[::-1], [repr(_label(itos[i])) for i in order])
    ax2.set_xlim(0, 1)
    ax2.set(title="Next-character probabilities" + (" (actual next in vermillion)" if nxt
                                                    else ""),
            xlabel="probability", ylabel="next character")
    fig.tight_layout()
    plt.show()


def unrolled_rnn_widget(
    rnn_step: Callable[..., Any],
    model: Any,
    stoi: Mapping[str, int],
    itos: Sequence[str],
    text: str = "To be, or not to be, that is the question",
    top_k: int = 8,
) -> Any:
    """A time-step slider over ``text`` run through ``rnn_step`` with ``model``'s weights.

    ``model`` is a trained ``CharRNN`` (``None`` until there is one); the widget checks
    that the probabilities it computes with ``rnn_step`` equal the model's own.
    """
    import ipywidgets as widgets
    from IPython.display import clear_output

    box = widgets.Text(value=text, description="text", continuous_update=False,
                       layout=widgets.Layout(width="60%"))
    slider = widgets.IntSlider(value=0, min=0, max=max(len(text) - 1, 0), step=1,
                               description="time step", continuous_update=True,
                               style={"description_width": "initial"})
    status = widgets.HTML()
    out = widgets.Output()
    state: dict[str, Any] = {"run": None, "note": ""}

    def recompute(_: Any = None) -> None:
        state["run"] = None
        if model is None:
            status.value = message_html("Implement <code>CharRNN</code> and run the training "
                                        "cells first, then re-run this cell.")
            out.clear_output()
            return
        try:
            weights = char_rnn_weights(model, len(itos))
            run = unroll_text(rnn_step, box.value, stoi, weights)
        except NotReady as err:
            status.value = message_html(err.message())
            out.clear_output()
            return
        except UnsupportedModel as err:
            status.value = message_html(html.escape(str(err)), kind="error")
            out.clear_output()
            return
        except ValueError as err:
            status.value = value_error_html("rnn_step", err)
            out.clear_output()
            return
        except Exception as err:  # a student's bug: name it, keep the widget alive
            status.value = error_message("rnn_step", err)
            out.clear_output()
            return
        gap = float(np.max(np.abs(run.probs - model_probabilities(model, run.text, stoi))))
        state["note"] = "" if gap < 1e-5 else (
            f" <b>Note:</b> these probabilities differ from the model's own by up to {gap:.2g}:"
            " check <code>rnn_step</code> with its tests, and " + STRUCTURE + ".")
        state["run"] = run
        slider.max = len(run.text) - 1
        slider.value = min(slider.value, slider.max)
        redraw()

    def redraw(_: Any = None) -> None:
        run = state["run"]
        if run is None:
            return
        t = int(slider.value)
        probs = run.probs[t]
        best = int(np.argmax(probs))
        nxt = run.text[t + 1] if t + 1 < len(run.text) else None
        actual = (f"; the text continues with {_label(nxt)!r} (p = {probs[stoi[nxt]]:.2f})"
                  if nxt is not None else "")
        status.value = message_html(
            f"Step <b>{t}</b>: input {html.escape(repr(_label(run.text[t])))}. "
            f"{_text_html(run.text, t)}<br>Most likely next character: "
            f"{html.escape(repr(_label(itos[best])))} (p = {probs[best]:.2f})"
            f"{html.escape(actual)}.{state['note']}")
        with out:
            clear_output(wait=True)
            _draw(run, t, itos, top_k)

    box.observe(recompute, names="value")
    slider.observe(redraw, names="value")
    recompute()
    return widgets.VBox([box, slider, status, out])
