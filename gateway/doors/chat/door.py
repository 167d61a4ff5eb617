"""The OpenAI chat completions door: bodies and bytes pass through as they are."""

from __future__ import annotations

from gateway.accounting.usage import usage_from_body
from gateway.doors.chat.replay import ChatAnswerCodec
from gateway.doors.chat.request import parse_chat_body
from gateway.doors.chat.stream import StreamRelay, error_event
from gateway.errors import GatewayError
from gateway.pipeline.call import Call
from gateway.pipeline.door import Answer, Door
from gateway.resilience.served import Served


class ChatDoor(Door):
    operation = "chat"
    api = "chat"
    cache_codec = ChatAnswerCodec()

    def parse(self, raw: bytes, route_header: str | None) -> Call:
        payload = parse_chat_body(raw, route_header is not None)
        stream = payload.get("stream") is True
        strip_usage = False
        if stream:
            options = payload.get("stream_options")
            if not (isinstance(options, dict) and options.get("include_usage")):
                # Ask for usage anyway, to account for it; the relay strips it again.
                payload["stream_options"] = {**(options or {}), "include_usage": True}
                strip_usage = True
        return Call(
            model=route_header or payload["model"],
            stream=stream,
            body=payload,
            prompt_estimate=len(raw) // 4,
            strip_usage=strip_usage,
        )

    def answer(self, served: Served, call: Call, metered: bool = True) -> Answer:
        body = served.body
        # The transport decodes header bytes as latin-1, so they go out unchanged; a
        # provider written in Python may hand over any str, which must not fail here.
        content_type = served.headers.get("Content-Type", "application/json")
        usage = usage_from_body(body) if metered and served.status < 400 else None
        return Answer(body, content_type.encode("latin-1", "replace"), usage)

    def relay(self, served: Served, call: Call) -> StreamRelay:
        return StreamRelay(call.strip_usage)

    def stream_error(self, message: str, code: str) -> bytes:
        return error_event(message, code=code)

    def error_body(self, error: GatewayError) -> bytes:
        return error.body()
