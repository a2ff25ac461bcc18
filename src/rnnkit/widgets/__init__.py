"""Chapter widgets: each takes the student's functions as arguments."""

from ._common import NotReady, call_student
from .sequences import sunspot_window_widget

__all__ = ["NotReady", "call_student", "sunspot_window_widget"]
