"""The adaptive orders and exploration, on a signal board fed by hand."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

import pytest

from gateway.config.loader import ConfigError, load_config_text
from gateway.config.schema import Price
from gateway.observability.logging import request_fields
from gateway.observability.record import RequestRecord
from gateway.resilience.cooldowns import CooldownBook
from gateway.routing.adaptive import Ask, by_cost, by_in_flight, by_latency
from gateway.routing.policies import Planner
from gateway.routing.signals import Metric, SignalBoard
from gateway.routing.table import Member, Route


def member(alias: str, **kw: object) -> Member:
    return Member(alias=alias, provider="p", upstream_model=alias, **kw)  # type: ignore[arg-type]


def aliases(members: Sequence[Member]) -> list[str]:
    return [m.alias for m in members]


def test_latency_explores_unmeasured_first_then_orders_fastest_first() -> None:
    pool = [member("slow"), member("fast"), member("new")]
    board = SignalBoard()
    board.observe("p/slow", Metric.PER_TOKEN, 0.050)
    board.observe("p/fast", Metric.PER_TOKEN, 0.010)
    assert aliases(by_latency(pool, board, Ask())) == ["new", "fast", "slow"]
    board.observe("p/new", Metric.PER_TOKEN, 0.030)
    assert aliases(by_latency(pool, board, Ask())) == ["fast", "new", "slow"]


def test_latency_of_streams_is_time_to_first_token() -> None:
    pool = [member("a"), member("b")]
    board = SignalBoard()
    # a answers sooner per token, b starts streaming sooner.
    board.observe("p/a", Metric.PER_TOKEN, 0.001)
    board.observe("p/b", Metric.PER_TOKEN, 0.005)
    board.observe("p/a", Metric.TTFT, 0.900)
    board.observe("p/b", Metric.TTFT, 0.100)
    assert aliases(by_latency(pool, board, Ask(stream=False))) == ["a", "b"]
    assert aliases(by_latency(pool, board, Ask(stream=True))) == ["b", "a"]


def test_the_estimate_follows_a_change_at_the_stated_rate() -> None:
    board = SignalBoard()
    board.observe("p/m", Metric.TTFT, 0.010)
    for _ in range(3):
        board.observe("p/m", Metric.TTFT, 0.210)
    # 1 - 0.8 ** 3 = 0.488 of the way from 10 ms to 210 ms.
    assert board.estimate("p/m", Metric.TTFT) == pytest.approx(0.010 + 0.200 * 0.488)


def test_least_busy_orders_by_requests_in_flight() -> None:
    pool = [member("a"), member("b"), member("c")]
    board = SignalBoard()
    assert aliases(by_in_flight(pool, board, Ask())) == ["a", "b", "c"]  # ties: configured
    board.started("p/a")
    board.started("p/a")
    board.started("p/b")
    assert aliases(by_in_flight(pool, board, Ask())) == ["c", "b", "a"]
    board.finished("p/a")
    board.finished("p/a")
    assert aliases(by_in_flight(pool, board, Ask())) == ["a", "c", "b"]


def test_cost_picks_the_cheapest_member_that_fits() -> None:
    dear = member("dear", price=Price(input=10, output=30), context_window=200_000)
    mid = member("mid", price=Price(input=1, output=3), context_window=200_000)
    cheap = member("cheap", price=Price(input=0.1, output=0.3), context_window=4_000)
    pool = [dear, mid, cheap]
    board = SignalBoard()
    assert aliases(by_cost(pool, board, Ask(prompt_tokens=1_000))) == ["cheap", "mid", "dear"]
    # Too long for cheap's window: it goes last, where the plan skips it.
    assert aliases(by_cost(pool, board, Ask(prompt_tokens=5_000))) == ["mid", "dear", "cheap"]
    # The prompt fits, but not with the answer it asks room for.
    ask = Ask(prompt_tokens=3_000, max_output_tokens=2_000)
    assert aliases(by_cost(pool, board, ask)) == ["mid", "dear", "cheap"]


def test_cost_weighs_output_by_the_members_usual_answer_length() -> None:
    # Same total price per token pair; a's answers are ten times longer than b's.
    a = member("a", price=Price(input=1, output=10))
    b = member("b", price=Price(input=1, output=10))
    board = SignalBoard()
    board.observe("p/a", Metric.OUTPUT_TOKENS, 1_000)
    board.observe("p/b", Metric.OUTPUT_TOKENS, 100)
    assert aliases(by_cost([a, b], board, Ask(prompt_tokens=10))) == ["b", "a"]
    # A max_tokens on the request is the estimate for every member.
    capped = Ask(prompt_tokens=10, max_output_tokens=50)
    assert aliases(by_cost([a, b], board, capped)) == ["a", "b"]


def test_exploration_share_with_a_fixed_seed() -> None:
    pool = tuple(member(alias) for alias in ("best", "b", "c", "d"))
    board = SignalBoard()
    for i, alias in enumerate(("best", "b", "c", "d")):
        board.observe(f"p/{alias}", Metric.PER_TOKEN, 0.01 * (i + 1))
    route = Route(name="r", pool=pool, policy="latency", exploration=0.05)
    planner = Planner(board, CooldownBook(), random.Random(20261130))
    plans = 20_000
    firsts: Counter[str] = Counter()
    explored = 0
    for _ in range(plans):
        record = RequestRecord(request_id="r", started=0.0)
        plan = planner.plan(route, pool, {}, 10, record)
        firsts[plan[0].alias] += 1
        explored += record.explored
        assert request_fields(record).get("explored", False) is record.explored
        assert sorted(aliases(plan)) == ["b", "best", "c", "d"]  # a reordering, nothing lost
        assert record.plan is plan
    # Binomial(20000, 0.05): sd = 31 requests; the tolerance is 4.5 sd.
    assert abs(explored - plans * 0.05) < 140
    assert firsts["best"] == plans - explored
    for other in ("b", "c", "d"):  # the explored member is drawn evenly
        assert abs(firsts[other] - explored / 3) < 4.5 * (explored * 2 / 9) ** 0.5


def test_exploration_never_picks_a_parked_or_probing_member() -> None:
    pool = tuple(member(alias) for alias in ("best", "parked", "probing", "ok"))
    board = SignalBoard()
    for i, m in enumerate(pool):
        board.observe(m.cooldown_key, Metric.PER_TOKEN, 0.01 * (i + 1))
    book = CooldownBook()
    book.park("p/parked", book.now() + 60)
    book.park("p/probing", book.now() + 0.000001)  # expired at once: owes a probe
    route = Route(name="r", pool=pool, policy="latency", exploration=1.0)
    planner = Planner(board, book, random.Random(7))
    for _ in range(200):
        record = RequestRecord(request_id="r", started=0.0)
        plan = planner.plan(route, pool, {}, 10, record)
        assert plan[0].alias == "ok" and record.explored


def test_exploration_zero_never_explores() -> None:
    pool = (member("a"), member("b"))
    route = Route(name="r", pool=pool, policy="latency", exploration=0.0)
    planner = Planner(rng=random.Random(1))
    planner.board.observe("p/a", Metric.PER_TOKEN, 0.01)
    planner.board.observe("p/b", Metric.PER_TOKEN, 0.02)
    for _ in range(500):
        assert planner.plan(route, pool, {}, 1, RequestRecord("r", 0.0))[0].alias == "a"


BASE = """
providers: {p: {kind: mock}}
models: {a: {provider: p}, b: {provider: p}}
routes:
  chat:
    pool: [a, b]
"""


def test_exploration_defaults_and_limits() -> None:
    from gateway.routing.table import RouteTable

    config = load_config_text(BASE + "    policy: latency\n")
    assert RouteTable(config).routes["chat"].exploration == 0.05
    config = load_config_text(BASE + "    policy: least_busy\n")
    assert RouteTable(config).routes["chat"].exploration == 0.0
    config = load_config_text(BASE + "    policy: cost\n    exploration: 0.02\n")
    assert RouteTable(config).routes["chat"].exploration == 0.02


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("    exploration: 0.1\n", "routes.chat.exploration: policy 'priority' does not explore"),
        ("    policy: latency\n    exploration: 1.5\n", "routes.chat.exploration: Input should be"),
        ("    policy: fastest\n", "routes.chat.policy: unknown policy 'fastest' (known: priority,"),
        ("    health_check: {interval_s: 0}\n", "routes.chat.health_check.interval_s: Input"),
    ],
)
def test_bad_adaptive_settings_name_their_path(extra: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(BASE + extra)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_only_catalog_models_are_measured() -> None:
    board = SignalBoard()
    board.track(["p/catalog"])
    for key in ("p/catalog", "p/client-chosen-name"):
        board.started(key)
        board.observe(key, Metric.PER_TOKEN, 0.01)
    assert board.in_flight("p/catalog") == 1 and board.samples("p/catalog", Metric.PER_TOKEN)
    assert board.in_flight("p/client-chosen-name") == 0
    assert board.estimate("p/client-chosen-name", Metric.PER_TOKEN) is None
    board.finished("p/client-chosen-name")
    assert [key for key, _, _, _ in board.take_report().samples] == ["p/catalog"]
