"""A small OTLP/HTTP trace receiver on a real socket: what a collector would get.

It decodes each protobuf ``ExportTraceServiceRequest`` (opentelemetry-proto) into
plain ``ReceivedSpan`` values, so tests assert on what went over the wire. Its answers
can be scripted (``answer``: a status and headers per export, the last one repeating),
as a collector that is overloaded or refuses a batch would answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.support.scripted_server import ScriptedServer

KINDS = {Span.SPAN_KIND_SERVER: "server", Span.SPAN_KIND_CLIENT: "client"}


@dataclass
class ReceivedSpan:
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    status_code: int
    events: list[str] = field(default_factory=list)


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, which) if which else None


# An export's answer: its status and headers.
Answer = tuple[int, dict[str, str]]


class OtlpReceiver(ScriptedServer[Answer]):
    name = "otlp-receiver"

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[ReceivedSpan] = []
        self.content_types: list[str] = []
        self.headers: list[dict[str, str]] = []  # of every export, answered or not

    def default_behavior(self) -> Answer:
        return 200, {}

    def answer(self, *answers: Answer) -> None:
        self.set("export", *answers)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/traces", self._export)

    def received(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    async def _export(self, request: web.Request) -> web.Response:
        status, headers = self._next("export")
        with self._lock:
            self.headers.append({k.lower(): v for k, v in request.headers.items()})
        if status != 200:
            return web.Response(status=status, headers=headers)
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.read())  # aiohttp undoes gzip and deflate
        spans = []
        for resource_spans in export.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    spans.append(
                        ReceivedSpan(
                            name=span.name,
                            kind=KINDS.get(span.kind, str(span.kind)),
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            resource=resource,
                            status_code=span.status.code,
                            events=[e.name for e in span.events],
                        )
                    )
        with self._lock:
            self.content_types.append(request.content_type)
            self.spans.extend(spans)
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )
