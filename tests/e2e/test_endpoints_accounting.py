"""Usage and cost of embeddings and Responses calls: exact in the usage counters, the
GenAI metrics and the log line."""

from __future__ import annotations

import re
import time

import httpx
import openai

from tests.conftest import GatewayFactory
from tests.e2e.test_embeddings_sdk import embed_config
from tests.support.fake_upstream import FakeUpstream, ok

# Embeddings: 9 tokens × $0.13/M. Responses: 100 uncached × $2 + 20 cached × $0.5
# + 30 output × $8 (the reasoning tokens are part of the output), per million.
# Exact pico-USD: USD per 1M tokens × 1e6 per token.
EMBED_PICO = 9 * 130_000
RESPONSE_PICO = (100 * 2_000_000) + (20 * 500_000) + (30 * 8_000_000)


def _sample(metrics: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_usage_and_cost_in_counters_metrics_and_log(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    config = embed_config(fake_upstream.base_url, ["e1"])
    config["models"]["r1"] = {
        "provider": "fake",
        "price": {"input": 2.0, "output": 8.0, "cached_input": 0.5},
    }
    config["routes"]["agent"] = {"api": "responses", "pool": ["r1"]}
    fake_upstream.set("r1", ok("done"))
    gw = gateway_factory(config)
    sdk = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0)
    for _ in range(2):
        sdk.embeddings.create(model="embed", input=["a", "b"])
    sdk.responses.create(model="agent", input="x")
    list(sdk.responses.create(model="agent", input="x", stream=True))

    deadline = time.monotonic() + 5
    while True:
        usage = httpx.get(
            gw.url + "/v1/gateway/usage", params={"window": "day", "group_by": "route"}
        ).json()
        if usage["totals"]["requests"] == 4 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    rows = {row["route"]: row for row in usage["data"]}
    assert rows["embed"]["input_tokens"] == 18 and rows["embed"]["output_tokens"] == 0
    assert rows["embed"]["cost_pico_usd"] == 2 * EMBED_PICO
    assert rows["agent"]["input_tokens"] == 240 and rows["agent"]["cached_tokens"] == 40
    assert rows["agent"]["output_tokens"] == 60
    assert rows["agent"]["cost_pico_usd"] == 2 * RESPONSE_PICO

    metrics = httpx.get(gw.url + "/metrics").text
    tokens = "gen_ai_client_token_usage_sum"
    assert (
        _sample(metrics, tokens, gen_ai_operation_name="embeddings", gen_ai_token_type="input")
        == 18
    )
    assert (
        _sample(metrics, tokens, gen_ai_operation_name="embeddings", gen_ai_token_type="output")
        == 0
    )
    assert (
        _sample(
            metrics, tokens, gen_ai_operation_name="chat", route="agent", gen_ai_token_type="output"
        )
        == 60
    )
    cost = _sample(metrics, "gateway_cost_usd_total", route="agent")
    assert abs(cost - 2 * RESPONSE_PICO / 1e12) < 1e-12
    assert re.search(r'gateway_requests_total\{[^}]*route="embed"', metrics)

    lines = [line for line in gw.log_lines() if line.get("event") == "request"]
    embed_lines = [line for line in lines if line.get("operation") == "embeddings"]
    assert len(embed_lines) == 2
    assert embed_lines[0]["input_tokens"] == 9 and embed_lines[0]["cost_pico_usd"] == EMBED_PICO
    streamed = [line for line in lines if line.get("operation") == "responses" and line["stream"]]
    assert streamed[0]["input_tokens"] == 120 and streamed[0]["cached_tokens"] == 20
    assert streamed[0]["reasoning_tokens"] == 12
    assert streamed[0]["cost_pico_usd"] == RESPONSE_PICO
