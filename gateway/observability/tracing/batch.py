"""Finished spans wait in a bounded queue; a task on the event loop exports them in batches.

A request's share is one append per span (and, once per full batch, setting an event).
Spans are queued already encoded, so an export is a join of bytes and an HTTP call on
the gateway's own transport: no thread, so no contention with the event loop for the
interpreter lock. As in OpenTelemetry's ``BatchSpanProcessor``, full batches
(``max_batch`` spans) go out as they fill, and everything queued goes out once the
schedule delay has passed since the last time it did (or at a flush, or at shutdown):
under load, requests go out full, and a quiet gateway's last spans still leave within
the delay. When the queue is full a new span is dropped, never the request: the drops
are counted, and logged at most once a minute.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import structlog

log = structlog.get_logger("gateway.tracing")

T = TypeVar("T")
DROP_REPORT_INTERVAL_S = 60.0


class BatchQueue(Generic[T]):
    def __init__(
        self,
        export: Callable[[list[T]], Awaitable[object]],
        max_queue: int,
        max_batch: int,
        delay_s: float,
    ) -> None:
        self._export = export
        self._queue: deque[T] = deque()
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.delay_s = delay_s
        self.dropped = 0
        self._reported = 0
        self._reported_at = -DROP_REPORT_INTERVAL_S
        # Made on the loop, by the first span queued there (see _start).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._woken = False
        self._draining: asyncio.Lock | None = None
        self._stopping = False
        # What ``add`` makes of an item before queueing it (the OTLP encoding of a span).
        self.prepare: Callable[[Any], T] | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, item: Any) -> None:
        """Queue a finished span (on the event loop: an append, and rarely a wake-up)."""
        queue = self._queue
        if len(queue) >= self.max_queue:
            self.dropped += 1
            return
        prepare = self.prepare
        queue.append(item if prepare is None else prepare(item))
        if self._task is None:
            self._start()
        elif len(queue) >= self.max_batch and not self._woken and self._wake is not None:
            self._woken = True
            self._wake.set()

    def _start(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a script, a test): flush or shutdown exports
            return
        self._loop = loop
        self._wake = asyncio.Event()
        self._draining = asyncio.Lock()
        self._task = loop.create_task(self._run(), name="span-export")

    async def _run(self) -> None:
        assert self._wake is not None and self._loop is not None
        due = self._loop.time() + self.delay_s
        while not self._stopping:
            try:
                async with asyncio.timeout_at(due):
                    await self._wake.wait()
                timed_out = False
            except TimeoutError:
                timed_out = True
            self._wake.clear()
            self._woken = False
            if self._stopping:  # aclose exports the rest
                return
            # Woken by a full batch, the rest waits for the delay or to fill a batch.
            await self.drain(everything=timed_out)
            if timed_out:
                due = self._loop.time() + self.delay_s
            self._report_drops()

    async def drain(self, everything: bool = True) -> None:
        """Export full batches, or everything queued (in batches) when ``everything``."""
        lock = self._draining
        if lock is None:
            lock = self._draining = asyncio.Lock()
        # One drain at a time: a flush returns once what an export in flight holds is out.
        async with lock:
            queue = self._queue
            popleft = queue.popleft
            least = 1 if everything else self.max_batch
            while len(queue) >= least:
                batch = [popleft() for _ in range(min(self.max_batch, len(queue)))]
                try:
                    await self._export(batch)
                except Exception:  # a broken exporter must not stop the export task
                    log.exception("span export failed", spans=len(batch))

    def flush(self, timeout_s: float) -> bool:
        """Export everything queued so far, from outside the event loop (another thread,
        or no loop at all); False if that took longer than ``timeout_s``."""
        loop = self._loop
        if loop is not None and loop.is_running():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                raise RuntimeError("flush() would block the loop: await drain() instead")
            future = asyncio.run_coroutine_threadsafe(self.drain(), loop)
            try:
                future.result(timeout_s)
            except TimeoutError:
                return False
            return True
        return _run_alone(self.drain(), timeout_s)

    async def aclose(self, timeout_s: float) -> bool:
        """Stop the export task and export what is queued; False if not all of it
        went out within ``timeout_s``."""
        self._stopping = True
        task = self._task
        if task is not None and self._wake is not None:
            self._wake.set()  # the task ends after the export it may be in the middle of
        try:
            async with asyncio.timeout(timeout_s):
                if task is not None:
                    await task
                await self.drain()
        except TimeoutError:
            if task is not None:
                task.cancel()
            return False
        finally:
            self._report_drops(force=True)
        return True

    def _report_drops(self, force: bool = False) -> None:
        dropped = self.dropped
        now = time.monotonic()
        if dropped > self._reported and (
            force or now - self._reported_at >= DROP_REPORT_INTERVAL_S
        ):
            log.warning(
                "trace queue full: spans dropped",
                dropped=dropped - self._reported,
                dropped_total=dropped,
                max_queue_size=self.max_queue,
            )
            self._reported, self._reported_at = dropped, now


def _run_alone(work: Awaitable[None], timeout_s: float) -> bool:
    async def bounded() -> None:
        await asyncio.wait_for(work, timeout_s)

    try:
        asyncio.run(bounded())
    except TimeoutError:
        return False
    return True
