"""``/metrics`` after a scripted scenario through a real ``gateway serve``.

Successes, a fallback with a cooldown, streams, a direct ``provider/model`` request
and an unknown model go through the gateway; the scrape must then show exact
counter values and token sums, with one worker and with two (whose totals are
summed through prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import GatewayFactory
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream, error
from tests.support.gateway_process import GatewayProcess

MESSAGES = [{"role": "user", "content": "hello"}]
PRICE = {"input": 1.0, "output": 2.0}  # USD per 1M tokens
# The fake's usage: 11 input (3 cached, no cached price), 7 output = 25 micro-USD.
COST = (11 * 1.0 + 7 * 2.0) / 1_000_000

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scenario_config(fake: FakeUpstream) -> dict[str, Any]:
    config = upstream_config(fake.base_url, ["m1", "m2", "m3", "m4", "m5"])
    for model in config["models"].values():
        model["price"] = PRICE
    config["routes"] = {
        "chat": {"pool": ["m1", "m2"]},
        "backup": {"pool": ["m3", "m4"]},
        "stream": {"pool": ["m5"]},
    }
    return config


def scrape(gw: GatewayProcess) -> Samples:
    # A new connection per scrape: with several workers, any of them may answer.
    with httpx.Client(timeout=5) as http:
        response = http.get(gw.url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def scrape_when_done(gw: GatewayProcess, requests: int, timeout: float = 10.0) -> Samples:
    """Observers run after the answer is sent: wait until every request is counted."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(gw)
        counted = value(samples, "gateway_requests_total")
        if counted >= requests or time.monotonic() > deadline:
            assert counted == requests
            return samples
        time.sleep(0.02)


def run_scenario(gw: GatewayProcess) -> int:
    def sdk() -> openai.OpenAI:
        # A fresh client (and connection) per request spreads them over the workers.
        return openai.OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0)

    sent = 0
    for _ in range(3):
        answer = sdk().chat.completions.create(model="chat", messages=MESSAGES)
        assert answer.choices[0].message.content == "echo: hello"
        sent += 1
    # m3 fails with a 503: the request falls over to m4 and m3 is parked.
    raw = sdk().chat.completions.with_raw_response.create(model="backup", messages=MESSAGES)
    assert raw.headers["x-gateway-model"] == "m4" and raw.headers["x-gateway-attempts"] == "2"
    sent += 1
    for include_usage in (True, False):
        options: Any = {"include_usage": True} if include_usage else openai.NOT_GIVEN
        chunks = list(
            sdk().chat.completions.create(
                model="stream", messages=MESSAGES, stream=True, stream_options=options
            )
        )
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        sent += 1
    direct = sdk().chat.completions.create(model="fake/some-upstream-model", messages=MESSAGES)
    assert direct.choices[0].message.content == "echo: hello"
    sent += 1
    with pytest.raises(openai.NotFoundError):
        sdk().chat.completions.create(model="no-such-model", messages=MESSAGES)
    sent += 1
    return sent


@pytest.mark.parametrize("workers", [1, 2])
def test_scenario_counts_exactly(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory, workers: int
) -> None:
    fake_upstream.set("m3", error(503, "overloaded"))
    gw = gateway_factory(scenario_config(fake_upstream), workers=workers)
    sent = run_scenario(gw)
    assert sent == 8

    for _ in range(3 if workers > 1 else 1):  # whichever worker answers, same totals
        s = scrape_when_done(gw, sent)

        requests = "gateway_requests_total"
        assert value(s, requests, route="chat", status_class="2xx") == 3
        assert value(s, requests, route="backup", status_class="2xx") == 1
        assert value(s, requests, route="stream", status_class="2xx") == 2
        assert value(s, requests, route="direct:fake", status_class="2xx") == 1
        assert value(s, requests, route="unknown", status_class="4xx") == 1

        attempts = "gateway_attempts_total"
        assert value(s, attempts) == 8
        assert value(s, attempts, route="chat", model="m1", outcome="success") == 3
        assert value(s, attempts, route="backup", model="m3", outcome="upstream_5xx") == 1
        assert value(s, attempts, route="backup", model="m4", outcome="success") == 1
        assert value(s, attempts, route="stream", model="m5", outcome="success") == 2
        assert value(s, attempts, route="direct:fake", provider="fake", model="direct:fake") == 1

        assert value(s, "gateway_fallbacks_total") == 1
        assert value(s, "gateway_fallbacks_total", route="backup", from_model="m3", to_model="m4")
        assert value(s, "gateway_cooldowns_total") == 1
        assert (
            value(s, "gateway_cooldowns_total", provider="fake", model="m3", reason="upstream_5xx")
            == 1
        )
        assert value(s, "gateway_cooldown_active", provider="fake", model="m3") == 1
        assert value(s, "gateway_cooldown_active", provider="fake", model="m1") == 0
        assert value(s, "gateway_route_available_members", route="backup") == 1
        assert value(s, "gateway_route_available_members", route="chat") == 2
        assert value(s, "gateway_in_flight_requests") == 0
        assert value(s, "gateway_state_errors_total") == 0

        tokens = "gen_ai_client_token_usage_sum"
        assert value(s, tokens, gen_ai_token_type="input") == 7 * 11
        assert value(s, tokens, gen_ai_token_type="output") == 7 * 7
        assert value(s, tokens, route="chat", gen_ai_token_type="input") == 33
        assert value(s, tokens, route="stream", gen_ai_token_type="output") == 14
        assert (
            value(
                s,
                "gen_ai_client_token_usage_count",
                gen_ai_operation_name="chat",
                gen_ai_provider_name="fake",
                gen_ai_request_model="backup",
                gen_ai_response_model="m4",
                gen_ai_token_type="input",
            )
            == 1
        )

        duration = "gen_ai_client_operation_duration_seconds_count"
        assert value(s, duration) == 8
        assert value(s, duration, route="chat", gen_ai_response_model="m1", error_type="") == 3
        assert value(s, duration, route="unknown", error_type="model_not_found") == 1
        assert value(s, "gateway_time_to_first_token_seconds_count", route="stream") == 2
        assert value(s, "gateway_overhead_seconds_count") == 8

        cost = "gateway_cost_usd_total"
        assert value(s, cost, route="chat", model="m1") == pytest.approx(3 * COST)
        assert value(s, cost, route="backup", model="m4") == pytest.approx(COST)
        assert value(s, cost, route="stream", model="m5") == pytest.approx(2 * COST)
        assert value(s, cost, route="direct:fake") == 0

        profiles = "gateway_profile_requests_total"
        assert value(s, profiles) == 7
        assert value(s, profiles, route="chat", profile="none") == 3


def test_no_unbounded_labels(fake_upstream: FakeUpstream, gateway_factory: GatewayFactory) -> None:
    """Client-chosen model names never become label values."""
    gw = gateway_factory(scenario_config(fake_upstream))
    sdk = openai.OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0)
    for i in range(5):
        sdk.chat.completions.create(model=f"fake/client-model-{i}", messages=MESSAGES)
        with pytest.raises(openai.NotFoundError):
            sdk.chat.completions.create(model=f"unknown-{i}", messages=MESSAGES)
    samples = scrape_when_done(gw, 10)
    values = {v for _, labels in samples for _, v in labels}
    assert not [v for v in values if "client-model" in v or v.startswith("unknown-")]
    assert value(samples, "gateway_requests_total", route="direct:fake") == 5
