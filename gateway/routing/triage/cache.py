"""The decision cache: a classifier verdict reused for identical classifier input.

Each replica keeps its own bounded map; with the redis state store a verdict is also
shared, and a local miss asks Redis with a wait of ``cache_wait_ms`` at most. A late
answer or a Redis outage is a miss: the classifier is asked again.
"""

from __future__ import annotations

import hashlib
import time

from gateway.config.triage import TIERS
from gateway.state.base import StateStore

MAX_ENTRIES = 10_000


class DecisionCache:
    def __init__(self, state: StateStore, max_entries: int = MAX_ENTRIES) -> None:
        self.state = state
        self.max_entries = max_entries
        self._local: dict[str, tuple[str, float]] = {}

    @staticmethod
    def key(scope: bytes, conversation: str) -> str:
        # BLAKE2s cut to 160 bits (40 hex digits): as unique as a cache key needs, and
        # cheaper to set up per request than OpenSSL's SHA-256.
        data = scope + conversation.encode("utf-8", "surrogatepass")
        return "triage:" + hashlib.blake2s(data, digest_size=20).hexdigest()

    def recall(self, key: str) -> str | None:
        """This replica's verdict for ``key``, if it has a live one (no waiting)."""
        entry = self._local.get(key)
        if entry is None:
            return None
        if entry[1] > time.monotonic():
            return entry[0]
        del self._local[key]
        return None

    async def shared(self, key: str, wait_s: float, ttl_s: float) -> str | None:
        """The verdict another replica shared, waiting ``wait_s`` at most; kept here too."""
        if not self.state.shares_values:
            return None
        tier = await self.state.shared_get(key, wait_s)
        if tier not in TIERS:
            return None
        # Kept here too (at most one TTL longer than the replica that put it).
        self._remember(key, tier, time.monotonic() + ttl_s)
        return tier

    async def get(self, key: str, wait_s: float, ttl_s: float) -> str | None:
        return self.recall(key) or await self.shared(key, wait_s, ttl_s)

    def put(self, key: str, tier: str, ttl_s: float) -> None:
        self._remember(key, tier, time.monotonic() + ttl_s)
        self.state.shared_put(key, tier, ttl_s)

    def _remember(self, key: str, tier: str, expires: float) -> None:
        local = self._local
        if len(local) >= self.max_entries:
            # Oldest first: a dict keeps insertion order.
            for old in list(local)[: max(1, self.max_entries // 10)]:
                del local[old]
        local[key] = (tier, expires)
