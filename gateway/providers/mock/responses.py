"""Deterministic Responses API answers: the JSON object, its event stream, and the
stored-response operations (any id is "stored": the mock keeps nothing)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import orjson

from gateway.providers.mock.request import estimate_tokens
from gateway.providers.mock.stream import split_reply


def _input_tokens(body: dict[str, Any]) -> int:
    raw = body.get("input")
    text = raw if isinstance(raw, str) else orjson.dumps(raw).decode()
    return estimate_tokens(text) + estimate_tokens(str(body.get("instructions") or ""))


def response_id(body: dict[str, Any]) -> str:
    digest = hashlib.sha1(orjson.dumps([body.get("input"), time.time_ns()])).hexdigest()
    return f"resp_mock{digest[:24]}"


def response_object(
    rid: str, model: str, reply: str, status: str, usage: dict[str, Any] | None
) -> dict[str, Any]:
    output = []
    if status == "completed":
        output = [
            {
                "type": "message",
                "id": "msg_" + rid[5:],
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": reply, "annotations": []}],
            }
        ]
    return {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
    }


def usage(body: dict[str, Any], reply: str) -> dict[str, Any]:
    prompt = _input_tokens(body)
    output = estimate_tokens(reply)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + output,
    }


def response(body: dict[str, Any], reply: str) -> bytes:
    model = str(body.get("model", "mock"))
    return orjson.dumps(
        response_object(response_id(body), model, reply, "completed", usage(body, reply))
    )


STORED_CALLS = (
    "responses.retrieve",
    "responses.delete",
    "responses.input_items",
    "responses.cancel",
)


def stored_response(operation: str, body: dict[str, Any], reply: str) -> bytes:
    rid = str(body.get("response_id", ""))
    if operation == "responses.delete":
        return orjson.dumps({"id": rid, "object": "response", "deleted": True})
    if operation == "responses.input_items":
        empty: dict[str, Any] = {"object": "list", "data": [], "first_id": None}
        return orjson.dumps({**empty, "last_id": None, "has_more": False})
    model = str(body.get("model", "mock"))
    # The mock's answers are complete when made: a cancel finds nothing running.
    return orjson.dumps(response_object(rid, model, reply, "completed", None))


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def stream_events(body: dict[str, Any], reply: str, pieces: int) -> Iterator[bytes]:
    rid = response_id(body)
    model = str(body.get("model", "mock"))
    item = "msg_" + rid[5:]
    seq = iter(range(1_000_000))

    def event(name: str, **fields: Any) -> bytes:
        return _event(name, {"type": name, "sequence_number": next(seq), **fields})

    start = response_object(rid, model, reply, "in_progress", None)
    yield event("response.created", response=start)
    yield event("response.in_progress", response=start)
    message = {"type": "message", "id": item, "status": "in_progress", "role": "assistant"}
    yield event("response.output_item.added", output_index=0, item={**message, "content": []})
    part = {"type": "output_text", "text": "", "annotations": []}
    yield event(
        "response.content_part.added", item_id=item, output_index=0, content_index=0, part=part
    )
    where = {"item_id": item, "output_index": 0, "content_index": 0}
    for text in split_reply(reply, pieces):
        yield event("response.output_text.delta", **where, delta=text)
    yield event("response.output_text.done", **where, text=reply)
    done_part = {**part, "text": reply}
    yield event("response.content_part.done", **where, part=done_part)
    done_item = {**message, "status": "completed", "content": [done_part]}
    yield event("response.output_item.done", output_index=0, item=done_item)
    final = response_object(rid, model, reply, "completed", usage(body, reply))
    yield event("response.completed", response=final)
