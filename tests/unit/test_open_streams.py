"""Ending open streams at shutdown: only the cut turns into ``StreamCut``."""

from __future__ import annotations

import asyncio

import pytest

from gateway.lifecycle.streams import OpenStreams, StreamCut


async def test_a_cut_stream_raises_stream_cut_and_another_cancel_stays_a_cancel() -> None:
    streams = OpenStreams()
    started = asyncio.Event()
    outcomes: list[str] = []

    async def relay() -> None:
        try:
            with streams.held():
                started.set()
                await asyncio.sleep(30)
        except StreamCut as exc:
            outcomes.append(f"cut: {exc}")

    cut = asyncio.create_task(relay())
    await started.wait()
    assert len(streams) == 1
    assert streams.cut_all() == 1
    await cut
    assert outcomes == ["cut: the gateway is shutting down; the stream ends here"]
    assert not cut.cancelled() and len(streams) == 0

    started.clear()
    other = asyncio.create_task(relay())
    await started.wait()
    other.cancel()  # a client disconnect, say: not the shutdown's cut
    with pytest.raises(asyncio.CancelledError):
        await other
    assert outcomes == ["cut: the gateway is shutting down; the stream ends here"]
    assert streams.cut_all() == 0
