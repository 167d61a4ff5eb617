"""An instant OpenAI-compatible upstream for benchmarks: raw asyncio, keep-alive.

A canned chat completion, or a 20-event stream (with a usage event when asked); on
Gemini's paths (``…:generateContent``, ``…:streamGenerateContent``) the same answer in
Gemini's shapes.
A model name starting with ``slow`` makes the stream take ``--slow-ms`` per event,
for holding thousands of streams open.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import struct

import uvloop

USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 20,
    "total_tokens": 32,
    "prompt_tokens_details": {"cached_tokens": 4},
}
COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "bench-upstream",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the bench."},
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    },
    separators=(",", ":"),
).encode()


def _event(payload: object) -> bytes:
    data = b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def stream_events(include_usage: bool) -> list[bytes]:
    base = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "bench-upstream",
    }
    extra = {"usage": None} if include_usage else {}
    events = [
        _event(
            {
                **base,
                "choices": [{"index": 0, "delta": {"content": f"tok{i} "}, "finish_reason": None}],
                **extra,
            }
        )
        for i in range(19)
    ]
    events.append(
        _event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], **extra})
    )
    if include_usage:
        events.append(_event({**base, "choices": [], "usage": USAGE}))
    done = b"data: [DONE]\n\n"
    events.append(b"%x\r\n%s\r\n" % (len(done), done) + b"0\r\n\r\n")
    return events


GEMINI_USAGE = {
    "promptTokenCount": 12,
    "cachedContentTokenCount": 4,
    "candidatesTokenCount": 20,
    "totalTokenCount": 32,
}
GEMINI_COMPLETION = json.dumps(
    {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "Hello from the bench."}]},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": GEMINI_USAGE,
        "modelVersion": "bench-upstream",
        "responseId": "bench",
    },
    separators=(",", ":"),
).encode()


def gemini_stream_events() -> list[bytes]:
    events = []
    for i in range(20):
        candidate: dict[str, object] = {"content": {"parts": [{"text": f"tok{i} "}]}}
        if i == 19:
            candidate["finishReason"] = "STOP"
        events.append(_event({"candidates": [candidate], "usageMetadata": GEMINI_USAGE}))
    return [*events, b"0\r\n\r\n"]


GEMINI_STREAM = gemini_stream_events()
STREAM_WITH_USAGE = stream_events(True)
STREAM_PLAIN = stream_events(False)
JSON_HEAD_FORMAT = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nConnection: keep-alive\r\n\r\n"
)
JSON_HEAD = JSON_HEAD_FORMAT % len(COMPLETION)
GEMINI_HEAD = JSON_HEAD_FORMAT % len(GEMINI_COMPLETION)
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
)


def _sse(name: str, payload: dict[str, object]) -> bytes:
    data = f"event: {name}\ndata: {json.dumps({'type': name, **payload})}\n\n".encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


def _responses_stream() -> list[bytes]:
    """A Responses API stream: the preamble, 20 text deltas, the completed event."""
    response = {
        "id": "resp_bench",
        "object": "response",
        "status": "in_progress",
        "model": "bench-upstream",
        "output": [],
    }
    where = {"item_id": "msg_bench", "output_index": 0, "content_index": 0}
    events = [_sse("response.created", {"sequence_number": 0, "response": response})]
    events += [
        _sse("response.output_text.delta", {"sequence_number": i + 1, **where, "delta": f"tok{i} "})
        for i in range(20)
    ]
    usage = {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens": 20,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 32,
    }
    done = {**response, "status": "completed", "usage": usage}
    events.append(
        _sse("response.completed", {"sequence_number": 21, "response": done}) + b"0\r\n\r\n"
    )
    return events


# 16 vectors of 256 float32s, base64 (the SDK's default encoding).
_VECTOR = base64.b64encode(struct.pack("<256f", *[i / 256 for i in range(256)])).decode()
EMBEDDINGS = json.dumps(
    {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": _VECTOR} for i in range(16)],
        "model": "bench-upstream",
        "usage": {"prompt_tokens": 64, "total_tokens": 64},
    },
    separators=(",", ":"),
).encode()
EMBEDDINGS_HEAD = JSON_HEAD.replace(b"%d" % len(COMPLETION), b"%d" % len(EMBEDDINGS))
RESPONSES_STREAM = _responses_stream()


class UpstreamProtocol(asyncio.Protocol):
    slow_s = 0.25

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            length = 0
            idx = head.find(b"content-length:")
            if idx >= 0:
                line_end = head.find(b"\r\n", idx)
                length = int(head[idx + 15 : line_end if line_end >= 0 else None])
            total = head_end + 4 + length
            if len(self.buffer) < total:
                return
            body = self.buffer[head_end + 4 : total]
            self.buffer = self.buffer[total:]
            self.respond(head[: head.find(b" http/")], body)

    def respond(self, request_line: bytes, body: bytes) -> None:
        transport = self.transport
        assert transport is not None
        if b"generatecontent" in request_line:  # lower-cased with the rest of the head
            if b":streamgeneratecontent" in request_line:
                transport.write(SSE_HEAD + b"".join(GEMINI_STREAM))
            else:
                transport.write(GEMINI_HEAD + GEMINI_COMPLETION)
            return
        if request_line.endswith(b"/embeddings"):
            transport.write(EMBEDDINGS_HEAD + EMBEDDINGS)
            return
        if request_line.endswith(b"/responses"):
            transport.write(SSE_HEAD)
            for event in RESPONSES_STREAM:
                transport.write(event)
            return
        if b'"stream":true' not in body:
            transport.write(JSON_HEAD + COMPLETION)
            return
        events = STREAM_WITH_USAGE if b'"include_usage":true' in body else STREAM_PLAIN
        if b'"model":"slow' in body:
            asyncio.get_running_loop().create_task(self.slow_stream(events))
            return
        transport.write(SSE_HEAD)
        for event in events:
            transport.write(event)

    async def slow_stream(self, events: list[bytes]) -> None:
        transport = self.transport
        assert transport is not None
        transport.write(SSE_HEAD)
        for event in events:
            if transport.is_closing():
                return
            transport.write(event)
            await asyncio.sleep(self.slow_s)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(UpstreamProtocol, "127.0.0.1", port, backlog=8192)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slow-ms", type=float, default=250)
    args = parser.parse_args()
    UpstreamProtocol.slow_s = args.slow_ms / 1000
    uvloop.run(serve(args.port))


if __name__ == "__main__":
    main()
