"""rnnkit.ready: cells that need unfinished student functions say so in one line."""

from __future__ import annotations

import pytest

from rnnkit import ready
from rnnkit.checks_oracle import call_checked
from rnnkit.ready import NotDoneYet, needs


@pytest.fixture(autouse=True)
def _fresh() -> None:
    ready._waiting.clear()


def stub(x):  # the release's stub
    raise NotImplementedError()


def buggy(x):
    raise ValueError("x must be 2-D")


def done(x):
    return x + 1


class Model:
    def __init__(self, n):
        raise NotImplementedError()


def test_a_stub_stops_the_block_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    reached = []
    with needs(stub, done):
        done(1)
        stub(2)
        reached.append("after")
    assert reached == []
    assert capsys.readouterr().out == (
        "Implement stub first (it still raises NotImplementedError), run its cell, then run "
        "this cell again.\n")


def test_a_class_stub_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    with needs(Model):
        Model(3)
    assert capsys.readouterr().out.startswith("Implement Model first")


def test_later_cells_say_what_they_wait_for(capsys: pytest.CaptureFixture[str]) -> None:
    model = None
    with needs(Model):
        model = Model(3)
    with needs(Model):
        model.parameters()  # AttributeError on None: a consequence, not a bug
    with needs(done):
        print(losses)  # noqa: F821 - made by a cell that stopped
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("This cell needs Model, which a cell above is still waiting")
    assert lines[2].startswith("This cell needs Model")
    with needs(Model):
        pass  # the student has implemented it: the wait is over
    with pytest.raises(AttributeError), needs(Model):
        model.parameters()


def test_a_bug_in_the_students_function_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with needs(buggy):
        buggy(1)
    assert capsys.readouterr().out == (
        "buggy raised ValueError: x must be 2-D. Its tests above say what is wrong; fix it, "
        "run its cell, then run this cell again.\n")


def test_the_chapters_own_errors_propagate() -> None:
    with pytest.raises(ZeroDivisionError), needs(done):
        done(1) / 0
    with pytest.raises(ValueError, match="expects the student functions"):
        needs()


def test_call_checked_turns_a_stub_into_one_line() -> None:
    with pytest.raises(NotDoneYet) as info:
        call_checked(stub, 1, call="stub(1)")
    assert isinstance(info.value, NotImplementedError)
    (line,) = info.value._render_traceback_()
    assert line == ("NotDoneYet: stub is not implemented yet: write it in its cell (replace raise "
                    "NotImplementedError()), run that cell, then run these tests")


def test_a_stopped_block_leaves_no_half_drawn_figure(capsys: pytest.CaptureFixture[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kept = plt.figure()
    before = set(plt.get_fignums())  # other tests may have left figures open
    with needs(stub):
        _fig, ax = plt.subplots()
        ax.plot(stub(1))
    assert set(plt.get_fignums()) == before and kept.number in before
    plt.close(kept)
    assert capsys.readouterr().out.startswith("Implement stub first")
