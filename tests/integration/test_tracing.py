"""Traces after the GenAI conventions, caught by the SDK's in-memory exporter: a fallback
request's span tree, its attributes, the parent from the client's ``traceparent``, and
the ``traceparent`` each upstream attempt carried."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gateway.observability.tracing.runtime import Tracing
from tests.support.configs import upstream_config
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_upstream import FakeUpstream, error, ok
from tests.support.inprocess import (
    InProcessFactory,
    InProcessGateway,
    inprocess_gateway,  # noqa: F401  (fixture)
)
from tests.support.messages_setup import ANTHROPIC_KEY, CLIENT_KEY, messages_config
from tests.support.otlp_receiver import OtlpReceiver

INBOUND_KEY = "sk-inbound-secret-1"
UPSTREAM_KEY = "sk-upstream-secret-2"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN_ID = "00f067aa0ba902b7"
MESSAGES = [{"role": "user", "content": "the secret plan"}]


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver().start()
    yield server
    server.stop()


def traced_config(upstream: FakeUpstream, endpoint: str, **tracing: Any) -> dict[str, Any]:
    config = upstream_config(upstream.base_url, ["m1", "m2"])
    config["models"]["m2"]["price"] = {"input": 0.15, "output": 0.6}
    config["server"] = {"api_keys": [INBOUND_KEY]}
    config["tracing"] = {"enabled": True, "endpoint": endpoint, **tracing}
    return config


def start(
    factory: InProcessFactory, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> tuple[InProcessGateway, InMemorySpanExporter]:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", UPSTREAM_KEY)
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME", "OTEL_TRACES_SAMPLER"):
        monkeypatch.delenv(name, raising=False)
    gw = factory(config)
    tracing = gw.gateway.tracing
    assert isinstance(tracing, Tracing)
    memory = InMemorySpanExporter()
    tracing.add_exporter(memory)  # beside the OTLP export to the receiver
    return gw, memory


def post(
    gw: InProcessGateway, headers: dict[str, str] | None = None, **body: Any
) -> httpx.Response:
    payload = {"model": "chat", "messages": MESSAGES, **body}
    return httpx.post(
        gw.base_url + "/chat/completions",
        json=payload,
        headers={"Authorization": f"Bearer {INBOUND_KEY}", **(headers or {})},
        timeout=10,
    )


def exported(gw: InProcessGateway, memory: InMemorySpanExporter) -> list[ReadableSpan]:
    """The spans exported once every span ended so far has gone through the queue."""
    tracing = gw.gateway.tracing
    assert tracing is not None and tracing.flush(5)
    return list(memory.get_finished_spans())


def finished(gw: InProcessGateway, memory: InMemorySpanExporter, count: int) -> list[ReadableSpan]:
    """The spans once ``count`` have ended (the request span ends after the answer)."""
    deadline = time.monotonic() + 5
    spans = exported(gw, memory)
    while len(spans) < count and time.monotonic() < deadline:
        time.sleep(0.01)
        spans = exported(gw, memory)
    assert len(spans) == count, [s.name for s in spans]
    return spans


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    ctx = span.get_span_context()
    assert ctx is not None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def test_fallback_span_tree_attributes_and_upstream_traceparent(
    fake_upstream: FakeUpstream,
    receiver: OtlpReceiver,  # set up before the gateway, so it outlives the last export
    inprocess_gateway: InProcessFactory,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = traced_config(fake_upstream, receiver.endpoint)
    gw, memory = start(inprocess_gateway, config, monkeypatch)
    fake_upstream.set("m1", error(503, "overloaded"))
    fake_upstream.set("m2", ok(usage={"prompt_tokens": 10, "completion_tokens": 3}))
    traceparent = f"00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"
    response = post(gw, {"traceparent": traceparent, "tracestate": "vendor=abc"})
    assert response.status_code == 200, response.text

    spans = finished(gw, memory, 3)
    server = next(s for s in spans if s.kind is SpanKind.SERVER)
    clients = [s for s in spans if s.kind is SpanKind.CLIENT]
    attempts = sorted(clients, key=lambda s: s.start_time or 0)
    # The tree: the client's span > the gateway's request span > one span per attempt.
    assert server.name == "chat chat"
    assert server.parent is not None and server.parent.is_remote
    assert f"{server.parent.span_id:016x}" == CLIENT_SPAN_ID
    trace_id, server_id = hex_ids(server)
    assert trace_id == TRACE_ID
    assert [a.name for a in attempts] == ["chat m1", "chat m2"]
    for attempt in attempts:
        assert attempt.parent is not None and f"{attempt.parent.span_id:016x}" == server_id
        assert hex_ids(attempt)[0] == TRACE_ID
    assert dict(server.get_span_context().trace_state or {}) == {"vendor": "abc"}

    assert dict(server.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "chat",
        "gen_ai.response.model": "m2",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 3,
        "gen_ai.response.finish_reasons": ("stop",),
        "http.response.status_code": 200,
        "gateway.request_id": response.headers["x-request-id"],
        "gateway.stream": False,
        "gateway.attempts": 2,
        "gateway.route": "chat",
        "gateway.model": "m2",
        "gateway.cost_pico_usd": 10 * 150_000 + 3 * 600_000,
    }
    assert server.status.status_code is StatusCode.UNSET
    assert server.events == ()  # no content without logging.include_content

    failed, answered = attempts
    assert failed.attributes is not None and answered.attributes is not None
    assert failed.attributes["gateway.attempt.outcome"] == "upstream_5xx"
    assert failed.attributes["error.type"] == "upstream_5xx"
    assert failed.attributes["http.response.status_code"] == 503
    assert failed.status.status_code is StatusCode.ERROR
    assert dict(answered.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "m2",
        "gateway.provider": "fake",
        "gateway.model": "m2",
        "gateway.attempt": 2,
        "gateway.attempt.outcome": "success",
        "http.response.status_code": 200,
        "gen_ai.response.finish_reasons": ("stop",),
    }

    # Each upstream call carried its own attempt span as parent, and the client's state.
    for hit, attempt in zip(fake_upstream.hits(), attempts, strict=True):
        sent = {k.lower(): v for k, v in hit.headers.items()}
        assert sent["traceparent"] == f"00-{TRACE_ID}-{hex_ids(attempt)[1]}-01"
        assert sent["tracestate"] == "vendor=abc"
        assert INBOUND_KEY not in json.dumps(sent)  # the client's Authorization stays here

    # No secret and no prompt text in any span.
    text = json.dumps([dict(s.attributes or {}) for s in spans], default=str)
    assert INBOUND_KEY not in text and UPSTREAM_KEY not in text and "secret plan" not in text


def test_stream_spans_end_with_the_stream_and_content_is_opt_in(
    fake_upstream: FakeUpstream,
    receiver: OtlpReceiver,  # set up before the gateway, so it outlives the last export
    inprocess_gateway: InProcessFactory,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = traced_config(fake_upstream, receiver.endpoint)
    config["logging"] = {"include_content": True}
    gw, memory = start(inprocess_gateway, config, monkeypatch)
    fake_upstream.set("m1", ok(reply="one two three four five", chunks=5))
    response = post(gw, stream=True)
    assert response.status_code == 200
    server, attempt = sorted(finished(gw, memory, 2), key=lambda s: s.kind is SpanKind.CLIENT)
    assert server.attributes is not None and attempt.attributes is not None
    assert server.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert server.attributes["gateway.stream"] is True
    assert server.attributes["gen_ai.usage.output_tokens"] == 7
    assert attempt.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    # The attempt's span covers the whole stream, within the request's.
    assert attempt.end_time is not None and server.end_time is not None
    assert attempt.end_time <= server.end_time
    assert server.parent is None  # no traceparent: a new trace

    (event,) = server.events
    assert event.name == "gen_ai.client.inference.operation.details"
    assert event.attributes is not None
    assert json.loads(str(event.attributes["gen_ai.input.messages"])) == MESSAGES

    # Non-stream: the reply too.
    memory.clear()
    fake_upstream.set("m1", ok(reply="the answer"))
    assert post(gw).status_code == 200
    server = next(s for s in finished(gw, memory, 2) if s.kind is SpanKind.SERVER)
    (event,) = server.events
    assert event.attributes is not None
    assert json.loads(str(event.attributes["gen_ai.output.messages"])) == ["the answer"]


def test_an_embeddings_request_is_an_embeddings_span_with_its_usage_and_cost(
    fake_upstream: FakeUpstream,
    receiver: OtlpReceiver,  # set up before the gateway, so it outlives the last export
    inprocess_gateway: InProcessFactory,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = traced_config(fake_upstream, receiver.endpoint)
    config["models"]["e1"] = {
        "provider": "fake",
        "type": "embeddings",
        "price": {"input": 0.02, "output": 0.0},
    }
    config["routes"]["embed"] = {"pool": ["e1"]}
    gw, memory = start(inprocess_gateway, config, monkeypatch)
    response = httpx.post(
        gw.base_url + "/embeddings",
        json={"model": "embed", "input": ["one", "two"]},
        headers={"Authorization": f"Bearer {INBOUND_KEY}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    server, attempt = sorted(finished(gw, memory, 2), key=lambda s: s.kind is SpanKind.CLIENT)
    assert (server.name, server.kind) == ("embeddings embed", SpanKind.SERVER)
    assert (attempt.name, attempt.kind) == ("embeddings e1", SpanKind.CLIENT)
    assert attempt.parent is not None and attempt.parent.span_id == hex_to_int(server)
    tokens = response.json()["usage"]["prompt_tokens"]
    assert server.attributes is not None and attempt.attributes is not None
    assert server.attributes["gen_ai.operation.name"] == "embeddings"
    assert server.attributes["gen_ai.request.model"] == "embed"
    assert server.attributes["gen_ai.response.model"] == "e1"
    assert server.attributes["gen_ai.usage.input_tokens"] == tokens
    assert server.attributes["gateway.cost_pico_usd"] == tokens * 20_000  # $0.02/M, exact
    assert "gen_ai.response.finish_reasons" not in server.attributes  # embeddings have none
    assert attempt.attributes["gen_ai.operation.name"] == "embeddings"
    assert attempt.attributes["gateway.attempt.outcome"] == "success"
    sent = {k.lower(): v for k, v in fake_upstream.hits("e1")[-1].headers.items()}
    assert sent["traceparent"] == f"00-{hex_ids(attempt)[0]}-{hex_ids(attempt)[1]}-01"


def test_a_messages_request_traces_its_anthropic_attempt(
    fake_upstream: FakeUpstream,
    fake_anthropic: FakeAnthropic,
    receiver: OtlpReceiver,  # set up before the gateway, so it outlives the last export
    inprocess_gateway: InProcessFactory,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Messages door, served by an Anthropic member, through the real SDK."""
    config = messages_config(fake_anthropic, fake_upstream.base_url)
    config["tracing"] = {"enabled": True, "endpoint": receiver.endpoint}
    monkeypatch.setenv("ANTHROPIC_TEST_KEY", ANTHROPIC_KEY)
    gw, memory = start(inprocess_gateway, config, monkeypatch)
    client = anthropic.Anthropic(base_url=gw.url, api_key=CLIENT_KEY, max_retries=0)
    traceparent = f"00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"
    reply = client.messages.create(
        model="sonnet",
        max_tokens=64,
        messages=[{"role": "user", "content": "hello"}],
        extra_headers={"traceparent": traceparent},
    )
    server, attempt = sorted(finished(gw, memory, 2), key=lambda s: s.kind is SpanKind.CLIENT)
    assert server.name == "chat sonnet" and hex_ids(server)[0] == TRACE_ID
    assert server.parent is not None and f"{server.parent.span_id:016x}" == CLIENT_SPAN_ID
    assert attempt.name == "chat claude-sonnet-4-5"
    assert server.attributes is not None and attempt.attributes is not None
    assert server.attributes["gen_ai.provider.name"] == "anthropic"
    assert attempt.attributes["gen_ai.provider.name"] == "anthropic"
    assert server.attributes["gen_ai.usage.output_tokens"] == reply.usage.output_tokens
    # Anthropic's stop_reason, as the conventions take a provider's own finish reason.
    assert server.attributes["gen_ai.response.finish_reasons"] == (reply.stop_reason,)
    assert attempt.attributes["gen_ai.response.finish_reasons"] == (reply.stop_reason,)
    sent = fake_anthropic.hits()[-1].headers
    assert sent["traceparent"] == f"00-{TRACE_ID}-{hex_ids(attempt)[1]}-01"
    assert CLIENT_KEY not in json.dumps(sent)  # the client's key stays at the gateway

    # A stream: the native events pass through, and their stop_reason is still found.
    with client.messages.stream(
        model="sonnet", max_tokens=64, messages=[{"role": "user", "content": "again"}]
    ) as stream:
        final = stream.get_final_message()
    spans = finished(gw, memory, 4)
    servers = [s for s in spans if s.kind is SpanKind.SERVER]
    streamed = next(s for s in servers if (s.attributes or {}).get("gateway.stream"))
    assert streamed.attributes is not None and len(servers) == 2
    assert streamed.attributes["gen_ai.response.finish_reasons"] == (final.stop_reason,)


def hex_to_int(span: ReadableSpan) -> int:
    return int(hex_ids(span)[1], 16)


def test_errors_and_unsampled_requests(
    fake_upstream: FakeUpstream,
    receiver: OtlpReceiver,  # set up before the gateway, so it outlives the last export
    inprocess_gateway: InProcessFactory,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = traced_config(fake_upstream, receiver.endpoint, sample_ratio=0.0)
    config["resilience"]["cooldown_s"] = 0  # the failed members serve again at once
    gw, memory = start(inprocess_gateway, config, monkeypatch)
    fake_upstream.set("m1", error(503))
    fake_upstream.set("m2", error(503))

    # A sampled parent is followed even at ratio 0; every member failing is an error.
    response = post(gw, {"traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"})
    assert response.status_code == 503
    server = next(s for s in finished(gw, memory, 3) if s.kind is SpanKind.SERVER)
    assert server.status.status_code is StatusCode.ERROR
    assert server.attributes is not None
    assert server.attributes["error.type"] == "no_member_available"

    # A new trace at ratio 0 records nothing, and still tells the upstream it is unsampled.
    memory.clear()
    fake_upstream.set("m1", ok())
    before = len(fake_upstream.hits())
    assert post(gw).status_code == 200
    sent = {k.lower(): v for k, v in fake_upstream.hits()[before].headers.items()}
    version, _, _, flags = sent["traceparent"].split("-")
    assert version == "00" and int(flags, 16) & 1 == 0  # the sampled bit is off
    gw.wait_for_records(2)
    assert exported(gw, memory) == []

    # A malformed traceparent starts a new trace (sampled by ratio 0 here: not recorded).
    memory.clear()
    assert post(gw, {"traceparent": "00-not-a-trace-01"}).status_code == 200
    gw.wait_for_records(3)
    assert exported(gw, memory) == []

    # A request refused before routing still gets its span (and its error).
    response = httpx.post(
        gw.base_url + "/chat/completions",
        json={"model": "chat", "messages": MESSAGES},
        headers={"traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"},
    )
    assert response.status_code == 401
    (refused,) = finished(gw, memory, 1)
    assert refused.name == "chat" and refused.attributes is not None
    assert refused.attributes["error.type"] == "invalid_api_key"
    assert refused.status.status_code is StatusCode.UNSET  # the client's error, not ours


def test_a_triage_route_traces_its_classification(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
    receiver: OtlpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.support.triage_configs import QUESTION, triage_config

    fake_upstream.set("judge", ok('{"tier": "complex"}'))
    config = triage_config(fake_upstream.base_url)
    config["tracing"] = {"enabled": True, "endpoint": receiver.endpoint}
    gw, memory = start(inprocess_gateway, config, monkeypatch)
    response = httpx.post(
        gw.base_url + "/chat/completions",
        json={"model": "assistant", "messages": [{"role": "user", "content": QUESTION}]},
        timeout=10,
    )
    assert response.status_code == 200 and response.headers["x-gateway-tier"] == "complex"
    # The request, the classification, the classifier's attempt and the answer's.
    spans = {span.name: span for span in finished(gw, memory, 4)}
    request = spans["chat assistant"]
    classify = spans["triage classify"]
    assert classify.parent is not None and classify.parent.span_id == request.context.span_id
    assert classify.attributes is not None and request.attributes is not None
    assert classify.attributes["gateway.tier"] == "complex"
    assert classify.attributes["gateway.tier_reason"] == "classifier"
    assert request.attributes["gateway.tier"] == "complex"
    assert request.attributes["gateway.tier_reason"] == "classifier"
    judge, answer = spans["chat judge"], spans["chat sonnet"]
    assert judge.kind is SpanKind.CLIENT and answer.kind is SpanKind.CLIENT
    assert judge.parent is not None and answer.parent is not None
    assert judge.parent.span_id in (classify.context.span_id, request.context.span_id)
    assert answer.parent.span_id == request.context.span_id


def test_a_client_trace_that_is_not_sampled_stays_unrecorded(
    fake_upstream: FakeUpstream,
    receiver: OtlpReceiver,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Full sampling of new traces, but the client's own decision wins for its trace.
    gw, memory = start(
        inprocess_gateway, traced_config(fake_upstream, receiver.endpoint), monkeypatch
    )
    fake_upstream.set("m1", ok())
    response = post(gw, {"traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN_ID}-00"})
    assert response.status_code == 200
    gw.wait_for_records(1)
    assert exported(gw, memory) == []
    sent = {k.lower(): v for k, v in fake_upstream.hits()[-1].headers.items()}
    version, trace_id, span_id, flags = sent["traceparent"].split("-")
    # The client's trace goes on upstream, from a span id of the gateway's own.
    assert (version, trace_id, flags) == ("00", TRACE_ID, "00")
    assert span_id not in (CLIENT_SPAN_ID, "0" * 16)
