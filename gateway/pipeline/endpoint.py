"""A front door as a raw ASGI endpoint: bytes in, the pipeline, the door's bytes out.

Raw ASGI rather than the framework, because these are the hot paths. Every door runs
the same flow; only parsing and rendering are the door's own.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog

from gateway.accounting.pricing import PicoPrice, cost_pico_usd, pico_to_usd, usd_text
from gateway.api.asgi import Scope, header_list, read_body, request_headers, send_bytes
from gateway.api.disconnect import DisconnectWatch
from gateway.api.oversize import answer_then_discard
from gateway.errors import GatewayError, InternalError, PayloadTooLarge, ShuttingDown
from gateway.lifecycle.streams import StreamCut
from gateway.observability.record import RequestRecord, Usage
from gateway.pipeline.call import Call
from gateway.pipeline.door import Door
from gateway.pipeline.headers import gateway_headers, new_record
from gateway.pipeline.pipeline import AnswerRecorder, Exchange, RequestPipeline
from gateway.providers.base import UpstreamError
from gateway.resilience.served import Served
from gateway.runtime import Gateway

log = structlog.get_logger("gateway.request")


def charge(record: RequestRecord, price: PicoPrice | None, usage: Usage) -> None:
    """Put the upstream's usage and its exact cost on the request's record."""
    pico = cost_pico_usd(price, usage)
    record.usage = usage
    record.cost_pico_usd = pico
    record.cost_usd = pico_to_usd(pico)


async def send_door_error(
    door: Door, send: Any, error: GatewayError, record: RequestRecord, receive: Any = None
) -> None:
    """The gateway's error in the door's shape, with the ``x-gateway-*`` headers; a body
    still arriving (too large) is read and dropped after the answer."""
    headers = gateway_headers(record) + header_list(error.headers.items())
    status, body = door.error_status(error), door.error_body(error)
    if receive is not None and isinstance(error, PayloadTooLarge) and error.body_unread:
        await answer_then_discard(receive, send, status, body, headers)
        return
    await send_bytes(send, status, body, headers)


class DoorEndpoint:
    def __init__(self, gateway: Gateway, door: Door, pipeline: RequestPipeline) -> None:
        self.gateway = gateway
        self.door = door
        self.pipeline = pipeline

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        gateway = self.gateway
        door = self.door
        # The snapshot is read before the first await and leased for the whole
        # request: a reload waits for it before it closes the old providers.
        snapshot = gateway.snapshot
        leases = snapshot.leases
        leases.acquire()
        headers = request_headers(scope)
        record = new_record(headers, door.operation, door.api, door.gen_ai_operation)
        tracing = gateway.tracing
        if tracing is not None:
            tracing.begin(record, headers)
        watch: DisconnectWatch | None = None
        try:
            caller = gateway.governor.authenticate(headers, record)
            raw = await read_body(receive, headers, snapshot.config.server.max_body_bytes)
            watch = DisconnectWatch(receive)
            # An empty header names no route: the body's model decides (and is then
            # required).
            route_header = headers.get(b"x-gateway-route") or None
            call = door.parse_request(
                scope["path"],
                scope.get("query_string", b""),
                raw,
                route_header.decode("utf-8", "replace") if route_header else None,
            )
            del raw
            record.stream = call.stream
            if snapshot.config.logging.include_content:
                record.messages = door.content(call)
            exchange = Exchange(snapshot, door, headers, call, record, caller=caller)
            served = await self.pipeline.serve(exchange)
            recorder = exchange.recorder
            # The request is upstream now: a stream can run for minutes, and must not
            # hold the client's prompt (raw, parsed and merged) in memory all along.
            del exchange, headers
            if served.response is not None:
                await self._relay_stream(served, call, record, send, recorder)
            else:
                await self._send_body(served, call, record, send, recorder)
        except GatewayError as exc:
            record.status = door.error_status(exc)
            record.error_type = exc.code or exc.type
            await self._send_error(send, exc, record, receive)
        except asyncio.CancelledError:
            disconnected = watch is not None and watch.disconnected
            if not disconnected and not (gateway.draining and not record.response_started):
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            if disconnected:
                record.status = 499
                record.error_type = "client_disconnect"
            else:  # the server's shutdown grace is over: an answer, not a dropped socket
                stopped = ShuttingDown("the gateway is shutting down; retry on another replica")
                record.status = stopped.status
                record.error_type = stopped.code
                await self._send_error(send, stopped, record)
        except Exception:
            log.exception("unhandled error", request_id=record.request_id)
            error = InternalError("the gateway failed to handle this request")
            record.status = error.status
            record.error_type = "internal_error"
            if not record.response_started:
                await self._send_error(send, error, record)
        finally:
            if watch is not None:
                watch.stop()
            record.latency_s = time.perf_counter() - record.started
            try:
                for observer in gateway.observers:
                    observer.on_request_done(record)
            finally:
                leases.release()

    async def _send_error(
        self, send: Any, error: GatewayError, record: RequestRecord, receive: Any = None
    ) -> None:
        await send_door_error(self.door, send, error, record, receive)

    async def _send_body(
        self,
        served: Served,
        call: Call,
        record: RequestRecord,
        send: Any,
        recorder: AnswerRecorder | None,
    ) -> None:
        answer = self.door.answer(served, call, metered=record.cache != "hit")
        out = gateway_headers(record)
        if served.status < 400:
            if answer.usage is not None:
                charge(record, served.member.price, answer.usage)
                out.append((b"x-gateway-cost-usd", usd_text(record.cost_pico_usd).encode()))
            record.created_id = answer.created_id
            if recorder is not None and served.status == 200:
                recorder.body(answer.body, record)
        else:
            record.error_type = record.attempts[-1].outcome if record.attempts else None
        if self.gateway.snapshot.config.logging.include_content:
            record.response_body = answer.body
        record.response_started = True
        await send_bytes(send, served.status, answer.body, out, answer.content_type)

    async def _relay_stream(
        self,
        served: Served,
        call: Call,
        record: RequestRecord,
        send: Any,
        recorder: AnswerRecorder | None,
    ) -> None:
        response = served.response
        assert response is not None
        door = self.door
        relay = door.relay(served, call)
        whole = False
        try:
            record.response_started = True
            await send(
                {
                    "type": "http.response.start",
                    "status": served.status,
                    "headers": door.stream_headers + gateway_headers(record),
                }
            )
            out = relay.feed(served.first_chunk)
            record.ttft_s = time.perf_counter() - record.started
            if out:
                if recorder is not None:
                    recorder.chunk(out)
                await send({"type": "http.response.body", "body": out, "more_body": True})
            try:
                with self.gateway.streams.held():
                    while chunk := await response.read_chunk():
                        out = relay.feed(chunk)
                        if out:
                            if recorder is not None:
                                recorder.chunk(out)
                            await send(
                                {"type": "http.response.body", "body": out, "more_body": True}
                            )
                tail = relay.finish()
                whole = relay.complete
                if not relay.complete:
                    # An upstream that ends without its end marker is a truncation, not
                    # an answer. An unterminated last event is dropped (as an SSE client
                    # would), so the error event starts on a line of its own.
                    tail = door.relay_error(
                        relay, "upstream stream ended early", "stream_truncated"
                    )
                    record.error_type = "stream_truncated"
            except StreamCut as exc:  # shutting down, and the grace is over
                relay.finish()
                tail = door.stream_error(str(exc), exc.code)
                record.error_type = exc.code
            except UpstreamError as exc:
                # What is left is a fragment of an event: never glue it to the error event.
                relay.finish()
                tail = door.relay_error(relay, str(exc), "upstream_stream_error")
                record.error_type = "upstream_stream_error"
            if recorder is not None and whole:
                # The answer is whole: keep it before the client has the last byte, so a
                # request it sends right after is already a hit.
                if relay.usage is not None and record.cache != "hit":
                    charge(record, served.member.price, relay.usage)
                if tail:
                    recorder.chunk(tail)
                recorder.stream_end(record)
                recorder = None
            await send({"type": "http.response.body", "body": tail, "more_body": False})
        finally:
            response.close()
            if relay.usage is not None and record.cache != "hit":
                charge(record, served.member.price, relay.usage)
            record.created_id = door.created_id(relay)
