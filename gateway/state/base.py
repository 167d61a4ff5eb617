"""The state store interface.

Reads on the request path are local and synchronous (the ``CooldownBook`` copy);
writes update the local copy at once and are shared in the background, so no
round trip to a remote store ever sits on a request's critical path.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

from gateway.resilience.cooldowns import CooldownBook, ParkDecision

ParkListener = Callable[[str, float, str], None]


class StateStore(abc.ABC):
    backend: str

    def __init__(self, cooldowns: CooldownBook | None = None) -> None:
        self.cooldowns = cooldowns or CooldownBook()
        self._park_listeners: list[ParkListener] = []

    def add_park_listener(self, listener: ParkListener) -> None:
        self._park_listeners.append(listener)

    def park(self, key: str, until: float, reason: str) -> ParkDecision:
        decision = self.cooldowns.park(key, until)
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
