"""Limits per one-minute window and on requests in flight, as one replica sees them.

Each limit counts locally; nothing here awaits. With a shared store (Redis, when
reachable) a replica spends units it leased from the window's shared counter: when
its lease runs low it queues a refill for the background sync, and until that comes
back it may borrow up to one more lease, which the refill charges. Once the shared
counter is spent no replica borrows, so the units admitted in one window are at most
``limit + R × lease`` over R replicas. Alone (memory backend), or while the store is
away, a replica counts its own use against the whole limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass


def lease_size(limit: int, fraction: float) -> int:
    return max(1, math.ceil(limit * fraction))


class WindowQuota:
    """One rpm or tpm limit of a key, a team or a catalog model."""

    __slots__ = (
        "debt", "exhausted", "lease", "left", "limit", "limit_header", "name", "queued",
        "seen", "taken_at", "tried_at", "used", "window",
    )  # fmt: skip

    def __init__(self, name: str, limit: int, fraction: float) -> None:
        self.name = name
        self.set_limit(limit, fraction)
        self.window = -1
        self.left = 0  # leased to this replica, not used yet
        self.debt = 0  # admitted beyond the leases; the next refill charges it
        self.used = 0  # admitted by this replica in this window
        self.seen = 0  # the shared counter as of the last refill
        self.exhausted = False
        self.queued = False
        self.tried_at = 0.0
        self.taken_at = 0.0

    def set_limit(self, limit: int, fraction: float) -> None:
        self.limit = limit
        self.limit_header = str(limit).encode()
        self.lease = lease_size(limit, fraction)

    def roll(self, window: int) -> None:
        if window != self.window:
            self.window = window
            self.left = self.debt = self.used = self.seen = 0
            self.exhausted = False

    def allows(self, need: int, shared: bool) -> bool:
        if not shared:
            return self.used + need <= self.limit
        if need <= self.left:
            return True
        return not self.exhausted and self.debt + need - self.left <= self.lease

    def take(self, need: int, now: float = 0.0) -> bool:
        """Counts ``need`` units; returns whether a refill is wanted now."""
        if now:
            self.taken_at = now
        self.used += need
        if self.left >= need:
            self.left -= need
        else:
            self.debt += need - self.left
            self.left = 0
        return not self.exhausted and (self.debt > 0 or self.left * 2 < self.lease)

    def give(self, amount: int) -> None:
        """Units taken but not used after all (a token estimate above the real count)."""
        self.used -= amount
        paid = min(amount, self.debt)
        self.debt -= paid
        self.left += amount - paid

    def wants_refill(self) -> bool:
        return not self.exhausted and (self.debt > 0 or self.left * 2 < self.lease)

    def granted(self, window: int, charged: int, grant: int, shared_used: int, want: int) -> None:
        """A refill's answer: ``charged`` units of debt paid, ``grant`` new units."""
        if window != self.window:
            return  # a refill for a window that is over
        self.debt -= charged
        self.left += grant
        settle = min(self.debt, self.left)
        self.debt -= settle
        self.left -= settle
        self.seen = shared_used
        self.exhausted = grant < want

    def remaining(self, shared: bool) -> int:
        if shared:
            return max(0, self.limit - self.seen + self.left - self.debt)
        return max(0, self.limit - self.used)


class ParallelQuota:
    """A ``max_parallel`` limit: slots held in the shared store, per replica."""

    __slots__ = (
        "exhausted", "held", "in_flight", "lease", "limit", "name", "queued", "tried_at",
    )  # fmt: skip

    def __init__(self, name: str, limit: int, fraction: float) -> None:
        self.name = name
        self.limit = limit
        self.lease = lease_size(limit, fraction)
        self.in_flight = 0
        self.held = 0
        self.exhausted = False
        self.queued = False
        self.tried_at = 0.0

    def allows(self, shared: bool) -> bool:
        if not shared:
            return self.in_flight < self.limit
        if self.in_flight < self.held:
            return True
        return not self.exhausted and self.in_flight < self.held + self.lease

    def wants_refill(self) -> bool:
        # Less than half a lease of headroom left.
        return not self.exhausted and (self.held - self.in_flight) * 2 < self.lease

    def desired(self) -> int:
        """Slots to hold: those in use and one lease of headroom, never above the limit."""
        return min(self.limit, self.in_flight + self.lease)

    def granted(self, grant: int, want: int) -> None:
        self.held = grant
        self.exhausted = grant < want


@dataclass(slots=True)
class SubjectQuotas:
    """The limits of one key (``key:<id>``), team (``team:<name>``) or model."""

    name: str
    rpm: WindowQuota | None = None
    tpm: WindowQuota | None = None
    parallel: ParallelQuota | None = None


class QuotaBook:
    """Every limit this replica has seen used, and the refills it wants."""

    def __init__(self, fraction: float = 0.05, *, shared: bool = False) -> None:
        self.fraction = fraction
        self.shared = shared  # a shared store exists (redis backend)
        self.online = shared  # and it answered last time
        self.subjects: dict[str, SubjectQuotas] = {}
        self.pending: list[WindowQuota | ParallelQuota] = []
        self.wake = asyncio.Event()
        self._refilled = asyncio.Event()

    @property
    def leasing(self) -> bool:
        return self.shared and self.online

    def subject(
        self, name: str, rpm: int | None, tpm: int | None, max_parallel: int | None
    ) -> SubjectQuotas:
        """The quotas of ``name``, created on first use; a changed limit applies at once."""
        subject = self.subjects.get(name)
        if subject is None:
            subject = self.subjects[name] = SubjectQuotas(name)
        subject.rpm = self._window(subject.rpm, f"{name}:rpm", rpm)
        subject.tpm = self._window(subject.tpm, f"{name}:tpm", tpm)
        parallel = subject.parallel
        if max_parallel is None:
            subject.parallel = None
        elif parallel is None or parallel.limit != max_parallel:
            fresh = ParallelQuota(f"{name}:parallel", max_parallel, self.fraction)
            if parallel is not None:
                fresh.in_flight, fresh.held = parallel.in_flight, parallel.held
            subject.parallel = fresh
        return subject

    def _window(
        self, current: WindowQuota | None, name: str, limit: int | None
    ) -> WindowQuota | None:
        if limit is None:
            return None
        if current is None:
            return WindowQuota(name, limit, self.fraction)
        if current.limit != limit:
            current.set_limit(limit, self.fraction)
            current.exhausted = False
        return current

    def want(self, quota: WindowQuota | ParallelQuota) -> None:
        if not quota.queued:
            quota.queued = True
            self.pending.append(quota)
            self.wake.set()

    def refills_done(self) -> None:
        """Wake the requests waiting for a refill (it came back, or the store is away)."""
        done, self._refilled = self._refilled, asyncio.Event()
        done.set()

    async def wait_refill(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._refilled.wait(), timeout_s)

    def take_pending(self) -> list[WindowQuota | ParallelQuota]:
        pending, self.pending = self.pending, []
        for quota in pending:
            quota.queued = False
        self.wake.clear()
        return pending
