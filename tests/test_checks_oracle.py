"""rnnkit.checks_oracle: oracle comparisons over shapes, and naming a known mistake."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.checks_oracle import (
    as_numpy,
    call_checked,
    check_against_oracle,
    check_close_or_diagnose,
    describe_dims,
    dims_cases,
    find_mistake,
    matches,
)

rng = np.random.default_rng(0)


def step(x, h, Wx, Wh, b):
    return np.tanh(x @ Wx + h @ Wh + b)


def step_inputs(dims, dtype=np.float64):
    n, d, h = dims["N"], dims["D"], dims["H"]
    shapes = {"x": (n, d), "h": (n, h), "Wx": (d, h), "Wh": (h, h), "b": (h,)}
    return {name: rng.normal(size=shape).astype(dtype) for name, shape in shapes.items()}


def step_mistakes(x, h, Wx, Wh, b):
    return {"the bias b is missing": np.tanh(x @ Wx + h @ Wh),
            "Wx and Wh are swapped": np.tanh(x @ Wh + h @ Wx + b) if Wx.shape[0] == Wx.shape[1]
            else None}


def test_dims_cases_cover_the_edges_and_keep_d_and_h_apart() -> None:
    cases = dims_cases(np.random.default_rng(1), random=5, high=4)
    assert cases[0] == {"N": 1, "T": 1, "D": 1, "H": 1}
    for i, name in enumerate("NTDH", start=1):
        assert cases[i][name] == 1
        assert all(2 <= v <= 4 for k, v in cases[i].items() if k != name)
    assert len(cases) == 1 + 4 + 5
    assert all(c["D"] != c["H"] for c in cases[1:])
    assert [sorted(c) for c in dims_cases(rng, names=("N", "H"), random=1)] == [["H", "N"]] * 4
    with pytest.raises(ValueError, match="high"):
        dims_cases(rng, high=2)
    assert describe_dims({"N": 1, "T": 3}) == "N=1, T=3"


def test_call_checked_names_the_call_but_lets_not_implemented_through() -> None:
    def todo():
        raise NotImplementedError

    def bad(n):
        raise ValueError(f"bad shapes for N={n}")

    with pytest.raises(AssertionError, match=r"f\(N=2\) raised ValueError: bad shapes for N=2; "
                                             "check Wx"):
        call_checked(bad, 2, call="f(N=2)", hint="check Wx")
    with pytest.raises(NotImplementedError):
        call_checked(todo, call="todo()")
    assert call_checked(max, 1, 3, call="max") == 3


def test_matches_and_find_mistake() -> None:
    x = np.linspace(0, 1, 5)
    assert matches(x * (1 + 1e-12), x) and not matches(x + 1e-3, x) and not matches(x[:4], x)
    assert not matches("not numbers", x)
    mistakes = {"forgot the square": x, "doubled": 2 * x, "not applicable": None}
    assert find_mistake(2 * x, mistakes) == "doubled"
    assert find_mistake(3 * x, mistakes) is None
    # a mistake that gives the right answer on these inputs is never blamed
    assert find_mistake(x, mistakes, correct=x) is None
    # float32 answers still match a float64 mistake
    assert find_mistake((2 * x).astype(np.float32), mistakes) == "doubled"


def test_check_close_or_diagnose() -> None:
    x = np.arange(1.0, 4.0)
    check_close_or_diagnose(x, x, "h", {"doubled": 2 * x})
    with pytest.raises(AssertionError, match="h is wrong: it matches what this mistake gives: "
                                             "doubled"):
        check_close_or_diagnose(2 * x, x, "h", {"doubled": 2 * x})
    with pytest.raises(AssertionError, match=r"h is wrong at index \(2,\)"):
        check_close_or_diagnose(x + np.array([0, 0, 1]), x, "h", {"doubled": 2 * x})
    with pytest.raises(AssertionError, match=r"has shape \(3, 1\); expected \(3,\): hint"):
        check_close_or_diagnose(x[:, None], x, "h", {}, "hint")
    # a mistake with another shape is recognised by its shape too
    with pytest.raises(AssertionError, match="time-first"):
        check_close_or_diagnose(np.zeros((3, 2)), np.zeros((2, 3)), "hs",
                                {"time-first": np.zeros((3, 2))})


def test_check_against_oracle_passes_a_correct_function() -> None:
    cases = [*dims_cases(rng, names=("N", "D", "H")), {"N": 2, "D": 3, "H": 3}]
    check_against_oracle(step, step, step_inputs, cases, "rnn_step", outputs=["h_next"],
                         mistakes=step_mistakes)
    check_against_oracle(step, lambda *a: step(*(v.astype(np.float64) for v in a)),
                         lambda d: step_inputs(d, np.float32), cases, "rnn_step")


def test_check_against_oracle_names_the_case_and_the_mistake() -> None:
    square = [{"N": 2, "D": 3, "H": 3}]

    def no_bias(x, h, Wx, Wh, b):
        return np.tanh(x @ Wx + h @ Wh)

    def swapped(x, h, Wx, Wh, b):
        return np.tanh(x @ Wh + h @ Wx + b)

    def in_place(x, h, Wx, Wh, b):
        x *= 1
        x += 1
        return step(x - 1, h, Wx, Wh, b)

    def to_float64(x, h, Wx, Wh, b):
        return step(x, h, Wx, Wh, b).astype(np.float64)

    kwargs = {"outputs": ["h_next"], "mistakes": step_mistakes}
    with pytest.raises(AssertionError, match=r"h_next from rnn_step\(N=2, D=3, H=3\) is wrong: it "
                                             "matches what this mistake gives: the bias b is "):
        check_against_oracle(no_bias, step, step_inputs, square, "rnn_step", **kwargs)
    with pytest.raises(AssertionError, match="Wx and Wh are swapped"):
        check_against_oracle(swapped, step, step_inputs, square, "rnn_step", **kwargs)
    with pytest.raises(AssertionError, match=r"rnn_step\(N=2, D=3, H=4\) raised ValueError: .*"
                                             "; x goes through Wx"):
        check_against_oracle(swapped, step, step_inputs, [{"N": 2, "D": 3, "H": 4}],
                             "rnn_step", hint="x goes through Wx", **kwargs)
    with pytest.raises(AssertionError, match=r"modified its input x"):
        check_against_oracle(in_place, step, step_inputs, square, "rnn_step", **kwargs)
    def oracle64(*args):
        return step(*(a.astype(np.float64) for a in args))

    with pytest.raises(AssertionError, match=r"from rnn_step\(N=2, D=3, H=3; float32 inputs\) has "
                                             "dtype float64; expected float32"):
        check_against_oracle(to_float64, oracle64, lambda d: step_inputs(d, np.float32), square,
                             "rnn_step", **kwargs)


def test_check_against_oracle_with_several_outputs() -> None:
    def both(a):
        return a + 1, a.sum()

    def make(dims):
        return {"a": rng.normal(size=(dims["N"],))}

    cases = [{"N": 3}]
    check_against_oracle(both, both, make, cases, "f", outputs=["plus_one", "total"])
    with pytest.raises(AssertionError, match="returned 1 values; expected 2: plus_one, total"):
        check_against_oracle(lambda a: [a + 1], both, make, cases, "f",
                             outputs=["plus_one", "total"])
    with pytest.raises(AssertionError, match=r"the result of f.* is a ndarray; expected a tuple"):
        check_against_oracle(lambda a: a + 1, both, make, cases, "f",
                             outputs=["plus_one", "total"])
    with pytest.raises(AssertionError, match=r"total from f\(N=3\) is wrong: it matches what this "
                                             "mistake gives: summed twice"):
        check_against_oracle(lambda a: (a + 1, 2 * a.sum()), both, make, cases, "f",
                             outputs=["plus_one", "total"],
                             mistakes=lambda a: ({}, {"summed twice": 2 * a.sum()}))


def test_as_numpy_converts_tensors_only() -> None:
    torch = pytest.importorskip("torch")
    t = torch.ones(2, requires_grad=True)
    assert isinstance(as_numpy(t), np.ndarray) and as_numpy([1]) == [1]
