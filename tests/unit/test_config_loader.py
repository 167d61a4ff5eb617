"""``load_config_text``: YAML, ``${ENV}`` interpolation, schema and cross-references,
with every error naming the YAML path at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.loader import ConfigError, load_config, load_config_text

BASE = """
providers:
  mock: {kind: mock}
models:
  small: {provider: mock, model: small-1}
  large: {provider: mock}
routes:
  chat:
    pool: [small, large]
"""


def problems_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_config_text(text, "test.yaml", env or {})
    return raised.value.problems


def test_valid_config_loads_with_defaults() -> None:
    config = load_config_text(BASE, env={})
    assert [e.model for e in config.routes["chat"].pool or []] == ["small", "large"]
    assert config.models["small"].model == "small-1"
    assert config.state.backend == "memory"
    assert config.server.max_body_bytes == 20_000_000
    assert config.server.api_keys_env == "GATEWAY_API_KEYS"
    assert config.server.allow_direct_models is True
    assert config.providers["mock"].timeout_s == 600
    assert config.providers["mock"].connect_timeout_s == 5
    assert config.resilience.max_attempts == 4
    assert config.resilience.cooldown_s == 30
    assert config.resilience.max_cooldown_s == 300
    assert config.resilience.ttft_timeout_s == 30
    assert config.routes["chat"].policy == "priority"


def test_empty_file_is_an_empty_config() -> None:
    config = load_config_text("", env={})
    assert config.routes == {} and config.providers == {}


def test_weighted_pool_entries() -> None:
    text = BASE.replace("pool: [small, large]", "pool: [{model: small, weight: 3}, large]")
    text = text.replace("    pool:", "    policy: weighted\n    pool:")
    config = load_config_text(text, env={})
    pool = config.routes["chat"].pool or []
    assert [(e.model, e.weight) for e in pool] == [("small", 3.0), ("large", 1.0)]


def test_unknown_pool_member_names_its_index() -> None:
    text = BASE + "  summarize:\n    pool: [small, gtp-4o]\n"
    assert problems_of(text) == ["routes.summarize.pool[1]: unknown model 'gtp-4o'"]


def test_unknown_member_in_a_profile_pool() -> None:
    text = BASE + "    profiles:\n      premium: [large, nope]\n"
    assert problems_of(text) == ["routes.chat.profiles.premium[1]: unknown model 'nope'"]


def test_model_with_unknown_provider() -> None:
    text = BASE.replace(
        "  large: {provider: mock}\n", "  large: {provider: mock}\n  x: {provider: anthropc}\n"
    )
    assert problems_of(text) == ["models.x.provider: unknown provider 'anthropc'"]


def test_unknown_policy() -> None:
    text = BASE + "  x:\n    pool: [small]\n    policy: cheapest\n"
    (problem,) = problems_of(text)
    assert problem.startswith("routes.x.policy: unknown policy 'cheapest'")
    assert "priority" in problem and "weighted" in problem


def test_unknown_key_names_its_path() -> None:
    text = BASE.replace("    pool: [small, large]", "    poool: [small, large]")
    problems = problems_of(text)
    assert "routes.chat.poool: unknown key" in problems


def test_unknown_top_level_and_nested_keys() -> None:
    text = BASE + "resilience:\n  max_atempts: 3\nstate:\n  backend: memory\n  prefix: x\n"
    problems = problems_of(text)
    assert "resilience.max_atempts: unknown key" in problems
    assert "state.prefix: unknown key" in problems


def test_unknown_provider_kind() -> None:
    text = BASE.replace("mock: {kind: mock}", "mock: {kind: bedrock}")
    (problem,) = problems_of(text)
    assert problem.startswith("providers.mock.kind: unknown provider kind 'bedrock'")


def test_wrong_type_names_its_path() -> None:
    text = BASE + "server:\n  max_body_bytes: lots\n"
    (problem,) = problems_of(text)
    assert problem.startswith("server.max_body_bytes: ")


def test_route_without_pool_is_an_error_even_with_profiles() -> None:
    text = BASE + "  tiers:\n    profiles:\n      premium: [large]\n"
    assert problems_of(text) == ["routes.tiers.pool: required key is missing"]


def test_openai_provider_needs_base_url() -> None:
    text = BASE.replace("mock: {kind: mock}", "mock: {kind: mock}\n  oai: {kind: openai}")
    assert problems_of(text) == ["providers.oai.base_url: required for kind 'openai'"]


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        ("ftp://llm.example/v1", "must be an http:// or https:// URL"),
        ("https:///v1", "must name a host"),
        ("https://user:secret@llm.example/v1", "must not carry credentials"),
        ("https://llm.example/v1#frag", "must not have a #fragment"),
    ],
)
def test_base_url_must_be_a_plain_http_url(base_url: str, reason: str) -> None:
    text = BASE.replace("mock: {kind: mock}", f"oai: {{kind: openai, base_url: '{base_url}'}}")
    text = text.replace("provider: mock", "provider: oai")
    (problem,) = problems_of(text)
    assert problem.startswith(f"providers.oai.base_url: {reason}")
    assert "secret" not in problem


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ('{"Content-Length": "3"}', "header 'Content-Length' is set by the gateway's HTTP client"),
        ('{"Bad Name": "x"}', "header name 'Bad Name' is not a valid HTTP token"),
        ('{"X-Key": "a\\r\\nInjected: 1"}', "header 'X-Key' has a line break in its value"),
    ],
)
def test_provider_headers_must_be_sendable(headers: str, reason: str) -> None:
    provider = f"oai: {{kind: openai, base_url: 'http://127.0.0.1:1/v1', headers: {headers}}}"
    text = BASE.replace("mock: {kind: mock}", provider).replace("provider: mock", "provider: oai")
    (problem,) = problems_of(text)
    assert problem == f"providers.oai.headers: {reason}"


def test_several_problems_are_all_reported() -> None:
    text = BASE + "  a:\n    pool: [ghost]\n    policy: random\n"
    problems = problems_of(text)
    assert "routes.a.pool[0]: unknown model 'ghost'" in problems
    assert any(p.startswith("routes.a.policy: unknown policy 'random'") for p in problems)


def test_malformed_yaml_gives_line_and_column() -> None:
    text = "routes:\n  chat:\n    pool: [small, large\n  other: 1\n"
    (problem,) = problems_of(text)
    assert "malformed YAML" in problem
    assert "line 4, column" in problem


def test_non_mapping_root() -> None:
    assert problems_of("- a\n- b\n") == ["(root): the config must be a mapping"]


def test_env_interpolation_and_default() -> None:
    text = """
providers:
  up:
    kind: openai
    base_url: ${UP_URL}
    api_key_env: ${KEY_VAR:-OPENAI_API_KEY}
    headers: {X-Team: "team-${TEAM}"}
models:
  m: {provider: up, model: "${MODEL_NAME:-gpt-4o-mini}"}
routes:
  chat: {pool: [m]}
"""
    env = {"UP_URL": "http://127.0.0.1:9999/v1", "TEAM": "search"}
    config = load_config_text(text, env=env)
    provider = config.providers["up"]
    assert provider.base_url == "http://127.0.0.1:9999/v1"
    assert provider.api_key_env == "OPENAI_API_KEY"
    assert provider.headers == {"X-Team": "team-search"}
    assert config.models["m"].model == "gpt-4o-mini"
    env["MODEL_NAME"] = "gpt-4.1"
    assert load_config_text(text, env=env).models["m"].model == "gpt-4.1"


def test_empty_env_value_takes_the_default() -> None:
    text = "state:\n  redis_url: ${REDIS:-redis://db:6379/0}\n"
    assert load_config_text(text, env={"REDIS": ""}).state.redis_url == "redis://db:6379/0"


def test_interpolated_numbers_are_coerced() -> None:
    text = "server:\n  max_body_bytes: ${MAX_BODY:-1000}\n"
    assert load_config_text(text, env={}).server.max_body_bytes == 1000
    assert load_config_text(text, env={"MAX_BODY": "42"}).server.max_body_bytes == 42


def test_unset_env_var_is_named_with_its_path() -> None:
    text = BASE.replace(
        "mock: {kind: mock}", "mock: {kind: mock}\n  up: {kind: openai, base_url: '${UP_URL}'}"
    )
    assert problems_of(text) == ["providers.up.base_url: environment variable 'UP_URL' is not set"]


def test_unset_env_var_in_a_list() -> None:
    text = BASE + "  x:\n    pool: [small]\n    force: [temperature, '${FORCED}']\n"
    assert problems_of(text) == ["routes.x.force[1]: environment variable 'FORCED' is not set"]


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(BASE)
    assert set(load_config(path, env={}).routes) == {"chat"}
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "missing.yaml", env={})
    assert raised.value.problems[0].startswith("(file): cannot read")


def test_demo_config_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "config" / "demo.yaml", env={})
    assert {"chat", "summarize", "moderation", "stream-demo"} <= set(config.routes)
    assert all(p.kind == "mock" for p in config.providers.values())
    assert config.state.backend == "memory"


def test_duplicate_key_is_an_error_with_its_line() -> None:
    text = BASE + "  chat:\n    pool: [large]\n"
    (problem,) = problems_of(text)
    assert problem == "(yaml) line 10, column 3: malformed YAML: duplicate key 'chat'"


def test_yaml_anchors_and_merge_keys_still_work() -> None:
    text = """
providers:
  mock: {kind: mock}
models:
  small: &defaults
    provider: mock
    context_window: 8000
  large:
    <<: *defaults
    context_window: 128000
routes:
  chat: {pool: [small, large]}
"""
    config = load_config_text(text, env={})
    assert config.models["large"].provider == "mock"
    assert config.models["large"].context_window == 128000


def test_blank_inbound_keys_are_dropped() -> None:
    config = load_config_text(
        'server:\n  api_keys: ["${GATEWAY_TEST_UNSET_KEY:-}", " sk-real ", ""]\n',
        env={},
    )
    assert config.server.api_keys == ["sk-real"]
