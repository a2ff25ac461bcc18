"""Chapter 02 widget: a character Markov chain's order, temperature and sparsity, on Shakespeare."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..datasets import load_shakespeare
from ..lm_eval import HeldOutText, evaluate_markov, held_out_text, markov_text
from ..plotting import SEQUENTIAL_CMAP
from ._common import NotReady, call_student, error_message, message_html

ALPHAS = (1.0, 0.1, 0.01, 0.001)


def char_label(ch: str) -> str:
    """A printable tick label for one character (space and newline made visible)."""
    return {" ": "␣", "\n": "↵", "\t": "⇥"}.get(ch, ch)


def corpus_vocab(*texts: str) -> list[str]:
    """The sorted distinct characters of all ``texts``: a vocabulary that covers held-out text."""
    return sorted(set().union(*map(set, texts)))


def unseen_fraction(counts: dict[str, Any], text: str, order: int) -> float:
    """The fraction of positions ``t >= order`` of ``text`` whose context is not in ``counts``."""
    positions = range(order, len(text))
    if not positions:
        return 0.0
    contexts = Counter(text[t - order : t] for t in positions)
    unseen = sum(n for context, n in contexts.items() if context not in counts)
    return unseen / len(positions)


@dataclass
class OrderResult:
    """A chain of one order fitted on the training text and scored on held-out text."""

    order: int
    alpha: float
    n_contexts: int
    held_out_bits: float
    unseen: float


def evaluate_order(
    ngram_counts: Callable[..., Any],
    bits_per_char: Callable[..., Any],
    train: str,
    held_out: str | HeldOutText,
    vocab: Sequence[str],
    order: int,
    alpha: float,
    counts: dict[str, Any] | None = None,
) -> OrderResult:
    """Count on ``train`` (unless ``counts`` is given) and measure held-out bits per character.

    ``held_out`` as a :class:`rnnkit.lm_eval.HeldOutText` is scored the course's way (the
    characters after its warm-up, as chapters 3 and 6 score their models); as a string,
    ``bits_per_char`` scores it as it is.
    """
    if counts is None:
        counts = call_student(ngram_counts, train, order)
    if isinstance(held_out, HeldOutText):
        try:
            bits = evaluate_markov(bits_per_char, counts, list(vocab), held_out, alpha).bits
        except NotImplementedError as err:
            raise NotReady(getattr(bits_per_char, "__name__", "bits_per_char")) from err
        text = markov_text(held_out, order)
    else:
        bits = call_student(bits_per_char, counts, list(vocab), held_out, alpha)
        text = held_out
    return OrderResult(order, alpha, len(counts), float(bits), unseen_fraction(counts, text, order))


def transition_matrix(
    ngram_counts: Callable[..., Any],
    next_char_distribution: Callable[..., Any],
    text: str,
    vocab: Sequence[str],
    top: int = 20,
    alpha: float = 0.01,
    counts: dict[str, Any] | None = None,
) -> tuple[list[str], np.ndarray]:
    """Order-1 probabilities ``P[i, j] = p(chars[j] | chars[i])`` among the ``top`` commonest chars.

    Rows are the full next-character distributions restricted to those columns, so a row sums
    to less than 1 by the probability of the characters left out. ``counts``: the order-1
    counts of ``text`` when they are already there (``ngram_counts`` is then not called).
    """
    chars = [ch for ch, _ in Counter(text).most_common(top)]
    if counts is None:
        counts = call_student(ngram_counts, text, 1)
    columns = [list(vocab).index(ch) for ch in chars]
    rows = [np.asarray(call_student(next_char_distribution, counts, ch, list(vocab), alpha),
                       dtype=float)[columns] for ch in chars]
    return chars, np.vstack(rows)


def plot_transition_heatmap(chars: Sequence[str], matrix: np.ndarray, ax: Any) -> Any:
    """Draw ``matrix`` (from ``transition_matrix``) on ``ax``, labelled, with a colour bar."""
    image = ax.imshow(matrix, cmap=SEQUENTIAL_CMAP, vmin=0.0, aspect="auto")
    ticks = range(len(chars))
    labels = [char_label(ch) for ch in chars]
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.grid(False)
    ax.set(title="Order-1 transitions among the commonest characters",
           xlabel="next character", ylabel="current character")
    ax.figure.colorbar(image, ax=ax, label="p(next | current)")
    return image


def markov_widget(
    ngram_counts: Callable[..., Any],
    next_char_distribution: Callable[..., Any],
    sample_markov: Callable[..., Any],
    bits_per_char: Callable[..., Any],
    order: int = 3,
    temperature: float = 1.0,
    alpha: float = 0.01,
    max_order: int = 8,
    seed_text: str = "\n",
    sample_length: int = 300,
    max_chars: int | None = None,
    train_chars: int | None = None,
    counts: dict[int, dict[str, Any]] | None = None,
    scores: dict[tuple[int, float], float] | None = None,
) -> Any:
    """Order, temperature and smoothing controls over a Shakespeare chain, and its heatmap.

    Shows a sample, held-out bits per character, the number of distinct contexts and the
    share of held-out positions whose context was never seen in training. The held-out
    text is :func:`rnnkit.lm_eval.held_out_text` (its first ``max_chars`` characters, or
    all), scored as every chapter scores its models. The training text is its first
    ``train_chars`` characters (default ``max_chars``; the chapter passes small numbers
    while nbgrader grades it). ``counts`` (order -> counts of that training text) and
    ``scores`` ((order, alpha) -> held-out bits) are what the chapter has already
    computed: the widget reuses them instead of counting and scoring again.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import clear_output

    train, held_out = load_shakespeare()
    vocab = corpus_vocab(train, held_out)
    train = train[:max_chars if train_chars is None else train_chars]
    held = held_out_text(max_chars)
    given = dict(counts or {})
    style = {"description_width": "initial"}
    order_slider = widgets.IntSlider(value=order, min=0, max=max_order, step=1,
                                     description="order k", continuous_update=False, style=style)
    temp_slider = widgets.FloatSlider(value=temperature, min=0.1, max=2.0, step=0.1,
                                      description="temperature", continuous_update=False,
                                      readout_format=".1f", style=style)
    alpha_box = widgets.Dropdown(options=list(ALPHAS) if alpha in ALPHAS else [alpha, *ALPHAS],
                                 value=alpha, description="smoothing alpha", style=style)
    resample = widgets.Button(description="another sample", icon="refresh")
    status = widgets.HTML()
    sample_box = widgets.HTML()
    heatmap = widgets.Output()
    counts_cache: dict[int, dict[str, Any]] = {}
    results: dict[tuple[int, float], OrderResult] = {}
    known = dict(scores or {})
    draws = {"seed": 0}

    def counts_for(k: int) -> dict[str, Any]:
        if k in given:
            return given[k]
        if k not in counts_cache:
            if len(counts_cache) >= 2:  # high-order counts take ~100 MB: keep the last two
                counts_cache.pop(next(iter(counts_cache)))
            counts_cache[k] = call_student(ngram_counts, train, k)
        return counts_cache[k]

    def show_error(err: Exception) -> None:
        if isinstance(err, NotReady):
            status.value = message_html(err.message())
        else:  # a student's bug: say so and keep the widget alive
            status.value = error_message("your Markov chain functions", err)
        sample_box.value = ""

    def redraw(_: Any = None) -> None:
        k, a = int(order_slider.value), float(alpha_box.value)
        try:
            counts = counts_for(k)
            if (k, a) not in results:
                if (k, a) in known:
                    results[k, a] = OrderResult(k, a, len(counts), float(known[k, a]),
                                                unseen_fraction(counts, markov_text(held, k), k))
                else:
                    results[k, a] = evaluate_order(ngram_counts, bits_per_char, train, held,
                                                   vocab, k, a, counts)
            text = call_student(sample_markov, counts, vocab, seed_text, sample_length,
                                np.random.default_rng(draws["seed"]), a,
                                float(temp_slider.value))
        except Exception as err:
            show_error(err)
            return
        r = results[k, a]
        possible = float(len(vocab)) ** k
        status.value = message_html(
            f"Order <b>{k}</b>: <b>{r.n_contexts:,}</b> distinct contexts in "
            f"{len(train):,} training characters (of {possible:,.0f} possible); "
            f"{100 * r.unseen:.1f}% of held-out positions have a context never seen in "
            f"training. Held-out ({held.n_scored:,} characters, scored as in every chapter): "
            f"<b>{r.held_out_bits:.3f} bits per character</b>, perplexity "
            f"{2 ** r.held_out_bits:.1f} (a uniform guess costs {np.log2(len(vocab)):.2f} bits, "
            f"perplexity {len(vocab)}).")
        sample_box.value = (
            f"<b>Sample</b> (temperature {float(temp_slider.value):.1f}, "
            f"{sample_length} characters):<pre style='white-space: pre-wrap'>"
            f"{html.escape(text)}</pre>")

    def draw_heatmap() -> None:
        try:
            chars, matrix = transition_matrix(ngram_counts, next_char_distribution, train, vocab,
                                              alpha=float(alpha_box.value), counts=given.get(1))
        except Exception as err:
            show_error(err)
            return
        with heatmap:
            clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(6.5, 5.2))
            plot_transition_heatmap(chars, matrix, ax)
            fig.tight_layout()
            plt.show()

    def new_sample(_: Any) -> None:
        draws["seed"] += 1
        redraw()

    for control in (order_slider, temp_slider, alpha_box):
        control.observe(redraw, names="value")
    alpha_box.observe(lambda _: draw_heatmap(), names="value")
    resample.on_click(new_sample)
    redraw()
    draw_heatmap()
    controls = widgets.HBox([order_slider, temp_slider, alpha_box, resample])
    return widgets.VBox([controls, status, sample_box, heatmap])
