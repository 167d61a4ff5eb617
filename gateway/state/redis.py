"""Shared state in Redis: cooldowns every replica honours, and batched usage counters.

Nothing here sits on a request's critical path. Requests read the local
``CooldownBook``; a park is queued for a background writer, which stores it
(longest deadline wins) and publishes it; every replica's subscriber applies it to
its own book. Usage increments are summed in process and flushed once a second as
idempotent batches, so a retried flush never counts twice.

Keys under ``<prefix>:``: ``cooldown:<provider>/<model>`` (value = deadline, PX TTL),
``usage:<window>:<bucket>`` (hash), ``batch:<id>`` (flush marker); channel
``<prefix>:cooldowns``. When Redis is away the store serves on local state, reports
``degraded``, counts each failed operation in ``errors_total``, keeps up to
``max_pending_rows`` counter rows (one per window, bucket and dimensions; further
ones are dropped and counted in ``usage_dropped_total``), and reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.accounting.counters import Increments, UsageEvent, UsageRows, bucket_ttl_s
from gateway.cache.store import ResponseCacheStore
from gateway.config.loader import ConfigError
from gateway.state.base import StateStore

log = structlog.get_logger("gateway.state")

# Longest deadline wins; returns the deadline now in force.
_PARK = """
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return ARGV[1]
"""
# Applies one batch at most once: KEYS[1] is the batch marker, then one hash per bucket.
# ARGV: marker ttl, then per hash: ttl, field count, field/amount pairs.
_APPLY = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local a = 2
for i = 2, #KEYS do
  local ttl, n = ARGV[a], tonumber(ARGV[a + 1])
  a = a + 2
  for _ = 1, n do
    redis.call('HINCRBY', KEYS[i], ARGV[a], ARGV[a + 1])
    a = a + 2
  end
  redis.call('EXPIRE', KEYS[i], ttl)
end
return 1
"""
BATCH_MARKER_TTL_S = 86_400
BATCH_FIELDS = 2_000
MAX_BACKOFF_S = 2.0


@dataclass(slots=True)
class _Batch:
    id: str
    increments: Increments
    rows: int


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class RedisStateStore(StateStore):
    backend = "redis"
    unavailable_errors = (RedisError, OSError)

    def __init__(
        self,
        url: str,
        key_prefix: str = "gw",
        *,
        flush_interval_s: float = 1.0,
        max_pending_rows: int = 20_000,
        max_queued_parks: int = 10_000,
    ) -> None:
        super().__init__()
        self.url = url
        self.prefix = key_prefix
        self.channel = f"{key_prefix}:cooldowns"
        self.flush_interval_s = flush_interval_s
        self.max_pending_rows = max_pending_rows
        self.usage_dropped_total = 0
        self.replica_id = os.urandom(6).hex()
        try:
            self._client: Redis = Redis.from_url(
                url,
                decode_responses=True,
                socket_connect_timeout=1.0,
                socket_timeout=2.0,
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            raise ConfigError(
                "state",
                [f"state.redis_url: {exc} (Sentinel and Cluster URLs are not supported)"],
            ) from None
        self._park_script = self._client.register_script(_PARK)
        self._apply_script = self._client.register_script(_APPLY)
        self._parks: asyncio.Queue[tuple[str, float, str]] = asyncio.Queue(max_queued_parks)
        self._current = UsageRows()
        self._sealed: deque[_Batch] = deque()
        self._sealed_rows = 0
        self._flush_lock = asyncio.Lock()
        self._up = asyncio.Event()
        self._outage_logged = False
        self._drop_logged = False
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._supervise(), name="redis-state-subscriber"),
            asyncio.create_task(self._write_parks(), name="redis-state-parks"),
            asyncio.create_task(self._flush_loop(), name="redis-state-usage"),
        ]
        try:
            # A reconciled book before the first request, when Redis is there at all.
            await asyncio.wait_for(self._up.wait(), 1.0)
        except TimeoutError:
            log.warning(
                "redis not reachable at startup; serving on local state", url=self._safe_url
            )

    async def aclose(self) -> None:
        # redis-py may turn a cancellation into a connection error, so the loops also
        # watch ``_closing`` rather than trusting CancelledError alone.
        self._closing = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        self._tasks = []
        if self._up.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.flush_usage(), 3.0)
        if self.pending_rows:
            log.warning("usage counters not flushed at shutdown", rows=self.pending_rows)
        await self._client.aclose()

    def health(self) -> str:
        return "ok" if self._up.is_set() else "degraded"

    @property
    def client(self) -> Redis:
        """The connection pool, for other shared state kept under ``prefix``."""
        return self._client

    @property
    def _safe_url(self) -> str:
        scheme, sep, rest = self.url.partition("://")
        return f"{scheme}{sep}{rest.rpartition('@')[2]}"

    def _key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def _fail(self, operation: str, exc: BaseException) -> None:
        if self._closing:
            return
        self.errors_total += 1
        self._up.clear()
        if not self._outage_logged:
            self._outage_logged = True
            log.warning(
                "redis unavailable; serving on local state",
                operation=operation,
                error=f"{type(exc).__name__}: {exc}",
                url=self._safe_url,
            )

    def _recovered(self) -> None:
        if self._outage_logged:
            log.info("redis reachable again", errors_total=self.errors_total)
        self._outage_logged = False
        self._up.set()

    def response_cache(self, max_entries: int, max_bytes: int) -> ResponseCacheStore:
        from gateway.cache.redis_store import RedisResponseCache

        # Entries are bytes, and a lookup must not wait long: a client of its own.
        client = Redis.from_url(
            self.url,
            socket_connect_timeout=0.25,
            socket_timeout=0.25,
            retry=Retry(NoBackoff(), 0),
        )
        return RedisResponseCache(client, self._key, max_entries, max_bytes)

    # -- cooldowns -------------------------------------------------------------
    def _share_park(self, key: str, until: float, reason: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            # A full queue loses nothing for good: reconcile pushes the local book.
            self._parks.put_nowait((key, until, reason))

    async def _push_park(self, key: str, until: float, reason: str) -> None:
        ttl_ms = math.ceil((until - time.time()) * 1000)
        if ttl_ms <= 0:
            return
        message = orjson.dumps(
            {"key": key, "until": until, "reason": reason, "from": self.replica_id}
        ).decode()
        winner = await self._park_script(
            keys=[self._key(f"cooldown:{key}")],
            args=[repr(until), ttl_ms, self.channel, message],
        )
        self.cooldowns.park(key, float(winner))

    async def _write_parks(self) -> None:
        while not self._closing:
            key, until, reason = await self._parks.get()
            await self._up.wait()
            try:
                await self._push_park(key, until, reason)
            except Exception as exc:
                self._fail("park", exc)

    def _on_message(self, data: str) -> None:
        try:
            message = orjson.loads(data)
            reason = message.get("reason")
            self.cooldowns.park(
                str(message["key"]),
                float(message["until"]),
                reason if isinstance(reason, str) else None,
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("ignored a malformed cooldown message", channel=self.channel)

    async def _reconcile(self) -> None:
        """Share parks made while away, then adopt every deadline Redis holds."""
        for key, until in self.cooldowns.active().items():
            await self._push_park(key, until, "reconcile")
        prefix = self._key("cooldown:")
        names = [
            name
            async for name in self._client.scan_iter(match=_glob_escape(prefix) + "*", count=500)
        ]
        for start in range(0, len(names), 500):
            chunk = names[start : start + 500]
            for name, value in zip(chunk, await self._client.mget(chunk), strict=True):
                with contextlib.suppress(ValueError):  # not a deadline: not ours
                    if value is not None:  # expired since the scan
                        self.cooldowns.park(name[len(prefix) :], float(value))

    async def _supervise(self) -> None:
        backoff = 0.05
        while not self._closing:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                await self._reconcile()
                self._recovered()
                backoff = 0.05
                while self._up.is_set() and not self._closing:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                    if message is not None and message.get("type") == "message":
                        self._on_message(message["data"])
            except Exception as exc:  # any failure: reconnect, never stop trying
                self._fail("subscribe", exc)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    # -- usage counters ----------------------------------------------------------
    @property
    def pending_rows(self) -> int:
        return len(self._current) + self._sealed_rows

    def add_usage(self, event: UsageEvent) -> None:
        if self._current.add(event, self.max_pending_rows - self._sealed_rows):
            return
        self.usage_dropped_total += 1
        if not self._drop_logged:
            self._drop_logged = True
            log.error("usage counters dropped: pending bound reached", bound=self.max_pending_rows)

    def _seal(self) -> None:
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
            self._sealed.append(_Batch(os.urandom(12).hex(), chunk, rows if i == last else 0))
        self._sealed_rows += rows

    async def _apply(self, batch: _Batch) -> None:
        keys = [self._key(f"batch:{batch.id}")]
        args: list[Any] = [BATCH_MARKER_TTL_S]
        for bucket, fields in batch.increments.items():
            keys.append(self._key(bucket))
            args += [bucket_ttl_s(bucket.split(":")[1]), len(fields)]
            for name, amount in fields.items():
                args += [name, amount]
        await self._apply_script(keys=keys, args=args)

    async def flush_usage(self) -> None:
        """Send what is pending; a failed batch stays queued and is resent under its id."""
        if not self._up.is_set():
            return
        async with self._flush_lock:
            self._seal()
            while self._sealed:
                batch = self._sealed[0]
                try:
                    await self._apply(batch)
                except Exception as exc:
                    self._fail("usage", exc)
                    return
                self._sealed.popleft()
                self._sealed_rows -= batch.rows
            self._drop_logged = False

    async def _flush_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.flush_interval_s)
            await self._up.wait()
            await self.flush_usage()

    async def usage_buckets(self, keys: Sequence[str]) -> list[dict[str, int]]:
        async with self._client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(self._key(key))
            replies: list[dict[str, str]] = await pipe.execute()
        return [{k: int(v) for k, v in reply.items()} for reply in replies if reply]

    async def reset_usage(self) -> None:
        async with self._flush_lock:
            self._current.clear()
            self._sealed.clear()
            self._sealed_rows = 0
            names = [
                name
                async for name in self._client.scan_iter(
                    match=_glob_escape(self._key("usage:")) + "*", count=500
                )
            ]
            for start in range(0, len(names), 500):
                await self._client.unlink(*names[start : start + 500])
