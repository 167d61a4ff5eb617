"""The embedded, single-process state store."""

from __future__ import annotations

from gateway.state.base import StateStore


class MemoryStateStore(StateStore):
    backend = "memory"

    def _share_park(self, key: str, until: float, reason: str) -> None:
        return None
