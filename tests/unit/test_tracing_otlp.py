"""The hand-written OTLP encoder against protobuf's own: every message it writes is
compared byte for byte with what opentelemetry-proto serializes for the same content,
and decoded back where a value is transformed (a lone surrogate, a dropped value)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Status
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from gateway.observability.tracing.otlp import SpanEncoder
from gateway.observability.tracing.spans import CLIENT, INTERNAL, SERVER, Block, Span

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7
PARENT_ID = 0x0102030405060708
START, END = 1_700_000_000_123_456_789, 1_700_000_000_223_456_789
RESOURCE = {"service.name": "gateway-test", "telemetry.sdk.language": "python", "pid": 42}


def any_value(value: Any) -> AnyValue:
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if value is None:
        return AnyValue()
    return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))


def key_values(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attributes.items()]


def span(
    attributes: dict[str, Any] | None = None,
    *,
    kind: int = SERVER,
    parent_id: int = 0,
    remote: bool = False,
    trace_state: str = "",
    name: str = "chat summarize",
) -> Span:
    recorded = Span(
        name, kind, TRACE_ID, SPAN_ID, parent_id, remote, trace_state, attributes or {}, print
    )
    recorded.start_time, recorded.end_time = START, END
    return recorded


def expected(recorded: Span, **fields: Any) -> PbSpan:
    """The protobuf of ``recorded``; ``fields`` replaces what the test knows better."""
    flags = 0x101 | (0x200 if recorded.parent_remote else 0)
    message = {
        "trace_id": TRACE_ID.to_bytes(16, "big"),
        "span_id": SPAN_ID.to_bytes(8, "big"),
        "trace_state": recorded.trace_state,
        "parent_span_id": recorded.parent_id.to_bytes(8, "big") if recorded.parent_id else b"",
        "name": recorded.name,
        "kind": recorded.kind,
        "start_time_unix_nano": START,
        "end_time_unix_nano": END,
        "attributes": key_values(recorded.attributes),
        "status": Status(),
        "flags": flags,
        **fields,
    }
    return PbSpan(**message)


def encoded_span(encoder: SpanEncoder, recorded: Span) -> bytes:
    """The span alone, as protobuf would serialize it (without ScopeSpans' field tag)."""
    scope_spans = ScopeSpans.FromString(encoder.span(recorded))
    (only,) = scope_spans.spans
    return only.SerializeToString()


VALUES: list[tuple[str, Any]] = [
    ("text", "plain"),
    ("empty", ""),
    ("unicode", "héllo ✓ 日本語 🚀"),
    ("long", "x" * 300),  # lengths of two varint bytes
    ("true", True),
    ("false", False),
    ("zero", 0),
    ("small", 7),
    ("large", 2**40 + 3),
    ("negative", -5),
    ("int64 min", -(2**63)),
    ("int64 max", 2**63 - 1),
    ("float", 1.5),
    ("negative float", -1e-300),
    ("bytes", b"\x00\xff"),
    ("strings", ["stop", "length"]),
    ("string tuple", ("stop",)),
    ("ints", (1, -2, 3)),
    ("bools", [True, False]),
    ("floats", [0.25, 2.0]),
    ("empty list", []),
    ("with a none", ["a", None]),
]


@pytest.mark.parametrize(("key", "value"), VALUES, ids=[key for key, _ in VALUES])
def test_each_value_type_as_protobuf_writes_it(key: str, value: Any) -> None:
    encoder = SpanEncoder(RESOURCE, "gateway")
    recorded = span({key: value})
    assert encoded_span(encoder, recorded) == expected(recorded).SerializeToString()
    # A second time, from the memo: the same bytes.
    assert encoded_span(encoder, recorded) == expected(recorded).SerializeToString()


def test_equal_values_of_other_types_are_not_mixed_up_by_the_memo() -> None:
    encoder = SpanEncoder(RESOURCE, "gateway")
    # True == 1 == 1.0 and (True,) == (1,): each keeps its own type.
    for value in (1, True, 1.0, "1", (1,), (True,), ("1",), 1, True):
        recorded = span({"k": value})
        assert encoded_span(encoder, recorded) == expected(recorded).SerializeToString(), value


def test_what_otlp_cannot_hold_is_dropped_or_replaced() -> None:
    encoder = SpanEncoder(RESOURCE, "gateway")
    recorded = span(
        {
            "too big": 2**63,
            "object": object(),
            "mapping": {"a": 1},
            "mixed with a mapping": ["a", {"b": 1}],
            "kept": "yes",
            "surrogate": "a\ud800b",
        }
    )
    decoded = PbSpan.FromString(encoded_span(encoder, recorded))
    assert {a.key: a.value for a in decoded.attributes} == {
        "kept": AnyValue(string_value="yes"),
        "surrogate": AnyValue(string_value="a?b"),
    }


def test_parents_trace_state_status_events_and_kinds() -> None:
    encoder = SpanEncoder(RESOURCE, "gateway")
    remote = span({"a": 1}, parent_id=PARENT_ID, remote=True, trace_state="vendor=abc,x=1")
    assert encoded_span(encoder, remote) == expected(remote).SerializeToString()
    decoded = PbSpan.FromString(encoded_span(encoder, remote))
    assert decoded.flags == 0x301 and decoded.trace_state == "vendor=abc,x=1"

    local = span(kind=CLIENT, parent_id=PARENT_ID, name="chat gpt-4o-mini")
    assert encoded_span(encoder, local) == expected(local).SerializeToString()

    failed = span({"error.type": "upstream_5xx"}, kind=INTERNAL)
    failed.set_error("upstream_5xx")
    failed.events = [
        ("gen_ai.client.inference.operation.details", END - 5, {"n": 2}),
        ("bare", END - 1, {}),
    ]
    events = [
        PbSpan.Event(
            time_unix_nano=END - 5,
            name="gen_ai.client.inference.operation.details",
            attributes=key_values({"n": 2}),
        ),
        PbSpan.Event(time_unix_nano=END - 1, name="bare"),
    ]
    status = Status(code=Status.STATUS_CODE_ERROR, message="upstream_5xx")
    wanted = expected(failed, status=status, events=events)
    assert encoded_span(encoder, failed) == wanted.SerializeToString()


def test_a_block_comes_before_the_spans_own_attributes() -> None:
    encoder = SpanEncoder(RESOURCE, "gateway")
    block = Block({"gen_ai.operation.name": "chat", "gateway.attempts": 2, "gateway.stream": True})
    first = span({"gateway.request_id": "r1", "gen_ai.usage.input_tokens": 10})
    second = span({"gateway.request_id": "r2"})
    for recorded in (first, second):
        recorded.block = block
        both = {**block.attributes, **recorded.attributes}
        wanted = expected(recorded, attributes=key_values(both))
        assert encoded_span(encoder, recorded) == wanted.SerializeToString()
    assert block.encoded is not None  # written once, kept


def test_exact_attributes_come_between_the_block_and_the_others() -> None:
    encoder = SpanEncoder(RESOURCE, "gateway")
    block = Block({"gen_ai.operation.name": "chat"})
    # Earlier spans fill the memo with values equal to, but not of the type of, the
    # exact ones below (True == 1, 7.0 == 7); and with a long id, which it never keeps.
    for value in (True, 7.0, "req_" + "a" * 24):
        encoded_span(encoder, span({"gen_ai.usage.input_tokens": value}))
    for tokens in (1, 7, 1, 2**40, 2**63):  # the last is beyond int64: dropped
        recorded = span({"gateway.tier": "simple"})
        recorded.block = block
        recorded.exact = {
            "gateway.request_id": "req_" + "b" * 24,
            "gen_ai.usage.input_tokens": tokens,
        }
        kept = {k: v for k, v in recorded.exact.items() if v != 2**63}
        wanted = expected(
            recorded, attributes=key_values({**block.attributes, **kept, "gateway.tier": "simple"})
        )
        assert encoded_span(encoder, recorded) == wanted.SerializeToString(), tokens


def test_a_request_is_the_resource_the_scope_and_the_spans() -> None:
    encoder = SpanEncoder(RESOURCE, "gateway")
    spans = [span({"i": i}) for i in range(3)]
    big = span({"prompt": "y" * 20_000})  # a span longer than two varint bytes hold
    spans.append(big)
    body = encoder.request([encoder.span(s) for s in spans])
    wanted = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=key_values(RESOURCE)),
                scope_spans=[
                    ScopeSpans(
                        scope=InstrumentationScope(name="gateway"),
                        spans=[expected(s) for s in spans],
                    )
                ],
            )
        ]
    )
    assert body == wanted.SerializeToString()
    assert ExportTraceServiceRequest.FromString(body) == wanted
