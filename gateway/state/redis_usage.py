"""Usage counters on their way to Redis: summed in process, sealed into batches with
ids of their own, and applied by a script that remembers each id, so a flush retried
after a lost reply never counts twice.

Under Sentinel a batch counts as sent only once a replica has it too (``WAIT``): a
failover right after a flush cannot lose it, and until then it is resent under its
id, a no-op where it already landed. While Redis is away, at most
``max_pending_rows`` counter rows wait (one per window, bucket and dimensions);
further ones are dropped and counted in ``dropped_total``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.accounting.counters import Increments, UsageEvent, UsageRows, bucket_ttl_s
from gateway.state.redis_connect import RedisClient
from gateway.state.redis_scripts import APPLY_BATCH

log = structlog.get_logger("gateway.state")

BATCH_MARKER_TTL_S = 86_400
BATCH_FIELDS = 2_000
REPLICA_ACK_MS = 1_000
# How long a primary's replica count is trusted before INFO is asked again.
REPLICA_RECHECK_S = 10.0


@dataclass(slots=True)
class UsageBatch:
    id: str
    increments: Increments
    rows: int


class UsageBatches:
    def __init__(
        self,
        client: RedisClient,
        key: Callable[[str], str],
        *,
        max_pending_rows: int,
        confirm_on_replica: bool,
    ) -> None:
        self._client = client
        self._key = key
        self.max_pending_rows = max_pending_rows
        self.dropped_total = 0
        self._confirm_on_replica = confirm_on_replica
        self._replica_count = 0
        self._replicas_checked_at: float | None = None  # None: ask the primary first
        self._apply_script = client.register_script(APPLY_BATCH)
        self._current = UsageRows()
        self.sealed: deque[UsageBatch] = deque()
        self._sealed_rows = 0
        self.lock = asyncio.Lock()
        self._drop_logged = False

    @property
    def pending_rows(self) -> int:
        return len(self._current) + self._sealed_rows

    def add(self, event: UsageEvent) -> None:
        if self._current.add(event, self.max_pending_rows - self._sealed_rows):
            return
        self.dropped_total += 1
        if not self._drop_logged:
            self._drop_logged = True
            log.error("usage counters dropped: pending bound reached", bound=self.max_pending_rows)

    def primary_changed(self) -> None:
        """After an outage the primary may be another server: count its replicas anew."""
        self._replicas_checked_at = None

    def seal(self) -> None:
        if not len(self._current):
            return
        rows = len(self._current)
        increments = self._current.increments()
        self._current = UsageRows()
        chunks: list[Increments] = [{}]
        size = 0
        for key, fields in increments.items():
            for name, amount in fields.items():
                if size >= BATCH_FIELDS:
                    chunks.append({})
                    size = 0
                chunks[-1].setdefault(key, {})[name] = amount
                size += 1
        # The row count rides on the last chunk: released once every chunk is sent.
        last = len(chunks) - 1
        for i, chunk in enumerate(chunks):
            self.sealed.append(UsageBatch(os.urandom(12).hex(), chunk, rows if i == last else 0))
        self._sealed_rows += rows

    async def apply(self, batch: UsageBatch) -> None:
        keys = [self._key(f"batch:{batch.id}")]
        args: list[Any] = [BATCH_MARKER_TTL_S]
        for bucket, fields in batch.increments.items():
            keys.append(self._key(bucket))
            args += [bucket_ttl_s(bucket.split(":")[1]), len(fields)]
            for name, amount in fields.items():
                args += [name, amount]
        if not self._confirm_on_replica or not await self._has_replicas():
            # No replica could be promoted (WAIT would only stall until its timeout).
            await self._apply_script(keys=keys, args=args)
            return
        # WAIT counts the replicas that have this connection's writes: one pipeline,
        # so the script and the WAIT share a connection.
        assert isinstance(self._client, Redis)  # Sentinel gives a plain client
        async with self._client.pipeline(transaction=False) as pipe:
            await self._apply_script(keys=keys, args=args, client=pipe)
            pipe.wait(1, REPLICA_ACK_MS)
            acked = (await pipe.execute())[-1]
        if acked < 1:
            self._replicas_checked_at = None  # the replica may be gone: ask again
            raise RedisError("no replica acknowledged the usage batch yet; it is resent")

    async def _has_replicas(self) -> bool:
        now = time.monotonic()
        checked = self._replicas_checked_at
        if checked is None or now - checked > REPLICA_RECHECK_S:
            replication = await self._client.info("replication")
            self._replica_count = int(replication.get("connected_slaves", 0))
            self._replicas_checked_at = now
        return self._replica_count > 0

    async def flush(self, fail: Callable[[str, BaseException], None]) -> None:
        """Send what is pending; a failed batch stays queued and is resent under its id."""
        async with self.lock:
            self.seal()
            while self.sealed:
                batch = self.sealed[0]
                try:
                    await self.apply(batch)
                except Exception as exc:
                    fail("usage", exc)
                    return
                self.sealed.popleft()
                self._sealed_rows -= batch.rows
            self._drop_logged = False

    async def buckets(self, keys: Sequence[str]) -> list[dict[str, int]]:
        async with self._client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(self._key(key))
            replies: list[dict[str, str]] = await pipe.execute()
        return [{k: int(v) for k, v in reply.items()} for reply in replies if reply]

    async def reset(self, pattern: str) -> None:
        """Forget what is pending and delete every counter matching ``pattern``."""
        async with self.lock:
            self._current.clear()
            self.sealed.clear()
            self._sealed_rows = 0
            names = [name async for name in self._client.scan_iter(match=pattern, count=500)]
            for start in range(0, len(names), 500):
                await self._client.unlink(*names[start : start + 500])
