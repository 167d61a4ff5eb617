"""An instant Anthropic Messages upstream for benchmarks: the OpenAI mock's protocol
with Anthropic's canned message and a 20-delta event stream."""

from __future__ import annotations

import argparse
import asyncio
import json

import uvloop

from bench.mock_upstream import UpstreamProtocol

USAGE = {
    "input_tokens": 8,
    "output_tokens": 20,
    "cache_read_input_tokens": 4,
    "cache_creation_input_tokens": 0,
}
MESSAGE = json.dumps(
    {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "bench-claude",
        "content": [{"type": "text", "text": "Hello from the bench."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": USAGE,
    },
    separators=(",", ":"),
).encode()


def _event(name: str, payload: object) -> bytes:
    data = f"event: {name}\ndata: ".encode() + json.dumps(payload, separators=(",", ":")).encode()
    data += b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def _typed(name: str, **fields: object) -> bytes:
    return _event(name, {"type": name, **fields})


def stream_events() -> list[bytes]:
    start = {**json.loads(MESSAGE), "content": [], "stop_reason": None}
    events = [
        _typed("message_start", message=start),
        _typed("content_block_start", index=0, content_block={"type": "text", "text": ""}),
    ]
    for i in range(19):
        delta = {"type": "text_delta", "text": f"tok{i} "}
        events.append(_typed("content_block_delta", index=0, delta=delta))
    events.append(_typed("content_block_stop", index=0))
    end = {"stop_reason": "end_turn", "stop_sequence": None}
    events.append(_typed("message_delta", delta=end, usage=USAGE))
    events.append(_typed("message_stop") + b"0\r\n\r\n")
    return events


STREAM = stream_events()
JSON_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nConnection: keep-alive\r\n\r\n" % len(MESSAGE)
)
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
)


class AnthropicProtocol(UpstreamProtocol):
    def respond(self, request_line: bytes, body: bytes) -> None:
        transport = self.transport
        assert transport is not None
        if b'"stream":true' not in body:
            transport.write(JSON_HEAD + MESSAGE)
            return
        transport.write(SSE_HEAD + b"".join(STREAM))


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(AnthropicProtocol, "127.0.0.1", port, backlog=8192)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
