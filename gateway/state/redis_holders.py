"""Response-id holders in Redis: ``<prefix>:affinity:<id>`` = the holder, with a TTL.

Writes are queued and sent in pipelined batches by a background task; a read is one
pipelined GET + PTTL with a bounded wait, repeated once shortly after a miss, since a
follow-up can reach this replica before the one that made the response has written
its record.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from gateway.state.affinity import Holder
from gateway.state.redis_connect import RedisClient

REREAD_S = 0.05
READ_TIMEOUT_S = 0.25
MAX_BATCH = 500


class RedisHolders:
    def __init__(self, client: RedisClient, key: Callable[[str], str], max_queued: int) -> None:
        self._client = client
        self._key = key
        self._queue: asyncio.Queue[tuple[str, Holder | None, float]] = asyncio.Queue(max_queued)

    def share(self, key: str, holder: Holder | None, ttl_s: float) -> None:
        """Queue a record (``holder=None``: its removal); a full queue drops it."""
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait((key, holder, ttl_s))

    async def write_loop(
        self,
        up: asyncio.Event,
        closing: Callable[[], bool],
        fail: Callable[[str, BaseException], None],
    ) -> None:
        queue = self._queue
        while not closing():
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < MAX_BATCH:
                batch.append(queue.get_nowait())
            await up.wait()
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for key, holder, ttl_s in batch:
                        name = self._key(f"affinity:{key}")
                        if holder is None:
                            pipe.delete(name)
                        else:
                            pipe.set(name, holder.encode(), px=max(1, int(ttl_s * 1000)))
                    await pipe.execute()
            except Exception as exc:
                fail("affinity", exc)

    async def read(self, key: str) -> tuple[Holder | None, float]:
        """The holder of ``key`` and the seconds its record has left."""
        name = self._key(f"affinity:{key}")
        raw, ttl_ms = await asyncio.wait_for(self._get(name), READ_TIMEOUT_S)
        if raw is None:
            await asyncio.sleep(REREAD_S)
            raw, ttl_ms = await asyncio.wait_for(self._get(name), READ_TIMEOUT_S)
        holder = Holder.decode(raw) if raw is not None else None
        return holder, ttl_ms / 1000

    async def _get(self, name: str) -> tuple[str | None, int]:
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.get(name)
            pipe.pttl(name)
            raw, ttl_ms = await pipe.execute()
        return raw, int(ttl_ms)
