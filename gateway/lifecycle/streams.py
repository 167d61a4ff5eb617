"""The streams a worker is relaying, so a shutdown can end them properly.

A stream still open when the shutdown grace runs out is not cut silently: its task
is cancelled, and ``held()`` turns that cancellation into ``StreamCut``, which the
relay answers with the OpenAI error event and ``[DONE]``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class StreamCut(Exception):
    """The gateway is shutting down and the grace for open streams is over."""

    code = "server_shutting_down"


class OpenStreams:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()
        self._cut: set[asyncio.Task[object]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    @contextmanager
    def held(self) -> Iterator[None]:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            yield
        except asyncio.CancelledError:
            if task not in self._cut:
                raise  # the client went away, or the server is stopping for good
            task.uncancel()
            raise StreamCut("the gateway is shutting down; the stream ends here") from None
        finally:
            self._tasks.discard(task)
            self._cut.discard(task)

    def cut_all(self) -> int:
        """Ends every open stream with an error event; returns how many there were."""
        tasks = list(self._tasks)
        for task in tasks:
            self._cut.add(task)
            task.cancel()
        return len(tasks)
