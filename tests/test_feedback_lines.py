"""The one-line failure message kept for feedback and the class report."""

from __future__ import annotations

from rnnkit.grading.feedback import ERROR_LINE_LIMIT, error_line


def test_a_long_hint_is_kept_whole() -> None:
    hint = ("rnn_backward(N=1, T=3, D=2, H=4) is wrong: it matches what this mistake gives: "
            "the upstream gradient dhs[:, t] is not added to the gradient flowing back from "
            "step t + 1: at every step dh = dhs[:, t] + dh_prev_from_next_step; " * 3)
    assert len(hint) > 300
    line = error_line({"ename": "AssertionError", "evalue": hint + "\nsecond line"})
    assert line == "AssertionError: " + hint.strip()


def test_an_overlong_message_is_cut_after_a_whole_clause() -> None:
    clause = "this clause is complete; "
    line = error_line({"ename": "AssertionError", "evalue": clause * 200})
    assert len(line) <= ERROR_LINE_LIMIT
    assert line.endswith("complete; …")


def test_colour_codes_and_empty_messages() -> None:
    assert error_line({"ename": "ValueError", "evalue": "\x1b[31mbad\x1b[0m"}) == "ValueError: bad"
    assert error_line({"ename": "NotImplementedError", "evalue": ""}) == "NotImplementedError"
