"""``POST /v1/chat/completions``: a raw ASGI endpoint, because it is the hot path.

The body is parsed once with orjson and checked by hand (no pydantic model of the
whole chat request); upstream bytes are forwarded unchanged.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from typing import Any

import structlog

from gateway.accounting.pricing import cost_micro_usd
from gateway.accounting.usage import usage_from_body
from gateway.api.asgi import RawHeaders, Scope, read_body, request_headers, send_error
from gateway.api.disconnect import DisconnectWatch
from gateway.api.payload import parse_chat_body
from gateway.api.streaming import StreamRelay, error_event
from gateway.config.schema import Price
from gateway.errors import GatewayError, InternalError, ModelNotFound
from gateway.governance.keys import Caller
from gateway.observability.record import RequestRecord, Usage
from gateway.providers.base import UpstreamError
from gateway.resilience.attempts import Served
from gateway.routing.policies import order_pool
from gateway.runtime import Gateway, Snapshot

log = structlog.get_logger("gateway.chat")

STREAM_HEADERS: RawHeaders = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def new_request_id() -> str:
    return "req_" + os.urandom(12).hex()


# The client's id is echoed, logged and sent upstream: only a short printable token.
# A longer one made the upstream refuse the request (its header limit is ~8 KB).
_CLIENT_ID = re.compile(rb"[\x21-\x7e][\x20-\x7e]{0,127}")


def client_request_id(raw: bytes | None) -> str | None:
    return raw.decode("ascii") if raw and _CLIENT_ID.fullmatch(raw) else None


def gateway_headers(record: RequestRecord) -> RawHeaders:
    return [
        (b"x-request-id", record.request_id.encode("latin-1")),
        (b"x-gateway-route", (record.route or "").encode("latin-1", "replace")),
        (b"x-gateway-provider", (record.provider or "").encode("latin-1", "replace")),
        (b"x-gateway-model", (record.alias or "").encode("latin-1", "replace")),
        (b"x-gateway-attempts", str(len(record.attempts)).encode()),
        *(record.limit_headers or ()),
    ]


def charge(record: RequestRecord, price: Price | None, usage: Usage) -> None:
    """Put the upstream's usage and its cost on the request's record."""
    micro = cost_micro_usd(price, usage)
    record.usage = usage
    record.cost_micro_usd = micro
    record.cost_usd = micro / 1_000_000


class ChatCompletionsEndpoint:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        gateway = self.gateway
        # The snapshot is read before the first await and leased for the whole
        # request: a reload waits for it before it closes the old providers.
        snapshot = gateway.snapshot
        leases = snapshot.leases
        leases.acquire()
        headers = request_headers(scope)
        client_id = client_request_id(headers.get(b"x-request-id"))
        record = RequestRecord(
            request_id=client_id or new_request_id(),
            started=time.perf_counter(),
            client_request_id=client_id,
        )
        watch: DisconnectWatch | None = None
        try:
            caller = gateway.governor.authenticate(headers, record)
            raw = await read_body(receive, headers, snapshot.config.server.max_body_bytes)
            watch = DisconnectWatch(receive)
            served, strip_usage = await self._serve(snapshot, headers, raw, record, caller)
            # The request is upstream now: a stream can run for minutes, and must not
            # hold the client's prompt (raw, parsed and merged) in memory all along.
            del raw, headers
            if served.response is not None:
                await self._relay_stream(served, record, send, strip_usage)
            else:
                await self._send_body(snapshot, served, record, send)
        except GatewayError as exc:
            record.status = exc.status
            record.error_type = exc.code or exc.type
            await send_error(send, exc, gateway_headers(record))
        except asyncio.CancelledError:
            if watch is None or not watch.disconnected:
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            record.status = 499
            record.error_type = "client_disconnect"
        except Exception:
            log.exception("unhandled error", request_id=record.request_id)
            error = InternalError("the gateway failed to handle this request")
            record.status = error.status
            record.error_type = "internal_error"
            if not record.response_started:
                await send_error(send, error, gateway_headers(record))
        finally:
            if watch is not None:
                watch.stop()
            record.latency_s = time.perf_counter() - record.started
            try:
                for observer in gateway.observers:
                    observer.on_request_done(record)
            finally:
                leases.release()

    async def _serve(
        self,
        snapshot: Snapshot,
        headers: dict[bytes, bytes],
        raw: bytes,
        record: RequestRecord,
        caller: Caller | None,
    ) -> tuple[Served, bool]:
        """Resolve the route and run its plan: the answer, and whether the stream's
        usage event is the gateway's own (to strip before the client sees it)."""
        # An empty header names no route: `model` decides (and is then required).
        route_header = headers.get(b"x-gateway-route") or None
        payload = parse_chat_body(raw, route_header is not None)
        name = route_header.decode("utf-8", "replace") if route_header else payload["model"]
        route = snapshot.table.resolve(name)
        if route is None:
            raise ModelNotFound(
                f"The model '{name}' is not a route, a catalog model or a provider/model name",
                param="model",
            )
        record.route = route.name
        record.route_label = route.metrics_label
        for observer in self.gateway.observers:
            observer.on_request_start(record)
        profile_header = headers.get(b"x-gateway-profile")
        profile = snapshot.pick_profile(
            profile_header.decode("utf-8", "replace") if profile_header else None
        )
        record.profile = profile
        self.gateway.governor.admit(record, caller, route.name, profile, payload, len(raw) // 4)
        stream = payload.get("stream") is True
        record.stream = stream
        if snapshot.config.logging.include_content:
            record.messages = payload.get("messages")
        strip_usage = False
        if stream:
            options = payload.get("stream_options")
            if not (isinstance(options, dict) and options.get("include_usage")):
                # Ask for usage anyway, to account for it; the relay strips it again.
                payload["stream_options"] = {**(options or {}), "include_usage": True}
                strip_usage = True
        plan = order_pool(route.policy, route.members_for(profile), self.gateway.rng)
        served = await snapshot.runner.run(plan, payload, record, len(raw) // 4)
        member = served.member
        record.provider = member.provider
        record.model = member.upstream_model
        record.alias = member.alias
        record.status = served.status
        return served, strip_usage

    async def _send_body(
        self, snapshot: Snapshot, served: Served, record: RequestRecord, send: Any
    ) -> None:
        body = served.body
        out = gateway_headers(record)
        if served.status < 400:
            usage = usage_from_body(body)
            if usage is not None:
                charge(record, served.member.price, usage)
                out.append((b"x-gateway-cost-usd", f"{record.cost_usd:.6f}".encode()))
        else:
            record.error_type = record.attempts[-1].outcome if record.attempts else None
        if snapshot.config.logging.include_content:
            record.response_body = body
        # The transport decodes header bytes as latin-1, so they go out unchanged; a
        # provider written in Python may hand over any str, which must not fail here.
        content_type = served.headers.get("Content-Type", "application/json")
        record.response_started = True
        await send(
            {
                "type": "http.response.start",
                "status": served.status,
                "headers": [
                    (b"content-type", content_type.encode("latin-1", "replace")),
                    (b"content-length", str(len(body)).encode()),
                    *out,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _relay_stream(
        self, served: Served, record: RequestRecord, send: Any, strip_usage: bool
    ) -> None:
        response = served.response
        assert response is not None
        relay = StreamRelay(strip_usage)
        try:
            record.response_started = True
            await send(
                {
                    "type": "http.response.start",
                    "status": served.status,
                    "headers": STREAM_HEADERS + gateway_headers(record),
                }
            )
            out = relay.feed(served.first_chunk)
            record.ttft_s = time.perf_counter() - record.started
            if out:
                await send({"type": "http.response.body", "body": out, "more_body": True})
            try:
                while chunk := await response.read_chunk():
                    out = relay.feed(chunk)
                    if out:
                        await send({"type": "http.response.body", "body": out, "more_body": True})
                tail = relay.finish()
                if not relay.saw_done:
                    # An upstream that ends without [DONE] is a truncation, not an answer.
                    # An unterminated last event is dropped (as an SSE client would), so
                    # the error event starts on a line of its own.
                    tail = error_event("upstream stream ended early", code="stream_truncated")
                    record.error_type = "stream_truncated"
            except UpstreamError as exc:
                # What is left is a fragment of an event: never glue it to the error event.
                relay.finish()
                tail = error_event(str(exc), code="upstream_stream_error")
                record.error_type = "upstream_stream_error"
            await send({"type": "http.response.body", "body": tail, "more_body": False})
        finally:
            response.close()
            if relay.usage is not None:
                charge(record, served.member.price, relay.usage)
