"""The background side of governance with a shared store: refills and give-backs of
window leases, renewal of parallel slots, spend pushed and read back, and runtime
keys kept in step through pub/sub. Requests never wait for any of it.

Commands per replica are bounded by the number of limits in use, not by traffic: a
refill per half lease used, one slot renewal per second per ``max_parallel`` in use,
one spend script per ``sync_interval_s``, a key list read every 15 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import structlog

from gateway.governance.budget import SpendBook, SpendWindow
from gateway.governance.keys import KeyRing
from gateway.governance.quota import ParallelQuota, QuotaBook, WindowQuota
from gateway.governance.redis_store import RedisGovernanceStore
from gateway.governance.runtime_keys import from_stored
from gateway.governance.windows import MINUTE_S, minute
from gateway.state.redis_connect import discover

log = structlog.get_logger("gateway.governance")

RENEW_S = 1.0
IDLE_GIVE_BACK_S = 1.0
KEYS_RESYNC_S = 15.0
SPEND_ACTIVE_S = 120.0
SPEND_TTL_S = {"day": 2 * 86_400, "month": 32 * 86_400}


class GovernanceSync:
    def __init__(
        self,
        store: RedisGovernanceStore,
        quotas: QuotaBook,
        spend: SpendBook,
        ring: KeyRing,
        healthy: Callable[[], bool],
        interval_s: float,
    ) -> None:
        self.store = store
        self.quotas = quotas
        self.spend = spend
        self.ring = ring
        self.healthy = healthy
        self.interval_s = interval_s
        self.replica = os.urandom(6).hex()
        self.errors_total = 0
        self._sealed: tuple[str, list[tuple[SpendWindow, str, int]]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._failing = False
        self.keys_loaded = asyncio.Event()

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name="governance-sync"),
            asyncio.create_task(self._follow_keys(), name="governance-keys"),
        ]
        if self.healthy():  # the runtime keys before the first request, when Redis is there
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.keys_loaded.wait(), 1.0)

    async def aclose(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        self._tasks = []
        if self.quotas.online:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._shutdown_flush(), 2.0)

    async def _shutdown_flush(self) -> None:
        await self._push_spend()
        await self._give_back(time.time(), idle_s=0.0)

    def _fail(self, exc: BaseException) -> None:
        self.errors_total += 1
        self.quotas.online = False
        if not self._failing and not self._closing:
            self._failing = True
            log.warning(
                "governance: shared store unavailable; limits are enforced per replica",
                error=type(exc).__name__,
            )

    # -- the loop -----------------------------------------------------------------
    async def _run(self) -> None:
        renew_at = spend_at = 0.0
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.quotas.wake.wait(), 0.1)
            pending = self.quotas.take_pending()
            if not self.healthy():
                self.quotas.online = False
                self.quotas.refills_done()  # waiters fall back to local counting
                continue
            now = time.time()
            try:
                if not self.quotas.online:
                    pending += self._debts(now)  # what was admitted while away
                await self._refill(pending, now)
                clock = time.monotonic()
                if clock >= renew_at:
                    renew_at = clock + RENEW_S
                    await self._give_back(now, IDLE_GIVE_BACK_S)
                    await self._renew_slots()
                if clock >= spend_at:
                    spend_at = clock + self.interval_s
                    await self._push_spend()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._fail(exc)
                self.quotas.refills_done()
                continue
            if not self.quotas.online or self._failing:
                if self._failing:
                    log.info("governance: shared store reachable again")
                self._failing = False
                self.quotas.online = True

    def _debts(self, now: float) -> list[WindowQuota | ParallelQuota]:
        window = minute(now)
        out: list[WindowQuota | ParallelQuota] = []
        for subject in self.quotas.subjects.values():
            for quota in (subject.rpm, subject.tpm):
                if quota is not None and quota.window == window and quota.debt > 0:
                    out.append(quota)
        return out

    async def _refill(self, pending: list[WindowQuota | ParallelQuota], now: float) -> None:
        window = minute(now)
        ttl_ms = int((MINUTE_S * (window + 1) - now + MINUTE_S) * 1000)
        # A quota queued twice (a retry, a debt found on reconnect) is asked for once.
        windows = list(
            dict.fromkeys(q for q in pending if isinstance(q, WindowQuota) and q.window == window)
        )
        if windows:
            # A replica that borrowed its whole extra lease is in a burst: ask for two.
            asks = [(q, q.debt, q.lease * (2 if q.debt >= q.lease else 1)) for q in windows]
            calls = [(f"win:{q.name}:{window}", d, w, q.limit, ttl_ms, 0) for q, d, w in asks]
            replies = await self.store.leases(calls)
            for (quota, debt, want), (grant, used) in zip(asks, replies, strict=True):
                quota.granted(window, debt, grant, used, want)
        slots = list(dict.fromkeys(q for q in pending if isinstance(q, ParallelQuota)))
        if slots:
            await self._hold(slots)
        if pending:
            self.quotas.refills_done()

    async def _hold(self, slots: list[ParallelQuota]) -> None:
        wants = [q.desired() if q.in_flight > 0 else 0 for q in slots]
        calls = [(f"par:{q.name}", want, q.limit) for q, want in zip(slots, wants, strict=True)]
        replies = await self.store.holds(self.replica, calls)
        for quota, want, grant in zip(slots, wants, replies, strict=True):
            quota.granted(grant, want)

    async def _renew_slots(self) -> None:
        slots = [
            s.parallel
            for s in self.quotas.subjects.values()
            if s.parallel is not None and (s.parallel.held > 0 or s.parallel.in_flight > 0)
        ]
        if slots:
            await self._hold(slots)

    async def _give_back(self, now: float, idle_s: float) -> None:
        """Units leased but unused for ``idle_s`` go back to the window for others."""
        window = minute(now)
        ttl_ms = int((MINUTE_S * (window + 1) - now + MINUTE_S) * 1000)
        calls = []
        for subject in self.quotas.subjects.values():
            for quota in (subject.rpm, subject.tpm):
                if quota is None or quota.window != window or quota.left <= 0:
                    continue
                if now - quota.taken_at >= idle_s:
                    name = f"win:{quota.name}:{window}"
                    calls.append((name, 0, 0, quota.limit, ttl_ms, quota.left))
                    quota.seen -= quota.left
                    quota.left = 0
        if calls:
            await self.store.leases(calls)

    # -- spend ---------------------------------------------------------------------
    async def _push_spend(self) -> None:
        if self._sealed is None:
            now = time.time()
            entries: list[tuple[SpendWindow, str, int]] = []
            for spend in self.spend.subjects.values():
                idle = now - spend.active_at > SPEND_ACTIVE_S and not spend.pinned
                if idle and not (spend.day.pending or spend.month.pending):
                    continue
                spend.roll(now)
                for window in (spend.day, spend.month):
                    entries.append((window, f"spend:{spend.subject}:{window.name}", window.pending))
                    window.pending = 0
            if not entries:
                return
            self._sealed = (uuid.uuid4().hex, entries)
        batch, entries = self._sealed
        totals = await self.store.spend(
            batch,
            [(name, SPEND_TTL_S[w.name.split(":", 1)[0]], amount) for w, name, amount in entries],
        )
        self._sealed = None
        for (window, _name, _amount), total in zip(entries, totals, strict=True):
            window.spent = total + window.pending

    # -- runtime keys ----------------------------------------------------------------
    async def reload_keys(self) -> None:
        stored = await self.store.load_keys()
        self.ring.set_runtime(from_stored(data) for data in stored)
        self.keys_loaded.set()

    def _on_key_message(self, data: str) -> None:
        try:
            message = orjson.loads(data)
            if message["op"] == "put":
                self.ring.put_runtime(from_stored(message["key"]))
            elif message["op"] == "delete":
                self.ring.drop_runtime(str(message["id"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("ignored a malformed key message", channel=self.store.channel)

    async def _follow_keys(self) -> None:
        backoff = 0.05
        while not self._closing:
            pubsub: Any = None
            try:
                # A cluster client learns its slots first: pub/sub picks its node by them.
                await discover(self.store.client)
                pubsub = self.store.client.pubsub()
                await pubsub.subscribe(self.store.channel)
                await self.reload_keys()
                backoff = 0.05
                resync_at = time.monotonic() + KEYS_RESYNC_S
                while not self._closing:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                    if message is not None and message.get("type") == "message":
                        self._on_key_message(message["data"])
                    if time.monotonic() >= resync_at:
                        resync_at = time.monotonic() + KEYS_RESYNC_S
                        await self.reload_keys()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._fail(exc)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 2.0)
