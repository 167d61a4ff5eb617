"""Serving a Messages request through a member that speaks OpenAI chat only."""

from __future__ import annotations

from typing import Any

from gateway.providers.base import UpstreamResponse
from gateway.providers.translated import NotAnAnswer, TranslatedResponse
from gateway.translate.anthropic.errors import to_messages_error
from gateway.translate.anthropic.request_to_chat import to_chat
from gateway.translate.anthropic.response_to_messages import NotACompletion, to_message
from gateway.translate.anthropic.stream_to_messages import MessagesStreamWriter


class MessagesCodec:
    """Chat completions and OpenAI errors read as Anthropic messages and errors."""

    name = "chat"

    @staticmethod
    def answer(status: int, body: bytes) -> tuple[int, bytes]:
        try:
            return status, to_message(body)
        except NotACompletion as exc:
            raise NotAnAnswer(str(exc)) from None

    @staticmethod
    def error(status: int, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        return status, to_messages_error(status, body), {}


class ChatBridge:
    operation = "chat"
    codec = MessagesCodec()

    def request(self, body: dict[str, Any], stream: bool) -> dict[str, Any]:
        return to_chat(body, stream)

    def response(self, response: UpstreamResponse, stream: bool) -> UpstreamResponse:
        writer = MessagesStreamWriter() if stream else None
        return TranslatedResponse(response, self.codec, writer)
