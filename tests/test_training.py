"""rnnkit.training: progress display, budgets, truncated BPTT, the experiments, the headless run."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit import training
from rnnkit.lm_eval import HeldOutText
from rnnkit.reference import load
from rnnkit.training import (
    BUDGETS,
    Progress,
    choose_budget,
    count_parameters,
    in_notebook,
    progress,
    reproducible,
    smooth,
    train_char_lm,
)

CH06 = load("06_examples")


# ----------------------------------------------------------------- progress

def test_progress_outside_a_notebook_prints_fixed_lines_to_stdout_only(capsys) -> None:
    assert not in_notebook()
    bar = progress(8, "demo")
    for k in range(8):
        bar.update(loss=1.0 / (k + 1))
    bar.close("done: loss 0.125")
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "demo: 0/8 steps", "demo: 2/8 steps, loss 0.5", "demo: 4/8 steps, loss 0.25",
        "demo: 6/8 steps, loss 0.1667", "demo: 8/8 steps, loss 0.125", "demo: done: loss 0.125"]
    assert all(line.endswith("s elapsed)") for line in lines)


class FakeHandle:
    """What IPython's display(..., display_id=True) returns: the last bundle shown."""

    def __init__(self, bundle):
        self.shown = [bundle]

    def update(self, bundle, raw=False):
        assert raw
        self.shown.append(bundle)


def test_progress_in_a_notebook_redraws_one_output_in_place(monkeypatch, capsys) -> None:
    import IPython.display

    handles = []

    def fake_display(bundle, raw=False, display_id=False):
        assert raw and display_id
        handles.append(FakeHandle(bundle))
        return handles[-1]

    monkeypatch.setattr(IPython.display, "display", fake_display)
    bar = Progress(10, "live", live=True, every_s=0.0)
    bar.update(3, loss=0.5)
    bar.close("finished")
    assert len(handles) == 1  # one output, updated in place
    first, mid, last = handles[0].shown[0], handles[0].shown[1], handles[0].shown[-1]
    assert '<progress value="0" max="10"' in first["text/html"]
    assert '<progress value="3" max="10"' in mid["text/html"]
    assert mid["text/plain"].startswith("live: 3/10 steps, loss 0.5 (")
    assert '<progress value="10" max="10"' in last["text/html"] and "finished" in last["text/plain"]
    assert "var(--jp-content-font-color1" in last["text/html"]  # readable in light and dark
    assert capsys.readouterr() == ("", "")


def test_silent_progress_shows_nothing(capsys) -> None:
    bar = progress(5, "quiet", show=False)
    bar.update(5)
    bar.close("x")
    assert capsys.readouterr() == ("", "")


# ----------------------------------------------------------------- budgets and helpers

def test_grading_always_gets_the_grading_budget(monkeypatch) -> None:
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("RNNKIT_BUDGET", raising=False)
    assert choose_budget().name == "default"
    assert choose_budget("gpu").name == "gpu"
    monkeypatch.setenv("RNNKIT_BUDGET", "smoke")
    assert choose_budget().name == "smoke"
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert choose_budget("gpu").name == "grading"  # a notebook cannot slow grading down
    assert choose_budget(BUDGETS["default"]).name == "grading"
    monkeypatch.delenv("NBGRADER_EXECUTION")
    with pytest.raises(ValueError, match="unknown budget"):
        choose_budget("huge")


def test_budgets_grow_from_smoke_to_gpu() -> None:
    order = ["smoke", "grading", "default", "gpu"]
    for small, big in itertools.pairwise(order):
        assert BUDGETS[small].adding.steps <= BUDGETS[big].adding.steps
        assert BUDGETS[small].lm.steps <= BUDGETS[big].lm.steps
    assert BUDGETS["default"].threads == 1 and BUDGETS["gpu"].threads is None


def test_small_helpers() -> None:
    assert count_parameters(nn.Linear(3, 2)) == 8
    np.testing.assert_allclose(smooth([1, 3, 5, 7], 2), [1, 2, 4, 6])
    before = torch.get_num_threads()
    with reproducible(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


# ----------------------------------------------------------------- truncated BPTT

class Recorder(nn.Module):
    """A tiny LSTM language model that records every input chunk and the state it got."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.lstm = nn.LSTM(vocab, 4, batch_first=True)
        self.head = nn.Linear(4, vocab)
        self.calls: list[tuple[torch.Tensor, object]] = []

    def forward(self, idx, state=None):
        if self.training:
            self.calls.append((idx.clone(), state))
        hs, new = self.lstm(F.one_hot(idx, self.vocab).float(), state)
        return self.head(hs), new


def test_train_char_lm_carries_the_detached_state_through_contiguous_streams(capsys) -> None:
    ids = torch.arange(200) % 7
    torch.manual_seed(0)
    model = Recorder(7)
    stoi = {str(i): i for i in range(7)}
    valid = HeldOutText("".join(str(i % 7) for i in range(60)))
    run = train_char_lm(model, ids, valid, stoi, steps=6, batch=4, seq_len=5, lr=0.01,
                        eval_every=2, show=False)
    assert len(run.losses) == 6 and [s for s, _ in run.evals] == [0, 2, 4, 6]
    assert run.best_nats == min(v for _, v in run.evals)
    n = (200 - 1) // 4  # each of the 4 streams is one contiguous piece of the text
    streams = ids[:n * 4].view(4, n)
    for k, (x, state) in enumerate(model.calls):
        assert torch.equal(x, streams[:, 5 * k:5 * k + 5])  # chunk k of every stream
        if k == 0:
            assert state is None
        else:
            h, c = state
            assert not h.requires_grad and not c.requires_grad  # detached
            assert h.shape == (1, 4, 4)
    assert capsys.readouterr().err == ""


def test_train_char_lm_keeps_the_best_point() -> None:
    torch.manual_seed(1)
    model = Recorder(5)
    stoi = {str(i): i for i in range(5)}
    ids = torch.randint(0, 5, (400,))
    valid = HeldOutText("".join(str(int(i)) for i in torch.randint(0, 5, (80,))))
    run = train_char_lm(model, ids, valid, stoi, steps=8, batch=2, seq_len=8, lr=0.5,
                        eval_every=2, show=False)
    from rnnkit.lm_eval import evaluate_char_model

    assert evaluate_char_model(model, valid, stoi).nats == pytest.approx(run.best_nats, rel=1e-6)
    with pytest.raises(ValueError, match="too few"):
        train_char_lm(model, ids[:10], valid, stoi, steps=1, batch=4, seq_len=8, lr=0.1,
                      show=False)


def test_rollout_feeds_each_forecast_back() -> None:
    windows = np.array([[1.0, 2.0, 3.0]])
    out = training._rollout(lambda w: w.sum(axis=1), windows, 3)
    np.testing.assert_allclose(out, [[6.0, 11.0, 20.0]])  # 1+2+3, 2+3+6, 3+6+11


# ----------------------------------------------------------------- the experiments

def test_adding_experiment_trains_every_cell_the_same_way(capsys) -> None:
    b = BUDGETS["smoke"].adding
    result = training.adding_experiment(CH06.adding_problem_batch, CH06.SequenceRegressor,
                                        CH06.train_steps, b, "cpu")
    assert [(r.cell, r.seed) for r in result.runs] == [("rnn", 0), ("irnn", 0), ("irnn", 1),
                                                       ("lstm", 0)]
    assert all(len(r.losses) == b.steps and r.steps == b.steps for r in result.runs)
    assert result.baseline_mse == pytest.approx(1 / 6, abs=0.05)
    table = result.table()
    assert "IRNN over 2 seeds" in table and "1/6 = 0.1667" in table
    assert next(c for c, _ in result.claims()).startswith("the LSTM's held-out MSE")
    assert capsys.readouterr().err == ""


def test_char_lm_experiment_scores_every_model_on_the_same_characters() -> None:
    ch02, ch03 = load("02_markov_chains"), load("03_rnn")
    result = training.char_lm_experiment(ch03.CharRNN, CH06.CharLSTM, ch02.ngram_counts,
                                         ch02.bits_per_char, BUDGETS["smoke"].lm, "cpu",
                                         show=False)
    assert [r.model.split(" (")[0] for r in result.rows] == ["Markov chain, order 2", "CharRNN",
                                                             "CharLSTM"]
    assert result.test_chars == 400 - 8
    for row in result.rows:
        assert row.bits == pytest.approx(row.nats / math.log(2))
    assert set(result.initial_nats) == {"CharRNN", "CharLSTM"}
    assert abs(result.initial_nats["CharLSTM"] - math.log(result.vocab_size)) < 0.3
    assert "bits/char" in result.table() and "nats" in result.table()
    claims = dict(result.claims())
    assert len(claims) == 3


def test_sunspot_experiment_chooses_the_lstm_steps_on_validation_years() -> None:
    ch01 = load("01_sequences")
    b = BUDGETS["smoke"].sunspots
    result = training.sunspot_experiment(CH06.SequenceRegressor, CH06.train_steps,
                                         ch01.make_windows, ch01.fit_autoregressive,
                                         ch01.predict_autoregressive, b, "cpu", show=False)
    assert int(result.test_years[0]) == 1900 and int(result.test_years[-1]) == 2008
    assert set(result.lstm_steps.values()) <= {b.steps} | set(range(b.eval_every, b.steps + 1,
                                                                    b.eval_every))
    names = list(result.rmse_one_step)
    assert names[2].startswith("persistence") and len(result.rmse_by_horizon[names[0]]) == 3
    # persistence one year ahead: this year's value
    rmse = np.sqrt(np.mean((result.one_step[names[2]] - result.truth) ** 2))
    assert result.rmse_one_step[names[2]] == pytest.approx(rmse)
    assert "autoregressive" in result.table()


def test_headless_run_writes_the_tables_and_figures(tmp_path, capsys) -> None:
    data = training.run_chapter06_experiments("smoke", tmp_path, device="cpu", show=False)
    md = (tmp_path / "06_examples-smoke-cpu.md").read_text()
    for heading in ("## The adding problem", "## Character language models", "## Sunspots"):
        assert heading in md
    assert "cpu (1 thread" in md
    saved = json.loads((tmp_path / "06_examples-smoke-cpu.json").read_text())
    assert saved == data and saved["budget"] == "smoke"
    assert {r["cell"] for r in saved["adding"]["runs"]} == {"rnn", "irnn", "lstm"}
    for name in ("adding", "char_lm", "sunspots"):
        assert (tmp_path / f"06_examples-smoke-cpu-{name}.png").stat().st_size > 1000
    assert capsys.readouterr().err == ""


def test_the_command_line_runs_the_headless_experiments(tmp_path) -> None:
    assert training.main(["--budget", "smoke", "--out", str(tmp_path), "--device", "cpu",
                          "--no-figures"]) == 0
    assert (tmp_path / "06_examples-smoke-cpu.md").is_file()


def test_rnnkit_experiments_runs_them_too(tmp_path) -> None:
    from rnnkit.cli import main

    assert main(["experiments", "06", "--budget", "smoke", "--out", str(tmp_path), "--device",
                 "cpu", "--no-figures"]) == 0
    assert (tmp_path / "06_examples-smoke-cpu.json").is_file()
    assert main(["experiments", "05", "--budget", "smoke"]) == 2


def test_the_headless_run_needs_no_jupyter_packages(tmp_path) -> None:
    # a GPU machine may have torch and numpy only: the experiments must not import nbformat
    import subprocess
    import sys

    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('nbformat', 'nbclient', 'IPython', 'ipywidgets',\n"
            "                                  'nbgrader', 'matplotlib'):\n"
            "            raise ImportError(name + ' is blocked')\n"
            "sys.meta_path.insert(0, Block())\n"
            "from rnnkit.training import run_chapter06_experiments\n"
            f"run_chapter06_experiments('smoke', {str(tmp_path)!r}, device='cpu', show=True)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""
    assert "matplotlib is not installed: no figures written" in done.stdout
    assert (tmp_path / "06_examples-smoke-cpu.md").is_file()
    assert not list(tmp_path.glob("*.png"))
