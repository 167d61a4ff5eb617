"""Model types and route api marking: config errors name their YAML path."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gateway.config.loader import ConfigError, load_config_text
from gateway.routing.table import RouteTable


def load(config: dict[str, Any]) -> Any:
    return load_config_text(yaml.safe_dump(config), "test.yaml", env={})


BASE: dict[str, Any] = {
    "providers": {
        "oa": {"kind": "openai", "base_url": "http://127.0.0.1:1/v1"},
        "an": {"kind": "anthropic", "base_url": "http://127.0.0.1:1"},
        "mk": {"kind": "mock"},
    },
    "models": {
        "chat-a": {"provider": "oa"},
        "embed-a": {"provider": "oa", "type": "embeddings"},
        "embed-m": {"provider": "mk", "type": "embeddings"},
        "claude": {"provider": "an"},
    },
}


def problems(routes: dict[str, Any], models: dict[str, Any] | None = None) -> str:
    config = {**BASE, "models": {**BASE["models"], **(models or {})}, "routes": routes}
    with pytest.raises(ConfigError) as raised:
        load(config)
    return str(raised.value)


def test_a_pool_of_mixed_types_is_an_error_with_its_path() -> None:
    text = problems({"r": {"pool": ["chat-a", "embed-a"]}})
    assert "routes.r.pool[1]: model 'embed-a' is of type embeddings" in text
    text = problems({"r": {"pool": ["embed-a"], "profiles": {"cheap": ["chat-a"]}}})
    assert "routes.r.profiles.cheap[0]: model 'chat-a' is of type chat" in text


def test_a_kind_that_cannot_embed_is_an_error() -> None:
    text = problems({}, {"bad": {"provider": "an", "type": "embeddings"}})
    assert "models.bad.type: provider 'an' (kind anthropic) cannot serve embeddings" in text


def test_api_responses_needs_capable_chat_members() -> None:
    text = problems({"r": {"api": "responses", "pool": ["chat-a", "claude"]}})
    assert "routes.r.pool[1]: model 'claude' is on provider 'an' (kind anthropic)" in text
    text = problems({"r": {"api": "responses", "pool": ["embed-a"]}})
    assert "routes.r.pool[0]: model 'embed-a' is of type embeddings" in text
    text = problems({"r": {"api": "chat", "pool": ["chat-a"]}})
    assert "routes.r.api" in text


def test_route_types_in_the_table() -> None:
    config = load(
        {
            **BASE,
            "routes": {"e": {"pool": ["embed-a", "embed-m"]}, "c": {"pool": ["chat-a"]}},
        }
    )
    table = RouteTable(config)
    assert table.routes["e"].model_type == "embeddings"
    assert table.routes["c"].model_type == "chat"
    assert table.aliases["embed-m"].model_type == "embeddings"
    direct = table.resolve("oa/anything")
    assert direct is not None and direct.model_type is None


def test_triage_tiers_are_of_one_type_too() -> None:
    tiers = {"easy": ["chat-a"], "medium": "embeds", "hard": ["chat-a"]}
    text = problems(
        {
            "embeds": {"pool": ["embed-a"]},
            "smart": {"triage": {"classifier": "chat-a", "tiers": tiers}},
        }
    )
    assert "routes.embeds.pool[0]: model 'embed-a' is of type embeddings, but " in text
    assert "routes.smart.triage.tiers.easy[0] is chat" in text
    inline = problems(
        {
            "smart": {
                "triage": {
                    "classifier": "chat-a",
                    "tiers": {"easy": ["chat-a"], "medium": ["embed-m"]},
                }
            }
        }
    )
    assert "routes.smart.triage.tiers.medium[0]: model 'embed-m' is of type embeddings" in inline
