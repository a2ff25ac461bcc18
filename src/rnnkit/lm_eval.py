"""One held-out evaluation for every character model of the course.

Chapter 02 scores Markov chains with ``bits_per_char``; chapters 03 and 06 train
recurrent character models. To compare them honestly, every model is scored here on
**the same characters** in **the same way**:

* the text is :func:`held_out_text` (the bundled Shakespeare's held-out part, or its
  first ``n_chars`` characters);
* its first ``warmup`` characters are context only: every model reads them, none is
  scored on them, so an order-``k`` chain (``k <= warmup``) has its full context at the
  first scored character, as a recurrent model has its state;
* a recurrent model reads the text as **one sequence** in consecutive chunks, its state
  carried from chunk to chunk (and detached: no graph is kept), starting from zeros;
* the score is the mean of ``-log p(next character)`` over the scored characters, in
  nats and in bits (``bits = nats / ln 2``).

:func:`evaluate_char_model` scores a model ``model(idx, state) -> (logits, state)``;
:func:`evaluate_markov` scores a Markov chain with the student's own chapter-02
``bits_per_char`` on exactly the same characters (:func:`markov_text` is the text to pass
it). :func:`sample_chars` draws text from a character model at a temperature.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = [
    "WARMUP",
    "HeldOutText",
    "LMScore",
    "char_vocab",
    "detach_state",
    "encode_text",
    "evaluate_char_model",
    "evaluate_markov",
    "held_out_text",
    "markov_text",
    "sample_chars",
]

WARMUP = 8  # characters read before scoring starts: at least the highest Markov order compared


@dataclass(frozen=True)
class HeldOutText:
    """A text to score: ``text[:warmup]`` is context only, the rest is scored."""

    text: str
    warmup: int = WARMUP

    def __post_init__(self) -> None:
        if self.warmup < 1:
            raise ValueError(f"warmup must be >= 1 (a first character to condition on); "
                             f"got {self.warmup}")
        if len(self.text) <= self.warmup:
            raise ValueError(f"a text of {len(self.text)} characters has nothing to score "
                             f"after a warm-up of {self.warmup}")

    @property
    def n_scored(self) -> int:
        """How many characters are scored: ``len(text) - warmup``."""
        return len(self.text) - self.warmup


@dataclass(frozen=True)
class LMScore:
    """Mean cross-entropy per scored character, in nats and in bits."""

    nats: float
    bits: float
    chars: int

    @classmethod
    def from_nats(cls, nats: float, chars: int) -> LMScore:
        return cls(nats=float(nats), bits=float(nats) / math.log(2), chars=int(chars))

    @classmethod
    def from_bits(cls, bits: float, chars: int) -> LMScore:
        return cls(nats=float(bits) * math.log(2), bits=float(bits), chars=int(chars))


def char_vocab() -> list[str]:
    """The course's character vocabulary: every distinct character of the bundled corpus."""
    from .datasets import load_shakespeare

    train, held_out = load_shakespeare()
    return sorted(set(train) | set(held_out))


def held_out_text(n_chars: int | None = None, warmup: int = WARMUP) -> HeldOutText:
    """The bundled Shakespeare's held-out text (its first ``n_chars`` characters, or all)."""
    from .datasets import load_shakespeare

    text = load_shakespeare()[1]
    if n_chars is not None:
        if n_chars <= warmup:
            raise ValueError(f"n_chars must exceed the warm-up of {warmup}; got {n_chars}")
        text = text[:n_chars]
    return HeldOutText(text, warmup)


def encode_text(text: str, stoi: Mapping[str, int]) -> torch.Tensor:
    """``text`` as an int64 tensor of indices; a character missing from ``stoi`` is named."""
    import torch

    missing = sorted(set(text) - set(stoi))
    if missing:
        raise ValueError(f"characters not in the vocabulary: {', '.join(map(repr, missing))}")
    return torch.tensor([stoi[ch] for ch in text], dtype=torch.int64)


def detach_state(state: Any) -> Any:
    """The state with every tensor in it detached (tuples and lists kept; other values as is)."""
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    detach = getattr(state, "detach", None)
    return detach() if callable(detach) else state


def _model_device(model: Any) -> torch.device:
    import torch

    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def evaluate_char_model(model: Any, held: HeldOutText | str, stoi: Mapping[str, int], *,
                        chunk: int = 2048, device: Any = None) -> LMScore:
    """Held-out cross-entropy of a character model ``model(idx, state) -> (logits, state)``.

    The text is read as one sequence (batch of 1) in consecutive chunks of ``chunk``
    characters, the state carried from chunk to chunk and detached, starting from
    ``None`` (zeros). Character ``t`` is scored from the logits after reading characters
    ``0..t-1``, for ``t >= held.warmup``. The model is put in eval mode for the pass and
    back into its previous mode afterwards; it stays on its device (or ``device``).
    """
    import torch
    import torch.nn.functional as F

    if isinstance(held, str):
        held = HeldOutText(held)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1; got {chunk}")
    dev = _model_device(model) if device is None else torch.device(device)
    ids = encode_text(held.text, stoi).to(dev)
    inputs, targets = ids[:-1], ids[1:]  # targets[j] = text[j + 1], predicted after inputs[:j + 1]
    first = held.warmup - 1  # index into targets of the first scored character
    was_training = getattr(model, "training", False)
    model.eval()
    total = 0.0
    state = None
    try:
        with torch.no_grad():
            for start in range(0, len(inputs), chunk):
                x = inputs[start:start + chunk].unsqueeze(0)
                logits, state = model(x, state)
                state = detach_state(state)
                lo = max(first - start, 0)
                if lo >= x.shape[1]:
                    continue
                y = targets[start + lo:start + x.shape[1]]
                scores = logits[0, lo:]
                # float64 sums (Apple's MPS has no float64: float32 there)
                scores = scores.float() if scores.device.type == "mps" else scores.double()
                total += float(F.cross_entropy(scores, y, reduction="sum"))
    finally:
        model.train(was_training)
    return LMScore.from_nats(total / held.n_scored, held.n_scored)


def markov_text(held: HeldOutText, order: int) -> str:
    """The text to give ``bits_per_char`` so that it scores exactly ``held``'s scored characters.

    ``bits_per_char(counts, vocab, text)`` scores ``text[t]`` for ``t >= order``; cutting
    the first ``warmup - order`` characters makes those the characters from ``warmup`` on.
    """
    if not 0 <= order <= held.warmup:
        raise ValueError(f"order must be in 0..{held.warmup} (the warm-up); got {order}")
    return held.text[held.warmup - order:]


def evaluate_markov(bits_per_char: Callable[..., float], counts: Mapping[str, Any],
                    vocab: Sequence[str], held: HeldOutText, alpha: float = 1.0) -> LMScore:
    """A Markov chain's score with the student's ``bits_per_char``, on ``held``'s characters.

    The order is the length of the keys of ``counts`` (as in chapter 02).
    """
    if not counts:
        raise ValueError("counts is empty: expected the output of ngram_counts")
    order = len(next(iter(counts)))
    bits = float(bits_per_char(counts, vocab, markov_text(held, order), alpha))
    return LMScore.from_bits(bits, held.n_scored)


def sample_chars(model: Any, stoi: Mapping[str, int], itos: Sequence[str], prompt: str,
                 length: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> str:
    """``length`` characters drawn from ``model`` after ``prompt`` (the prompt not included).

    Each character is drawn from ``softmax(logits / temperature)``; the state is fed back
    at every step. ``generator`` (a CPU ``torch.Generator``) makes the draw reproducible.
    """
    import torch

    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature!r}")
    if not prompt:
        raise ValueError("the prompt is empty: give at least one character")
    dev = _model_device(model)
    idx = encode_text(prompt, stoi).to(dev).unsqueeze(0)
    was_training = getattr(model, "training", False)
    model.eval()
    out: list[str] = []
    try:
        with torch.no_grad():
            logits, state = model(idx, None)
            for _ in range(length):
                p = torch.softmax(logits[0, -1].cpu().double() / temperature, dim=-1)
                nxt = int(torch.multinomial(p, 1, generator=generator))
                out.append(itos[nxt])
                logits, state = model(torch.tensor([[nxt]], device=dev), state)
    finally:
        model.train(was_training)
    return "".join(out)
