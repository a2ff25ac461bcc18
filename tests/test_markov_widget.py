"""Chapter 02 widget and its helpers, driven with reference implementations."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from rnnkit.datasets import load_shakespeare
from rnnkit.lm_eval import WARMUP, char_vocab, evaluate_markov, held_out_text, markov_text
from rnnkit.widgets import markov_widget
from rnnkit.widgets.markov import (
    char_label,
    corpus_vocab,
    evaluate_order,
    plot_transition_heatmap,
    transition_matrix,
    unseen_fraction,
)


def ngram_counts(text, order):
    counts = {}
    for t in range(order, len(text)):
        counts.setdefault(text[t - order : t], Counter())[text[t]] += 1
    return counts


def next_char_distribution(counts, context, vocab, alpha=1.0):
    order = len(next(iter(counts)))
    seen = counts.get(context[len(context) - order :], {}) if len(context) >= order else {}
    n = np.array([seen.get(ch, 0) for ch in vocab], dtype=float)
    total = n.sum() + alpha * len(vocab)
    return (n + alpha) / total if total > 0 else np.full(len(vocab), 1 / len(vocab))


def sample_markov(counts, vocab, seed_text, length, rng, alpha=1.0, temperature=1.0):
    text = seed_text
    for _ in range(length):
        q = next_char_distribution(counts, text, vocab, alpha)
        with np.errstate(divide="ignore"):
            p = np.exp(np.log(q) / temperature)
        text += vocab[rng.choice(len(vocab), p=p / p.sum())]
    return text[len(seed_text) :]


def bits_per_char(counts, vocab, text, alpha=1.0):
    order = len(next(iter(counts)))
    logs = [math.log2(next_char_distribution(counts, text[t - order : t], vocab, alpha)
                      [vocab.index(text[t])]) for t in range(order, len(text))]
    return -sum(logs) / len(logs)


def todo(*args, **kwargs):
    raise NotImplementedError


def broken(*args, **kwargs):
    raise KeyError("oops")


def test_char_labels_make_whitespace_visible() -> None:
    assert [char_label(c) for c in " \na"] == ["␣", "↵", "a"]


def test_corpus_vocab_covers_every_text() -> None:
    assert corpus_vocab("ba", "c\n") == ["\n", "a", "b", "c"]


def test_unseen_fraction_counts_positions_not_contexts() -> None:
    counts = ngram_counts("abab", 1)  # contexts a, b
    assert unseen_fraction(counts, "abcab", 1) == pytest.approx(1 / 4)  # only context 'c' is new
    assert unseen_fraction(counts, "ab", 3) == 0.0


def test_evaluate_order_matches_a_direct_computation() -> None:
    train, held = "the cat sat on the mat. " * 20, "the rat sat."
    vocab = corpus_vocab(train, held)
    result = evaluate_order(ngram_counts, bits_per_char, train, held, vocab, order=2, alpha=0.1)
    counts = ngram_counts(train, 2)
    assert result.n_contexts == len(counts)
    assert result.held_out_bits == pytest.approx(bits_per_char(counts, vocab, held, 0.1))
    assert result.unseen == pytest.approx(unseen_fraction(counts, held, 2)) and result.unseen > 0


def test_transition_matrix_uses_counts_it_is_given() -> None:
    text = "abracadabra " * 30
    chars, matrix = transition_matrix(todo, next_char_distribution, text, corpus_vocab(text),
                                      top=3, alpha=0.0, counts=ngram_counts(text, 1))
    assert chars == ["a", "b", "r"]
    np.testing.assert_allclose(matrix[1], [0.0, 0.0, 1.0])


def test_transition_matrix_rows_are_order_one_probabilities() -> None:
    text = "abracadabra " * 30
    vocab = corpus_vocab(text)
    chars, matrix = transition_matrix(ngram_counts, next_char_distribution, text, vocab, top=3,
                                      alpha=0.0)
    assert chars == ["a", "b", "r"]
    assert matrix.shape == (3, 3)
    # after 'b' always comes 'r'; after 'r' always 'a'
    np.testing.assert_allclose(matrix[1], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(matrix[2], [1.0, 0.0, 0.0])
    assert np.all(matrix.sum(axis=1) <= 1 + 1e-12)


def test_heatmap_is_labelled() -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    plot_transition_heatmap([" ", "e", "\n"], np.eye(3), ax)
    assert ax.get_xlabel() == "next character" and ax.get_ylabel() == "current character"
    assert "transitions" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["␣", "e", "↵"]
    assert len(fig.axes) == 2, "a colour bar explains the colours"
    plt.close(fig)


def test_widget_asks_for_the_missing_function_first() -> None:
    box = markov_widget(todo, next_char_distribution, sample_markov, bits_per_char)
    controls, status, sample_box, _ = box.children
    assert "Implement <code>todo</code> first" in status.value
    assert sample_box.value == ""
    controls.children[0].value = 2  # moving a slider still shows the message, no traceback
    assert "Implement <code>todo</code> first" in status.value


def test_widget_reports_a_students_error_without_crashing() -> None:
    box = markov_widget(ngram_counts, next_char_distribution, broken, bits_per_char, order=1)
    assert "raised <code>KeyError" in box.children[1].value


@pytest.mark.slow
def test_widget_shows_sample_bits_and_contexts_and_redraws() -> None:
    box = markov_widget(ngram_counts, next_char_distribution, sample_markov, bits_per_char,
                        order=1, alpha=0.1, sample_length=40)
    controls, status, sample_box, _ = box.children
    order_slider, temperature, _, resample = controls.children
    assert "Order <b>1</b>: <b>75</b> distinct contexts" in status.value
    assert "bits per character" in status.value
    assert "<pre" in sample_box.value and "temperature 1.0" in sample_box.value
    assert "raised" not in status.value, "the heatmap was drawn without an error"
    first = sample_box.value
    temperature.value = 0.5
    assert "temperature 0.5" in sample_box.value and sample_box.value != first
    resample.click()
    assert sample_box.value != first
    order_slider.value = 0
    assert "Order <b>0</b>: <b>1</b> distinct contexts" in status.value


def test_widget_counts_and_scores_only_max_chars_characters() -> None:
    # the chapter passes a small max_chars while nbgrader grades it
    seen = []

    def counting(text, order):
        seen.append(len(text))
        return ngram_counts(text, order)

    def scoring(counts, vocab, text, alpha=1.0):
        seen.append(len(text))
        return bits_per_char(counts, vocab, text, alpha)

    box = markov_widget(counting, next_char_distribution, sample_markov, scoring, order=2,
                        sample_length=20, max_chars=3_000)
    # counted: 3,000 training characters; scored: the 3,000 held-out characters after the
    # course's warm-up of 8, which bits_per_char gets with order = 2 characters of context
    assert seen == [3_000, 3_000 - WARMUP + 2, 3_000], seen
    assert "in 3,000 training characters" in box.children[1].value
    assert f"Held-out ({3_000 - WARMUP:,} characters" in box.children[1].value


def test_widget_reuses_the_chapters_counts_and_scores() -> None:
    calls = []

    def counting(text, order):
        calls.append(("count", order))
        return ngram_counts(text, order)

    def scoring(counts, vocab, text, alpha=1.0):
        calls.append(("score", len(text)))
        return bits_per_char(counts, vocab, text, alpha)

    train = load_shakespeare()[0][:2_000]
    given = {k: ngram_counts(train, k) for k in (1, 2)}
    box = markov_widget(counting, next_char_distribution, sample_markov, scoring, order=2,
                        alpha=0.1, sample_length=20, max_chars=500, train_chars=2_000,
                        counts=given, scores={(2, 0.1): 3.25})
    assert calls == [], "the widget counted or scored again what the chapter gave it"
    status = box.children[1].value
    assert "<b>3.250 bits per character</b>, perplexity 9.5" in status
    assert f"<b>{len(given[2]):,}</b> distinct contexts in 2,000 training characters" in status
    box.children[0].children[0].value = 3  # an order the chapter did not count
    assert calls == [("count", 3), ("score", 500 - WARMUP + 3)]


def test_evaluate_order_scores_held_out_text_the_course_way() -> None:
    train = load_shakespeare()[0][:5_000]
    held = held_out_text(400)
    vocab = char_vocab()
    result = evaluate_order(ngram_counts, bits_per_char, train, held, vocab, order=3, alpha=0.1)
    counts = ngram_counts(train, 3)
    assert result.held_out_bits == pytest.approx(
        evaluate_markov(bits_per_char, counts, vocab, held, 0.1).bits)
    assert result.unseen == pytest.approx(unseen_fraction(counts, markov_text(held, 3), 3))
