"""Sampling and trace context as OpenTelemetry decides them: the gateway's plain functions
against the SDK's sampler objects and its W3C propagator, input for input."""

from __future__ import annotations

import random
from typing import Any

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    StaticSampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    TraceFlags,
    get_current_span,
    set_span_in_context,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway.observability.tracing.context import (
    RemoteParent,
    parse_traceparent,
    traceparent_headers,
)
from gateway.observability.tracing.sampling import (
    configured_sampler,
    new_trace_bound,
    sample_function,
)
from gateway.observability.tracing.spans import SERVER, Recorder, Span, UnsampledSpan


def sdk_decides(sampler: Sampler, trace_id: int, parent: RemoteParent | None) -> bool:
    context = Context()
    if parent is not None:
        flags = TraceFlags(TraceFlags.SAMPLED if parent.sampled else TraceFlags.DEFAULT)
        remote = SpanContext(trace_id, parent.span_id, True, flags)
        context = set_span_in_context(NonRecordingSpan(remote))
    result = sampler.should_sample(context, trace_id, "chat", SpanKind.SERVER)
    return result.decision.is_sampled()


class EveryOtherParent(Sampler):
    """A sampler of its own kind: the gateway has to ask it."""

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        parent = get_current_span(parent_context).get_span_context()
        sampled = parent.is_valid and parent.span_id % 2 == 0
        return SamplingResult(Decision.RECORD_AND_SAMPLE if sampled else Decision.DROP)

    def get_description(self) -> str:
        return "EveryOtherParent"


SAMPLERS = {
    "parent-based ratio 0": ParentBased(TraceIdRatioBased(0.0)),
    "parent-based ratio 0.25": ParentBased(TraceIdRatioBased(0.25)),
    "parent-based ratio 1": ParentBased(TraceIdRatioBased(1.0)),
    "ratio 0.5, parent ignored": TraceIdRatioBased(0.5),
    "always on": ALWAYS_ON,
    "always off": ALWAYS_OFF,
    "parent-based off": ParentBased(ALWAYS_OFF),
    "inverted parents": ParentBased(
        ALWAYS_ON, remote_parent_sampled=ALWAYS_OFF, remote_parent_not_sampled=ALWAYS_ON
    ),
    "a sampler of its own": EveryOtherParent(),
}


@pytest.mark.parametrize("sampler", SAMPLERS.values(), ids=SAMPLERS.keys())
def test_the_decision_is_the_sdk_samplers(sampler: Sampler) -> None:
    decide = sample_function(sampler)
    rng = random.Random(7)
    for _ in range(2000):
        trace_id = rng.getrandbits(128) or 1
        parent_id = rng.getrandbits(64) or 1
        for parent in (
            None,
            RemoteParent(trace_id, parent_id, True, ""),
            RemoteParent(trace_id, parent_id, False, ""),
        ):
            assert decide(trace_id, parent) is sdk_decides(sampler, trace_id, parent)
        # The recorder's shortcut for a new trace, where the sampler allows one.
        bound = new_trace_bound(sampler)
        if bound is not None:
            assert (trace_id & (1 << 64) - 1 < bound) is sdk_decides(sampler, trace_id, None)
    assert (new_trace_bound(sampler) is None) == (type(sampler) is EveryOtherParent)


def test_a_ratio_samples_its_share_of_new_traces() -> None:
    decide = sample_function(ParentBased(TraceIdRatioBased(0.25)))
    rng = random.Random(3)
    sampled = sum(decide(rng.getrandbits(128), None) for _ in range(20_000))
    assert 4_500 < sampled < 5_500


def test_the_sampler_comes_from_the_config_or_the_sdks_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configured = configured_sampler(0.5)
    assert isinstance(configured, ParentBased)
    for name in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"):
        monkeypatch.delenv(name, raising=False)
    default = configured_sampler(None)  # parentbased_always_on
    assert isinstance(default, ParentBased)
    assert sample_function(default)(5, None) is True
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.1")
    ratio = configured_sampler(None)
    assert isinstance(ratio, TraceIdRatioBased) and ratio.rate == 0.1
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    off = configured_sampler(None)
    assert isinstance(off, StaticSampler)
    assert sample_function(off)(5, RemoteParent(5, 6, True, "")) is False


def test_children_follow_the_root_and_unsampled_spans_still_carry_ids() -> None:
    finished: list[Span] = []
    recorder = Recorder(lambda trace_id, parent: parent is None, finished.append, seed=b"x")
    root = recorder.root("chat", SERVER, None)
    assert isinstance(root, Span)
    child = recorder.child(root, "chat m", SERVER, {"a": 1})
    assert isinstance(child, Span)
    assert (child.trace_id, child.parent_id) == (root.trace_id, root.span_id)
    child.end()
    child.end()  # the first end counts
    assert finished == [child]

    client = RemoteParent(0xABC, 0xDEF, True, "vendor=1")
    dropped = recorder.root("chat", SERVER, client)  # this sampler drops any child trace
    assert isinstance(dropped, UnsampledSpan) and not dropped.is_recording()
    below = recorder.child(dropped, "chat m", SERVER, {})
    assert isinstance(below, UnsampledSpan)
    assert below.trace_id == 0xABC and below.span_id not in (0, dropped.span_id)
    headers = traceparent_headers(below)
    assert headers == {
        "traceparent": f"00-{0xABC:032x}-{below.span_id:016x}-00",
        "tracestate": "vendor=1",
    }
    below.set_attribute("ignored", 1)
    below.end()
    assert finished == [child]


TRACEPARENTS = [
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",  # other flags kept apart
    " \t00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future",  # a later version
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # 00 has no more
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # upper case
    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short
    "00-not-a-trace-01",
    "",
    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-" + "x" * 600,  # too long
]
TRACESTATES = [None, "vendor=abc", "a=1, b=2 ,", "bad key=1", "a=1,a=2", "k=" + "v" * 600]


@pytest.mark.parametrize("traceparent", TRACEPARENTS)
@pytest.mark.parametrize("tracestate", TRACESTATES)
def test_the_clients_trace_context_is_read_as_the_sdk_reads_it(
    traceparent: str, tracestate: str | None
) -> None:
    carrier = {"traceparent": traceparent}
    if tracestate is not None:
        carrier["tracestate"] = tracestate
    theirs = get_current_span(TraceContextTextMapPropagator().extract(carrier))
    context = theirs.get_span_context()
    ours = parse_traceparent(traceparent, tracestate)
    if not context.is_valid:
        assert ours is None
        return
    assert ours is not None
    assert (ours.trace_id, ours.span_id) == (context.trace_id, context.span_id)
    assert ours.sampled is context.trace_flags.sampled
    assert ours.trace_state == (context.trace_state.to_header() if context.trace_state else "")


def test_an_attempt_that_raised_ends_its_span_as_an_error_named_for_its_member() -> None:
    from types import SimpleNamespace

    from gateway.observability.record import RequestRecord
    from gateway.observability.tracing.attempts import AttemptSpans
    from gateway.observability.tracing.trace import RequestTrace
    from gateway.providers.base import UpstreamRequest
    from gateway.resilience.classify import Outcome

    finished: list[Span] = []
    recorder = Recorder(lambda trace_id, parent: True, finished.append, seed=b"y")
    spans = AttemptSpans(recorder)
    record = RequestRecord(request_id="req_1", started=0.0)
    record.trace = RequestTrace(recorder.root("chat", SERVER, None), recorder)
    provider: Any = SimpleNamespace(kind="anthropic")
    member: Any = SimpleNamespace(upstream_model="claude-x", provider="claude", alias="sonnet")
    request = UpstreamRequest({}, True, "req_1", "chat", headers={"anthropic-version": "1"})

    span = spans.begin(provider, member, request, record)
    assert request.headers is not None and request.headers["anthropic-version"] == "1"
    assert request.headers["traceparent"].endswith(f"-{span.span_id:016x}-01")
    spans.abandon(span, provider, member, record, Outcome.CLIENT_DISCONNECT)

    assert finished == [span] and isinstance(span, Span) and span.block is not None
    assert span.name == "chat claude-x" and span.status_message == "client_disconnect"
    attributes = span.block.attributes
    assert attributes["error.type"] == "client_disconnect"
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert attributes["gateway.attempt"] == 1 and "http.response.status_code" not in attributes
