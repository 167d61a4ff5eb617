"""The embedded, single-process state store."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.accounting.counters import UsageEvent, UsageRows
from gateway.state.base import StateStore


class MemoryStateStore(StateStore):
    backend = "memory"

    def __init__(self) -> None:
        super().__init__()
        self._usage = UsageRows()
        self._pruned_at = 0.0

    def _share_park(self, key: str, until: float, reason: str) -> None:
        return None

    def add_usage(self, event: UsageEvent) -> None:
        self._usage.add(event)
        if event.at - self._pruned_at >= 60:
            self._pruned_at = event.at
            self._usage.prune(event.at)

    async def usage_buckets(self, keys: Sequence[str]) -> list[dict[str, int]]:
        increments = self._usage.increments()
        return [increments[k] for k in keys if k in increments]

    async def reset_usage(self) -> None:
        self._usage.clear()
