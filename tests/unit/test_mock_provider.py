"""The built-in ``mock`` provider: deterministic answers, streams, injected failures."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from gateway.config.schema import MockFailure, MockSection, ProviderSection
from gateway.providers.base import UpstreamRequest, UpstreamStreamBroken
from gateway.providers.mock import MockProvider

REPLY = "one two three four five six seven"


def provider(**mock: Any) -> MockProvider:
    mock.setdefault("reply", REPLY)
    return MockProvider("mock", ProviderSection(kind="mock", mock=MockSection(**mock)))


def chat(content: str = "hello", *, stream: bool = False, **extra: Any) -> UpstreamRequest:
    body = {"model": "mock-1", "messages": [{"role": "user", "content": content}], **extra}
    if stream:
        body["stream"] = True
    return UpstreamRequest(body, stream, "req_test")


def sse_payloads(data: bytes) -> list[Any]:
    out: list[Any] = []
    for block in data.split(b"\n\n"):
        if block:
            assert block.startswith(b"data: ")
            raw = block[6:]
            out.append("[DONE]" if raw == b"[DONE]" else json.loads(raw))
    return out


async def test_non_streaming_answer_is_deterministic() -> None:
    mock = provider()
    first = await mock.send(chat("hello"))
    assert first.status == 200
    assert first.headers["Content-Type"] == "application/json"
    one = json.loads(await first.read())
    two = json.loads(await (await mock.send(chat("hello"))).read())
    other = json.loads(await (await mock.send(chat("something else"))).read())
    assert one["object"] == "chat.completion"
    assert one["model"] == "mock-1"
    assert one["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": REPLY}, "finish_reason": "stop"}
    ]
    assert one["id"] == two["id"] and one["id"].startswith("chatcmpl-mock-")
    assert other["id"] != one["id"]
    assert one["usage"] == two["usage"]
    usage = one["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert other["usage"]["prompt_tokens"] > usage["prompt_tokens"]


async def test_stream_without_usage() -> None:
    mock = provider(chunks=3)
    response = await mock.send(chat(stream=True))
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    chunks = [c async for c in response.iter_chunks()]
    events = sse_payloads(b"".join(chunks))
    assert events[-1] == "[DONE]"
    deltas = [e["choices"][0]["delta"] for e in events[:-1]]
    assert deltas[0]["role"] == "assistant"
    assert "".join(d.get("content", "") for d in deltas) == REPLY
    assert len([d for d in deltas if d.get("content")]) == 3
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in e for e in events[:-1])
    assert all(e["object"] == "chat.completion.chunk" for e in events[:-1])
    assert len({e["id"] for e in events[:-1]}) == 1


async def test_stream_with_include_usage_ends_with_usage_chunk() -> None:
    mock = provider(chunks=4)
    request = chat(stream=True, stream_options={"include_usage": True})
    events = sse_payloads(await (await mock.send(request)).read())
    assert events[-1] == "[DONE]"
    usage_event = events[-2]
    assert usage_event["choices"] == []
    buffered = json.loads(await (await mock.send(chat())).read())
    assert usage_event["usage"] == buffered["usage"]


async def test_more_pieces_than_words() -> None:
    mock = provider(reply="short", chunks=10)
    events = sse_payloads(await (await mock.send(chat(stream=True))).read())
    contents = [e["choices"][0]["delta"].get("content") for e in events[:-1]]
    assert [c for c in contents if c] == ["short"]


@pytest.mark.parametrize(
    ("status", "type_"),
    [(429, "rate_limit_error"), (503, "server_error"), (400, "invalid_request_error")],
)
async def test_injected_failure_with_retry_after(status: int, type_: str) -> None:
    mock = provider(failure=MockFailure(status=status, retry_after_s=2.5, message="slow down"))
    for stream in (False, True):
        response = await mock.send(chat(stream=stream))
        assert response.status == status
        assert response.headers["Retry-After"] == "2.5"
        assert response.headers["retry-after-ms"] == "2500"
        assert response.headers["Content-Type"] == "application/json"
        error = json.loads(await response.read())["error"]
        assert error["message"] == "slow down"
        assert error["type"] == type_
        assert set(error) == {"message", "type", "param", "code"}
        assert error["code"] == ("rate_limit_exceeded" if status == 429 else f"mock_{status}")


async def test_injected_failure_without_retry_after() -> None:
    mock = provider(failure=MockFailure(status=500))
    response = await mock.send(chat())
    assert response.status == 500
    assert "Retry-After" not in response.headers
    assert json.loads(await response.read())["error"]["message"] == "injected failure"


async def test_failure_every_nth_call() -> None:
    mock = provider(failure=MockFailure(status=503, every=3))
    statuses = [(await mock.send(chat())).status for _ in range(6)]
    assert statuses == [200, 200, 503, 200, 200, 503]


async def test_broken_stream_raises_after_n_chunks() -> None:
    mock = provider(chunks=5, break_stream_after=2)
    response = await mock.send(chat(stream=True))
    assert response.status == 200
    received: list[bytes] = []
    with pytest.raises(UpstreamStreamBroken):
        async for chunk in response.iter_chunks():
            received.append(chunk)
    assert len(received) == 2
    assert b"[DONE]" not in b"".join(received)


async def test_close_stops_the_stream() -> None:
    mock = provider(chunks=5)
    response = await mock.send(chat(stream=True))
    received = []
    async for chunk in response.iter_chunks():
        received.append(chunk)
        response.close()
    assert len(received) == 1


async def test_latency_is_applied() -> None:
    mock = provider(latency_ms=50)
    started = time.perf_counter()
    response = await mock.send(chat())
    assert time.perf_counter() - started >= 0.045
    assert response.status == 200


def test_mock_provider_without_section_uses_defaults() -> None:
    mock = MockProvider("m", ProviderSection(kind="mock"))
    assert mock.options == MockSection()
    assert mock.kind == "mock"


async def test_read_chunk_walks_the_same_stream_and_ends_with_empty_bytes() -> None:
    # The relay reads with read_chunk(); generator-written responses get it for free.
    expected = [c async for c in (await provider(chunks=3).send(chat(stream=True))).iter_chunks()]
    response = await provider(chunks=3).send(chat(stream=True))
    got = []
    while chunk := await response.read_chunk():
        got.append(chunk)
    assert got == expected and len(got) > 3
    assert await response.read_chunk() == b""
