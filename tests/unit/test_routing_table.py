"""Route resolution, profiles, pinned routes and option merging on the route table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config.loader import ConfigError, load_config, load_config_text
from gateway.errors import UnknownProfile
from gateway.routing.options import merge_body
from gateway.routing.table import RouteTable
from gateway.runtime import build_snapshot
from gateway.state.memory import MemoryStateStore

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
providers:
  a: {kind: mock}
  b: {kind: mock}
models:
  small: {provider: a, model: small-1, options: {temperature: 0.1, max_tokens: 50,
          extra_body: {provider: {order: [x], allow_fallbacks: false}}}}
  large: {provider: b, model: large-1}
  local: {provider: b}
routes:
  chat:
    pool: [small]
    profiles: {premium: [large, small], byok: [local]}
  other:
    pool: [small]
    profiles: {premium: [large]}
  mod: {pinned: true, pool: [local]}
  opts:
    pool: [small]
    options:
      temperature: 0.3
      user: route-user
      extra_body: {provider: {allow_fallbacks: true, sort: price}, tag: r}
    force: [user]
profile: premium
"""


def aliases(table: RouteTable, route: str, profile: str | None) -> list[str]:
    found = table.resolve(route)
    assert found is not None
    return [m.alias for m in found.members_for(profile)]


def test_profiles_pick_the_pool_and_fall_back_to_pool() -> None:
    table = RouteTable(load_config_text(CONFIG))
    assert aliases(table, "chat", "premium") == ["large", "small"]
    assert aliases(table, "chat", "byok") == ["local"]
    assert aliases(table, "chat", None) == ["small"]
    assert aliases(table, "other", "byok") == ["small"]  # no byok entry: the pool
    for profile in (None, "premium", "byok"):
        assert aliases(table, "mod", profile) == ["local"]


def test_each_member_carries_its_own_provider_and_upstream_name() -> None:
    table = RouteTable(load_config_text(CONFIG))
    route = table.resolve("chat")
    assert route is not None
    members = {m.alias: (m.provider, m.upstream_model) for m in route.members_for("premium")}
    assert members == {"large": ("b", "large-1"), "small": ("a", "small-1")}


def test_resolution_of_aliases_and_direct_names() -> None:
    table = RouteTable(load_config_text(CONFIG))
    alias = table.resolve("large")
    assert alias is not None and alias.kind == "alias" and alias.pinned
    direct = table.resolve("b/some/model")
    assert direct is not None and direct.kind == "direct"
    assert (direct.pool[0].provider, direct.pool[0].upstream_model) == ("b", "some/model")
    assert table.resolve("nope/model") is None
    closed = RouteTable(load_config_text(CONFIG + "server: {allow_direct_models: false}\n"))
    assert closed.resolve("b/some/model") is None


def test_options_merge_order_force_and_extra_body() -> None:
    table = RouteTable(load_config_text(CONFIG))
    route = table.resolve("opts")
    assert route is not None
    member = route.pool[0]
    client = {
        "model": "opts",
        "messages": [],
        "temperature": 0.9,
        "user": "client-user",
        "provider": {"require_parameters": True},
    }
    body = merge_body(member.defaults, client, member.forced, member.upstream_model)
    assert body == {
        "model": "small-1",
        "messages": [],
        "temperature": 0.9,  # client > route > model
        "max_tokens": 50,  # model default
        "user": "route-user",  # forced
        "provider": {  # extra_body deep-merged: model < route < client
            "order": ["x"],
            "allow_fallbacks": True,
            "sort": "price",
            "require_parameters": True,
        },
        "tag": "r",
    }
    assert "extra_body" not in body


def test_one_choice_parameters_are_replaced_whole() -> None:
    defaults = {"response_format": {"type": "json_object"}, "metadata": {"team": "a"}}
    client = {
        "response_format": {"type": "json_schema", "json_schema": {"name": "x"}},
        "metadata": {"user": "u"},
    }
    body = merge_body(defaults, client, {}, "m")
    assert body["response_format"] == client["response_format"]
    assert body["metadata"] == {"team": "a", "user": "u"}
    forced = merge_body({}, client, {"response_format": {"type": "json_object"}}, "m")
    assert forced["response_format"] == {"type": "json_object"}


def test_force_must_name_a_route_option() -> None:
    text = CONFIG.replace("force: [user]", "force: [user, seed]")
    with pytest.raises(ConfigError) as raised:
        load_config_text(text)
    assert raised.value.problems == [
        "routes.opts.force[1]: 'seed' is not set in routes.opts.options; "
        "only a route's own options can be forced"
    ]


def test_pick_profile_header_rules() -> None:
    snapshot = build_snapshot(load_config_text(CONFIG), MemoryStateStore())
    assert snapshot.pick_profile(None) == "premium"
    assert snapshot.pick_profile("byok") == "byok"
    with pytest.raises(UnknownProfile) as raised:
        snapshot.pick_profile("gold")
    assert raised.value.status == 400
    assert "known: byok, premium" in raised.value.message
    off = build_snapshot(
        load_config_text(CONFIG + "server: {allow_profile_header: false}\n"), MemoryStateStore()
    )
    assert off.pick_profile("byok") == "premium"
    assert off.pick_profile("byok", from_header=False) == "byok"


def test_profile_override_must_be_known() -> None:
    config = load_config_text(CONFIG)
    assert build_snapshot(config, MemoryStateStore(), "byok").profile == "byok"
    with pytest.raises(ConfigError) as raised:
        build_snapshot(config, MemoryStateStore(), "gold")
    assert "unknown profile 'gold'" in raised.value.problems[0]


def test_reload_reuses_unchanged_providers() -> None:
    state = MemoryStateStore()
    first = build_snapshot(load_config_text(CONFIG), state)
    changed = CONFIG.replace("b: {kind: mock}", "b: {kind: mock, mock: {chunks: 2}}")
    second = build_snapshot(load_config_text(changed), state, previous=first)
    assert second.providers["a"] is first.providers["a"]
    assert second.providers["b"] is not first.providers["b"]


def test_example_routing_config_validates() -> None:
    path = ROOT / "config" / "example-routing.yaml"
    config = load_config(path)
    assert set(config.routes) >= {"summarize", "complex", "chat", "extract", "moderation"}
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "ok (5 routes" in done.stdout
