"""The cooldown book: which members are parked, and until when.

Deadlines are wall-clock (``time.time()``) so that replicas can share them. The
longest deadline always wins; expired entries are dropped so the book stays bounded.
Each deadline keeps the reason that set it (``rate_limited``, ``upstream_5xx``...), so
an answer made while everything is parked can still tell rate limits from outages.

The book also remembers how long each member was last parked, until it is declared
recovered: that is what half-open recovery (``gateway.resilience.recovery``) reads to
know a member still owes a successful probe, and to double its next park.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

MAX_REMEMBERED_LENGTHS = 4096


@dataclass(frozen=True, slots=True)
class ParkDecision:
    key: str
    until: float
    extended: bool


class CooldownBook:
    def __init__(self, clock: Callable[[], float] = time.time, prune_every: int = 256) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}
        self._reasons: dict[str, str] = {}
        self._lengths: dict[str, float] = {}
        self._prune_every = prune_every
        self._writes = 0

    def now(self) -> float:
        return self._clock()

    def park(self, key: str, until: float, reason: str | None = None) -> ParkDecision:
        current = self._until.get(key)
        self._writes += 1
        if self._writes % self._prune_every == 0:
            self.prune()
        if current is not None and current >= until:
            return ParkDecision(key, current, extended=False)
        self._until[key] = until
        self._lengths[key] = max(0.0, until - self._clock())
        if reason:
            self._reasons[key] = reason
        else:
            self._reasons.pop(key, None)
        return ParkDecision(key, until, extended=True)

    def reason(self, key: str) -> str | None:
        """Why ``key`` is parked, when known (a deadline read back from Redis has none)."""
        return self._reasons.get(key) if key in self._until else None

    def last_length(self, key: str) -> float | None:
        """Seconds of the member's last park, while it has not recovered since."""
        return self._lengths.get(key)

    def awaits_probe(self, key: str) -> bool:
        """Parked at some point and not recovered since (whether or not still parked)."""
        return key in self._lengths

    def recover(self, key: str) -> None:
        """The member answered again: no deadline, no backoff."""
        self._until.pop(key, None)
        self._reasons.pop(key, None)
        self._lengths.pop(key, None)

    def parked_until(self, key: str, now: float | None = None) -> float | None:
        until = self._until.get(key)
        if until is None:
            return None
        if until <= (self._clock() if now is None else now):
            self._until.pop(key, None)
            self._reasons.pop(key, None)
            return None
        return until

    def is_parked(self, key: str, now: float | None = None) -> bool:
        return self.parked_until(key, now) is not None

    def soonest(self, keys: Iterable[str], now: float | None = None) -> float | None:
        now = self._clock() if now is None else now
        deadlines = [u for k in keys if (u := self.parked_until(k, now)) is not None]
        return min(deadlines) if deadlines else None

    def active(self, now: float | None = None) -> dict[str, float]:
        self.prune(now)
        return dict(self._until)

    def prune(self, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        expired = [k for k, u in self._until.items() if u <= now]
        for key in expired:
            del self._until[key]
            self._reasons.pop(key, None)
        if len(self._lengths) > MAX_REMEMBERED_LENGTHS:
            # Members that owe a probe but nobody asks for (client-chosen names):
            # forgotten, rather than kept without bound. Parked ones stay.
            self._lengths = {k: v for k, v in self._lengths.items() if k in self._until}

    def clear(self) -> None:
        self._until.clear()
        self._reasons.clear()
        self._lengths.clear()

    def __len__(self) -> int:
        return len(self._until)
