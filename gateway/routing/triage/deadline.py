"""The classifier's ``timeout_s``: one loop timer for every classification in flight.

``asyncio.timeout`` arms a timer when a classification starts and tears it down when it
ends, on every triage request that asks the classifier. Here a classification is an
entry in a dict; one timer waits for the earliest deadline and re-arms itself for the
next, so a steady stream of quick classifications arms about one timer per
``timeout_s``. A classification past its deadline has its task cancelled, and
``Deadlines.end`` tells whether that cancellation was the deadline's own, as
``asyncio.timeout`` does: a cancellation from elsewhere (the client went away) still
propagates.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

# A deadline this close is due: the loop's timers have millisecond granularity.
_SLACK_S = 0.001


class Deadlines:
    def __init__(self) -> None:
        # task -> (deadline on the loop's clock, its cancel requests before the deadline)
        self._pending: dict[asyncio.Task[Any], tuple[float, int]] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def start(self, timeout_s: float) -> asyncio.Task[Any]:
        """Bounds the current task's work until ``end``; returns the task."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline needs a running task")
        loop = task.get_loop()
        at = loop.time() + timeout_s
        self._pending[task] = (at, task.cancelling())
        if at < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_at(at, self._fire, loop)
            self._timer_at = at
        return task

    def end(self, task: asyncio.Task[Any]) -> bool:
        """Stops bounding ``task``. True when its deadline passed and cancelled it, and
        nothing else did: that cancellation is then withdrawn, for the caller to turn
        into a timeout."""
        entry = self._pending.pop(task, None)
        if entry is None or task not in self._expired:
            return False
        self._expired.discard(task)
        return task.uncancel() <= entry[1]

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self._timer_at = math.inf
        due = loop.time() + _SLACK_S
        for task, (at, _) in self._pending.items():
            if at <= due:
                if task not in self._expired:
                    self._expired.add(task)
                    task.cancel()  # runs nothing now: the task wakes on its next step
            elif at < self._timer_at:
                self._timer_at = at
        if self._timer_at < math.inf:
            self._timer = loop.call_at(self._timer_at, self._fire, loop)
