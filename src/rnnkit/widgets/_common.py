"""What every chapter widget shares: calling student code safely and showing messages."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any


class NotReady(Exception):
    """A student function the widget needs still raises ``NotImplementedError``."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def message(self) -> str:
        return (f"Implement <code>{html.escape(self.name)}</code> first: it still raises "
                "<code>NotImplementedError</code>. Run its cell again once it is done, "
                "then re-run this cell.")


def call_student(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a student's function, turning ``NotImplementedError`` into ``NotReady``."""
    try:
        return func(*args, **kwargs)
    except NotImplementedError as err:
        raise NotReady(getattr(func, "__name__", "this function")) from err


def message_html(text: str, kind: str = "info") -> str:
    """A boxed message for an ``HTML`` widget; ``kind`` is ``info`` or ``error``."""
    border = "#0072B2" if kind == "info" else "#D55E00"
    return (f'<div class="rnnkit-message" style="border-left: 4px solid {border}; '
            f'padding: 6px 10px;">{text}</div>')


def error_message(func_name: str, err: Exception) -> str:
    """A student-facing message for an exception raised by their function."""
    return message_html(
        f"<code>{html.escape(func_name)}</code> raised "
        f"<code>{html.escape(type(err).__name__)}: {html.escape(str(err))}</code>. "
        "Run the visible tests for it to find out what is wrong.",
        kind="error",
    )


def value_error_html(func_name: str, err: ValueError) -> str:
    """A ``ValueError``: a problem with the text typed in (unknown characters, empty), or a
    student's bug in ``func_name``."""
    if "vocabulary" in str(err) or "empty" in str(err):
        return message_html(html.escape(str(err)), kind="error")
    return error_message(func_name, err)
