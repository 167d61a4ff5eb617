"""Noticing that the client went away while the plan or the stream runs.

After the body is read, the only message an ASGI server still delivers is
``http.disconnect``. Waiting for it in a side task lets us cancel the request's
task, which closes the upstream connection on its way out.

The side task starts ``START_AFTER_S`` into the request: a request answered sooner
never pays for a task (a few percent of the CPU of a fast pass-through), while an
LLM call, which takes seconds, is watched for nearly all of its life.
"""

from __future__ import annotations

import asyncio
from typing import Any

START_AFTER_S = 0.05


class DisconnectWatch:
    __slots__ = ("_finished", "_receive", "_task", "_timer", "_watcher", "disconnected")

    def __init__(self, receive: Any, start_after_s: float = START_AFTER_S) -> None:
        self.disconnected = False
        self._finished = False
        self._receive = receive
        self._task = asyncio.current_task()
        self._watcher: asyncio.Task[Any] | None = None
        self._timer = asyncio.get_running_loop().call_later(start_after_s, self._start)

    def _start(self) -> None:
        if not self._finished:
            # The server's receive() runs as the task itself, with a callback rather
            # than a wrapping coroutine: a stream held open for minutes keeps one
            # frame fewer alive.
            watcher = asyncio.get_running_loop().create_task(self._receive())
            watcher.add_done_callback(self._on_message)
            self._watcher = watcher

    def _on_message(self, watcher: asyncio.Task[Any]) -> None:
        if watcher.cancelled() or watcher.exception() is not None or self._finished:
            return
        if watcher.result()["type"] != "http.disconnect":
            self._start()  # not the end of the client: keep listening
            return
        self.disconnected = True
        if self._task is not None:
            self._task.cancel()

    def stop(self) -> None:
        self._finished = True
        self._timer.cancel()
        if self._watcher is not None:
            self._watcher.cancel()
