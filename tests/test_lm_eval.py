"""rnnkit.lm_eval: one held-out evaluation for character models and Markov chains alike."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.lm_eval import (
    WARMUP,
    HeldOutText,
    LMScore,
    char_vocab,
    detach_state,
    encode_text,
    evaluate_char_model,
    evaluate_markov,
    held_out_text,
    markov_text,
    sample_chars,
)
from rnnkit.reference import load

TEXT = "to be or not to be, that is the question: whether tis nobler in the mind to suffer\n" * 3
ITOS = sorted(set(TEXT) | {"Z"})
STOI = {ch: i for i, ch in enumerate(ITOS)}
BITS_PER_CHAR = load("02_markov_chains").bits_per_char
NGRAM_COUNTS = load("02_markov_chains").ngram_counts


class Uniform(nn.Module):
    """Logits of zero: every character has probability 1/V."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, idx, state=None):
        return torch.zeros(*idx.shape, self.vocab) + 0 * self.dummy, state


class ChainModel(nn.Module):
    """An order-k Markov chain as a recurrent model: the state is the last k characters.

    With the add-alpha probabilities of ``counts``, its scores must equal those of
    ``bits_per_char`` on the same characters, whatever the chunking.
    """

    def __init__(self, counts, order: int, alpha: float) -> None:
        super().__init__()
        self.counts, self.order, self.alpha = counts, order, alpha
        self.dummy = nn.Parameter(torch.zeros(1))

    def probs(self, context: str) -> torch.Tensor:
        followers = self.counts.get(context[len(context) - self.order:]) \
            if len(context) >= self.order else None
        if followers is None:
            return torch.full((len(ITOS),), 1 / len(ITOS), dtype=torch.float64)
        n = torch.tensor([followers.get(ch, 0) for ch in ITOS], dtype=torch.float64)
        return (n + self.alpha) / (n.sum() + self.alpha * len(ITOS))

    def forward(self, idx, state=None):
        context = state if state is not None else ""
        rows = []
        for i in idx[0].tolist():
            context = (context + ITOS[i])[-max(self.order, 1):] if self.order else ""
            rows.append(torch.log(self.probs(context)))
        return torch.stack(rows)[None].float(), context


class TinyLSTM(nn.Module):
    def __init__(self, vocab: int, hidden: int = 6) -> None:
        super().__init__()
        self.vocab = vocab
        self.lstm = nn.LSTM(vocab, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx, state=None):
        hs, state = self.lstm(F.one_hot(idx, self.vocab).float(), state)
        return self.head(hs), state


def test_uniform_model_scores_log_v_in_nats_and_bits() -> None:
    score = evaluate_char_model(Uniform(len(ITOS)), HeldOutText(TEXT), STOI)
    assert score.chars == len(TEXT) - WARMUP
    assert score.nats == pytest.approx(math.log(len(ITOS)), rel=1e-6)
    assert score.bits == pytest.approx(math.log2(len(ITOS)), rel=1e-6)


@pytest.mark.parametrize("order", [0, 1, 3])
@pytest.mark.parametrize("chunk", [1, 5, 4096])
def test_a_chain_scores_the_same_as_bits_per_char_on_the_same_characters(order: int,
                                                                          chunk: int) -> None:
    counts = NGRAM_COUNTS(TEXT[:120], order)
    held = HeldOutText(TEXT[100:260])
    as_model = evaluate_char_model(ChainModel(counts, order, 0.5), held, STOI, chunk=chunk)
    as_chain = evaluate_markov(BITS_PER_CHAR, counts, ITOS, held, alpha=0.5)
    assert as_chain.chars == as_model.chars == held.n_scored
    assert as_model.bits == pytest.approx(as_chain.bits, rel=1e-6)
    assert as_model.nats == pytest.approx(as_chain.nats, rel=1e-6)


def test_markov_text_starts_where_the_chain_has_its_context() -> None:
    held = HeldOutText("abcdefghijklmnop", warmup=5)
    assert markov_text(held, 0) == "fghijklmnop"
    assert markov_text(held, 2) == "defghijklmnop"  # scores text[t] for t >= 2: "f" on
    assert markov_text(held, 5) == held.text
    with pytest.raises(ValueError, match="order"):
        markov_text(held, 6)


def test_an_off_by_one_scorer_would_not_match() -> None:
    # the equality above is not vacuous: scoring one character more changes the result
    counts = NGRAM_COUNTS(TEXT[:120], 1)
    held = HeldOutText(TEXT[100:260])
    shifted = BITS_PER_CHAR(counts, ITOS, held.text[held.warmup - 2:], 0.5)
    assert shifted != pytest.approx(evaluate_markov(BITS_PER_CHAR, counts, ITOS, held, 0.5).bits,
                                    rel=1e-9)


def test_the_state_is_carried_across_chunks() -> None:
    torch.manual_seed(0)
    model = TinyLSTM(len(ITOS))
    held = HeldOutText(TEXT[:200])
    whole = evaluate_char_model(model, held, STOI, chunk=10_000)
    for chunk in (1, 7, 64):
        assert evaluate_char_model(model, held, STOI, chunk=chunk).nats == pytest.approx(
            whole.nats, rel=1e-5)

    class Forgetful(nn.Module):  # resets its state at every call: must score differently
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, idx, state=None):
            return self.inner(idx, None)

    assert evaluate_char_model(Forgetful(model), held, STOI, chunk=7).nats != pytest.approx(
        whole.nats, rel=1e-4)


def test_model_mode_is_restored_and_no_graph_is_kept() -> None:
    model = TinyLSTM(len(ITOS))
    model.train()
    evaluate_char_model(model, HeldOutText(TEXT[:50]), STOI, chunk=8)
    assert model.training
    model.eval()
    evaluate_char_model(model, HeldOutText(TEXT[:50]), STOI)
    assert not model.training
    h = torch.ones(2, requires_grad=True) * 2
    assert not detach_state((h, [h, None]))[0].requires_grad
    assert detach_state(None) is None


def test_held_out_text_is_the_bundled_held_out_part() -> None:
    from rnnkit.datasets import load_shakespeare

    held = held_out_text(1000)
    assert held.text == load_shakespeare()[1][:1000] and held.warmup == WARMUP
    assert held_out_text().n_scored == len(load_shakespeare()[1]) - WARMUP
    assert set(load_shakespeare()[1]) <= set(char_vocab())
    with pytest.raises(ValueError, match="warm-up"):
        held_out_text(WARMUP)
    with pytest.raises(ValueError, match="nothing to score"):
        HeldOutText("abc", warmup=3)
    with pytest.raises(ValueError, match="vocabulary"):
        encode_text("abQ", {"a": 0, "b": 1})


def test_scores_convert_between_units() -> None:
    s = LMScore.from_bits(2.0, 10)
    assert s.nats == pytest.approx(2 * math.log(2)) and s.chars == 10
    assert LMScore.from_nats(math.log(2), 3).bits == pytest.approx(1.0)


def test_sampling_is_reproducible_and_follows_the_temperature() -> None:
    torch.manual_seed(1)
    model = TinyLSTM(len(ITOS))
    a = sample_chars(model, STOI, ITOS, "to be", 40, 1.0, torch.Generator().manual_seed(3))
    b = sample_chars(model, STOI, ITOS, "to be", 40, 1.0, torch.Generator().manual_seed(3))
    assert a == b and len(a) == 40 and set(a) <= set(ITOS)
    # a chain model that always prefers the same follower: near-greedy at a low temperature
    counts = {"": Counter({"e": 50, "t": 1})}
    cold = sample_chars(ChainModel(counts, 0, 0.01), STOI, ITOS, "t", 30, 0.05,
                        torch.Generator().manual_seed(0))
    assert cold == "e" * 30
    hot = sample_chars(ChainModel(counts, 0, 0.01), STOI, ITOS, "t", 300, 50.0,
                       torch.Generator().manual_seed(0))
    assert len(set(hot)) > 10
    with pytest.raises(ValueError, match="temperature"):
        sample_chars(model, STOI, ITOS, "to", 5, 0.0)
    with pytest.raises(ValueError, match="empty"):
        sample_chars(model, STOI, ITOS, "", 5)


def test_scores_match_a_direct_computation() -> None:
    # evaluate_char_model averages -log p over exactly n_scored characters
    rng = np.random.default_rng(0)
    logits_table = torch.tensor(rng.normal(size=(len(ITOS), len(ITOS))), dtype=torch.float32)

    class Table(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(logits_table.clone())

        def forward(self, idx, state=None):
            return self.w[idx], state

    held = HeldOutText(TEXT[:90], warmup=4)
    ids = [STOI[c] for c in held.text]
    logp = torch.log_softmax(logits_table.double(), dim=-1).numpy()
    want = -np.mean([logp[ids[t - 1], ids[t]] for t in range(held.warmup, len(ids))])
    assert evaluate_char_model(Table(), held, STOI, chunk=13).nats == pytest.approx(want,
                                                                                  rel=1e-6)
