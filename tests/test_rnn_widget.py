"""Chapter 03 widget: reading a CharRNN's weights and stepping through it with rnn_step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.widgets import unrolled_rnn_widget
from rnnkit.widgets.rnn import (
    UnsupportedModel,
    char_rnn_weights,
    model_probabilities,
    unroll_text,
)

TEXT = "to be or not"
ITOS = sorted(set(TEXT + "xyz"))
STOI = {ch: i for i, ch in enumerate(ITOS)}


def rnn_step(x, h_prev, Wx, Wh, b):
    return np.tanh(x @ Wx + h_prev @ Wh + b)


def no_tanh_step(x, h_prev, Wx, Wh, b):
    return x @ Wx + h_prev @ Wh + b


def todo(*args):
    raise NotImplementedError


def broken(*args):
    raise IndexError("index 7 is out of bounds")


class OneHotRNN(nn.Module):
    def __init__(self, vocab: int, hidden: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.rnn = nn.RNN(vocab, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx, h=None):
        hs, h = self.rnn(F.one_hot(idx, self.vocab).float(), h)
        return self.head(hs), h


class EmbeddingRNN(nn.Module):
    def __init__(self, vocab: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 5)
        self.rnn = nn.RNN(5, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx, h=None):
        hs, h = self.rnn(self.embed(idx), h)
        return self.head(hs), h


class LSTMModel(nn.Module):
    def __init__(self, vocab: int, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(vocab, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)


def _children(box):
    text, slider, status, out = box.children
    return text, slider, status, out


@pytest.mark.parametrize("cls", [OneHotRNN, EmbeddingRNN])
def test_weights_reproduce_the_models_probabilities(cls: type[nn.Module]) -> None:
    torch.manual_seed(0)
    model = cls(len(ITOS), 6)
    weights = char_rnn_weights(model, len(ITOS))
    assert weights["Wx"].shape == (len(ITOS), 6) and weights["Wh"].shape == (6, 6)
    assert weights["b"].shape == (6,) and weights["Wy"].shape == (6, len(ITOS))
    run = unroll_text(rnn_step, TEXT, STOI, weights)
    assert run.hs.shape == (len(TEXT), 6) and run.probs.shape == (len(TEXT), len(ITOS))
    np.testing.assert_allclose(run.probs, model_probabilities(model, TEXT, STOI), atol=1e-6)
    np.testing.assert_allclose(run.probs.sum(axis=1), 1.0)


def test_other_structures_are_refused() -> None:
    with pytest.raises(UnsupportedModel, match=r"nn\.RNN"):
        char_rnn_weights(LSTMModel(len(ITOS), 4), len(ITOS))
    with pytest.raises(UnsupportedModel):
        char_rnn_weights(OneHotRNN(len(ITOS), 4), len(ITOS) + 1)  # no head to this vocabulary
    with pytest.raises(UnsupportedModel, match="Module"):
        char_rnn_weights("a model", len(ITOS))


def test_unroll_rejects_unknown_characters() -> None:
    weights = char_rnn_weights(OneHotRNN(len(ITOS), 3), len(ITOS))
    with pytest.raises(ValueError, match="'Q'"):
        unroll_text(rnn_step, "to Q", STOI, weights)


def test_widget_asks_for_the_missing_pieces_first() -> None:
    model = OneHotRNN(len(ITOS), 4)
    _, slider, status, _ = _children(unrolled_rnn_widget(todo, model, STOI, ITOS, text=TEXT))
    assert "Implement <code>todo</code> first" in status.value
    slider.value = 3  # still no traceback
    _, _, status, _ = _children(unrolled_rnn_widget(rnn_step, None, STOI, ITOS, text=TEXT))
    assert "Implement <code>CharRNN</code>" in status.value
    _, _, status, _ = _children(unrolled_rnn_widget(rnn_step, LSTMModel(len(ITOS), 4), STOI,
                                                    ITOS, text=TEXT))
    assert "nn.RNN" in status.value
    _, _, status, _ = _children(unrolled_rnn_widget(broken, model, STOI, ITOS, text=TEXT))
    assert "IndexError" in status.value and "<code>rnn_step</code>" in status.value


def test_widget_steps_through_the_text() -> None:
    torch.manual_seed(1)
    box = unrolled_rnn_widget(rnn_step, OneHotRNN(len(ITOS), 4), STOI, ITOS, text=TEXT)
    text, slider, status, _ = _children(box)
    assert slider.max == len(TEXT) - 1
    assert "Step <b>0</b>: input &#x27;t&#x27;" in status.value and "Note" not in status.value
    slider.value = 3
    assert "Step <b>3</b>: input &#x27;b&#x27;" in status.value
    assert "continues with &#x27;e&#x27;" in status.value
    text.value = "not"
    assert slider.max == 2 and slider.value == 2
    text.value = "not Q"
    assert "not in the vocabulary" in status.value and "Q" in status.value


def test_widget_notes_an_rnn_step_that_disagrees_with_the_model() -> None:
    torch.manual_seed(2)
    box = unrolled_rnn_widget(no_tanh_step, OneHotRNN(len(ITOS), 4), STOI, ITOS, text=TEXT)
    status = box.children[2].value
    assert "differ from the model" in status and "<code>rnn_step</code>" in status
