"""Short locks shared by the replicas: ``SET <prefix>:lock:<name> <replica> NX PX <ttl>``
(the store's key form: ``{<prefix>}:lock:<name>`` on a Cluster).

Only the replica that holds a lock frees it, or shortens it to a hold time. Used for
half-open probes (one probe at a time across replicas) and health checks (one check
per interval across replicas).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

from gateway.state.redis_connect import RedisClient

# Bound on taking a lock, the one Redis call a request may make (a half-open probe's
# claim); past it, or with Redis away, the store takes the lock on this replica alone.
LOCK_WAIT_S = 0.25
_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) > 0 then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('DEL', KEYS[1])
"""


class SharedLocks:
    def __init__(
        self,
        client: RedisClient,
        key: Callable[[str], str],
        owner: str,
        on_error: Callable[[str, Exception], None],
    ) -> None:
        self.client = client
        self.key = key
        self.owner = owner
        self.on_error = on_error
        self._release = client.register_script(_RELEASE)
        self._tasks: set[asyncio.Task[None]] = set()

    def _key(self, name: str) -> str:
        return self.key(f"lock:{name}")

    async def acquire(self, name: str, ttl_s: float) -> bool | None:
        """Whether the lock is ours now; ``None`` when Redis did not answer in time."""
        ttl_ms = max(1, math.ceil(ttl_s * 1000))
        try:
            async with asyncio.timeout(LOCK_WAIT_S):
                return bool(await self.client.set(self._key(name), self.owner, nx=True, px=ttl_ms))
        except Exception as exc:
            self.on_error("lock", exc)
            return None

    async def release(self, name: str, hold_s: float) -> None:
        hold_ms = math.ceil(hold_s * 1000) if hold_s > 0 else 0
        await self._release(keys=[self._key(name)], args=[self.owner, hold_ms])

    def release_soon(self, name: str, hold_s: float) -> None:
        """Release in the background: the request that held the lock does not wait."""

        async def run() -> None:
            try:
                await self.release(name, hold_s)
            except Exception as exc:  # the lock runs out by itself
                self.on_error("lock", exc)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
