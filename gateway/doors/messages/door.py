"""The Anthropic Messages door: native members' bytes pass through; other members are
reached through the chat bridge and answer in Messages events all the same."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.accounting.usage import usage_from_messages
from gateway.doors.messages import errors
from gateway.doors.messages.bridge import ChatBridge
from gateway.doors.messages.request import parse_messages_body
from gateway.doors.messages.stream import MessagesOpening, MessagesRelay, error_event
from gateway.errors import GatewayError
from gateway.pipeline.call import Call
from gateway.pipeline.door import Answer, Door
from gateway.resilience.served import Served
from gateway.resilience.wire import ForwardedHeaders, WireFormat
from gateway.translate.anthropic.response_to_chat import usage_counts

# The API's feature switches: forwarded to Anthropic members; never a credential.
FORWARDED = (b"anthropic-version", b"anthropic-beta")


class MessagesDoor(Door):
    operation = "messages"
    gen_ai_operation = "chat"
    api = "messages"
    wire = WireFormat(MessagesOpening(), (ChatBridge(),))

    def parse(self, raw: bytes, route_header: str | None) -> Call:
        payload = parse_messages_body(raw, route_header is not None)
        return Call(
            model=route_header or payload["model"],
            stream=payload.get("stream") is True,
            body=payload,
            prompt_estimate=len(raw) // 4,
        )

    def answer(self, served: Served, call: Call, metered: bool = True) -> Answer:
        body = served.body
        usage = None
        if metered and served.status < 400 and b'"usage"' in body:
            try:
                message = orjson.loads(body)
            except orjson.JSONDecodeError:
                message = None
            if isinstance(message, dict):
                usage = usage_from_messages(usage_counts(message.get("usage")))
        content_type = served.headers.get("Content-Type", "application/json")
        return Answer(body, content_type.encode("latin-1", "replace"), usage)

    def relay(self, served: Served, call: Call) -> MessagesRelay:
        return MessagesRelay()

    def stream_error(self, message: str, code: str) -> bytes:
        return error_event(message)

    def error_body(self, error: GatewayError) -> bytes:
        return errors.error_body(error)

    def error_status(self, error: GatewayError) -> int:
        return errors.error_status(error)

    def upstream_headers(self, headers: dict[bytes, bytes]) -> ForwardedHeaders | None:
        forwarded = {
            name.decode(): value.decode("latin-1")
            for name in FORWARDED
            if (value := headers.get(name)) is not None
        }
        return forwarded or None

    def content(self, call: Call) -> Any:
        body = call.body
        return {"system": body.get("system"), "messages": body.get("messages")}
