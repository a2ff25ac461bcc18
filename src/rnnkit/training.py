"""Chapter 06's training helpers: progress, budgets, the three experiments, a headless runner.

Everything the chapter's experiments share lives here, so that the notebook (with the
student's own functions) and :func:`run_chapter06_experiments` (headless, with rnnkit's
reference functions, for example on a GPU machine without Jupyter) run **the same code**:

* :func:`progress`: a progress display that renders in JupyterLab (a progress bar and a
  status line, redrawn in place) and falls back to plain stdout lines elsewhere. It
  never writes to stderr (nbgrader scores a test cell with stderr 0; text tqdm writes
  there), and it is not an interactive widget (nothing to click, nothing for a saved
  notebook to lose).
* :class:`Budget` and :func:`choose_budget`: the step budgets of the experiments:
  ``"grading"`` when ``NBGRADER_EXECUTION`` is set (a whole submission in seconds),
  ``"default"`` for students on a laptop CPU, ``"gpu"`` for a longer run, ``"smoke"``
  for unit tests.
* :func:`adding_experiment`, :func:`char_lm_experiment`, :func:`sunspot_experiment`: the
  experiments, each taking the functions it trains as arguments.
* :func:`run_chapter06_experiments`: all three, writing a results table (Markdown and
  JSON) and the figures to a folder.
"""

from __future__ import annotations

import contextlib
import copy
import html
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BUDGETS",
    "AddingBudget",
    "AddingResult",
    "Budget",
    "LMBudget",
    "LMResult",
    "Progress",
    "SunspotBudget",
    "SunspotResult",
    "adding_experiment",
    "char_lm_experiment",
    "choose_budget",
    "count_parameters",
    "describe_device",
    "in_notebook",
    "progress",
    "reproducible",
    "run_chapter06_experiments",
    "smooth",
    "sunspot_experiment",
    "train_char_lm",
]


# --------------------------------------------------------------------------- progress

def in_notebook() -> bool:
    """Whether code runs in a Jupyter kernel, whose front end can redraw an output in place."""
    if sys.modules.get("IPython") is None:
        return False
    try:
        from IPython import get_ipython

        ip = get_ipython()
    except Exception:  # pragma: no cover - IPython half-installed
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


class Progress:
    """A progress display for ``total`` steps; use :func:`progress` to make one.

    ``update(n, **info)`` advances by ``n`` steps; ``info`` (for example
    ``loss=0.12``) is shown beside the count. ``close(summary)`` shows the final line.
    In a notebook (``live``) it is one output, a progress bar and a status line, redrawn
    in place at most every ``every_s`` seconds (an HTML display updated by its display
    id: it renders in JupyterLab, in the classic notebook and in saved notebooks, and
    is not an interactive widget). Elsewhere it prints a line to stdout at 0, 25, 50,
    75 and 100 % of the steps (the same lines every run, the elapsed time at the end).
    Nothing ever goes to stderr.
    """

    def __init__(self, total: int, label: str, *, live: bool | None = None,
                 every_s: float = 0.25, stream: Any = None) -> None:
        if total < 0:
            raise ValueError(f"total must be >= 0; got {total}")
        self.total = int(total)
        self.label = label
        self.count = 0
        self.info: dict[str, Any] = {}
        self.every_s = every_s
        self.stream = stream if stream is not None else sys.stdout
        self.start = time.perf_counter()
        self._last_draw = -math.inf
        self._marks = sorted({0, *(round(self.total * q / 4) for q in (1, 2, 3, 4))})
        self._next_mark = 0
        self.closed = False
        self.live = in_notebook() if live is None else live
        self._handle: Any = None
        if self.live:
            from IPython.display import display

            self._handle = display(self._bundle(), raw=True, display_id=True)
        else:
            self._emit(force=True)

    @property
    def seconds(self) -> float:
        """Seconds since the display was made."""
        return time.perf_counter() - self.start

    def _status(self) -> str:
        parts = [f"{self.count}/{self.total} steps"]
        parts += [f"{k} {_fmt(v)}" for k, v in self.info.items()]
        return ", ".join(parts)

    def _bundle(self, text: str | None = None, done: bool = False) -> dict[str, str]:
        """The output: HTML (a bar and the status, in the theme's colours) and plain text."""
        line = f"{self.label}: {text if text is not None else self._status()} " \
               f"({self.seconds:.1f} s)"
        value = self.total if done else min(self.count, self.total)
        bar = (f'<progress value="{value}" max="{max(self.total, 1)}" '
               'style="width: 16em; vertical-align: middle;"></progress>')
        mark = " &#10003;" if done else ""
        body = (f'<div class="rnnkit-progress" style="font-family: var(--jp-code-font-family, '
                'monospace); color: var(--jp-content-font-color1, #111);">'
                f"{bar} {html.escape(line)}{mark}</div>")
        return {"text/html": body, "text/plain": line}

    def _emit(self, force: bool = False) -> None:
        if self.live:
            now = time.perf_counter()
            if force or now - self._last_draw >= self.every_s or self.count >= self.total:
                self._handle.update(self._bundle(), raw=True)
                self._last_draw = now
            return
        while self._next_mark < len(self._marks) and self.count >= self._marks[self._next_mark]:
            self._next_mark += 1
            print(f"{self.label}: {self._status()} ({self.seconds:.1f} s elapsed)",
                  file=self.stream, flush=True)

    def update(self, n: int = 1, **info: Any) -> None:
        """Advance by ``n`` steps and show ``info`` (name -> value)."""
        self.count += n
        self.info.update(info)
        self._emit()

    def close(self, summary: str | None = None) -> None:
        """The final state: the bar full and ``summary`` (or the last status)."""
        if self.closed:
            return
        self.closed = True
        if self.live:
            self._handle.update(self._bundle(summary, done=True), raw=True)
            return
        self._next_mark = len(self._marks)
        if summary is not None:
            print(f"{self.label}: {summary} ({self.seconds:.1f} s elapsed)", file=self.stream,
                  flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _Silent(Progress):
    """A progress display that shows nothing (``show=False``)."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.count, self.info = int(total), label, 0, {}
        self.start = time.perf_counter()
        self.closed = False
        self.live = False

    def _emit(self, force: bool = False) -> None:
        return

    def close(self, summary: str | None = None) -> None:
        self.closed = True


def progress(total: int, label: str, show: bool = True, **kwargs: Any) -> Progress:
    """A :class:`Progress` for ``total`` steps: live in a notebook, stdout lines elsewhere."""
    return Progress(total, label, **kwargs) if show else _Silent(total, label)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# --------------------------------------------------------------------------- small helpers

def count_parameters(model: Any) -> int:
    """The number of trainable parameters of a ``torch.nn.Module``."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def describe_device(device: Any) -> str:
    """A device in words: ``"cpu (2 threads, x86_64)"`` or ``"cuda (NVIDIA H200)"``."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        try:
            return f"cuda ({torch.cuda.get_device_name(device)})"
        except Exception:  # pragma: no cover - depends on the machine
            return "cuda"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} thread{'s' * (torch.get_num_threads() > 1)}, " \
               f"{platform.machine() or 'unknown'})"
    return device.type


@contextlib.contextmanager
def reproducible(threads: int | None = 1) -> Iterator[None]:
    """Run the block with a fixed number of CPU threads (restored afterwards).

    With one thread, CPU results repeat exactly from run to run on the same machine and
    PyTorch version. ``threads=None`` leaves the setting alone (for a GPU run).
    """
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Moving average of ``values`` over ``window`` steps (shorter at the start)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0 or window <= 1:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, v.size + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


# --------------------------------------------------------------------------- budgets

@dataclass(frozen=True)
class AddingBudget:
    """The adding problem: one lag ``T``, the same steps/optimiser for every model."""

    T: int = 40
    hidden: int = 64
    steps: int = 1000
    batch: int = 64
    lr: float = 1e-2
    clip: float = 1.0
    test_size: int = 1000
    cells: tuple[str, ...] = ("rnn", "irnn", "lstm")
    seeds: Mapping[str, tuple[int, ...]] = field(
        default_factory=lambda: {"rnn": (0,), "irnn": (0, 1, 2), "lstm": (0,)})


@dataclass(frozen=True)
class LMBudget:
    """The character language models on Shakespeare (truncated BPTT)."""

    hidden: int = 96
    layers: int = 1
    steps: int = 2000
    rnn_steps: int | None = 600  # CharRNN's steps (None: the same as the LSTM's)
    batch: int = 32
    seq_len: int = 64
    lr: float = 2e-2
    lr_decay: bool = True  # the learning rate falls linearly to 0 over the steps
    clip: float = 1.0
    eval_every: int = 200
    valid_chars: int | None = 10_000  # validation characters scored at each evaluation
    test_chars: int | None = None  # held-out characters scored at the end (None: all)
    markov_train_chars: int | None = None  # characters the chains count (None: all)
    markov_orders: tuple[int, ...] = (3, 4)
    markov_alpha: float = 0.01  # chapter 02's choice on validation text for orders 3-6
    sample_chars: int = 200


@dataclass(frozen=True)
class SunspotBudget:
    """Sunspots: window, split year and the LSTM's training."""

    window: int = 10
    split_year: int = 1900
    l2: float = 1.0
    hidden: int = 32
    steps: int = 120  # the most steps tried; the number used is chosen on validation years
    lr: float = 1e-2
    horizon: int = 8
    seeds: tuple[int, ...] = (0, 1, 2)
    valid_years: int = 50  # the last training years, held back to choose the LSTM's steps
    eval_every: int = 10


@dataclass(frozen=True)
class Budget:
    """The budgets of the three experiments, with the CPU threads they run on."""

    name: str
    adding: AddingBudget = field(default_factory=AddingBudget)
    lm: LMBudget = field(default_factory=LMBudget)
    sunspots: SunspotBudget = field(default_factory=SunspotBudget)
    threads: int | None = 1  # torch threads on the CPU (1: reproducible); None leaves it

    def describe(self) -> str:
        a, m, s = self.adding, self.lm, self.sunspots
        return (f"budget {self.name!r}: adding problem T={a.T}, H={a.hidden}, {a.steps} Adam "
                f"steps of {a.batch}; character models H={m.hidden} x {m.layers} layer(s), "
                f"{m.steps} steps of {m.batch} x {m.seq_len} characters; sunspot LSTM "
                f"{s.steps} steps")


BUDGETS: dict[str, Budget] = {
    "smoke": Budget(
        "smoke",
        AddingBudget(T=8, hidden=8, steps=5, batch=8, test_size=64,
                     seeds={"rnn": (0,), "irnn": (0, 1), "lstm": (0,)}),
        LMBudget(hidden=8, steps=6, rnn_steps=None, batch=4, seq_len=8, eval_every=3,
                 valid_chars=300, test_chars=400, markov_train_chars=3000,
                 markov_orders=(2,), sample_chars=20),
        SunspotBudget(hidden=4, steps=5, horizon=3, seeds=(0,))),
    "grading": Budget(
        "grading",
        AddingBudget(T=40, steps=30, batch=32, test_size=200,
                     seeds={"rnn": (0,), "irnn": (0, 1), "lstm": (0,)}),
        LMBudget(steps=30, rnn_steps=None, eval_every=15, valid_chars=2000, test_chars=5000,
                 markov_train_chars=100_000, markov_orders=(4,), sample_chars=60),
        SunspotBudget(steps=40, seeds=(0,))),
    "default": Budget("default"),
    "gpu": Budget(
        "gpu",
        AddingBudget(T=200, hidden=128, steps=4000, batch=128, test_size=2000,
                     seeds={"rnn": (0, 1, 2), "irnn": (0, 1, 2, 3, 4), "lstm": (0, 1, 2)}),
        LMBudget(hidden=512, layers=2, steps=6000, rnn_steps=None, batch=64, seq_len=128,
                 lr=2e-3, eval_every=250, valid_chars=30_000, sample_chars=400),
        SunspotBudget(hidden=64, steps=400, seeds=(0, 1, 2, 3, 4)),
        threads=None),
}


def choose_budget(name: str | Budget | None = None) -> Budget:
    """The budget to run.

    ``"grading"`` whenever ``NBGRADER_EXECUTION`` is set (nbgrader is grading: a
    notebook's own choice cannot make a whole class grade slowly); otherwise ``name``,
    else ``RNNKIT_BUDGET`` from the environment, else ``"default"``.
    """
    if os.environ.get("NBGRADER_EXECUTION"):
        return BUDGETS["grading"]
    if isinstance(name, Budget):
        return name
    if name is None:
        name = os.environ.get("RNNKIT_BUDGET", "").strip() or "default"
    if name not in BUDGETS:
        raise ValueError(f"unknown budget {name!r}: expected one of {', '.join(BUDGETS)}")
    return BUDGETS[name]


# --------------------------------------------------------------------------- adding problem

ADDING_TEST_SEED = 2015  # the held-out batch: the same for every model and seed
CELL_LABELS = {"rnn": "tanh RNN", "irnn": "IRNN", "lstm": "LSTM"}


@dataclass
class AddingRun:
    """One model trained on the adding problem."""

    cell: str
    seed: int
    test_mse: float
    seconds: float
    steps: int
    parameters: int
    losses: list[float]

    @property
    def label(self) -> str:
        return CELL_LABELS.get(self.cell, self.cell)


@dataclass
class AddingResult:
    """Every run of :func:`adding_experiment`, with the budget and the baseline."""

    budget: AddingBudget
    device: str
    baseline_mse: float  # predicting 1 (the mean of the target) on the held-out batch
    runs: list[AddingRun]

    def by_cell(self) -> dict[str, list[AddingRun]]:
        out: dict[str, list[AddingRun]] = {}
        for run in self.runs:
            out.setdefault(run.cell, []).append(run)
        return out

    def median_mse(self, cell: str) -> float:
        values = [r.test_mse for r in self.by_cell()[cell]]
        return float(np.median([v if math.isfinite(v) else math.inf for v in values]))

    def claims(self) -> list[tuple[str, bool]]:
        """The chapter's claims about this run, each with whether it holds."""
        base = self.baseline_mse
        cells = self.by_cell()
        out = []
        if "lstm" in cells:
            out.append(("the LSTM's held-out MSE is below a tenth of the 1/6 baseline",
                        self.median_mse("lstm") < base / 10))
        if "rnn" in cells:
            out.append(("the tanh RNN's held-out MSE is not even 10% below the baseline: it "
                        "learned (almost) nothing", not self.median_mse("rnn") < 0.9 * base))
        if "irnn" in cells:
            out.append(("no IRNN seed comes as low as the LSTM",
                        all(not r.test_mse < self.median_mse("lstm") for r in cells["irnn"])))
        return out

    def table(self) -> str:
        """A plain-text table: one row per model and seed, then the spread per model."""
        b = self.budget
        lines = [f"Adding problem, T = {b.T}: H = {b.hidden}, {b.steps} Adam steps of "
                 f"{b.batch} sequences, lr {b.lr:g}, clip {b.clip:g}, on {self.device}",
                 f"held-out MSE on {b.test_size} sequences; predicting 1 scores "
                 f"{self.baseline_mse:.4f} (1/6 = {1 / 6:.4f})",
                 "",
                 f"{'model':<10}{'seed':>5}{'held-out MSE':>14}{'/ baseline':>12}"
                 f"{'parameters':>12}{'seconds':>9}"]
        for run in self.runs:
            lines.append(f"{run.label:<10}{run.seed:>5}{_mse(run.test_mse):>14}"
                         f"{_ratio(run.test_mse, self.baseline_mse):>12}"
                         f"{run.parameters:>12,}{run.seconds:>9.1f}")
        lines.append("")
        for cell, runs in self.by_cell().items():
            if len(runs) > 1:
                values = [r.test_mse for r in runs]
                finite = [v for v in values if math.isfinite(v)]
                spread = (f"min {_mse(min(finite))}, median {_mse(self.median_mse(cell))}, "
                          f"max {_mse(max(finite))}" if finite else "all diverged")
                bad = len(values) - len(finite)
                lines.append(f"{CELL_LABELS.get(cell, cell)} over {len(runs)} seeds: {spread}"
                             + (f"; {bad} diverged (not finite)" if bad else ""))
        return "\n".join(lines)


def _mse(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "diverged"


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.3f}" if math.isfinite(value) else "-"


def adding_experiment(adding_problem_batch: Callable[..., Any], SequenceRegressor: type,
                      train_steps: Callable[..., list[float]],
                      budget: AddingBudget | None = None, device: Any = None,
                      show: bool = True) -> AddingResult:
    """Train every cell of ``budget`` on the adding problem the same way; held-out MSE of each.

    Every model has the same hidden size, optimiser (``train_steps``: Adam with clipping),
    step budget and batches (the batch stream of seed ``s`` is the same for every cell);
    all are scored on one held-out batch. ``device`` ``None`` is ``rnnkit.device()``.
    """
    import torch
    import torch.nn.functional as F

    from . import device as default_device

    b = choose_budget().adding if budget is None else budget
    dev = default_device() if device is None else torch.device(device)
    test_x, test_y = adding_problem_batch(b.test_size, b.T,
                                          torch.Generator().manual_seed(ADDING_TEST_SEED))
    baseline = float(torch.mean((test_y.double() - 1.0) ** 2))
    runs = []
    for cell in b.cells:
        for seed in b.seeds.get(cell, (0,)):
            torch.manual_seed(seed)
            model = SequenceRegressor(cell, b.hidden)
            batches = torch.Generator().manual_seed(1000 + seed)
            bar = progress(b.steps, f"{CELL_LABELS.get(cell, cell)}, seed {seed}", show=show)

            def make_batch(bar: Progress = bar, batches: Any = batches) -> Any:
                bar.update()
                return adding_problem_batch(b.batch, b.T, batches)

            start = time.perf_counter()
            losses = train_steps(model, make_batch, F.mse_loss, b.steps, b.lr, clip=b.clip,
                                 device=dev)
            seconds = time.perf_counter() - start
            model.eval()
            with torch.no_grad():
                pred = model(test_x.to(dev))
                pred = pred[0] if isinstance(pred, tuple) else pred
                mse = float(torch.mean((pred.cpu().double() - test_y.double()) ** 2))
            bar.close(f"held-out MSE {_mse(mse)}")
            runs.append(AddingRun(cell, seed, mse, seconds, b.steps, count_parameters(model),
                                  [float(v) for v in losses]))
    return AddingResult(b, describe_device(dev), baseline, runs)


def plot_adding(result: AddingResult, ax: Any = None, window: int = 25) -> Any:
    """Learning curves (training MSE, smoothed) of every run against the baseline."""
    import matplotlib.pyplot as plt

    from .plotting import OKABE_ITO

    colours = {"rnn": OKABE_ITO["blue"], "irnn": OKABE_ITO["orange"],
               "lstm": OKABE_ITO["green"]}
    styles = ["-", "--", ":", "-."]
    if ax is None:
        _, ax = plt.subplots()
    seen: set[str] = set()
    for cell, runs in result.by_cell().items():
        for i, run in enumerate(runs):
            label = run.label + (f" ({len(runs)} seeds)" if len(runs) > 1 else "")
            losses = np.asarray(run.losses, dtype=np.float64)
            losses[~np.isfinite(losses)] = np.nan
            ax.plot(np.arange(1, len(losses) + 1), smooth(losses, window),
                    color=colours.get(cell, OKABE_ITO["black"]), linestyle=styles[i % 4],
                    label=None if cell in seen else label, linewidth=1.4)
            seen.add(cell)
    ax.axhline(result.baseline_mse, color=OKABE_ITO["black"], linestyle="--", linewidth=1,
               label="predict 1 (MSE 1/6)")
    ax.set_yscale("log")
    b = result.budget
    ax.set(title=f"Adding problem, T = {b.T}: training MSE (moving average of {window} steps)",
           xlabel="Adam step", ylabel="MSE (squared units of the sum, log scale)")
    top = max(1.0, result.baseline_mse * 3)
    ax.set_ylim(1e-5, top)
    ax.legend(loc="lower left")
    return ax


# --------------------------------------------------------------------------- character models

VALID_CHARS = 30_000  # the end of the training text: chapter 02's validation text


@dataclass
class CharData:
    """The bundled Shakespeare split the way every character model of the course uses it.

    ``fit`` is what the recurrent models train on, ``valid`` (the last ~30,000
    characters of the training text, chapter 02's validation text) is where they are
    evaluated during training to keep the best point, and ``test`` (the held-out text)
    is where every model, Markov chains included, is finally scored.
    """

    train: str
    fit: str
    valid: str
    test: str
    itos: list[str]
    stoi: dict[str, int]

    @property
    def vocab_size(self) -> int:
        return len(self.itos)


def char_data() -> CharData:
    """The course's split of the bundled Shakespeare and its 76-character vocabulary."""
    from .datasets import load_shakespeare

    train, test = load_shakespeare()
    itos = sorted(set(train) | set(test))
    split = train.rfind("\n", 0, len(train) - VALID_CHARS) + 1
    return CharData(train, train[:split], train[split:], test, itos,
                    {ch: i for i, ch in enumerate(itos)})


@dataclass
class LMTraining:
    """What :func:`train_char_lm` did: losses, evaluations, the best point kept."""

    steps: int
    seconds: float
    losses: list[float]  # training cross-entropy of every step, nats
    evals: list[tuple[int, float]]  # (step, validation nats); step 0 is before training
    best_step: int
    best_nats: float


def train_char_lm(model: Any, ids: Any, valid: Any, stoi: Mapping[str, int], *, steps: int,
                  batch: int, seq_len: int, lr: float, clip: float = 1.0,
                  lr_decay: bool = False, eval_every: int = 250, device: Any = None,
                  show: bool = True, label: str = "model") -> LMTraining:
    """Train a character model with truncated backpropagation through time; keep its best point.

    ``ids`` (int64, the training text) is cut into ``batch`` contiguous streams read
    side by side, ``seq_len`` characters per step. The state after each step is passed
    to the next (so the model sees context beyond ``seq_len``) and **detached** (so
    gradients stop at the chunk boundary: "truncated" BPTT); at the end of the streams
    they start again from a zero state. Adam, global-norm clipping at ``clip``; with
    ``lr_decay`` the learning rate falls linearly from ``lr`` to 0 over the steps.
    Every ``eval_every`` steps (and at the end) the model is scored on ``valid`` (a
    :class:`rnnkit.lm_eval.HeldOutText`) with :func:`rnnkit.lm_eval.evaluate_char_model`;
    the parameters of the best evaluation are loaded back at the end.
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    from . import device as default_device
    from .lm_eval import detach_state, evaluate_char_model

    if steps < 1 or batch < 1 or seq_len < 1 or eval_every < 1:
        raise ValueError("steps, batch, seq_len and eval_every must all be >= 1")
    dev = default_device() if device is None else torch.device(device)
    model.to(dev)
    ids = torch.as_tensor(ids, dtype=torch.int64)
    n = (len(ids) - 1) // batch
    if n < seq_len:
        raise ValueError(f"{len(ids)} training characters are too few for {batch} streams "
                         f"of {seq_len}")
    xs = ids[:n * batch].view(batch, n).to(dev)
    ys = ids[1:n * batch + 1].view(batch, n).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def evaluate() -> float:
        nats = evaluate_char_model(model, valid, stoi).nats
        model.train()
        return nats

    evals = [(0, evaluate())]
    best_step, best_nats = 0, evals[0][1]
    best = copy.deepcopy(model.state_dict())
    bar = progress(steps, label, show=show)
    losses: list[float] = []
    state = None
    pos = 0
    model.train()
    start = time.perf_counter()
    for step in range(1, steps + 1):
        if pos + seq_len > n:  # the streams are used up: start them again
            pos, state = 0, None
        x, y = xs[:, pos:pos + seq_len], ys[:, pos:pos + seq_len]
        pos += seq_len
        logits, state = model(x, state)
        state = detach_state(state)  # carry the state on, but not its graph
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        if lr_decay:
            for group in optimizer.param_groups:
                group["lr"] = lr * (1 - (step - 1) / steps)
        optimizer.step()
        losses.append(loss.item())
        if step % eval_every == 0 or step == steps:
            nats = evaluate()
            evals.append((step, nats))
            if nats < best_nats:
                best_step, best_nats = step, nats
                best = copy.deepcopy(model.state_dict())
            bar.update(0, **{"validation bits/char": nats / math.log(2)})
        bar.update(1, **{"loss bits/char": losses[-1] / math.log(2)})
    seconds = time.perf_counter() - start
    model.load_state_dict(best)
    bar.close(f"{steps} steps; best validation {best_nats / math.log(2):.3f} bits/char "
              f"at step {best_step}")
    return LMTraining(steps, seconds, losses, evals, best_step, best_nats)


@dataclass
class LMRow:
    """One model's line in the character-model table."""

    model: str
    parameters: int
    budget: str  # steps or characters counted, in words
    seconds: float
    device: str
    nats: float
    bits: float


@dataclass
class LMResult:
    """The character-model comparison: the table's rows, and what it needs to go on."""

    budget: LMBudget
    rows: list[LMRow]
    test_chars: int
    vocab_size: int
    initial_nats: dict[str, float]  # validation loss of each network before training
    training: dict[str, LMTraining]
    models: dict[str, Any] = field(repr=False, default_factory=dict)
    best_markov: str = ""

    def row(self, name: str) -> LMRow:
        return next(r for r in self.rows if r.model == name)

    def claims(self) -> list[tuple[str, bool]]:
        """The chapter's claims about this run, each with whether it holds."""
        markov = self.row(self.best_markov).bits
        lstm = next(r for r in self.rows if r.model.startswith("CharLSTM")).bits
        rnn = next(r for r in self.rows if r.model.startswith("CharRNN")).bits
        near = all(abs(v - math.log(self.vocab_size)) < 0.15 for v in self.initial_nats.values())
        return [("before training, every network's loss is within 0.15 nats of ln V (uniform "
                 "guessing)", near),
                (f"the CharLSTM scores fewer bits per character than the best Markov chain "
                 f"({self.best_markov})", lstm < markov),
                ("the CharLSTM scores fewer bits per character than the CharRNN", lstm < rnn)]

    def table(self) -> str:
        """A plain-text table of every model, bits/char and nats, with its budget."""
        lines = [f"Held-out Shakespeare: the same {self.test_chars:,} characters for every "
                 f"model (uniform guessing: {math.log2(self.vocab_size):.3f} bits/char, "
                 f"{math.log(self.vocab_size):.3f} nats)",
                 "",
                 f"{'model':<26}{'bits/char':>10}{'nats':>8}{'parameters':>12}  "
                 f"{'budget':<34}{'seconds':>8}  device"]
        for r in self.rows:
            lines.append(f"{r.model:<26}{r.bits:>10.3f}{r.nats:>8.3f}{r.parameters:>12,}  "
                         f"{r.budget:<34}{r.seconds:>8.1f}  {r.device}")
        return "\n".join(lines)


def _markov_parameters(counts: Mapping[str, Any]) -> int:
    return int(sum(len(followers) for followers in counts.values()))


def char_lm_experiment(CharRNN: type, CharLSTM: type, ngram_counts: Callable[..., Any],
                       bits_per_char: Callable[..., float], budget: LMBudget | None = None,
                       device: Any = None, show: bool = True,
                       data: CharData | None = None) -> LMResult:
    """Markov chains, a CharRNN and a CharLSTM, scored on the same held-out characters.

    The chains (``ngram_counts`` of ``budget.markov_orders`` on the training text,
    add-``markov_alpha`` smoothing) are scored with the student's ``bits_per_char``;
    the networks are trained by :func:`train_char_lm` (truncated BPTT, the best
    validation point kept) with the same steps, batches and optimiser, and scored with
    :func:`rnnkit.lm_eval.evaluate_char_model`. Both scorers read the same characters.
    """
    import torch

    from . import device as default_device
    from .lm_eval import HeldOutText, evaluate_char_model, evaluate_markov, held_out_text

    b = choose_budget().lm if budget is None else budget
    dev = default_device() if device is None else torch.device(device)
    d = char_data() if data is None else data
    with torch.no_grad():  # an unfinished CharLSTM fails here, not after the CharRNN trained
        CharLSTM(d.vocab_size, 2)(torch.zeros(1, 2, dtype=torch.int64))
    test = held_out_text(b.test_chars) if data is None else HeldOutText(d.test[:b.test_chars]
                                                                         if b.test_chars
                                                                         else d.test)
    valid = HeldOutText(d.valid[:b.valid_chars] if b.valid_chars else d.valid)
    rows: list[LMRow] = []
    counted = d.train[:b.markov_train_chars] if b.markov_train_chars else d.train
    best_bits, best_name = math.inf, ""
    for order in b.markov_orders:
        start = time.perf_counter()
        counts = ngram_counts(counted, order)
        seconds = time.perf_counter() - start
        score = evaluate_markov(bits_per_char, counts, d.itos, test, b.markov_alpha)
        name = f"Markov chain, order {order}"
        rows.append(LMRow(name, _markov_parameters(counts),
                          f"counts of {len(counted):,} characters", seconds, "cpu (Python)",
                          score.nats, score.bits))
        if score.bits < best_bits:
            best_bits, best_name = score.bits, name
        del counts
    ids = torch.tensor([d.stoi[ch] for ch in d.fit], dtype=torch.int64)
    initial: dict[str, float] = {}
    training: dict[str, LMTraining] = {}
    models: dict[str, Any] = {}
    networks = [("CharRNN", lambda: CharRNN(d.vocab_size, b.hidden), b.rnn_steps or b.steps),
                ("CharLSTM", lambda: (CharLSTM(d.vocab_size, b.hidden, b.layers)
                                      if b.layers != 1 else CharLSTM(d.vocab_size, b.hidden)),
                 b.steps)]
    for name, make, steps in networks:
        torch.manual_seed(0)
        model = make()
        run = train_char_lm(model, ids, valid, d.stoi, steps=steps, batch=b.batch,
                            seq_len=b.seq_len, lr=b.lr, clip=b.clip, lr_decay=b.lr_decay,
                            eval_every=b.eval_every,
                            device=dev, show=show, label=name)
        initial[name] = run.evals[0][1]
        score = evaluate_char_model(model, test, d.stoi)
        layers = f" x {b.layers}" if name == "CharLSTM" and b.layers != 1 else ""
        rows.append(LMRow(f"{name} (H = {b.hidden}{layers})", count_parameters(model),
                          f"{steps} steps of {b.batch} x {b.seq_len} (best: {run.best_step})",
                          run.seconds, describe_device(dev), score.nats, score.bits))
        training[name] = run
        models[name] = model
    return LMResult(b, rows, test.n_scored, d.vocab_size, initial, training, models, best_name)


def plot_lm(result: LMResult, ax: Any = None) -> Any:
    """Validation bits/char of each network during training, against the best Markov chain."""
    import matplotlib.pyplot as plt

    from .plotting import OKABE_ITO

    if ax is None:
        _, ax = plt.subplots()
    colours = {"CharRNN": OKABE_ITO["blue"], "CharLSTM": OKABE_ITO["green"]}
    for name, run in result.training.items():
        steps = [s for s, _ in run.evals]
        bits = [v / math.log(2) for _, v in run.evals]
        ax.plot(steps, bits, marker="o", markersize=3, color=colours.get(name),
                label=f"{name}, validation text")
        ax.plot([run.best_step], [run.best_nats / math.log(2)], marker="*", markersize=12,
                color=colours.get(name), linestyle="none")
    if result.best_markov:
        ax.axhline(result.row(result.best_markov).bits, color=OKABE_ITO["vermillion"],
                   linestyle="--", label=f"{result.best_markov} (held-out text)")
    ax.axhline(math.log2(result.vocab_size), color=OKABE_ITO["black"], linestyle=":",
               label="uniform guessing")
    ax.set(title="Character models on Shakespeare: validation bits per character",
           xlabel="training step (Adam, truncated BPTT)",
           ylabel="cross-entropy (bits per character)")
    ax.set_ylim(1.8, math.log2(result.vocab_size) + 0.3)
    ax.legend(loc="upper right")
    return ax


# --------------------------------------------------------------------------- sunspots

@dataclass
class SunspotResult:
    """Held-out sunspot forecasts: one step ahead, and 1..horizon steps ahead (iterated)."""

    budget: SunspotBudget
    device: str
    test_years: np.ndarray  # the years forecast one step ahead (split_year onwards)
    truth: np.ndarray
    one_step: dict[str, np.ndarray]  # model -> one-step forecasts of test_years
    rmse_one_step: dict[str, float]
    horizons: np.ndarray  # 1..horizon
    rmse_by_horizon: dict[str, np.ndarray]  # model -> RMSE at each horizon (common origins)
    origins: int  # forecast origins behind each horizon's RMSE
    lstm_seed_rmse: dict[int, float]  # one-step RMSE of each LSTM seed
    parameters: dict[str, int]
    seconds: dict[str, float]
    lstm_steps: dict[int, int] = field(default_factory=dict)  # seed -> steps chosen on validation

    def claims(self) -> list[tuple[str, bool]]:
        """The chapter's claims about this run, each with whether it holds."""
        names = list(self.rmse_one_step)
        lstm, ar, persist = (self.rmse_one_step[n] for n in names)
        far = {n: v[-1] for n, v in self.rmse_by_horizon.items()}
        k = int(self.horizons[-1])
        return [("one year ahead, the autoregressive model and the LSTM both beat persistence",
                 ar < persist and lstm < persist),
                ("one year ahead, the LSTM and the linear autoregressive model are within 10% "
                 "of each other: neither clearly wins", abs(lstm - ar) < 0.1 * ar),
                (f"every model's error grows from 1 to {k} years ahead (errors compound)",
                 all(v[-1] > v[0] for v in self.rmse_by_horizon.values())),
                (f"{k} years ahead, the autoregressive model beats the LSTM",
                 far[names[1]] < far[names[0]])]

    def table(self) -> str:
        b = self.budget
        k = int(self.horizons[-1])
        first, last = int(self.test_years[0]), int(self.test_years[-1])
        lines = [f"Sunspots: fit on years before {b.split_year}, forecast {first}-{last} from "
                 f"the {b.window} years before; RMSE in sunspot numbers",
                 f"k steps ahead: each forecast fed back as input, over the {self.origins} "
                 f"origins with all {k} years held out",
                 f"the LSTM's steps (of at most {b.steps}) chosen on the validation years "
                 f"{b.split_year - b.valid_years}-{b.split_year - 1}, then trained on all years "
                 f"before {b.split_year}",
                 "",
                 f"{'model':<42}{'1 step':>8}{f'{k} steps':>10}{'parameters':>12}"
                 f"{'seconds':>9}"]
        for name in self.rmse_one_step:
            lines.append(f"{name:<42}{self.rmse_one_step[name]:>8.1f}"
                         f"{self.rmse_by_horizon[name][-1]:>10.1f}"
                         f"{self.parameters.get(name, 0):>12,}{self.seconds.get(name, 0.0):>9.2f}")
        if len(self.lstm_seed_rmse) > 1:
            values = list(self.lstm_seed_rmse.values())
            lines.append(f"LSTM one-step RMSE over {len(values)} seeds: min {min(values):.1f}, "
                         f"max {max(values):.1f} (the row above is their mean forecast's error)")
        return "\n".join(lines)


def _rollout(predict: Callable[[np.ndarray], np.ndarray], windows: np.ndarray,
             horizon: int) -> np.ndarray:
    """Forecasts ``(n, horizon)``: predict, append the prediction to the window, repeat."""
    out = []
    w = np.array(windows, dtype=np.float64, copy=True)
    for _ in range(horizon):
        p = np.asarray(predict(w), dtype=np.float64).reshape(-1)
        out.append(p)
        w = np.concatenate([w[:, 1:], p[:, None]], axis=1)
    return np.stack(out, axis=1)


def sunspot_experiment(SequenceRegressor: type, train_steps: Callable[..., list[float]],
                       make_windows: Callable[..., Any], fit_autoregressive: Callable[..., Any],
                       predict_autoregressive: Callable[..., Any],
                       budget: SunspotBudget | None = None, device: Any = None,
                       show: bool = True) -> SunspotResult:
    """An LSTM against chapter 01's autoregressive model and persistence on yearly sunspots.

    All three see the same ``window`` years before each target, and are fitted on the
    targets before ``split_year``. The AR model is the student's ``fit_autoregressive``
    (ridge ``l2``). The LSTM (``SequenceRegressor("lstm", hidden, input_size=1)`` on
    standardised values, full-batch ``train_steps``) would overfit 190 windows if trained
    long, so its number of steps is chosen like any other setting, on validation years:
    each seed first trains on the years before ``split_year - valid_years`` while the
    error on the ``valid_years`` after them is measured every ``eval_every`` steps; then a
    fresh model with the same seed trains on all training years for the best number of
    steps. The forecast is the mean of the seeds. Persistence: next year = this year.
    """
    import torch
    import torch.nn.functional as F

    from . import device as default_device
    from .datasets import load_sunspots

    b = choose_budget().sunspots if budget is None else budget
    dev = default_device() if device is None else torch.device(device)
    years, series = load_sunspots()
    X, y = make_windows(series, b.window)
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    target_years = years[b.window:]
    train = target_years < b.split_year
    fit = target_years < b.split_year - b.valid_years
    valid = train & ~fit
    test = ~train
    seconds: dict[str, float] = {}
    parameters: dict[str, int] = {}

    start = time.perf_counter()
    w_ar = np.asarray(fit_autoregressive(X[train], y[train], b.l2), dtype=np.float64)
    seconds["autoregressive"] = time.perf_counter() - start

    def ar(windows: np.ndarray) -> np.ndarray:
        return np.asarray(predict_autoregressive(windows, w_ar), dtype=np.float64)

    mu, sd = float(y[train].mean()), float(y[train].std())

    def tensors(mask: np.ndarray) -> tuple[Any, Any]:
        return (torch.tensor((X[mask] - mu) / sd, dtype=torch.float32).unsqueeze(-1),
                torch.tensor((y[mask] - mu) / sd, dtype=torch.float32).unsqueeze(-1))

    def lstm_one(model: Any, windows: np.ndarray) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            x = torch.tensor((windows - mu) / sd, dtype=torch.float32).unsqueeze(-1)
            out = model(x.to(next(model.parameters()).device))
            out = out[0] if isinstance(out, tuple) else out
        model.train()
        return out.cpu().double().numpy().reshape(-1) * sd + mu

    models, chosen = [], {}
    start = time.perf_counter()
    for seed in b.seeds:
        # 1. how many steps: train on the early years, measure the validation years as it goes
        torch.manual_seed(seed)
        probe = SequenceRegressor("lstm", b.hidden, input_size=1)
        batch = tensors(fit)
        history: list[tuple[int, float]] = []
        calls = [0]
        bar = progress(b.steps, f"sunspot LSTM, seed {seed}: choosing the steps", show=show)

        def probe_batch(bar: Progress = bar, batch: Any = batch, probe: Any = probe,
                        history: list = history, calls: list = calls) -> tuple[Any, Any]:
            if calls[0] and calls[0] % b.eval_every == 0:  # the model after calls[0] steps
                err = float(np.sqrt(np.mean((lstm_one(probe, X[valid]) - y[valid]) ** 2)))
                history.append((calls[0], err))
            calls[0] += 1
            bar.update()
            return batch

        train_steps(probe, probe_batch, F.mse_loss, b.steps, b.lr, clip=1.0, device=dev)
        history.append((b.steps, float(np.sqrt(np.mean((lstm_one(probe, X[valid])
                                                        - y[valid]) ** 2)))))
        best_steps = min(history, key=lambda h: h[1])[0]
        bar.close(f"best validation RMSE {min(h[1] for h in history):.1f} after {best_steps} "
                  "steps")
        # 2. train on all the training years for that many steps
        torch.manual_seed(seed)
        model = SequenceRegressor("lstm", b.hidden, input_size=1)
        full = tensors(train)
        train_steps(model, lambda full=full: full, F.mse_loss, best_steps, b.lr, clip=1.0,
                    device=dev)
        models.append(model)
        chosen[seed] = best_steps
    seconds["LSTM"] = time.perf_counter() - start
    parameters["LSTM"] = count_parameters(models[0])
    parameters["autoregressive"] = int(w_ar.size)
    parameters["persistence"] = 0

    def lstm(windows: np.ndarray) -> np.ndarray:
        return np.mean([lstm_one(m, windows) for m in models], axis=0)

    def persistence(windows: np.ndarray) -> np.ndarray:
        return np.asarray(windows, dtype=np.float64)[:, -1]

    steps_text = "/".join(str(chosen[s]) for s in b.seeds)
    names = {f"LSTM (H = {b.hidden}, {len(b.seeds)} seed{'s' * (len(b.seeds) > 1)}, "
             f"{steps_text} steps)": lstm,
             f"autoregressive (window {b.window}, l2 {b.l2:g})": ar,
             "persistence (next year = this year)": persistence}
    key = dict(zip(names, ("LSTM", "autoregressive", "persistence"), strict=True))
    truth = y[test]
    one_step = {n: f(X[test]) for n, f in names.items()}
    rmse1 = {n: float(np.sqrt(np.mean((p - truth) ** 2))) for n, p in one_step.items()}
    first = int(np.argmax(test))  # index of the first held-out target
    last_origin = len(series) - b.window - b.horizon  # windows whose horizon fits the series
    origins = np.arange(first, last_origin + 1)
    windows = np.stack([series[i:i + b.window] for i in origins])
    future = np.stack([series[i + b.window:i + b.window + b.horizon] for i in origins])
    by_h = {n: np.sqrt(np.mean((_rollout(f, windows, b.horizon) - future) ** 2, axis=0))
            for n, f in names.items()}
    seed_rmse = {s: float(np.sqrt(np.mean((lstm_one(m, X[test]) - truth) ** 2)))
                 for s, m in zip(b.seeds, models, strict=True)}
    return SunspotResult(b, describe_device(dev), target_years[test], truth, one_step, rmse1,
                         np.arange(1, b.horizon + 1), by_h, len(origins), seed_rmse,
                         {n: parameters[key[n]] for n in names},
                         {n: seconds.get(key[n], 0.0) for n in names}, chosen)


def plot_sunspots(result: SunspotResult) -> Any:
    """Left: one-step forecasts of the held-out years. Right: RMSE against the horizon."""
    import matplotlib.pyplot as plt

    from .plotting import OKABE_ITO

    colours = [OKABE_ITO["green"], OKABE_ITO["blue"], OKABE_ITO["orange"]]
    styles = ["-", "--", ":"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    ax.plot(result.test_years, result.truth, color=OKABE_ITO["black"], linewidth=2,
            label="observed")
    for (name, pred), c, s in zip(result.one_step.items(), colours, styles, strict=True):
        ax.plot(result.test_years, pred, color=c, linestyle=s, label=name.split(" (")[0])
    ax.set(title=f"One year ahead, {int(result.test_years[0])}-{int(result.test_years[-1])} "
                 "(held out)", xlabel="year", ylabel="sunspot number (yearly mean)")
    ax.legend(loc="upper left", fontsize="small")
    for (name, rmse), c, s in zip(result.rmse_by_horizon.items(), colours, styles, strict=True):
        ax2.plot(result.horizons, rmse, marker="o", color=c, linestyle=s,
                 label=name.split(" (")[0])
    ax2.set(title="Held-out error k years ahead (iterated)", xlabel="years ahead k",
            ylabel="RMSE (sunspot number)")
    ax2.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- headless runner

def _reference_module(chapter: str) -> Any:
    """The generated reference module of ``chapter`` (``rnnkit/reference/chNN_slug.py``).

    Loaded from its file, without importing ``rnnkit.reference`` itself (which needs
    nbformat): the headless run needs only torch and numpy, for a GPU machine without
    Jupyter.
    """
    import importlib.util

    path = Path(__file__).resolve().parent / "reference" / f"ch{chapter}.py"
    if not path.is_file():
        raise ValueError(f"rnnkit has no reference for chapter {chapter!r} ({path} is "
                         "missing): run `rnnkit release` to generate it")
    name = f"rnnkit._reference_ch{chapter}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _reference_impl() -> dict[str, Any]:
    """rnnkit's reference functions for every name the experiments train (see rnnkit.reference)."""
    ch01, ch02 = _reference_module("01_sequences"), _reference_module("02_markov_chains")
    ch03, ch06 = _reference_module("03_rnn"), _reference_module("06_examples")
    return {"adding_problem_batch": ch06.adding_problem_batch,
            "SequenceRegressor": ch06.SequenceRegressor, "CharLSTM": ch06.CharLSTM,
            "train_steps": ch06.train_steps, "CharRNN": ch03.CharRNN,
            "ngram_counts": ch02.ngram_counts, "bits_per_char": ch02.bits_per_char,
            "make_windows": ch01.make_windows, "fit_autoregressive": ch01.fit_autoregressive,
            "predict_autoregressive": ch01.predict_autoregressive}


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def run_chapter06_experiments(budget: str | Budget = "gpu", out: Path | str = "results",
                              device: Any = None, impl: Mapping[str, Any] | None = None,
                              show: bool = True, figures: bool = True) -> dict[str, Any]:
    """Run chapter 06's three experiments headless; write the results table to ``out``.

    The same functions as the notebook, with rnnkit's reference implementations of the
    exercises (or ``impl``: name -> object), on ``device`` (``None``:
    ``rnnkit.device()``, so a CUDA GPU when there is one). Writes
    ``06_examples-<budget>-<device>.md`` (the three tables), ``.json`` (every number) and,
    with ``figures``, the three figures as PNG. Returns the JSON's content.
    """
    import torch

    from . import __version__
    from . import device as default_device

    b = BUDGETS[budget] if isinstance(budget, str) else budget
    if isinstance(budget, str) and budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}: expected one of {', '.join(BUDGETS)}")
    fns = dict(_reference_impl() if impl is None else impl)
    dev = default_device() if device is None else torch.device(device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"06_examples-{b.name}-{dev.type}"
    started = time.perf_counter()
    with reproducible(b.threads):
        where = describe_device(dev)
        adding = adding_experiment(fns["adding_problem_batch"], fns["SequenceRegressor"],
                                   fns["train_steps"], b.adding, dev, show)
        lm = char_lm_experiment(fns["CharRNN"], fns["CharLSTM"], fns["ngram_counts"],
                                fns["bits_per_char"], b.lm, dev, show)
        sun = sunspot_experiment(fns["SequenceRegressor"], fns["train_steps"],
                                 fns["make_windows"], fns["fit_autoregressive"],
                                 fns["predict_autoregressive"], b.sunspots, dev, show)
    total = time.perf_counter() - started
    header = (f"# Chapter 06 experiments: budget {b.name!r} on {where}\n\n"
              f"rnnkit {__version__}, torch {torch.__version__}, Python "
              f"{platform.python_version()}, {platform.platform()}; "
              f"{total:.0f} s in all. {b.describe()}.\n")
    text = "\n".join([header, "## The adding problem\n", "```", adding.table(), "```", "",
                      "## Character language models\n", "```", lm.table(), "```", "",
                      "## Sunspots\n", "```", sun.table(), "```", ""])
    (out / f"{stem}.md").write_text(text, encoding="utf-8")
    data = {
        "budget": b.name, "device": where, "seconds": total, "torch": torch.__version__,
        "adding": {"T": b.adding.T, "baseline_mse": adding.baseline_mse,
                   "runs": [{"cell": r.cell, "seed": r.seed, "test_mse": r.test_mse,
                             "seconds": r.seconds, "steps": r.steps,
                             "parameters": r.parameters} for r in adding.runs]},
        "char_lm": {"test_chars": lm.test_chars, "best_markov": lm.best_markov,
                    "initial_nats": lm.initial_nats,
                    "rows": [vars(r) for r in lm.rows]},
        "sunspots": {"rmse_one_step": sun.rmse_one_step,
                     "rmse_by_horizon": sun.rmse_by_horizon,
                     "lstm_seed_rmse": sun.lstm_seed_rmse},
    }
    (out / f"{stem}.json").write_text(json.dumps(_json_ready(data), indent=1) + "\n",
                                      encoding="utf-8")
    if figures:
        try:
            import matplotlib
        except ImportError:  # a bare GPU machine: the tables are written, the figures not
            print("matplotlib is not installed: no figures written", flush=True)
            return _json_ready(data)
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        from .plotting import use_course_style

        use_course_style()
        for name, draw in (("adding", lambda: plot_adding(adding).figure),
                           ("char_lm", lambda: plot_lm(lm).figure),
                           ("sunspots", lambda: plot_sunspots(sun))):
            fig = draw()
            fig.savefig(out / f"{stem}-{name}.png", dpi=100, bbox_inches="tight")
            plt.close(fig)
    return _json_ready(data)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rnnkit.training [--budget gpu] [--out DIR] [--device cuda]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m rnnkit.training",
                                     description="Run chapter 06's experiments headless and "
                                                 "write the results table.")
    parser.add_argument("--budget", default="gpu", choices=sorted(BUDGETS))
    parser.add_argument("--out", default="results", help="folder for the table and figures")
    parser.add_argument("--device", default=None, help="default: rnnkit.device()")
    parser.add_argument("--no-figures", action="store_true")
    args = parser.parse_args(argv)
    run_chapter06_experiments(args.budget, args.out, args.device,
                              figures=not args.no_figures)
    stem = Path(args.out)
    print(f"wrote the results to {stem}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
