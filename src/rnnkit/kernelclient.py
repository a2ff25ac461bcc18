"""Kernel clients for grading: one that never sleeps through a message that has arrived,
and, on top of it, one that wastes no time around a kernel's start and end.

Measured here (jupyter_client 8, pyzmq 27, nbclient 0.11): about one notebook in thirty
of chapter 01, graded two at a time, stalled for exactly the cell timeout (120 s) on the
cell that draws the widget (a burst of iopub messages): the kernel had sent the
execute reply and sat idle, while the client's ``await socket.poll(120 s)`` on the shell
socket was never woken; the interrupt sent at the timeout woke it and the cell then
counted as fine. Polling the same socket again finds the message at once, so this
client's channels poll in slices of ``SLICE`` seconds up to the caller's timeout. Same
messages, same order, same timeouts; a lost wake-up costs at most one slice.

``GradingKernelClient`` (what ``rnnkit grade`` uses) adds two savings. Its heartbeat
channel closes a socket without lingering: jupyter_client's closes
the socket of a dead kernel with its ``ping`` unsent and a 1 s linger, so tearing down
every killed kernel's ZMQ context waited up to a second (measured: 0.4-1.0 s per
notebook, a third of the sandbox's overhead).

And waiting for a new kernel, jupyter_client drains IOPub until it has been quiet for
0.2 s: a fixed 0.2 s per notebook in which nothing happens; its quiet period is
``READY_QUIET`` (a late startup message is harmless: nbclient ignores IOPub messages
that do not answer the cell it runs).

Use one with ``c.AsyncKernelManager.client_class = "rnnkit.kernelclient.
GradingKernelClient"`` (``rnnkit grade`` does); ``benchmarks/grading_speed.py`` gives
serial ``nbgrader autograde`` the ``SlicedPollKernelClient``, the stall fix alone.
"""

from __future__ import annotations

import time
from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel, HBChannel
from traitlets import Type
from traitlets.config import Config

SLICE = 0.5  # seconds
READY_QUIET = 0.05  # seconds of IOPub silence that end the wait for a new kernel


class SlicedPollChannel(AsyncZMQSocketChannel):
    """``get_msg`` that re-polls its socket every ``SLICE`` seconds until the timeout.

    While ``timeout_cap`` is set, no call waits longer than it.
    """

    timeout_cap: float | None = None

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:  # type: ignore[override]
        if self.timeout_cap is not None:
            timeout = self.timeout_cap if timeout is None else min(timeout, self.timeout_cap)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            step = SLICE if left is None else min(SLICE, left)
            if await self.socket.poll(int(step * 1000)):
                return await self._recv()
            if left is not None and left <= step:
                raise Empty


class NoLingerHBChannel(HBChannel):
    """A heartbeat whose sockets are closed at once, unsent ``ping`` or not."""

    def _create_socket(self) -> None:
        if self.socket is not None:
            self.poller.unregister(self.socket)
            self.socket.close(linger=0)
            self.socket = None
        super()._create_socket()
        self.socket.linger = 0


class SlicedPollKernelClient(AsyncKernelClient):
    """``AsyncKernelClient`` whose shell, iopub and control channels use ``SlicedPollChannel``."""

    shell_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]
    iopub_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]
    control_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]


class GradingKernelClient(SlicedPollKernelClient):
    """``SlicedPollKernelClient`` with a ``NoLingerHBChannel`` and a short ready wait."""

    hb_channel_class = Type(NoLingerHBChannel)  # type: ignore[assignment]

    async def wait_for_ready(self, timeout: float | None = None) -> None:  # type: ignore[override]
        """jupyter_client's wait, with IOPub waits capped at ``READY_QUIET`` seconds."""
        channel = self.iopub_channel
        channel.timeout_cap = READY_QUIET
        try:
            await AsyncKernelClient.wait_for_ready(self, timeout)
        finally:
            channel.timeout_cap = None


def patient_config(client: type[AsyncKernelClient] = SlicedPollKernelClient) -> Config:
    """traitlets config that gives nbclient's kernels ``client`` (the stall fix alone)."""
    c = Config()
    c.AsyncKernelManager.client_class = f"{client.__module__}.{client.__qualname__}"
    return c
