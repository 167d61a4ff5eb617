"""Half-open recovery through the attempt runner, on an injected clock: after a
cooldown one probe at a time, doubling backoff on failure, reset on success."""

from __future__ import annotations

import asyncio

import pytest

from gateway.config.schema import ResilienceSection
from gateway.errors import NoMemberAvailable
from gateway.observability.record import RequestRecord
from gateway.providers.base import UpstreamRequest, UpstreamResponse
from gateway.resilience.attempts import AttemptRunner
from gateway.resilience.cooldowns import MAX_REMEMBERED_LENGTHS, CooldownBook
from gateway.resilience.recovery import PROBE_LOCK_S, MemberState, member_state
from gateway.resilience.served import Served
from gateway.routing.table import Member
from gateway.state.memory import MemoryStateStore
from tests.support.scripted_provider import Canned, ScriptedProvider, Wait, error_body
from tests.unit.test_cooldowns import T0, Clock, clocked_store

SETTINGS = ResilienceSection(cooldown_s=10, max_cooldown_s=35, max_attempts=4)
FLAKY = Member(alias="flaky", provider="p", upstream_model="flaky")
BACKUP = Member(alias="backup", provider="p", upstream_model="backup")
DOWN = Canned(503, {}, error_body("down"))


class Rig:
    def __init__(self, settings: ResilienceSection = SETTINGS) -> None:
        self.clock = Clock()
        self.store: MemoryStateStore = clocked_store(self.clock)
        self.provider = ScriptedProvider()
        self.runner = AttemptRunner({"p": self.provider}, self.store, settings)

    async def ask(self) -> tuple[Served, RequestRecord]:
        record = RequestRecord(request_id="r", started=0.0, route="chat")
        served = await self.runner.run([FLAKY, BACKUP], {"messages": []}, record, 10)
        return served, record

    def state(self) -> MemberState:
        return member_state(self.store.cooldowns, FLAKY.cooldown_key, self.clock.t, True)

    def parked_for(self) -> float:
        until = self.store.cooldowns.parked_until(FLAKY.cooldown_key)
        assert until is not None
        return until - self.clock.t


async def test_a_failed_probe_parks_twice_as_long_up_to_the_cap() -> None:
    rig = Rig()
    rig.provider.set("flaky", DOWN)
    served, _ = await rig.ask()
    assert served.member is BACKUP and rig.parked_for() == pytest.approx(10)
    assert rig.state() is MemberState.PARKED
    for expected in (20, 35, 35):  # 2 x 10, then 2 x 20 capped at max_cooldown_s
        rig.clock.t += rig.parked_for()
        assert rig.state() is MemberState.PROBING
        served, record = await rig.ask()
        assert [a.alias for a in record.attempts] == ["flaky", "backup"]
        assert rig.parked_for() == pytest.approx(expected)


async def test_a_successful_probe_returns_traffic_and_resets_the_backoff() -> None:
    rig = Rig()
    rig.provider.set("flaky", DOWN, DOWN, Canned(), DOWN)
    await rig.ask()
    rig.clock.t += 10
    await rig.ask()  # the probe fails: 20 s
    rig.clock.t += 20
    served, _ = await rig.ask()  # the probe answers
    assert served.member is FLAKY and rig.state() is MemberState.AVAILABLE
    await rig.ask()  # a plain failure again: parked for cooldown_s, not 40 s
    assert rig.parked_for() == pytest.approx(10)


async def test_while_one_request_probes_the_others_skip_the_member() -> None:
    rig = Rig()
    release = asyncio.Event()
    rig.provider.set("flaky", DOWN, Wait(release), Canned())
    await rig.ask()
    rig.clock.t += 10
    probe = asyncio.create_task(rig.ask())
    await asyncio.sleep(0.01)  # the probe is now waiting on the upstream
    others = [await rig.ask() for _ in range(3)]
    for served, record in others:
        assert served.member is BACKUP
        assert record.skipped == ["flaky:probing"]
    release.set()
    served, _ = await probe
    assert served.member is FLAKY
    assert rig.provider.calls.count("flaky") == 2  # the failure, then exactly one probe
    served, _ = await rig.ask()
    assert served.member is FLAKY  # traffic is back


async def test_a_probe_whose_client_left_lets_the_next_request_probe() -> None:
    rig = Rig()
    rig.provider.set("flaky", DOWN, Wait(), Canned())
    await rig.ask()
    rig.clock.t += 10
    probe = asyncio.create_task(rig.ask())
    await asyncio.sleep(0.01)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert rig.state() is MemberState.PROBING
    served, _ = await rig.ask()
    assert served.member is FLAKY and rig.state() is MemberState.AVAILABLE


async def test_a_probe_is_not_retried_on_the_same_member() -> None:
    rig = Rig(ResilienceSection(cooldown_s=10, max_cooldown_s=35, member_retries=2))
    rig.provider.set("flaky", DOWN, DOWN, DOWN, DOWN)
    await rig.ask()
    assert rig.provider.calls.count("flaky") == 3  # a plain request uses its retries
    rig.clock.t += 10
    await rig.ask()
    assert rig.provider.calls.count("flaky") == 4  # the probe does not
    assert rig.parked_for() == pytest.approx(20)


async def test_half_open_off_hands_back_full_traffic_at_expiry() -> None:
    rig = Rig(ResilienceSection(cooldown_s=10, max_cooldown_s=35, half_open=False))
    rig.provider.set("flaky", DOWN, Wait(), Canned())
    await rig.ask()
    rig.clock.t += 10
    first = asyncio.create_task(rig.ask())
    await asyncio.sleep(0.01)
    served, _ = await rig.ask()  # not held back behind the first request
    assert served.member is FLAKY
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_every_member_probing_elsewhere_answers_503() -> None:
    rig = Rig()
    rig.provider.set("flaky", DOWN)
    rig.provider.set("backup", DOWN)
    with pytest.raises(NoMemberAvailable):
        await rig.ask()
    rig.clock.t = T0 + 10
    # Another replica holds both probes.
    assert await rig.store.try_lock("probe:p/flaky", 60)
    assert await rig.store.try_lock("probe:p/backup", 60)
    with pytest.raises(NoMemberAvailable) as caught:
        await rig.ask()
    assert "flaky → probing" in str(caught.value) and "backup → probing" in str(caught.value)
    assert rig.provider.calls == ["flaky", "backup"]


async def test_a_probe_that_died_of_a_bug_is_retried_once_its_lock_runs_out() -> None:
    rig = Rig()
    rig.provider.set("flaky", DOWN, Canned())
    await rig.ask()
    rig.clock.t += 10
    working = rig.provider.send

    async def broken(request: UpstreamRequest) -> UpstreamResponse:
        raise RuntimeError("a bug, not an upstream failure")

    rig.provider.send = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await rig.ask()
    rig.provider.send = working  # type: ignore[method-assign]
    served, record = await rig.ask()
    assert served.member is BACKUP and record.skipped == ["flaky:probing"]
    rig.clock.t += PROBE_LOCK_S
    served, _ = await rig.ask()
    assert served.member is FLAKY and rig.state() is MemberState.AVAILABLE


def test_the_book_forgets_old_backoffs_beyond_its_bound() -> None:
    clock = Clock()
    book = CooldownBook(clock, prune_every=1_000_000)
    for i in range(MAX_REMEMBERED_LENGTHS + 10):
        book.park(f"p/direct-{i}", T0 + 1)
    book.park("p/still-parked", T0 + 60)
    clock.t = T0 + 2
    book.prune()
    assert book.awaits_probe("p/still-parked")
    assert not book.awaits_probe("p/direct-0")
