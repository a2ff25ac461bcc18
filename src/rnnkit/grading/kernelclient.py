"""A kernel client that never sleeps through a message that has arrived.

Measured here (jupyter_client 8, pyzmq 27, nbclient 0.11): about one notebook in thirty
of chapter 01, graded two at a time, stalled for exactly the cell timeout (120 s) on the
cell that draws the widget (a burst of iopub messages): the kernel had sent the
execute reply and sat idle, while the client's ``await socket.poll(120 s)`` on the shell
socket was never woken; the interrupt sent at the timeout woke it and the cell then
counted as fine. Polling the same socket again finds the message at once, so this
client's channels poll in slices of ``SLICE`` seconds up to the caller's timeout. Same
messages, same order, same timeouts; a lost wake-up costs at most one slice.

Use it with ``c.AsyncKernelManager.client_class = "rnnkit.grading.kernelclient.
SlicedPollKernelClient"`` (``rnnkit grade`` does).
"""

from __future__ import annotations

import time
from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import Type

SLICE = 0.5  # seconds


class SlicedPollChannel(AsyncZMQSocketChannel):
    """``get_msg`` that re-polls its socket every ``SLICE`` seconds until the timeout."""

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:  # type: ignore[override]
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            step = SLICE if left is None else min(SLICE, left)
            if await self.socket.poll(int(step * 1000)):
                return await self._recv()
            if left is not None and left <= step:
                raise Empty


class SlicedPollKernelClient(AsyncKernelClient):
    """``AsyncKernelClient`` whose shell, iopub and control channels use ``SlicedPollChannel``."""

    shell_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]
    iopub_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]
    control_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]
