"""Request transform: the body is already OpenAI-shaped; encode it once. Operations on
a stored response carry no body: their id (and query) travel in the request's body.

Reasoning: ``reasoning_effort`` is OpenAI's own and passes through; the portable
``thinking`` has no OpenAI field (OpenAI rejects unknown parameters), so it is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.providers.base import UpstreamRequest
from gateway.providers.openai.api import STORED_RESPONSE_CALLS, stored_response_url
from gateway.providers.reasoning import dropped
from gateway.transport import HttpTransport
from gateway.transport.response import HttpResponse

DROPPED_OPTIONS = ("thinking",)


def encode_request(body: dict[str, Any], kind: str = "openai") -> bytes:
    if "thinking" in body:
        body = {k: v for k, v in body.items() if k not in DROPPED_OPTIONS}
        dropped(kind, DROPPED_OPTIONS)
    return orjson.dumps(body)


async def send_stored_response_operation(
    transport: HttpTransport,
    responses_url: str,
    headers: Mapping[str, str],
    upstream: UpstreamRequest,
) -> HttpResponse:
    """The call on ``…/responses/{id}`` a ``responses.*`` operation names."""
    body = upstream.body
    method, suffix = STORED_RESPONSE_CALLS[upstream.operation]
    url = stored_response_url(
        responses_url, str(body["response_id"]), suffix, str(body.get("query", ""))
    )
    return await transport.request(method, url, headers)
