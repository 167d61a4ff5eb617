"""Shared state in Redis: cooldowns every replica honours, and batched usage counters.

Nothing here sits on a request's critical path. Requests read the local
``CooldownBook``; a park is queued for a background writer, which stores it
(longest deadline wins) and publishes it; every replica's subscriber applies it to
its own book. Usage increments are summed in process and flushed once a second as
idempotent batches, so a retried flush never counts twice.

Keys under ``<prefix>:`` (on a Cluster ``{<prefix>}:``, a hash tag, so every key and
the channel of one gateway live on one slot): ``cooldown:<provider>/<model>`` (value =
deadline, PX TTL), ``usage:<window>:<bucket>`` (hash), ``batch:<id>`` (flush
marker), ``triage:<hash>`` (a cached triage verdict, PX TTL, read with a bounded
wait), ``lock:<name>`` (``redis_locks``), ``signals:*`` (``redis_signals``),
``affinity:<id>`` (a response's holder, see ``redis_holders``); channel
``<prefix>:cooldowns`` (parks, and recoveries). Which Redis (one server, Sentinel,
Cluster) is ``gateway.state.redis_connect``'s business; how usage batches reach it
(and survive a Sentinel failover) is ``gateway.state.redis_usage``'s. When Redis is
away the store serves on local state, reports ``degraded``, counts each failed
operation in ``errors_total``, keeps a bounded number of pending counter rows, and
reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import time
from collections.abc import Sequence
from typing import Any

import orjson
import structlog
from redis.exceptions import RedisError

from gateway.accounting.counters import UsageEvent
from gateway.cache.store import ResponseCacheStore
from gateway.config.loader import ConfigError
from gateway.state.affinity import Holder
from gateway.state.base import StateStore
from gateway.state.redis_connect import RedisClient, connect, discover, redis_target
from gateway.state.redis_holders import RedisHolders
from gateway.state.redis_locks import SharedLocks
from gateway.state.redis_scripts import PARK
from gateway.state.redis_signals import SignalExchange
from gateway.state.redis_usage import UsageBatches

log = structlog.get_logger("gateway.state")

# Shared-value writes in flight at once; beyond it a write is dropped (a later miss).
MAX_PENDING_PUTS = 1_000
MAX_BACKOFF_S = 2.0


def glob_escape(text: str) -> str:
    """``text`` matched literally in a SCAN pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class RedisStateStore(StateStore):
    backend = "redis"
    unavailable_errors = (RedisError, OSError)
    shares_values = True

    def __init__(
        self,
        url: str,
        key_prefix: str = "gw",
        *,
        cluster: bool = False,
        flush_interval_s: float = 1.0,
        max_pending_rows: int = 20_000,
        max_queued_parks: int = 10_000,
    ) -> None:
        super().__init__()
        self.target = redis_target(url, cluster=cluster)
        self.prefix = key_prefix
        # Only a Cluster needs the hash tag; elsewhere keys keep the form earlier
        # releases wrote, so their counters stay readable after an upgrade.
        self._namespace = f"{{{key_prefix}}}" if self.target.kind == "cluster" else key_prefix
        self.channel = self._key("cooldowns")
        self.flush_interval_s = flush_interval_s
        self.replica_id = os.urandom(6).hex()
        try:
            self._client: RedisClient = connect(self.target)
        except ValueError as exc:
            raise ConfigError("state", [f"state.redis_url: {exc}"]) from None
        self.usage = UsageBatches(
            self._client,
            self._key,
            max_pending_rows=max_pending_rows,
            # A replica that has the batch too survives a failover (Sentinel's promotion).
            confirm_on_replica=self.target.kind == "sentinel",
        )
        self._shared_locks = SharedLocks(self._client, self._key, self.replica_id, self._fail)
        self._signal_exchange = SignalExchange(
            self._client, self._key, self.replica_id, self._signals_failed
        )
        self._park_script = self._client.register_script(PARK)
        self._parks: asyncio.Queue[tuple[str, float, str]] = asyncio.Queue(max_queued_parks)
        self._holders = RedisHolders(self._client, self._key, max_queued_parks)
        self._up = asyncio.Event()
        self._outage_logged = False
        self._tasks: list[asyncio.Task[None]] = []
        self._puts: set[asyncio.Task[None]] = set()
        self._closing = False

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._supervise(), name="redis-state-subscriber"),
            asyncio.create_task(self._write_parks(), name="redis-state-parks"),
            asyncio.create_task(self._flush_loop(), name="redis-state-usage"),
            asyncio.create_task(
                self._signal_exchange.run(self.signals, self._up),
                name="redis-state-signals",
            ),
            asyncio.create_task(
                self._holders.write_loop(self._up, lambda: self._closing, self._fail),
                name="redis-state-affinity",
            ),
        ]
        try:
            # A reconciled book and shared signals before the first request, if Redis is up.
            await asyncio.wait_for(self._up.wait(), 1.0)
            await asyncio.wait_for(self.exchange_signals(), 1.0)
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
                await asyncio.wait_for(self._flush_parks(), 2.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.flush_usage(), 3.0)
        if self.pending_rows:
            log.warning("usage counters not flushed at shutdown", rows=self.pending_rows)
        await self._client.aclose()

    def health(self) -> str:
        return "ok" if self._up.is_set() else "degraded"

    @property
    def client(self) -> RedisClient:
        """The connection pool, for other shared state kept under ``namespace``."""
        return self._client

    @property
    def namespace(self) -> str:
        """What every key and channel starts with (``{prefix}`` on a Cluster)."""
        return self._namespace

    @property
    def _safe_url(self) -> str:
        return self.target.shown

    def _key(self, name: str) -> str:
        return f"{self._namespace}:{name}"

    def _fail(self, operation: str, exc: BaseException) -> None:
        if self._closing:
            return
        self.errors_total += 1
        self._up.clear()
        self.signals.lost_shared()
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
        self.usage.primary_changed()
        self._up.set()

    def response_cache(self, max_entries: int, max_bytes: int) -> ResponseCacheStore:
        from gateway.cache.redis_store import RedisResponseCache

        # Entries are bytes, and a lookup must not wait long: a client of its own.
        client = connect(
            self.target, decode_responses=False, socket_connect_timeout=0.25, socket_timeout=0.25
        )
        return RedisResponseCache(client, self._key, max_entries, max_bytes)

    # -- cooldowns -------------------------------------------------------------
    def _share_park(self, key: str, until: float, reason: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            # A full queue loses nothing for good: reconcile pushes the local book.
            self._parks.put_nowait((key, until, reason))

    def _share_recover(self, key: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._parks.put_nowait((key, 0.0, "recovered"))

    async def _push_park(self, key: str, until: float, reason: str) -> None:
        if until == 0.0:  # a recovery: the deadline goes, every replica hears it
            recovered = {"key": key, "recovered": True, "from": self.replica_id}
            await self._client.delete(self._key(f"cooldown:{key}"))
            await self._client.publish(self.channel, orjson.dumps(recovered).decode())
            return
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

    async def _flush_parks(self) -> None:
        """At shutdown: share the parks still queued, so other replicas keep honouring them."""
        while not self._parks.empty():
            key, until, reason = self._parks.get_nowait()
            try:
                await self._push_park(key, until, reason)
            except Exception as exc:
                log.warning("parks not shared at shutdown", error=type(exc).__name__)
                return

    def _on_message(self, data: str) -> None:
        try:
            message = orjson.loads(data)
            if message.get("recovered"):
                # Our own is old news here: this replica may have parked it again since.
                if message.get("from") != self.replica_id:
                    self.cooldowns.recover(str(message["key"]))
                return
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
            async for name in self._client.scan_iter(match=glob_escape(prefix) + "*", count=500)
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
            pubsub: Any = None
            try:
                # A cluster client learns its slots first: pub/sub picks its node by them.
                await discover(self._client)
                pubsub = self._client.pubsub()
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
                if pubsub is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await pubsub.aclose()
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    # -- shared values -----------------------------------------------------------
    async def shared_get(self, name: str, wait_s: float) -> str | None:
        if wait_s <= 0 or not self._up.is_set():
            return None  # an outage is a miss, without a wait
        try:
            async with asyncio.timeout(wait_s):
                value = await self._client.get(self._key(name))
        except TimeoutError:
            return None  # late is a miss; Redis itself may be fine
        except (RedisError, OSError) as exc:
            self._fail("shared_get", exc)
            return None
        return value if isinstance(value, str) else None

    def shared_put(self, name: str, value: str, ttl_s: float) -> None:
        if not self._up.is_set() or len(self._puts) >= MAX_PENDING_PUTS:
            return
        task = asyncio.get_running_loop().create_task(self._put(name, value, ttl_s))
        self._puts.add(task)
        task.add_done_callback(self._puts.discard)

    async def _put(self, name: str, value: str, ttl_s: float) -> None:
        try:
            await self._client.set(self._key(name), value, px=max(1, int(ttl_s * 1000)))
        except Exception as exc:
            self._fail("shared_put", exc)

    async def try_lock(self, name: str, ttl_s: float) -> bool:
        won = await self._shared_locks.acquire(name, ttl_s) if self._up.is_set() else None
        return self._local_lock(name, ttl_s) if won is None else won

    def release_lock(self, name: str, hold_s: float = 0.0) -> None:
        super().release_lock(name, hold_s)
        if self._up.is_set():
            self._shared_locks.release_soon(name, hold_s)

    async def exchange_signals(self) -> None:
        """One exchange now; the background task runs one every half second."""
        await self._signal_exchange.share_safely(self.signals)

    def _signals_failed(self, exc: Exception) -> bool:
        self._fail("signals", exc)  # the board serves on local signals meanwhile
        return not self._closing

    # -- response affinity --------------------------------------------------------
    def _share_holder(self, key: str, holder: Holder | None, ttl_s: float) -> None:
        self._holders.share(key, holder, ttl_s)

    async def _find_shared_holder(self, key: str) -> tuple[Holder | None, float]:
        if not self._up.is_set():
            raise ConnectionError("redis is unreachable")
        return await self._holders.read(key)

    # -- usage counters ----------------------------------------------------------
    @property
    def usage_dropped_total(self) -> int:
        return self.usage.dropped_total

    @property
    def pending_rows(self) -> int:
        return self.usage.pending_rows

    def add_usage(self, event: UsageEvent) -> None:
        self.usage.add(event)

    async def flush_usage(self) -> None:
        if self._up.is_set():
            await self.usage.flush(self._fail)

    async def _flush_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.flush_interval_s)
            await self._up.wait()
            await self.flush_usage()

    async def usage_buckets(self, keys: Sequence[str]) -> list[dict[str, int]]:
        return await self.usage.buckets(keys)

    async def reset_usage(self) -> None:
        await self.usage.reset(glob_escape(self._key("usage:")) + "*")
