"""The ``azure`` kind over real sockets: the deployment in the path, the api-version in
the query, the key in ``api-key``; bodies and streams as OpenAI's."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from gateway.config.loader import ConfigError, load_config_text
from tests.conftest import GatewayFactory
from tests.support.fake_upstream import FakeUpstream, error, ok

MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


def azure_config(base_url: str, **provider: Any) -> dict[str, Any]:
    return {
        "server": {"api_keys_env": None},
        "providers": {
            "az": {
                "kind": "azure",
                "base_url": base_url,
                "api_key_env": "AZURE_KEY",
                "timeout_s": 5,
                "connect_timeout_s": 1,
                **provider,
            }
        },
        "models": {
            "gpt-4o": {"provider": "az", "model": "gpt4o prod"},  # the deployment's name
            "backup": {"provider": "az", "model": "gpt4o-backup"},
        },
        "routes": {"chat": {"pool": ["gpt-4o", "backup"]}},
    }


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def test_requests_go_to_the_deployment_with_the_api_key(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("gpt4o prod", ok("from azure"))
    root = fake_upstream.base_url.removesuffix("/v1")
    gw = gateway_factory(azure_config(root), env={"AZURE_KEY": "az-secret\n"})
    sdk = openai.OpenAI(base_url=gw.base_url, api_key="sk-client", max_retries=0)

    completion = sdk.chat.completions.create(model="chat", messages=MESSAGES)
    assert completion.choices[0].message.content == "from azure"
    chunks = sdk.chat.completions.create(model="chat", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "from azure"

    hits = fake_upstream.hits("gpt4o prod")
    assert len(hits) == 2
    for hit in hits:
        # Sent percent-encoded (a raw space would break the request line), read decoded.
        assert hit.path == "/openai/deployments/gpt4o prod/chat/completions"
        assert hit.query == "api-version=2024-10-21"
        headers = lower(hit.headers)
        assert headers["api-key"] == "az-secret"
        assert "authorization" not in headers  # the client's key never goes upstream


def test_api_version_is_configurable_and_failover_reaches_the_next_deployment(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("gpt4o prod", error(503))
    fake_upstream.set("gpt4o-backup", ok("backup deployment"))
    root = fake_upstream.base_url.removesuffix("/v1")
    gw = gateway_factory(
        azure_config(root, api_version="2025-04-01-preview"), env={"AZURE_KEY": "k"}
    )
    sdk = openai.OpenAI(base_url=gw.base_url, api_key="x", max_retries=0)
    completion = sdk.chat.completions.create(model="chat", messages=MESSAGES)
    assert completion.choices[0].message.content == "backup deployment"
    (hit,) = fake_upstream.hits("gpt4o-backup")
    assert hit.path == "/openai/deployments/gpt4o-backup/chat/completions"
    assert hit.query == "api-version=2025-04-01-preview"


@pytest.mark.parametrize(
    ("provider", "problem"),
    [
        ("{kind: azure}", "providers.p.base_url: required for kind 'azure'"),
        (
            "{kind: openai, base_url: 'http://h/v1', api_version: '2024-10-21'}",
            "providers.p.api_version: only kind 'azure' takes it",
        ),
    ],
)
def test_azure_config_errors_name_their_path(provider: str, problem: str) -> None:
    text = f"providers:\n  p: {provider}\nmodels:\n  m: {{provider: p}}\n"
    text += "routes:\n  r: {pool: [m]}\n"
    with pytest.raises(ConfigError) as raised:
        load_config_text(text, "test.yaml", {})
    assert raised.value.problems == [problem]


def test_embeddings_and_responses_on_azure(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    root = fake_upstream.base_url.removesuffix("/v1")
    config = azure_config(root)
    config["models"]["embed"] = {"provider": "az", "model": "embed-prod", "type": "embeddings"}
    gw = gateway_factory(config, env={"AZURE_KEY": "az-secret"})
    sdk = openai.OpenAI(base_url=gw.base_url, api_key="sk-client", max_retries=0)

    assert len(sdk.embeddings.create(model="embed", input=["a", "b"]).data) == 2
    (hit,) = fake_upstream.hits("embed-prod")
    assert hit.path == "/openai/deployments/embed-prod/embeddings"
    assert hit.query == "api-version=2024-10-21"

    made = sdk.responses.create(model="chat", input="hi")
    # The Responses API is resource-wide, the deployment in `model`, on a newer version.
    (created,) = fake_upstream.hits("gpt4o prod")
    assert created.path == "/openai/responses"
    assert created.query == "api-version=2025-04-01-preview"
    assert lower(created.headers)["api-key"] == "az-secret"
    assert sdk.responses.retrieve(made.id).id == made.id
    retrieved = fake_upstream.hits()[-1]
    assert retrieved.path == f"/openai/responses/{made.id}"
    assert retrieved.query == "api-version=2025-04-01-preview"
