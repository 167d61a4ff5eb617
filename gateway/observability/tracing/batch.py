"""Finished spans wait in a bounded queue; a background thread exports them in batches.

The event loop's share is one append per span (and, once per full batch, waking the
thread); encoding and the HTTP call happen in the thread, so a request never waits on
the collector. The thread exports when a batch is full (``max_batch`` spans) or when the
schedule delay has passed since its last round, as OpenTelemetry's
``BatchSpanProcessor`` does. When the queue is full a new span is dropped, never the
request: the drops are counted, and the thread logs them at most once a minute.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger("gateway.tracing")

T = TypeVar("T")
DROP_REPORT_INTERVAL_S = 60.0


class BatchQueue(Generic[T]):
    def __init__(
        self,
        export: Callable[[list[T]], object],
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
        self._wake = threading.Event()
        self._woken = False
        self._lock = threading.Lock()
        self._flushes: list[threading.Event] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="span-export", daemon=True)
        self._thread.start()

    def add(self, item: T) -> None:
        """Queue a finished span (on the event loop: an append, and rarely a wake-up)."""
        queue = self._queue
        if len(queue) >= self.max_queue:
            self.dropped += 1
            return
        queue.append(item)
        if len(queue) >= self.max_batch and not self._woken:
            self._woken = True
            self._wake.set()

    def __len__(self) -> int:
        return len(self._queue)

    def flush(self, timeout_s: float) -> bool:
        """Export everything queued so far; False if that took longer than ``timeout_s``."""
        if not self._thread.is_alive():
            return not self._queue
        done = threading.Event()
        with self._lock:
            self._flushes.append(done)
        self._wake.set()
        return done.wait(timeout_s)

    def shutdown(self, timeout_s: float) -> bool:
        """Export what is queued, then stop the thread; False if it did not finish."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.delay_s)
            self._wake.clear()
            self._woken = False
            stopping = self._stopping
            with self._lock:
                flushes, self._flushes = self._flushes, []
            self._drain()
            for done in flushes:
                done.set()
            self._report_drops()
            if stopping:
                return

    def _drain(self) -> None:
        queue = self._queue
        popleft = queue.popleft
        while queue:
            batch = [popleft() for _ in range(min(self.max_batch, len(queue)))]
            try:
                self._export(batch)
            except Exception:  # a broken exporter must not stop the thread
                log.exception("span export failed", spans=len(batch))

    def _report_drops(self) -> None:
        dropped = self.dropped
        now = time.monotonic()
        if dropped > self._reported and now - self._reported_at >= DROP_REPORT_INTERVAL_S:
            log.warning(
                "trace queue full: spans dropped",
                dropped=dropped - self._reported,
                dropped_total=dropped,
                max_queue_size=self.max_queue,
            )
            self._reported, self._reported_at = dropped, now
