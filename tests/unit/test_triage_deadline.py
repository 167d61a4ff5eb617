"""The classifier's deadlines: each classification is cut at its own ``timeout_s``, a
cancellation from elsewhere still propagates, and work that ends in time is left alone."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from gateway.routing.triage.deadline import Deadlines


async def _bounded(
    deadlines: Deadlines, timeout_s: float, work_s: float, work: Any = asyncio.sleep
) -> str:
    task = deadlines.start(timeout_s)
    try:
        try:
            await work(work_s)
        finally:
            timed_out = deadlines.end(task)
    except asyncio.CancelledError:
        if not timed_out:
            raise
        return "timeout"
    return "done"


async def _timed(deadlines: Deadlines, timeout_s: float, work_s: float) -> tuple[str, float]:
    started = time.perf_counter()
    result = await _bounded(deadlines, timeout_s, work_s)
    return result, time.perf_counter() - started


def test_each_classification_is_cut_at_its_own_deadline() -> None:
    async def scenario() -> list[tuple[str, float]]:
        deadlines = Deadlines()
        # Started in an order other than their deadlines', and mixed with quick work.
        return await asyncio.gather(
            _timed(deadlines, 0.30, 5),
            _timed(deadlines, 0.10, 5),
            _timed(deadlines, 0.20, 0.01),
            _timed(deadlines, 0.05, 5),
            _timed(deadlines, 5, 0.15),
        )

    results = asyncio.run(scenario())
    assert [r for r, _ in results] == ["timeout", "timeout", "done", "timeout", "done"]
    for (_, elapsed), bound in zip(results, (0.30, 0.10, 0.01, 0.05, 0.15), strict=True):
        assert bound - 0.005 <= elapsed < bound + 0.1


def test_later_classifications_are_bounded_after_earlier_ones_ended() -> None:
    async def scenario() -> list[str]:
        deadlines = Deadlines()
        results = [await _bounded(deadlines, 0.2, 0.001) for _ in range(20)]
        results.append(await _bounded(deadlines, 0.05, 5))
        return results

    results = asyncio.run(scenario())
    assert results == ["done"] * 20 + ["timeout"]


def test_a_cancellation_from_elsewhere_is_not_a_timeout() -> None:
    async def scenario() -> None:
        deadlines = Deadlines()
        task = asyncio.create_task(_bounded(deadlines, 5, 5))
        await asyncio.sleep(0.01)
        task.cancel()  # the client went away
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


def test_a_cancellation_racing_the_deadline_still_propagates() -> None:
    async def cut_twice(seconds: float) -> None:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            # The client goes away as the deadline passes: two cancellations, one ours.
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            raise

    async def scenario() -> None:
        deadlines = Deadlines()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.create_task(_bounded(deadlines, 0.02, 5, cut_twice))

    asyncio.run(scenario())
