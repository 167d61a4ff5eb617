"""Noticing that the client went away while the plan or the stream runs.

After the body is read, the only message an ASGI server still delivers is
``http.disconnect``. Waiting for it in a side task lets us cancel the request's
task, which closes the upstream connection on its way out.
"""

from __future__ import annotations

import asyncio
from typing import Any


class DisconnectWatch:
    __slots__ = ("_finished", "_task", "_watcher", "disconnected")

    def __init__(self, receive: Any) -> None:
        self.disconnected = False
        self._finished = False
        self._task = asyncio.current_task()
        self._watcher = asyncio.get_running_loop().create_task(self._watch(receive))

    async def _watch(self, receive: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not self._finished and self._task is not None:
                    self.disconnected = True
                    self._task.cancel()
                return

    def stop(self) -> None:
        self._finished = True
        self._watcher.cancel()
