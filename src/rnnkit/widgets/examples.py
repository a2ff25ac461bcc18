"""Chapter 06 widget: what the temperature does to text sampled from a character model.

A temperature slider (and a prompt, a length and a random seed) over a trained
``CharLSTM`` (or any ``model(idx, state) -> (logits, state)``): the text drawn at that
temperature, and the next-character distribution after the prompt, sharpened or
flattened by it, with its entropy in bits.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..plotting import OKABE_ITO
from ._common import NotReady, error_message, message_html, value_error_html

__all__ = ["next_char_probabilities", "temperature_widget"]


def next_char_probabilities(model: Any, prompt: str, stoi: Mapping[str, int],
                            temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / temperature)`` for the character after ``prompt``, float64 ``(V,)``."""
    import torch

    from ..lm_eval import encode_text

    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature!r}")
    if not prompt:
        raise ValueError("the prompt is empty: type at least one character")
    param = next(model.parameters())
    idx = encode_text(prompt, stoi).to(param.device).unsqueeze(0)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(idx)[0][0, -1].cpu().double()
    finally:
        model.train(was_training)
    return torch.softmax(logits / temperature, dim=-1).numpy()


def _entropy_bits(p: np.ndarray) -> float:
    q = p[p > 0]
    return float(-(q * np.log2(q)).sum())


def _label(ch: str) -> str:
    return {" ": "␣", "\n": "⏎", "\t": "⇥"}.get(ch, ch)


def _draw(probs: np.ndarray, itos: Sequence[str], temperature: float, top_k: int) -> None:
    import matplotlib.pyplot as plt

    order = np.argsort(probs)[::-1][:top_k]
    fig, ax = plt.subplots(figsize=(8, 3.0))
    ax.bar(range(len(order)), probs[order], color=OKABE_ITO["blue"])
    ax.set_xticks(range(len(order)), [repr(_label(itos[i])) for i in order])
    ax.set_ylim(0, 1)
    ax.set(title=f"Next-character probabilities after the prompt at temperature {temperature:.2f}",
           xlabel=f"the {len(order)} most likely next characters", ylabel="probability")
    fig.tight_layout()
    plt.show()


def temperature_widget(model: Any, stoi: Mapping[str, int], itos: Sequence[str],
                       prompt: str = "ROMEO:\n", length: int = 300, temperature: float = 0.8,
                       seed: int = 0, top_k: int = 12) -> Any:
    """Sliders over the temperature, length and seed of text sampled from ``model``.

    ``model`` is a trained character model (``None`` until there is one: the widget
    then says what to do). Sampling uses :func:`rnnkit.lm_eval.sample_chars` with a
    ``torch.Generator`` seeded by ``seed``, so the same settings give the same text.
    """
    import ipywidgets as widgets
    from IPython.display import clear_output

    from ..lm_eval import sample_chars

    temp = widgets.FloatLogSlider(value=temperature, base=10, min=-1, max=math.log10(3),
                                  step=0.05, description="temperature", readout_format=".2f",
                                  continuous_update=False,
                                  style={"description_width": "initial"})
    size = widgets.IntSlider(value=length, min=20, max=1000, step=20, description="characters",
                             continuous_update=False, style={"description_width": "initial"})
    seed_box = widgets.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="seed",
                                      layout=widgets.Layout(width="160px"))
    prompt_box = widgets.Textarea(value=prompt, description="prompt", rows=2,
                                  continuous_update=False, layout=widgets.Layout(width="60%"))
    status = widgets.HTML()
    text = widgets.HTML()
    out = widgets.Output()

    def redraw(_: Any = None) -> None:
        import torch

        if model is None:
            status.value = message_html("Implement <code>CharLSTM</code> and run the training "
                                        "cells first, then re-run this cell.")
            text.value = ""
            out.clear_output()
            return
        t = float(temp.value)
        try:
            probs = next_char_probabilities(model, prompt_box.value, stoi, t)
            generator = torch.Generator().manual_seed(int(seed_box.value))
            sample = sample_chars(model, stoi, itos, prompt_box.value, int(size.value), t,
                                  generator)
        except NotReady as err:
            status.value = message_html(err.message())
            text.value = ""
            out.clear_output()
            return
        except ValueError as err:
            status.value = value_error_html("the model", err)
            text.value = ""
            out.clear_output()
            return
        except Exception as err:  # a student's bug in forward: name it, keep the widget alive
            status.value = error_message("the model's forward", err)
            text.value = ""
            out.clear_output()
            return
        entropy = _entropy_bits(probs)
        best = int(np.argmax(probs))
        status.value = message_html(
            f"Temperature <b>{t:.2f}</b>: the next character after the prompt has entropy "
            f"<b>{entropy:.2f} bits</b> (most likely {html.escape(repr(_label(itos[best])))}, "
            f"p = {probs[best]:.2f}). Below 1 the distribution sharpens towards the most "
            "likely characters, above 1 it flattens towards uniform.")
        text.value = ('<pre style="white-space: pre-wrap; font-family: monospace; '
                      'border-left: 3px solid var(--jp-border-color1, #999); padding-left: 8px;">'
                      f'<b>{html.escape(prompt_box.value)}</b>{html.escape(sample)}</pre>')
        with out:
            clear_output(wait=True)
            _draw(probs, itos, t, top_k)

    for w in (temp, size, seed_box, prompt_box):
        w.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([temp, size, seed_box]), prompt_box, status, text, out])
