"""The ``triage:`` section: what loads, and every error naming its YAML path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config.loader import ConfigError, load_config, load_config_text
from gateway.routing.table import RouteTable
from gateway.runtime import build_snapshot
from gateway.state.memory import MemoryStateStore

TIERS = {"simple": ["flash"], "medium": ["mini"], "expert": "deep"}


def config_text(triage: dict[str, Any], **route: Any) -> str:
    config = {
        "providers": {"m": {"kind": "mock"}, "a": {"kind": "anthropic", "base_url": "http://x"}},
        "models": {
            "flash": {"provider": "m"},
            "mini": {"provider": "m"},
            "opus": {"provider": "m"},
            "claude": {"provider": "a"},
        },
        "routes": {
            "deep": {"pool": ["opus"]},
            "judges": {"pool": ["mini", "flash"]},
            "assistant": {"triage": {"classifier": "mini", "tiers": TIERS, **triage}, **route},
            "other": {"triage": {"classifier": "mini", "tiers": {"medium": ["mini"]}}},
        },
    }
    return yaml.safe_dump(config)


def problems(triage: dict[str, Any], **route: Any) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_config_text(config_text(triage, **route), "t.yaml", {})
    return raised.value.problems


def test_a_triage_route_loads_and_resolves_its_tiers() -> None:
    config = load_config_text(config_text({"heuristics": True}), "t.yaml", {})
    section = config.routes["assistant"].triage
    assert section is not None and section.heuristics is not None
    assert section.heuristics.simple_max_chars == 64
    assert section.timeout_s == 5 and section.cache_ttl_s == 300
    route = RouteTable(config).routes["assistant"]
    assert route.triage is not None
    assert [t.name for t in route.triage.tiers] == ["simple", "medium", "expert"]
    assert [t.route.name for t in route.triage.tiers] == [
        "assistant:simple",
        "assistant:medium",
        "deep",
    ]
    assert route.triage.tiers[2].named_route
    assert [m.alias for m in route.pool] == ["flash", "mini", "opus"]  # every tier's
    assert route.triage.json_mode  # mock only


def test_heuristics_false_turns_every_rule_off() -> None:
    config = load_config_text(config_text({"heuristics": False}), "t.yaml", {})
    section = config.routes["assistant"].triage
    assert section is not None and section.heuristics is None


def test_json_mode_only_when_every_classifier_member_takes_it() -> None:
    config = load_config_text(config_text({"classifier": "claude"}), "t.yaml", {})
    route = RouteTable(config).routes["assistant"]
    assert route.triage is not None and not route.triage.json_mode


@pytest.mark.parametrize(
    ("triage", "route", "expected"),
    [
        (
            {"tiers": {"trivial": ["mini"], "medium": ["mini"]}},
            {},
            "routes.assistant.triage.tiers.trivial: unknown tier 'trivial' "
            "(known: simple, medium, complex, expert)",
        ),
        (
            {"default_tier": "complex"},
            {},
            "routes.assistant.triage.default_tier: 'complex' is not a configured tier "
            "(configured: simple, medium, expert)",
        ),
        (
            {"default_tier": "hard"},
            {},
            "routes.assistant.triage.default_tier: unknown tier 'hard' "
            "(known: simple, medium, complex, expert)",
        ),
        (
            {"classifier": "gpt-judge"},
            {},
            "routes.assistant.triage.classifier: 'gpt-judge' is neither a catalog alias "
            "nor a route",
        ),
        (
            {"classifier": "other"},
            {},
            "routes.assistant.triage.classifier: 'other' is a triage route; "
            "the classifier must be a plain route or a catalog alias",
        ),
        (
            {"tiers": {**TIERS, "complex": "other"}},
            {},
            "routes.assistant.triage.tiers.complex: 'other' is a triage route; tiers cannot nest",
        ),
        (
            {"tiers": {**TIERS, "complex": "assistant"}},
            {},
            "routes.assistant.triage.tiers.complex: 'assistant' is a triage route; "
            "tiers cannot nest",
        ),
        (
            {"tiers": {**TIERS, "complex": "nowhere"}},
            {},
            "routes.assistant.triage.tiers.complex: 'nowhere' is neither a route "
            "nor a catalog alias",
        ),
        (
            {"tiers": {**TIERS, "complex": ["mini", "gtp-4o"]}},
            {},
            "routes.assistant.triage.tiers.complex[1]: unknown model 'gtp-4o'",
        ),
        (
            {},
            {"pool": ["mini"]},
            "routes.assistant: a route has either `pool` or `triage`, not both",
        ),
        (
            {"heuristics": {"floor_tier": "huge"}},
            {},
            "routes.assistant.triage.heuristics.floor_tier: unknown tier 'huge' "
            "(known: simple, medium, complex, expert)",
        ),
        (
            {"heuristics": {"simple_max_chars": 10, "short": True}},
            {},
            "routes.assistant.triage.heuristics.short: unknown key",
        ),
        (
            {"timeout_s": 0},
            {},
            "routes.assistant.triage.timeout_s: Input should be greater than 0",
        ),
        ({"tiers": {}}, {}, "routes.assistant.triage.tiers: at least one tier is needed"),
    ],
    ids=[
        "unknown-tier",
        "default-not-configured",
        "default-unknown",
        "unknown-classifier",
        "classifier-is-triage",
        "tier-is-triage",
        "tier-is-itself",
        "tier-unknown-route",
        "tier-unknown-model",
        "pool-and-triage",
        "unknown-floor",
        "unknown-heuristic-key",
        "zero-timeout",
        "no-tiers",
    ],
)
def test_config_errors_name_their_path(
    triage: dict[str, Any], route: dict[str, Any], expected: str
) -> None:
    assert expected in problems(triage, **route)


ROOT = Path(__file__).resolve().parents[2]


def test_the_worked_example_loads_and_matches_the_readme() -> None:
    config = load_config(ROOT / "config" / "example-triage.yaml", env={})
    route = RouteTable(config).routes["assistant"]
    assert route.triage is not None
    assert [t.name for t in route.triage.tiers] == ["simple", "medium", "complex", "expert"]
    assert not route.triage.json_mode  # the classifier is on the anthropic kind
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("<!-- section:triage -->")[1].split("<!-- /section:triage -->")[0]
    worked = yaml.safe_load(section.split("```yaml\n")[1].split("```")[0])
    example = yaml.safe_load((ROOT / "config" / "example-triage.yaml").read_text())
    assert worked["routes"] == example["routes"]
    assert worked["models"] == example["models"]


def test_a_reload_keeps_the_decision_cache() -> None:
    state = MemoryStateStore()
    config = load_config_text(config_text({}), "t.yaml", {})
    first = build_snapshot(config, state)
    second = build_snapshot(config, state, previous=first)
    assert first.triage is not None and second.triage is not None
    assert second.triage.cache is first.triage.cache
    plain = load_config_text("providers: {m: {kind: mock}}", "t.yaml", {})
    assert build_snapshot(plain, state).triage is None  # no triage route: no service
