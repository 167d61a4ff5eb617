"""The local side of limits: leases, borrowing, exhaustion, corrections, and the
cross-replica bound ``limit <= admitted <= limit + R × lease`` against a model of the
shared counter (the same rules as the Lua script)."""

from __future__ import annotations

import random

import pytest

from gateway.governance.admission import estimate_tokens
from gateway.governance.headers import duration
from gateway.governance.quota import ParallelQuota, QuotaBook, WindowQuota, lease_size


class SharedCounter:
    """The lease script's rules in Python: debt charged uncapped, grants capped."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def refill(self, quota: WindowQuota) -> None:
        debt, want = quota.debt, quota.lease
        self.used += debt
        grant = min(want, max(0, self.limit - self.used))
        self.used += grant
        quota.granted(quota.window, debt, grant, self.used, want)


def test_local_mode_counts_exactly() -> None:
    quota = WindowQuota("key:a:rpm", 3, 0.05)
    quota.roll(1)
    for _ in range(3):
        assert quota.allows(1, shared=False)
        quota.take(1)
    assert not quota.allows(1, shared=False)
    quota.roll(2)  # a new window starts empty
    assert quota.allows(1, shared=False)


def test_shared_mode_borrows_one_lease_then_waits_for_the_refill() -> None:
    quota = WindowQuota("key:a:rpm", 100, 0.05)
    assert quota.lease == 5
    quota.roll(1)
    for _ in range(5):
        assert quota.allows(1, shared=True)
        quota.take(1)
    assert quota.debt == 5 and quota.wants_refill()
    assert not quota.allows(1, shared=True)
    shared = SharedCounter(100)
    shared.refill(quota)
    # The refill charged the 5 borrowed units and granted a fresh lease of 5.
    assert shared.used == 10 and quota.debt == 0 and quota.left == 5
    assert quota.remaining(shared=True) == 95  # 5 used of 100


def test_an_exhausted_window_stops_borrowing() -> None:
    shared = SharedCounter(4)
    quota = WindowQuota("key:a:rpm", 4, 0.5)  # lease 2
    quota.roll(1)
    admitted = 0
    while quota.allows(1, shared=True):
        quota.take(1)
        admitted += 1
        if quota.wants_refill():
            shared.refill(quota)
    assert quota.exhausted and admitted == 4
    assert not quota.allows(1, shared=True)


def test_corrections_give_back_and_take_more() -> None:
    quota = WindowQuota("key:a:tpm", 1000, 0.05)
    quota.roll(1)
    quota.take(600)
    quota.give(500)  # the estimate was 500 too high
    assert quota.used == 100
    quota.take(50)  # and this one 50 too low
    assert quota.used == 150
    assert quota.remaining(shared=False) == 850


@pytest.mark.parametrize("replicas", [1, 2, 4, 8])
@pytest.mark.parametrize("limit", [7, 60, 1000])
def test_admitted_across_replicas_within_documented_bound(replicas: int, limit: int) -> None:
    rng = random.Random(limit * 31 + replicas)
    fraction = 0.05
    shared = SharedCounter(limit)
    quotas = [WindowQuota("key:a:rpm", limit, fraction) for _ in range(replicas)]
    queued: list[WindowQuota] = []
    for quota in quotas:
        quota.roll(1)
    admitted = 0
    for _ in range(limit * 4):
        quota = rng.choice(quotas)
        if queued and rng.random() < 0.3:  # refills land at random moments
            shared.refill(queued.pop(rng.randrange(len(queued))))
        if quota.allows(1, shared=True):
            quota.take(1)
            admitted += 1
        if quota.wants_refill() and quota not in queued:
            queued.append(quota)
    for quota in queued:
        shared.refill(quota)
    lease = lease_size(limit, fraction)
    assert admitted <= limit + replicas * lease
    assert admitted >= limit - replicas * lease


def test_parallel_slots_local_and_shared() -> None:
    slots = ParallelQuota("key:a:parallel", 2, 0.5)
    assert slots.allows(shared=False)
    slots.in_flight = 2
    assert not slots.allows(shared=False)
    # Shared: one lease of headroom may be borrowed before the store answers.
    slots.in_flight = 0
    assert slots.allows(shared=True) and slots.wants_refill()
    slots.granted(slots.desired(), slots.desired())
    slots.in_flight = 1
    assert slots.held == 1 and slots.allows(shared=True)
    slots.granted(1, 2)  # others hold the rest
    assert slots.exhausted and not slots.allows(shared=True)


def test_quota_book_applies_a_changed_limit_and_queues_refills_once() -> None:
    book = QuotaBook(0.1, shared=True)
    subject = book.subject("key:a", 100, None, 4)
    assert subject.rpm is not None and subject.rpm.lease == 10
    subject.parallel.in_flight = 3  # type: ignore[union-attr]
    again = book.subject("key:a", 200, 50, 8)
    assert again.rpm is subject.rpm and again.rpm.lease == 20
    assert again.tpm is not None and again.parallel is not None
    assert again.parallel.limit == 8 and again.parallel.in_flight == 3
    book.want(again.rpm)
    book.want(again.rpm)
    assert book.take_pending() == [again.rpm] and not again.rpm.queued


def test_token_estimate() -> None:
    assert estimate_tokens({"max_tokens": 100}, 20, 512) == 120
    assert estimate_tokens({"max_completion_tokens": 7, "max_tokens": 100}, 20, 512) == 27
    assert estimate_tokens({}, 20, 512) == 532
    assert estimate_tokens({"max_tokens": True}, 20, 512) == 532


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.02, "20ms"), (1.0, "1s"), (12.3, "13s"), (60, "1m0s"), (61, "1m1s")]
)
def test_reset_duration_format(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_budgets_convert_to_spend_units_exactly() -> None:
    from gateway.governance.budget import SPEND_UNITS_PER_USD, usd_to_units

    assert usd_to_units(0.1) == SPEND_UNITS_PER_USD // 10
    assert usd_to_units(1234567.89) == 123456789 * SPEND_UNITS_PER_USD // 100
    assert usd_to_units(None) is None
