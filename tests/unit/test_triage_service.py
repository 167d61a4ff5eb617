"""The triage service's plan and decision rules that need no upstream."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import yaml

from gateway.config.loader import load_config_text
from gateway.observability.record import RequestRecord
from gateway.routing.table import Route, RouteTable
from gateway.routing.triage.cache import DecisionCache
from gateway.routing.triage.service import TriageService
from gateway.state.memory import MemoryStateStore

CONFIG: dict[str, Any] = {
    "providers": {"m": {"kind": "mock"}},
    "models": {name: {"provider": "m"} for name in ("a", "b", "c", "d")},
    "routes": {
        "heavy": {"pool": ["c", "d"], "policy": "weighted"},
        "assistant": {
            "triage": {
                "classifier": "a",
                "tiers": {"simple": ["a", "b"], "medium": ["b", "c"], "expert": "heavy"},
            }
        },
    },
}


def service_and_route() -> tuple[TriageService, Route]:
    config = load_config_text(yaml.safe_dump(CONFIG), "t.yaml", {})
    route = RouteTable(config).routes["assistant"]
    service = TriageService(None, DecisionCache(MemoryStateStore()), random.Random(7))  # type: ignore[arg-type]
    return service, route


def test_plan_climbs_the_tiers_without_repeating_a_model() -> None:
    service, route = service_and_route()
    assert route.triage is not None
    assert [m.alias for m in service.plan(route.triage, 1, None)][:2] == ["b", "c"]
    plans = {tuple(m.alias for m in service.plan(route.triage, 0, None)) for _ in range(50)}
    # `heavy` is weighted: its order is drawn per request, after the lower tiers.
    assert plans == {("a", "b", "c", "d")}
    drawn = {tuple(m.alias for m in service.plan(route.triage, 2, None)) for _ in range(50)}
    assert drawn == {("c", "d"), ("d", "c")}


def test_a_fixed_plan_is_built_once() -> None:
    service, route = service_and_route()
    assert route.triage is not None
    only_priority = service.plan(route.triage, 0, None)
    assert service.plan(route.triage, 0, None) is not only_priority  # `heavy` is weighted
    CONFIG["routes"]["heavy"]["policy"] = "priority"
    try:
        service, route = service_and_route()
        assert route.triage is not None
        assert service.plan(route.triage, 0, None) is service.plan(route.triage, 0, None)
    finally:
        CONFIG["routes"]["heavy"]["policy"] = "weighted"


def test_other_operations_get_the_default_tier_without_a_classifier() -> None:
    service, route = service_and_route()
    record = RequestRecord(request_id="r", started=0.0, operation="embeddings")
    body = {"input": "a long text to embed " * 20}
    outcome = asyncio.run(service.decide(route, None, body, record, 100))
    assert (outcome.chosen, outcome.reason, outcome.classifier) == ("medium", "default", None)


def test_a_profile_plans_from_its_own_pools_and_bypasses_on_its_own() -> None:
    CONFIG["routes"]["heavy"]["profiles"] = {"cheap": ["a"]}
    try:
        service, route = service_and_route()
    finally:
        del CONFIG["routes"]["heavy"]["profiles"]
    triage = route.triage
    assert triage is not None
    assert [m.alias for m in service.plan(triage, 2, "cheap")] == ["a"]
    assert {m.alias for m in service.plan(triage, 2, None)} == {"c", "d"}
    # A profile no tier knows serves as no profile does.
    assert {m.alias for m in service.plan(triage, 2, "other")} == {"c", "d"}
    assert not triage.ladders_for("cheap").bypass


def test_escalation_reads_the_tier_each_member_came_from() -> None:
    _, route = service_and_route()
    triage = route.triage
    assert triage is not None
    ladder = triage.ladders_for(None).by_verdict["simple"]
    # `b` is in both `simple` and `medium`: tried once, as a member of `simple`.
    assert dict(ladder.tier_of) == {"m/a": 0, "m/b": 0, "m/c": 1, "m/d": 2}
    # A verdict for `complex`, not configured, is served from `expert`, the next one up.
    assert triage.ladders_for(None).by_verdict["complex"].name == "expert"
