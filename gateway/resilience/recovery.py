"""Half-open recovery: the cooldown state machine of one member.

```
available --availability failure--> parked --deadline passes--> probing
probing --the probe answers--> available   (backoff forgotten, on every replica)
probing --the probe fails---> parked       (twice the last park, at most max_cooldown_s)
```

While a member is probing, one request at a time across all replicas is sent to it:
the one that takes the shared lock ``probe:<provider>/<model>``. Every other request
skips the member as if it were still parked. The cooldown book holds the deadlines
and the length of each member's last park; this module decides who probes.
"""

from __future__ import annotations

from enum import StrEnum

from gateway.resilience.cooldowns import CooldownBook
from gateway.state.base import StateStore

# Longest a probe holds its lock if its replica dies mid-probe; a probe that ends
# frees it (or, when it failed, keeps it until the new deadline).
PROBE_LOCK_S = 60.0
# How long a failed probe's lock is kept (at most half the new park).
FAILED_HOLD_S = 1.0
# After losing the lock to another replica, this replica's requests skip the member
# without asking the store again for this long (the winner's verdict is broadcast).
LOST_CLAIM_WAIT_S = 1.0


class MemberState(StrEnum):
    AVAILABLE = "available"
    PARKED = "parked"
    PROBING = "probing"


def member_state(book: CooldownBook, key: str, now: float, half_open: bool) -> MemberState:
    if book.is_parked(key, now):
        return MemberState.PARKED
    if half_open and book.awaits_probe(key):
        return MemberState.PROBING
    return MemberState.AVAILABLE


def probe_lock(key: str) -> str:
    return f"probe:{key}"


class Recovery:
    def __init__(self, state: StateStore, max_cooldown_s: float) -> None:
        self.state = state
        self.book = state.cooldowns
        self.max_cooldown_s = max_cooldown_s
        # key -> when this replica's probe would give up its lock; a probe that never
        # settled (its request died of a bug) stops counting then, like the lock.
        self._claimed: dict[str, float] = {}
        self._lost_until: dict[str, float] = {}

    def awaits_probe(self, key: str) -> bool:
        """For a member that is not parked: does its next request have to be a probe?"""
        return self.book.awaits_probe(key)

    async def claim(self, key: str) -> bool:
        """Make this request the member's probe; False: someone else probes it."""
        now = self.book.now()
        if self._claimed.get(key, 0.0) > now or self._lost_until.get(key, 0.0) > now:
            return False
        self._claimed[key] = now + PROBE_LOCK_S
        try:
            won = await self.state.try_lock(probe_lock(key), PROBE_LOCK_S)
        except BaseException:
            self._claimed.pop(key, None)
            raise
        if not won:
            self._claimed.pop(key, None)
            if len(self._lost_until) > 1024:
                self._lost_until = {k: t for k, t in self._lost_until.items() if t > now}
            self._lost_until[key] = self.book.now() + LOST_CLAIM_WAIT_S
        return won

    def next_park_s(self, key: str, seconds: float) -> float:
        """A failed probe parks for twice the last park (or longer if the upstream
        asked for it), never beyond ``max_cooldown_s``."""
        last = self.book.last_length(key) or 0.0
        return min(self.max_cooldown_s, max(seconds, 2.0 * last))

    def succeeded(self, key: str) -> None:
        self._claimed.pop(key, None)
        self._lost_until.pop(key, None)
        self.state.recover(key)
        self.state.release_lock(probe_lock(key))

    def failed(self, key: str, parked_s: float) -> None:
        # Held a while: a replica that has not heard of the new park yet (it is
        # announced within milliseconds) cannot slip a second probe in. Not until the
        # deadline itself, or the next probe could find it still held.
        self._claimed.pop(key, None)
        self.state.release_lock(probe_lock(key), hold_s=min(parked_s / 2, FAILED_HOLD_S))

    def abandoned(self, key: str) -> None:
        """The probe's client went away before a verdict: the next request probes."""
        self._claimed.pop(key, None)
        self.state.release_lock(probe_lock(key))
