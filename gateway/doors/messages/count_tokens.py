"""``POST /v1/messages/count_tokens`` (Claude Code calls it before long requests).

Forwarded to the route's ``anthropic`` members in plan order, with fallback and
cooldowns as for a request; the answer passes through. A route without an Anthropic
member that can answer gets the gateway's own estimate, marked by the
``x-gateway-token-count: estimate`` header. Counting is not a generation: it is not
charged, metered or logged as a request.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import structlog

from gateway.api.asgi import Scope, read_body, request_headers, send_bytes
from gateway.doors.messages.door import MessagesDoor
from gateway.doors.messages.request import parse_count_tokens_body
from gateway.errors import (
    GatewayError,
    InternalError,
    ModelNotFound,
    NoMemberAvailable,
)
from gateway.pipeline.endpoint import send_door_error
from gateway.pipeline.headers import gateway_headers, new_record
from gateway.routing.policies import order_pool
from gateway.runtime import Gateway

log = structlog.get_logger("gateway.request")

OPERATION = "count_tokens"
CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 1600  # Anthropic's figure for an image at its largest size
MESSAGE_OVERHEAD = 3  # role and framing tokens per message


def estimate_tokens(payload: dict[str, Any]) -> int:
    """About how many input tokens the request would cost: text at four characters a
    token, tool definitions and inputs as their JSON, images at their maximum."""
    chars = 0
    images = 0

    def walk(value: Any) -> None:
        nonlocal chars, images
        if isinstance(value, str):
            chars += len(value)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            kind = value.get("type")
            if kind in ("image", "document"):
                images += 1
            elif kind == "tool_use":
                chars += len(orjson.dumps(value.get("input") or {}))
            else:
                for key in ("text", "thinking", "content"):
                    walk(value.get(key))

    walk(payload.get("system"))
    messages = payload.get("messages") or []
    walk(messages)
    tools = payload.get("tools")
    if isinstance(tools, list):
        chars += len(orjson.dumps(tools))
    text_tokens = math.ceil(chars / CHARS_PER_TOKEN)
    return text_tokens + images * IMAGE_TOKENS + MESSAGE_OVERHEAD * len(messages)


class CountTokensEndpoint:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.door = MessagesDoor()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        snapshot = self.gateway.snapshot
        leases = snapshot.leases
        leases.acquire()
        headers = request_headers(scope)
        record = new_record(headers, OPERATION, "messages")
        try:
            self.gateway.governor.caller(headers)
            raw = await read_body(receive, headers, snapshot.config.server.max_body_bytes)
            route_header = headers.get(b"x-gateway-route") or None
            name = route_header.decode("utf-8", "replace") if route_header else None
            payload = parse_count_tokens_body(raw, name is not None)
            route = snapshot.table.resolve(name or payload["model"])
            if route is None:
                raise ModelNotFound(
                    f"The model '{name or payload['model']}' is not a route, a catalog "
                    "model or a provider/model name",
                    param="model",
                )
            record.route = route.name
            profile_header = headers.get(b"x-gateway-profile")
            profile = snapshot.pick_profile(
                profile_header.decode("utf-8", "replace") if profile_header else None
            )
            plan = [
                m
                for m in order_pool(route.policy, route.members_for(profile), self.gateway.rng)
                if OPERATION in snapshot.providers[m.provider].operations
            ]
            if plan:
                try:
                    served = await snapshot.runner.run(
                        plan,
                        payload,
                        record,
                        len(raw) // CHARS_PER_TOKEN,
                        headers=self.door.upstream_headers(headers),
                    )
                except NoMemberAvailable as exc:
                    log.info("count_tokens estimated", request_id=record.request_id, why=str(exc))
                else:
                    member = served.member
                    record.provider, record.alias = member.provider, member.alias
                    content_type = served.headers.get("Content-Type", "application/json")
                    await send_bytes(
                        send,
                        served.status,
                        served.body,
                        gateway_headers(record),
                        content_type.encode("latin-1", "replace"),
                    )
                    return
            body = orjson.dumps({"input_tokens": estimate_tokens(payload)})
            out = [*gateway_headers(record), (b"x-gateway-token-count", b"estimate")]
            await send_bytes(send, 200, body, out)
        except GatewayError as exc:
            await send_door_error(self.door, send, exc, record, receive)
        except Exception:
            log.exception("unhandled error", request_id=record.request_id)
            error = InternalError("the gateway failed to count")
            await send_door_error(self.door, send, error, record)
        finally:
            leases.release()
