"""The state store interface.

Reads on the request path are local and synchronous (the ``CooldownBook`` copy);
writes update the local copy at once and are shared in the background, so no
round trip to a remote store ever sits on a request's critical path.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any

from gateway.accounting.counters import UsageEvent, aggregate, bucket_keys
from gateway.cache.store import MemoryResponseCache, ResponseCacheStore
from gateway.resilience.cooldowns import CooldownBook, ParkDecision

ParkListener = Callable[[str, float, str], None]


class StateStore(abc.ABC):
    backend: str
    # What a read of shared state raises when the store cannot be reached; callers
    # answer 503 for these, without importing the backend's client library.
    unavailable_errors: tuple[type[Exception], ...] = (OSError,)

    def __init__(self, cooldowns: CooldownBook | None = None) -> None:
        self.cooldowns = cooldowns or CooldownBook()
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

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def health(self) -> str:
        """``ok`` or ``degraded``; a degraded store still serves on local state."""
        return "ok"

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
