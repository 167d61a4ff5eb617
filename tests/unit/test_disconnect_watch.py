"""The disconnect watcher: it cancels the request only for ``http.disconnect``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.api.disconnect import DisconnectWatch


class ScriptedReceive:
    """An ASGI ``receive`` that hands out queued messages, then waits for more."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.calls = 0
        self._called: asyncio.Queue[int] = asyncio.Queue()

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        self._called.put_nowait(self.calls)
        return await self.queue.get()

    async def called(self, n: int) -> None:
        """Wait (2 s at most) until receive() has been called the n-th time."""
        async with asyncio.timeout(2):
            while await self._called.get() < n:
                pass


async def test_a_disconnect_cancels_the_request_after_other_messages() -> None:
    receive = ScriptedReceive()
    watch: DisconnectWatch | None = None

    async def request() -> None:
        nonlocal watch
        watch = DisconnectWatch(receive, start_after_s=0)
        await asyncio.sleep(30)

    task = asyncio.create_task(request())
    await receive.called(1)
    # Anything but a disconnect leaves the request alone, and the watcher listens again.
    receive.queue.put_nowait({"type": "http.request", "body": b"", "more_body": False})
    await receive.called(2)
    assert not task.done()
    receive.queue.put_nowait({"type": "http.disconnect"})
    with pytest.raises(asyncio.CancelledError):
        await task
    assert watch is not None and watch.disconnected


async def test_a_stopped_watch_never_starts_or_cancels() -> None:
    receive = ScriptedReceive()
    watch = DisconnectWatch(receive, start_after_s=0.01)
    watch.stop()
    await asyncio.sleep(0.05)
    assert receive.calls == 0
    assert not watch.disconnected


async def test_stop_after_start_ends_the_watcher_without_cancelling_the_request() -> None:
    receive = ScriptedReceive()
    watch = DisconnectWatch(receive, start_after_s=0)
    await receive.called(1)
    watch.stop()
    # A disconnect that arrives after the request finished is not the request's business.
    receive.queue.put_nowait({"type": "http.disconnect"})
    await asyncio.sleep(0.02)
    assert not watch.disconnected
