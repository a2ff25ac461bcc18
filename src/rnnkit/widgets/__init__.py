"""Chapter widgets: each takes the student's functions as arguments."""

from ._common import NotReady, call_student
from .bptt import bptt_widget
from .examples import temperature_widget
from .lstm import lstm_gate_explorer
from .markov import markov_widget
from .rnn import unrolled_rnn_widget
from .sequences import sunspot_window_widget

__all__ = ["NotReady", "bptt_widget", "call_student", "lstm_gate_explorer", "markov_widget",
           "sunspot_window_widget", "temperature_widget", "unrolled_rnn_widget"]
