"""The state store interface.

Reads on the request path are local and synchronous (the ``CooldownBook`` copy);
writes update the local copy at once and are shared in the background, so no
round trip to a remote store ever sits on a request's critical path.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Sequence
from typing import Any

from gateway.accounting.counters import UsageEvent, aggregate, bucket_keys
from gateway.cache.store import MemoryResponseCache, ResponseCacheStore
from gateway.resilience.cooldowns import CooldownBook, ParkDecision
from gateway.routing.signals import SignalBoard
from gateway.state.affinity import AffinityBook, Holder

ParkListener = Callable[[str, float, str], None]


class StateStore(abc.ABC):
    backend: str
    # Whether ``shared_get`` can find values other replicas put (false: one process).
    shares_values = False
    # What a read of shared state raises when the store cannot be reached; callers
    # answer 503 for these, without importing the backend's client library.
    unavailable_errors: tuple[type[Exception], ...] = (OSError,)

    def __init__(self, cooldowns: CooldownBook | None = None) -> None:
        # Not `or`: an empty book is falsy (it has a length), and it must be this one.
        self.cooldowns = CooldownBook() if cooldowns is None else cooldowns
        self.signals = SignalBoard()
        self.affinity = AffinityBook()
        self._locks: dict[str, float] = {}
        self._park_listeners: list[ParkListener] = []
        # Failed operations against the shared store (0 for memory); read by metrics.
        self.errors_total = 0

    def add_park_listener(self, listener: ParkListener) -> None:
        self._park_listeners.append(listener)

    def park(self, key: str, until: float, reason: str) -> ParkDecision:
        decision = self.cooldowns.park(key, until, reason)
        if decision.extended:
            for listener in self._park_listeners:
                listener(key, decision.until, reason)
            self._share_park(key, decision.until, reason)
        return decision

    def is_parked(self, key: str, now: float) -> bool:
        return self.cooldowns.is_parked(key, now)

    @abc.abstractmethod
    def _share_park(self, key: str, until: float, reason: str) -> None:
        """Make a new deadline known to other replicas (no-op when there are none)."""

    def recover(self, key: str) -> None:
        """``key`` answered again: un-park it, forget its backoff, on every replica."""
        self.cooldowns.recover(key)
        self._share_recover(key)

    def _share_recover(self, key: str) -> None:
        return None

    # -- short locks shared by the replicas (half-open probes, health checks) ---
    async def try_lock(self, name: str, ttl_s: float) -> bool:
        """Take ``name`` for at most ``ttl_s``; False while someone else holds it."""
        return self._local_lock(name, ttl_s)

    def release_lock(self, name: str, hold_s: float = 0.0) -> None:
        """Free a lock taken here at once, or let it run out in ``hold_s``."""
        if hold_s > 0:
            self._locks[name] = self.cooldowns.now() + hold_s
        else:
            self._locks.pop(name, None)

    def _local_lock(self, name: str, ttl_s: float) -> bool:
        # On the cooldown book's clock, like the parks these locks guard.
        now = self.cooldowns.now()
        if self._locks.get(name, 0.0) > now:
            return False
        if len(self._locks) > 1024:
            self._locks = {k: t for k, t in self._locks.items() if t > now}
        self._locks[name] = now + ttl_s
        return True

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def health(self) -> str:
        """``ok`` or ``degraded``; a degraded store still serves on local state."""
        return "ok"

    # -- small shared values with a TTL (the triage decision cache) -------------
    async def shared_get(self, name: str, wait_s: float) -> str | None:
        """A value some replica shared; ``None`` when missing, later than ``wait_s``, or
        when the store is away. Never raises."""
        return None

    def shared_put(self, name: str, value: str, ttl_s: float) -> None:
        """Share a value for ``ttl_s`` seconds, in the background; never blocks or raises."""
        return None

    # -- response affinity (gateway.state.affinity) ----------------------------
    def remember_holder(self, key: str, holder: Holder, ttl_s: float) -> None:
        """Record who holds ``key``; never blocks, never raises."""
        self.affinity.put(key, holder, time.time() + ttl_s)
        self._share_holder(key, holder, ttl_s)

    def forget_holder(self, key: str) -> None:
        self.affinity.drop(key)
        self._share_holder(key, None, 0.0)

    async def find_holder(self, key: str) -> Holder | None:
        """The member holding ``key``: local first; a shared store is asked with a
        bounded wait, and raises one of ``unavailable_errors`` when it cannot answer."""
        holder = self.affinity.get(key)
        if holder is not None:
            return holder
        holder, ttl_s = await self._find_shared_holder(key)
        if holder is not None and ttl_s > 0:
            self.affinity.put(key, holder, time.time() + ttl_s)
        return holder

    async def _find_shared_holder(self, key: str) -> tuple[Holder | None, float]:
        """A record other replicas wrote, and the seconds it has left."""
        return None, 0.0

    def _share_holder(self, key: str, holder: Holder | None, ttl_s: float) -> None:
        """Make a record (or its removal, ``holder=None``) known to other replicas."""
        return None

    # -- the response cache (gateway.cache) ----------------------------------
    def response_cache(self, max_entries: int, max_bytes: int) -> ResponseCacheStore:
        """Where cached answers live: in this process unless the store is shared."""
        return MemoryResponseCache(max_entries, max_bytes)

    # -- usage counters (gateway.accounting.counters) ------------------------
    @abc.abstractmethod
    def add_usage(self, event: UsageEvent) -> None:
        """Count one finished request; never blocks, never raises."""

    @abc.abstractmethod
    async def usage_buckets(self, keys: Sequence[str]) -> list[dict[str, int]]:
        """The raw counter hashes of these bucket keys (missing ones are skipped)."""

    @abc.abstractmethod
    async def reset_usage(self) -> None:
        """Drop every usage counter, shared and pending."""

    async def flush_usage(self) -> None:
        return None

    async def read_usage(
        self, window: str, last: int, group_by: Sequence[str]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Rows grouped by ``group_by`` over the ``last`` buckets of ``window``, and totals."""
        await self.flush_usage()
        return aggregate(await self.usage_buckets(bucket_keys(window, last)), group_by)
