"""The OpenAI Responses API door: ``POST /v1/responses``, plain and streaming.

Bodies and events pass through unchanged. A ``previous_response_id`` binds the call
to the member that made that response (see ``gateway.pipeline.affinity``).
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.accounting.usage import usage_from_mapping
from gateway.doors.responses.request import parse_responses_body
from gateway.doors.responses.stream import ResponsesRelay, error_event, responses_head
from gateway.errors import GatewayError
from gateway.pipeline.call import Call
from gateway.pipeline.door import Answer, Door, StreamRelay
from gateway.resilience.served import Served
from gateway.resilience.wire import HeadCheckOpening, WireFormat


class ResponsesDoor(Door):
    operation = "responses"
    api = "responses"
    # The stream commits once its events say the response did not fail before output.
    wire = WireFormat(HeadCheckOpening(responses_head))

    def parse(self, raw: bytes, route_header: str | None) -> Call:
        payload = parse_responses_body(raw, route_header is not None)
        return Call(
            model=route_header or payload["model"],
            stream=payload.get("stream") is True,
            body=payload,
            prompt_estimate=len(raw) // 4,
            affinity_id=payload.get("previous_response_id"),
        )

    def answer(self, served: Served, call: Call, metered: bool = True) -> Answer:
        body = served.body
        content_type = served.headers.get("Content-Type", "application/json")
        answer = Answer(body, content_type.encode("latin-1", "replace"))
        if served.status >= 400:
            return answer
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return answer
        if isinstance(parsed, dict):
            if metered:
                answer.usage = usage_from_mapping(parsed.get("usage"))
            rid = parsed.get("id")
            if isinstance(rid, str) and _stored(call):
                answer.created_id = rid
        return answer

    def relay(self, served: Served, call: Call) -> ResponsesRelay:
        return ResponsesRelay(remember_id=_stored(call))

    def created_id(self, relay: StreamRelay) -> str | None:
        return relay.response_id if isinstance(relay, ResponsesRelay) else None

    def stream_error(self, message: str, code: str) -> bytes:
        return error_event(message, code)

    def relay_error(self, relay: StreamRelay, message: str, code: str) -> bytes:
        sequence = relay.sequence + 1 if isinstance(relay, ResponsesRelay) else None
        return error_event(message, code, sequence)

    def error_body(self, error: GatewayError) -> bytes:
        return error.body()

    def content(self, call: Call) -> Any:
        return call.body.get("input")


def _stored(call: Call) -> bool:
    # `store: false` answers cannot be retrieved or continued: nothing to remember.
    return call.body.get("store") is not False
