"""rnnkit.checks_torch: properties of sequence models, each shown to pass and to fail."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.checks_torch import (
    check_causal,
    check_gradients_flow,
    check_parameter_dtype,
    check_parameters_independent,
    check_state_carries,
    run_model,
    train_for_check,
)

V, H = 5, 6


class Good(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.RNN(V, H, batch_first=True)
        self.head = nn.Linear(H, V)

    def forward(self, idx, h=None):
        hs, h = self.rnn(F.one_hot(idx, V).float(), h)
        return self.head(hs), h


class IgnoresState(Good):
    def forward(self, idx, h=None):
        return super().forward(idx, None)


class NoMemory(Good):
    """Each step starts from zeros: the state is never carried."""

    def forward(self, idx, h=None):
        outs = [super(NoMemory, self).forward(idx[:, t:t + 1])[0] for t in range(idx.shape[1])]
        return torch.cat(outs, dim=1), torch.zeros(1, idx.shape[0], H)


class PeeksAhead(Good):
    def forward(self, idx, h=None):
        logits, h = super().forward(idx, h)
        return logits + logits.mean(dim=1, keepdim=True), h


class LSTMGood(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(V, H, batch_first=True)
        self.head = nn.Linear(H, V)

    def forward(self, idx, state=None):
        hs, state = self.lstm(F.one_hot(idx, V).float(), state)
        return self.head(hs), state


@pytest.fixture
def idx() -> torch.Tensor:
    return torch.randint(0, V, (3, 7), generator=torch.Generator().manual_seed(0))


def test_run_model_wants_two_results(idx: torch.Tensor) -> None:
    logits, _ = run_model(Good(), idx)
    assert logits.shape == (3, 7, V) and not logits.requires_grad
    with pytest.raises(AssertionError, match=r"on indices of shape \(3, 7\) returned a Tensor"):
        run_model(lambda i: torch.zeros(3), idx)


def test_check_state_carries(idx: torch.Tensor) -> None:
    torch.manual_seed(0)
    check_state_carries(Good(), idx, "Good")
    check_state_carries(LSTMGood(), idx, "LSTMGood", split=2)
    with pytest.raises(AssertionError, match=r"in two chunks.*start from the state given"):
        check_state_carries(IgnoresState(), idx, "IgnoresState")
    with pytest.raises(ValueError, match="T >= 2"):
        check_state_carries(Good(), idx[:, :1], "Good")


def test_check_causal(idx: torch.Tensor) -> None:
    torch.manual_seed(0)
    check_causal(Good(), idx, V, "Good")
    with pytest.raises(AssertionError, match="up to step 0 after changing the inputs after it"):
        check_causal(PeeksAhead(), idx, V, "PeeksAhead")
    with pytest.raises(AssertionError, match="hidden state is not carried"):
        check_causal(NoMemory(), idx, V, "NoMemory")


def test_check_gradients_flow(idx: torch.Tensor) -> None:
    model = Good()
    check_gradients_flow(model, model(idx)[0].square().mean(), "Good")
    model = Good()
    with torch.no_grad():
        loss = model(idx)[0].sum()
    with pytest.raises(AssertionError, match="has no gradient"):
        check_gradients_flow(model, loss, "Good")
    with pytest.raises(AssertionError, match=r"no gradient reached Good\.head\.weight"):
        check_gradients_flow(model, model.rnn(F.one_hot(idx, V).float())[0].sum(), "Good")
    with pytest.raises(AssertionError, match="no trainable parameters"):
        check_gradients_flow(nn.Identity(), torch.ones(1, requires_grad=True).sum(), "Empty")
    with pytest.raises(AssertionError, match=r"Good\.head\.bias is zero everywhere"):
        # the bias enters the logits and is subtracted again: its gradient is exactly 0
        check_gradients_flow(model, (model(idx)[0] - model.head.bias).sum(), "Good")


@pytest.mark.parametrize(("optimizer", "clip"), [("sgd", 0.5), ("adam", None), ("adam", 0.1)])
def test_train_for_check_does_what_torch_optim_does(idx: torch.Tensor, optimizer: str,
                                                     clip: float | None) -> None:
    targets = torch.arange(idx.numel()).remainder(V)

    def loss_of(m: nn.Module) -> torch.Tensor:
        return F.cross_entropy(m(idx)[0].reshape(-1, V), targets)

    torch.manual_seed(0)
    mine, theirs = Good(), Good()
    theirs.load_state_dict(mine.state_dict())
    first = loss_of(mine).item()
    last = train_for_check(mine, loss_of, 12, lr=0.05, optimizer=optimizer, clip=clip)
    make = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
    opt = make(theirs.parameters(), lr=0.05)
    for _ in range(12):
        loss = loss_of(theirs)
        opt.zero_grad()
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(theirs.parameters(), clip)
        opt.step()
    assert last == pytest.approx(loss.item(), rel=1e-5)
    for (name, p), q in zip(mine.named_parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
    assert last < first
    with pytest.raises(ValueError, match="'sgd' or 'adam'"):
        train_for_check(mine, loss_of, 1, lr=0.1, optimizer="rmsprop")


def test_check_parameter_dtype() -> None:
    check_parameter_dtype(nn.Linear(2, 3).double(), torch.float64, "lin")
    with pytest.raises(AssertionError, match=r"lin\.weight has dtype torch\.float32; expected "
                                             r"torch\.float64: use \.double\(\)"):
        check_parameter_dtype(nn.Linear(2, 3), torch.float64, "lin", "use .double()")


def test_check_parameters_independent() -> None:
    w = np.ones((3, 2))
    lin = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(w))
    check_parameters_independent(lin, "lin", w=w)
    assert torch.equal(lin.weight.detach(), torch.ones(3, 2))  # restored exactly
    shared = nn.Linear(2, 3, bias=False).double()
    shared.weight = nn.Parameter(torch.from_numpy(w))
    with pytest.raises(AssertionError, match=r"share memory with w.*torch.from_numpy"):
        check_parameters_independent(shared, "shared", w=w)
    np.testing.assert_array_equal(w, np.ones((3, 2)))  # the caller's array is put back
