"""Pool ordering: priority keeps the configured order; weighted draws by weight
without replacement, and weight-0 members are standby only."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from gateway.config.loader import ConfigError, load_config_text
from gateway.routing.policies import order_pool
from gateway.routing.table import Member


def member(alias: str, weight: float) -> Member:
    return Member(alias=alias, provider="p", upstream_model=alias, weight=weight)


def test_priority_keeps_the_configured_order() -> None:
    pool = [member("a", 1), member("b", 5), member("c", 0)]
    rng = random.Random(1)
    for _ in range(50):
        assert [m.alias for m in order_pool("priority", pool, rng)] == ["a", "b", "c"]


def test_weighted_first_position_follows_the_weights() -> None:
    pool = [member("a", 6), member("b", 3), member("c", 1), member("standby", 0)]
    rng = random.Random(20261121)
    plans = 10_000
    first: Counter[str] = Counter()
    for _ in range(plans):
        plan = order_pool("weighted", pool, rng)
        assert sorted(m.alias for m in plan) == ["a", "b", "c", "standby"]
        first[plan[0].alias] += 1
    expected = {"a": 0.6, "b": 0.3, "c": 0.1, "standby": 0.0}
    for alias, share in expected.items():
        assert abs(first[alias] / plans - share) <= 0.03, (alias, first[alias] / plans)


def test_weighted_draws_without_replacement_for_the_second_position() -> None:
    # After 'a' (6) is drawn, 'b' (3) and 'c' (1) compete 3:1 for second place.
    pool = [member("a", 6), member("b", 3), member("c", 1)]
    rng = random.Random(7)
    second: Counter[str] = Counter()
    runs = 0
    for _ in range(10_000):
        plan = order_pool("weighted", pool, rng)
        if plan[0].alias == "a":
            runs += 1
            second[plan[1].alias] += 1
    assert abs(second["b"] / runs - 0.75) <= 0.03


def test_weight_zero_members_come_only_after_the_weighted_ones() -> None:
    pool = [member("s1", 0), member("a", 1), member("s2", 0), member("b", 1)]
    rng = random.Random(3)
    seen_first: set[str] = set()
    for _ in range(2_000):
        plan = [m.alias for m in order_pool("weighted", pool, rng)]
        assert plan[2:] == ["s1", "s2"]  # standby, in configured order
        seen_first.add(plan[0])
    assert seen_first == {"a", "b"}


def test_all_standby_pool_keeps_its_order() -> None:
    pool = [member("x", 0), member("y", 0)]
    assert [m.alias for m in order_pool("weighted", pool, random.Random(0))] == ["x", "y"]


def test_unknown_policy_is_a_config_error_with_its_path() -> None:
    text = """
providers: {p: {kind: mock}}
models: {m: {provider: p}}
routes:
  chat: {pool: [m], policy: round-robin}
"""
    with pytest.raises(ConfigError) as raised:
        load_config_text(text)
    assert any(
        p.startswith("routes.chat.policy: unknown policy 'round-robin'")
        for p in raised.value.problems
    )
