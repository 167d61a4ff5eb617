"""The cooldown book and the parking rules (spec §5), on an injected clock."""

from __future__ import annotations

import email.utils
from typing import Any

import pytest

from gateway.config.schema import ResilienceSection
from gateway.errors import NoMemberAvailable
from gateway.observability.record import RequestRecord
from gateway.resilience.attempts import AttemptRunner
from gateway.resilience.cooldowns import CooldownBook
from gateway.routing.table import Member
from gateway.state.memory import MemoryStateStore
from tests.support.scripted_provider import Canned, ScriptedProvider, error_body

T0 = 1_800_000_000.0


def clocked_store(clock: Clock) -> MemoryStateStore:
    """A memory store whose cooldown book (and so the runner) reads ``clock``."""
    store = MemoryStateStore()
    store.cooldowns = CooldownBook(clock)
    return store


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# -- the book ------------------------------------------------------------------------


def test_park_and_expiry() -> None:
    clock = Clock()
    book = CooldownBook(clock)
    book.park("p/m", T0 + 30)
    assert book.is_parked("p/m")
    assert book.parked_until("p/m") == T0 + 30
    clock.t = T0 + 29.999
    assert book.is_parked("p/m")
    clock.t = T0 + 30  # the deadline itself is already free
    assert not book.is_parked("p/m")
    assert len(book) == 0  # the expired entry was dropped on read
    assert book.parked_until("never/parked") is None


def test_longest_deadline_wins() -> None:
    clock = Clock()
    book = CooldownBook(clock)
    first = book.park("p/m", T0 + 60)
    assert first.extended and first.until == T0 + 60
    shorter = book.park("p/m", T0 + 10)
    assert not shorter.extended and shorter.until == T0 + 60
    assert book.parked_until("p/m") == T0 + 60
    same = book.park("p/m", T0 + 60)
    assert not same.extended
    longer = book.park("p/m", T0 + 90)
    assert longer.extended and longer.until == T0 + 90
    clock.t = T0 + 61
    assert book.is_parked("p/m")


def test_a_new_deadline_after_expiry_applies_even_if_shorter() -> None:
    clock = Clock()
    book = CooldownBook(clock)
    book.park("p/m", T0 + 60)
    clock.t = T0 + 100
    decision = book.park("p/m", T0 + 105)
    assert decision.extended
    assert book.parked_until("p/m") == T0 + 105


def test_soonest_and_active() -> None:
    clock = Clock()
    book = CooldownBook(clock)
    book.park("a", T0 + 50)
    book.park("b", T0 + 20)
    book.park("c", T0 + 5)
    assert book.soonest(["a", "b", "c", "unknown"]) == T0 + 5
    assert book.soonest(["a", "b"]) == T0 + 20
    assert book.soonest(["unknown"]) is None
    clock.t = T0 + 6
    assert book.active() == {"a": T0 + 50, "b": T0 + 20}
    assert book.soonest(["a", "b", "c"]) == T0 + 20


def test_the_book_stays_bounded() -> None:
    clock = Clock()
    book = CooldownBook(clock, prune_every=16)
    for i in range(5_000):
        clock.t += 1.0
        book.park(f"p/m{i}", clock.t + 0.5)  # never read again, expires before the next
        assert len(book) <= 17
    clock.t += 1.0
    book.prune()
    assert len(book) == 0


def test_clear() -> None:
    book = CooldownBook(Clock())
    book.park("a", T0 + 1)
    book.clear()
    assert len(book) == 0 and not book.is_parked("a")


def test_state_store_announces_only_extensions() -> None:
    clock = Clock()
    store = clocked_store(clock)
    heard: list[tuple[str, float, str]] = []
    store.add_park_listener(lambda key, until, reason: heard.append((key, until, reason)))
    store.park("p/m", T0 + 30, "rate_limited")
    store.park("p/m", T0 + 10, "upstream_5xx")  # shorter: ignored, not announced
    store.park("p/m", T0 + 40, "upstream_5xx")
    assert heard == [("p/m", T0 + 30, "rate_limited"), ("p/m", T0 + 40, "upstream_5xx")]
    assert store.is_parked("p/m", T0 + 39)
    assert not store.is_parked("p/m", T0 + 40)


# -- parking through the runner -------------------------------------------------------

SETTINGS = ResilienceSection(cooldown_s=30, max_cooldown_s=300, max_attempts=4)
MEMBER = Member(alias="m1", provider="p", upstream_model="up-1")


async def park_after(
    canned: Canned, settings: ResilienceSection = SETTINGS
) -> tuple[float | None, Clock]:
    """Run a one-member plan whose only answer is ``canned``; the park deadline."""
    clock = Clock()
    store = clocked_store(clock)
    provider = ScriptedProvider()
    provider.set("up-1", canned)
    runner = AttemptRunner({"p": provider}, store, settings)
    record = RequestRecord(request_id="r", started=0.0, route="chat")
    with pytest.raises(NoMemberAvailable):
        await runner.run([MEMBER], {"model": "chat", "messages": []}, record, 10)
    assert provider.calls == ["up-1"]
    return store.cooldowns.parked_until(MEMBER.cooldown_key), clock


def failure(status: int, **headers: Any) -> Canned:
    return Canned(
        status, {k.replace("_", "-"): str(v) for k, v in headers.items()}, error_body("x")
    )


@pytest.mark.parametrize(
    ("canned", "seconds"),
    [
        (failure(429, retry_after=45), 45),
        (failure(503, retry_after=7), 7),
        (failure(429, retry_after_ms=1500), 1.5),
        (failure(429, retry_after_ms=1500, retry_after=2), 1.5),
        (failure(429), 30),  # no header: cooldown_s
        (failure(500), 30),
        (failure(429, retry_after=86_400), 300),  # capped at max_cooldown_s
        (failure(429, retry_after_ms=10_000_000), 300),
        (failure(401), 300),  # bad credentials: max_cooldown_s
        (failure(403, retry_after=3), 300),
    ],
)
async def test_park_duration(canned: Canned, seconds: float) -> None:
    until, _ = await park_after(canned)
    assert until == pytest.approx(T0 + seconds)


async def test_park_honours_an_http_date_retry_after() -> None:
    date = email.utils.formatdate(T0 + 120, usegmt=True)
    until, _ = await park_after(Canned(429, {"Retry-After": date}, error_body("x")))
    assert until == pytest.approx(T0 + 120)


async def test_park_with_cooldown_zero_does_not_park() -> None:
    settings = ResilienceSection(cooldown_s=0, max_cooldown_s=300)
    until, _ = await park_after(failure(503), settings)
    assert until is None


async def test_client_errors_do_not_park() -> None:
    clock = Clock()
    store = clocked_store(clock)
    provider = ScriptedProvider()
    provider.set("up-1", Canned(422, {}, error_body("bad field")))
    runner = AttemptRunner({"p": provider}, store, SETTINGS)
    record = RequestRecord(request_id="r", started=0.0, route="chat")
    served = await runner.run([MEMBER], {"model": "chat", "messages": []}, record, 10)
    assert served.status == 422
    assert len(store.cooldowns) == 0


def test_the_book_keeps_the_reason_of_the_deadline_in_force() -> None:
    clock = Clock()
    book = CooldownBook(clock=clock)
    book.park("p/m", T0 + 30, "rate_limited")
    assert book.reason("p/m") == "rate_limited"
    # A shorter deadline changes nothing, reason included.
    book.park("p/m", T0 + 10, "upstream_5xx")
    assert book.reason("p/m") == "rate_limited"
    # A longer one wins, with its own reason; one without a reason clears it.
    book.park("p/m", T0 + 60, "upstream_5xx")
    assert book.reason("p/m") == "upstream_5xx"
    book.park("p/m", T0 + 90)
    assert book.reason("p/m") is None
    book.park("q/m", T0 + 20, "rate_limited")
    clock.t = T0 + 25
    assert not book.is_parked("q/m")
    assert book.reason("q/m") is None
    book.prune()
    assert book.active() == {"p/m": T0 + 90}
