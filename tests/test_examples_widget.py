"""Chapter 06 widget: text sampled from a character model at a chosen temperature."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.widgets import temperature_widget
from rnnkit.widgets.examples import next_char_probabilities

ITOS = sorted(set("to be or not to be\nROMEO:"))
STOI = {ch: i for i, ch in enumerate(ITOS)}


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(len(ITOS), 8, batch_first=True)
        self.head = nn.Linear(8, len(ITOS))

    def forward(self, idx, state=None):
        hs, state = self.lstm(F.one_hot(idx, len(ITOS)).float(), state)
        return self.head(hs) * 3, state


class Broken(Tiny):
    def forward(self, idx, state=None):
        raise IndexError("index 99 is out of range")


def _parts(box):
    (controls, prompt, status, text, _out) = box.children
    temp, size, seed = controls.children
    return temp, size, seed, prompt, status, text


def test_without_a_model_it_says_what_to_do() -> None:
    *_, status, text = _parts(temperature_widget(None, STOI, ITOS))
    assert "Implement <code>CharLSTM</code>" in status.value and text.value == ""


def test_temperature_sharpens_and_flattens_the_distribution() -> None:
    torch.manual_seed(0)
    model = Tiny()
    cold = next_char_probabilities(model, "to be", STOI, 0.2)
    warm = next_char_probabilities(model, "to be", STOI, 1.0)
    hot = next_char_probabilities(model, "to be", STOI, 5.0)
    for p in (cold, warm, hot):
        assert p.shape == (len(ITOS),) and p.sum() == pytest.approx(1.0)
    assert cold.max() > warm.max() > hot.max()
    assert int(np.argmax(cold)) == int(np.argmax(warm))
    with pytest.raises(ValueError, match="temperature"):
        next_char_probabilities(model, "to", STOI, 0.0)


def test_sliders_redraw_the_sample() -> None:
    torch.manual_seed(0)
    temp, size, seed, prompt, status, text = _parts(
        temperature_widget(Tiny(), STOI, ITOS, prompt="to be", length=40, temperature=1.0))
    assert "Temperature <b>1.00</b>" in status.value and "bits" in status.value
    first = text.value
    assert "<pre" in first and "<b>to be</b>" in first
    seed.value = 5
    assert text.value != first
    again = text.value
    seed.value = 0
    assert text.value == first  # same settings, same text
    temp.value = 0.1
    assert "Temperature <b>0.10</b>" in status.value and text.value != first
    size.value = 100
    assert len(text.value) > len(again)
    prompt.value = "to Q"
    assert "not in the vocabulary" in status.value and "Q" in status.value and text.value == ""


def test_a_broken_model_is_named_not_raised() -> None:
    *_, status, _text = _parts(temperature_widget(Broken(), STOI, ITOS, prompt="to"))
    assert "IndexError" in status.value and "forward" in status.value
