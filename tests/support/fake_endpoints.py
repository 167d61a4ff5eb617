"""The fake upstream's embeddings and Responses API endpoints, with OpenAI's rules:
a response id is known only to the server that made it (404 on retrieve, 400 as a
``previous_response_id`` elsewhere), streams are ``event:``/``data:`` pairs."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web

# Behaviour kinds this module adds: `error_event` (response.created, then an error
# event before any output), `error_after_output` (an error event after a delta).
RESPONSE_USAGE = {
    "input_tokens": 120,
    "input_tokens_details": {"cached_tokens": 20},
    "output_tokens": 30,
    "output_tokens_details": {"reasoning_tokens": 12},
    "total_tokens": 150,
}
EMBEDDING_USAGE = {"prompt_tokens": 9, "total_tokens": 9}


def vector(index: int, dimensions: int) -> list[float]:
    return [round((index + 1) * 0.25 + d * 0.5, 3) for d in range(dimensions)]


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps({'type': name, **payload})}\n\n".encode()


class ResponsesState:
    """The ids this server made, and by which model."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.made: dict[str, str] = {}
        self.counter = 0

    def new_id(self, model: str) -> str:
        with self.lock:
            self.counter += 1
            rid = f"resp_{id(self):x}_{self.counter}"
            self.made[rid] = model
            return rid


def response_object(rid: str, model: str, text: str, status: str, usage: Any) -> dict[str, Any]:
    output = []
    if status == "completed":
        content = [{"type": "output_text", "text": text, "annotations": []}]
        output = [
            {
                "type": "message",
                "id": "msg_1",
                "status": "completed",
                "role": "assistant",
                "content": content,
            }
        ]
    return {
        "id": rid,
        "object": "response",
        "created_at": 1700000000,
        "status": status,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
    }


async def embeddings(
    server: Any, request: web.Request, body: dict[str, Any], b: Any
) -> web.StreamResponse:
    raw = body.get("input")
    inputs = [raw] if isinstance(raw, str) or (raw and isinstance(raw[0], int)) else raw
    dimensions = body.get("dimensions")
    dimensions = 3 if dimensions is None else dimensions
    if not isinstance(dimensions, int) or not 1 <= dimensions <= 3072:
        error = {
            "message": "dimensions must be between 1 and 3072",
            "type": "invalid_request_error",
            "param": "dimensions",
            "code": None,
        }
        return web.json_response({"error": error}, status=400)
    data = []
    for i, _ in enumerate(inputs):
        values = vector(i, dimensions)
        embedding: Any = values
        if body.get("encoding_format") == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    # The chat default (with completion tokens) is not an embeddings answer's usage.
    chat_usage = b.usage is None or "completion_tokens" in b.usage
    usage = EMBEDDING_USAGE if chat_usage else b.usage
    payload = {"object": "list", "data": data, "model": body.get("model"), "usage": usage}
    return web.json_response(payload, headers=b.headers)


async def responses(
    server: Any, request: web.Request, body: dict[str, Any], b: Any
) -> web.StreamResponse:
    state: ResponsesState = server.responses_state
    model = str(body.get("model"))
    previous = body.get("previous_response_id")
    if previous is not None and previous not in state.made:
        error = {
            "message": f"Previous response with id '{previous}' not found.",
            "type": "invalid_request_error",
            "param": "previous_response_id",
            "code": "previous_response_not_found",
        }
        return web.json_response({"error": error}, status=400)
    rid = state.new_id(model)
    text = b.reply if b.reply is not None else f"echo: {body.get('input')}"
    usage = b.usage if b.usage is not None and "input_tokens" in b.usage else RESPONSE_USAGE
    if not body.get("stream"):
        return web.json_response(response_object(rid, model, text, "completed", usage))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    seq = iter(range(10_000))
    started = response_object(rid, model, text, "in_progress", None)
    await response.write(
        _event("response.created", {"sequence_number": next(seq), "response": started})
    )
    if b.kind == "error_event":
        await response.write(
            _event(
                "error",
                {
                    "sequence_number": next(seq),
                    "code": "server_error",
                    "message": "upstream overloaded",
                    "param": None,
                },
            )
        )
        await response.write_eof()
        return response
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    item = {"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant"}
    part = {"type": "output_text", "text": "", "annotations": []}
    for name, fields in [
        ("response.output_item.added", {"output_index": 0, "item": {**item, "content": []}}),
        ("response.content_part.added", {**where, "part": part}),
    ]:
        await response.write(_event(name, {"sequence_number": next(seq), **fields}))
    for i, word in enumerate(text.split(" ")):
        delta = word if i == 0 else " " + word
        await response.write(
            _event(
                "response.output_text.delta",
                {"sequence_number": next(seq), **where, "delta": delta},
            )
        )
        if b.kind == "break_stream":
            assert request.transport is not None
            request.transport.close()
            return response
        if b.kind == "error_after_output":
            await response.write(
                _event(
                    "error",
                    {
                        "sequence_number": next(seq),
                        "code": "server_error",
                        "message": "broke mid-answer",
                        "param": None,
                    },
                )
            )
            await response.write_eof()
            return response
        if b.chunk_delay_s:
            await asyncio.sleep(b.chunk_delay_s)
    done_part = {**part, "text": text}
    for name, fields in [
        ("response.output_text.done", {**where, "text": text}),
        ("response.content_part.done", {**where, "part": done_part}),
        (
            "response.output_item.done",
            {"output_index": 0, "item": {**item, "status": "completed", "content": [done_part]}},
        ),
    ]:
        await response.write(_event(name, {"sequence_number": next(seq), **fields}))
    done = response_object(rid, model, text, "completed", usage)
    await response.write(
        _event("response.completed", {"sequence_number": next(seq), "response": done})
    )
    await response.write_eof()
    return response


def stored(server: Any, method: str) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.StreamResponse:
        state: ResponsesState = server.responses_state
        rid = request.match_info["rid"]
        server.record_request(request, state.made.get(rid, ""), {"response_id": rid})
        model = state.made.get(rid)
        if model is None:
            error = {
                "message": f"Response with id '{rid}' not found.",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
            return web.json_response({"error": error}, status=404)
        b = server._next(model)
        if b.kind == "error":
            return web.json_response({"error": b.error}, status=b.status, headers=b.headers)
        if method == "DELETE":
            with state.lock:
                state.made.pop(rid, None)
            return web.json_response({"id": rid, "object": "response", "deleted": True})
        if method == "input_items":
            item = {
                "type": "message",
                "id": "msg_in",
                "role": "user",
                "status": "completed",
                "content": [{"type": "input_text", "text": "one"}],
            }
            page = {"object": "list", "data": [item], "first_id": "msg_in", "last_id": "msg_in"}
            return web.json_response({**page, "has_more": False})
        if method == "cancel":
            return web.json_response(response_object(rid, model, "", "cancelled", None))
        return web.json_response(response_object(rid, model, "stored", "completed", RESPONSE_USAGE))

    return handle
