"""``StreamRelay``: whole events forwarded as they complete, usage read on the way,
and the usage the gateway asked for on the client's behalf stripped again."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.doors.chat.stream import StreamRelay, error_event
from gateway.observability.record import Usage
from gateway.providers.sse import has_event_end, last_event_end

USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 5,
    "total_tokens": 17,
    "prompt_tokens_details": {"cached_tokens": 4},
}
BASE = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def event(payload: dict[str, Any], *, sep: bytes = b"\n\n", space: bool = False) -> bytes:
    separators = (", ", ": ") if space else (",", ":")
    return b"data: " + json.dumps(payload, separators=separators).encode() + sep


def content(text: str, *, usage_null: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {
        **BASE,
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }
    if usage_null:
        payload["usage"] = None
    return payload


def stream(*, usage_null: bool = True, sep: bytes = b"\n\n", space: bool = False) -> bytes:
    events = [
        event(content("Hello", usage_null=usage_null), sep=sep, space=space),
        event(content(" world", usage_null=usage_null), sep=sep, space=space),
        event({**BASE, "choices": [], "usage": USAGE}, sep=sep, space=space),
        b"data: [DONE]" + sep,
    ]
    return b"".join(events)


def relay_all(relay: StreamRelay, data: bytes, size: int) -> bytes:
    out = b"".join(relay.feed(data[i : i + size]) for i in range(0, len(data), size))
    return out + relay.finish()


def payloads(data: bytes) -> list[Any]:
    """The ``data:`` payloads of an SSE byte stream, JSON-decoded where possible."""
    out: list[Any] = []
    for block in data.replace(b"\r\n", b"\n").split(b"\n\n"):
        if not block.strip():
            continue
        assert block.startswith(b"data: "), block
        raw = block[6:]
        out.append(raw.decode() if raw == b"[DONE]" else json.loads(raw))
    return out


EXPECTED_USAGE = Usage(input_tokens=12, output_tokens=5, cached_tokens=4)


@pytest.mark.parametrize("size", [1, 2, 7, 64, 10_000])
def test_pass_through_is_byte_identical_and_reads_usage(size: int) -> None:
    data = stream()
    relay = StreamRelay(strip_usage=False)
    assert relay_all(relay, data, size) == data
    assert relay.usage == EXPECTED_USAGE
    assert relay.saw_done


@pytest.mark.parametrize("size", [1, 3, 50, 10_000])
def test_strip_removes_usage_chunk_and_null_fields(size: int) -> None:
    relay = StreamRelay(strip_usage=True)
    out = relay_all(relay, stream(), size)
    assert b"usage" not in out
    events = payloads(out)
    assert events[-1] == "[DONE]"
    texts = [e["choices"][0]["delta"]["content"] for e in events[:-1]]
    assert texts == ["Hello", " world"]
    assert relay.usage == EXPECTED_USAGE
    assert relay.saw_done


def test_strip_handles_spaced_json() -> None:
    relay = StreamRelay(strip_usage=True)
    out = relay_all(relay, stream(space=True), 5)
    assert b"usage" not in out
    assert len(payloads(out)) == 3
    assert relay.usage == EXPECTED_USAGE


def test_only_complete_events_are_forwarded() -> None:
    relay = StreamRelay(strip_usage=False)
    first = event(content("Hello", usage_null=False))
    assert relay.feed(first[:10]) == b""
    assert relay.feed(first[10:-1]) == b""
    assert relay.feed(first[-1:]) == first


def test_usage_split_across_chunk_boundaries_is_read() -> None:
    usage_event = event({**BASE, "choices": [], "usage": USAGE})
    cut = usage_event.index(b'"usage"') + 3  # inside the marker itself
    relay = StreamRelay(strip_usage=False)
    assert relay.feed(usage_event[:cut]) == b""
    assert relay.usage is None
    assert relay.feed(usage_event[cut:]) == usage_event
    assert relay.usage == EXPECTED_USAGE


def test_usage_in_a_content_chunk_is_kept_but_field_removed_when_stripping() -> None:
    # Some upstreams put usage on the last chunk that still has choices.
    last = {
        **BASE,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": USAGE,
    }
    data = event(content("Hi", usage_null=True)) + event(last) + b"data: [DONE]\n\n"
    relay = StreamRelay(strip_usage=True)
    events = payloads(relay_all(relay, data, 9))
    assert len(events) == 3
    assert events[1]["choices"][0]["finish_reason"] == "stop"
    assert "usage" not in events[0] and "usage" not in events[1]
    assert relay.usage == EXPECTED_USAGE


def test_client_who_asked_for_usage_keeps_null_fields() -> None:
    relay = StreamRelay(strip_usage=False)
    out = relay_all(relay, stream(), 16)
    assert out.count(b'"usage":null') == 2
    assert payloads(out)[2]["usage"] == USAGE


@pytest.mark.parametrize("size", [1, 5, 10_000])
def test_crlf_events(size: int) -> None:
    data = stream(sep=b"\r\n\r\n")
    relay = StreamRelay(strip_usage=False)
    assert relay_all(relay, data, size) == data
    assert relay.usage == EXPECTED_USAGE
    assert relay.saw_done


@pytest.mark.parametrize("size", [1, 5, 10_000])
def test_crlf_events_with_stripping(size: int) -> None:
    relay = StreamRelay(strip_usage=True)
    out = relay_all(relay, stream(sep=b"\r\n\r\n"), size)
    assert b"usage" not in out
    events = payloads(out)
    assert [e["choices"][0]["delta"]["content"] for e in events[:-1]] == ["Hello", " world"]
    assert events[-1] == "[DONE]"
    assert relay.usage == EXPECTED_USAGE


def test_unterminated_last_event_comes_out_of_finish() -> None:
    relay = StreamRelay(strip_usage=False)
    tail = b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}'
    assert relay.feed(tail) == b""
    assert relay.finish() == tail
    assert relay.usage == Usage(input_tokens=1, output_tokens=2, cached_tokens=0)
    assert not relay.saw_done


def test_stream_without_done_is_noticed() -> None:
    relay = StreamRelay(strip_usage=False)
    relay_all(relay, event(content("Hi", usage_null=False)), 4)
    assert not relay.saw_done


def test_text_mentioning_usage_is_not_touched() -> None:
    text = 'the "usage": {"fee": 1} policy'
    data = event(content(text, usage_null=False)) + b"data: [DONE]\n\n"
    relay = StreamRelay(strip_usage=True)
    out = relay_all(relay, data, 8)
    assert payloads(out)[0]["choices"][0]["delta"]["content"] == text
    assert relay.usage is None


def test_error_event_shape() -> None:
    data = error_event("upstream went away", code="upstream_stream_error")
    events = payloads(data)
    assert events[0] == {
        "error": {
            "message": "upstream went away",
            "type": "server_error",
            "param": None,
            "code": "upstream_stream_error",
        }
    }
    assert events[1] == "[DONE]"


@pytest.mark.parametrize(
    ("data", "end"),
    [
        (b"data: a", -1),
        (b"data: a\n\n", 9),
        (b"data: a\r\n\r\n", 11),
        (b"data: a\n\ndata: b\r\n\r\ndata: c", 20),
        (b"data: a\r\n\r\ndata: b\n\ndata: c", 20),
        (b"data: a\r\n\r", -1),
    ],
)
def test_event_ends_in_both_line_break_styles(data: bytes, end: int) -> None:
    assert last_event_end(data) == end
    assert has_event_end(data) == (end >= 0)
