"""Whether and where to trace: the ``tracing:`` section under the standard ``OTEL_*``
variables; and the pieces that need no running gateway."""

from __future__ import annotations

import pytest

from gateway.config.loader import ConfigError, load_config_text
from gateway.config.schema import TracingSection
from gateway.observability.tracing.settings import tracing_settings
from gateway.observability.tracing.trace import FinishReasonScanner, finish_reasons

ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"


def test_off_by_default_and_on_by_the_section() -> None:
    assert tracing_settings(TracingSection(), {}) is None
    on = tracing_settings(TracingSection(enabled=True, endpoint="http://collector:4318/"), {})
    assert on is not None
    assert on.endpoint == "http://collector:4318/v1/traces"
    assert on.service_name == "llm-gateway" and on.sample_ratio == 1.0
    assert on.headers is None


def test_the_standard_variables_win() -> None:
    env = {
        ENDPOINT: "http://otel:4318",
        "OTEL_SERVICE_NAME": "edge",
        "OTEL_TRACES_SAMPLER": "traceidratio",
    }
    settings = tracing_settings(TracingSection(sample_ratio=0.5, service_name="gw"), env)
    assert settings is not None
    # None: the SDK reads these variables itself.
    assert settings.endpoint is None
    assert settings.service_name is None
    assert settings.sample_ratio is None
    traces_only = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://otel:4318/v1/traces"}
    assert tracing_settings(TracingSection(), traces_only) is not None
    # An explicit `enabled: false` and OTEL_SDK_DISABLED both turn it off.
    assert tracing_settings(TracingSection(enabled=False), env) is None
    assert tracing_settings(TracingSection(enabled=True), {"OTEL_SDK_DISABLED": "true"}) is None


def test_tracing_config_errors_name_their_path() -> None:
    text = """
tracing:
  endpoint: collector:4318
  sample_ratio: 2
  headers: {"bad header": x}
  exporter: zipkin
"""
    with pytest.raises(ConfigError) as raised:
        load_config_text(text)
    problems = raised.value.problems
    for path in ("tracing.endpoint", "tracing.sample_ratio", "tracing.headers", "tracing.exporter"):
        assert any(p.startswith(path + ":") for p in problems), (path, problems)


def test_finish_reasons_are_found_across_reads() -> None:
    body = b'{"choices":[{"finish_reason":"stop"},{"finish_reason": "length"}]}'
    assert finish_reasons(body) == ["stop", "length"]
    assert finish_reasons(b'{"choices":[{"finish_reason":null}]}') == []
    assert finish_reasons(b'{"choices":[{"finish_reason":"stop"}]}') == ["stop"]
    event = b'data: {"choices":[{"delta":{},"finish_reason":"tool_calls"}]}\n\n'
    for cut in range(1, len(event)):
        scanner = FinishReasonScanner()
        scanner.feed(b'data: {"choices":[{"delta":{"content":"x"},"finish_reason":null}]}\n\n')
        scanner.feed(event[:cut])
        scanner.feed(event[cut:])
        scanner.feed(b"data: [DONE]\n\n")
        assert scanner.reasons == ["tool_calls"], cut


def test_anthropic_stop_reasons_are_found_in_bodies_and_streams() -> None:
    assert finish_reasons(b'{"type":"message","stop_reason":"end_turn"}') == ["end_turn"]
    assert finish_reasons(b'{"type":"message","stop_reason":null}') == []
    # OpenAI's name wins where both appear (a chat answer quoting neither as a key).
    assert finish_reasons(b'{"choices":[{"finish_reason":"stop"}],"stop_reason":"x"}') == ["stop"]
    start = b'event: message_start\ndata: {"message":{"stop_reason":null}}\n\n'
    delta = b'event: message_delta\ndata: {"delta":{"stop_reason":"max_tokens"}}\n\n'
    for cut in range(1, len(delta)):
        scanner = FinishReasonScanner()
        scanner.feed(start)
        scanner.feed(delta[:cut])
        scanner.feed(delta[cut:])
        scanner.feed(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
        assert scanner.reasons == ["max_tokens"], cut


def test_tracing_on_without_the_extra_is_a_pointed_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from gateway.app import build_tracing

    # As if the `otel` extra were not installed: the import of the runtime fails.
    monkeypatch.setitem(sys.modules, "gateway.observability.tracing.runtime", None)
    config = load_config_text("tracing: {enabled: true}\n")
    with pytest.raises(ConfigError, match=r"llm-gateway\[otel\]"):
        build_tracing(config)


def test_a_stage_span_is_a_child_of_the_request_span() -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, StatusCode

    from gateway.observability.record import RequestRecord
    from gateway.observability.tracing.hooks import stage_span
    from gateway.observability.tracing.runtime import Tracing

    untraced = RequestRecord(request_id="r0", started=0.0)
    with stage_span(untraced, "triage classify") as nothing:
        assert nothing is None

    memory = InMemorySpanExporter()
    settings = tracing_settings(TracingSection(enabled=True), {})
    assert settings is not None
    tracing = Tracing(settings, exporter=memory)
    record = RequestRecord(request_id="r1", started=0.0, route="tiered")
    tracing.begin(record, {})
    with stage_span(record, "triage classify", {"gateway.route": "tiered"}) as span:
        assert span is not None
        span.set_attribute("gateway.tier", "simple")
    with pytest.raises(TimeoutError), stage_span(record, "triage classify"):
        raise TimeoutError
    tracing.requests.on_request_done(record)
    assert tracing.flush(5)
    ok, failed, server = memory.get_finished_spans()
    assert server.kind is SpanKind.SERVER and ok.kind is SpanKind.INTERNAL
    for child in (ok, failed):
        assert child.parent is not None and child.parent.span_id == server.context.span_id
    assert dict(ok.attributes or {}) == {"gateway.route": "tiered", "gateway.tier": "simple"}
    assert failed.status.status_code is StatusCode.ERROR
    assert (failed.attributes or {})["error.type"] == "TimeoutError"
    tracing.shutdown()


def test_a_reloaded_snapshot_keeps_the_traced_attempt_loop() -> None:
    from gateway.observability.tracing.runtime import Tracing
    from gateway.resilience.attempts import AttemptRunner
    from gateway.runtime import build_snapshot
    from gateway.state.memory import MemoryStateStore

    config = load_config_text("providers: {m: {kind: mock}}\nroutes: {}\n")
    state = MemoryStateStore()
    plain = build_snapshot(config, state)
    assert type(plain.runner) is AttemptRunner
    assert type(build_snapshot(config, state, previous=plain).runner) is AttemptRunner

    settings = tracing_settings(TracingSection(enabled=True), {})
    assert settings is not None
    tracing = Tracing(settings)
    traced = build_snapshot(config, state, make_runner=tracing.attempt_runner)
    reloaded = build_snapshot(config, state, previous=traced)
    assert traced.runner.hook is tracing.attempts
    assert reloaded.runner.hook is tracing.attempts
    assert plain.runner.hook is None
    tracing.shutdown()


def test_a_cache_hit_is_told_on_the_request_span() -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from gateway.observability.record import RequestRecord
    from gateway.observability.tracing.runtime import Tracing

    memory = InMemorySpanExporter()
    settings = tracing_settings(TracingSection(enabled=True), {})
    assert settings is not None
    tracing = Tracing(settings, exporter=memory)
    for cache, saved in (("hit", 73_500_000), ("off", 0)):
        record = RequestRecord(request_id=cache, started=0.0, route="chat", status=200)
        tracing.begin(record, {})
        record.cache, record.saved_cost_pico_usd = cache, saved
        tracing.requests.on_request_done(record)
    assert tracing.flush(5)
    hit, plain = (dict(span.attributes or {}) for span in memory.get_finished_spans())
    assert hit["gateway.cache"] == "hit"
    assert hit["gateway.saved_cost_pico_usd"] == 73_500_000
    assert hit["gateway.attempts"] == 0 and "error.type" not in hit
    assert "gateway.cache" not in plain and "gateway.saved_cost_pico_usd" not in plain
    tracing.shutdown()
