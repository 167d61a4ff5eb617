"""The export queue and the OTLP/HTTP exporter: spans are dropped (and counted) when the
queue is full, full batches leave at once and the rest within the delay, and a
collector's overload answers are retried (its refusals not) over a real socket."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import structlog

from gateway.observability.tracing.batch import BatchQueue
from gateway.observability.tracing.otlp import SpanEncoder
from gateway.observability.tracing.otlp_http import OtlpHttpExporter, OtlpTarget
from gateway.observability.tracing.spans import SERVER, Span
from tests.support.fake_upstream import free_port
from tests.support.otlp_receiver import OtlpReceiver


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver().start()
    yield server
    server.stop()


class Exports:
    """What the queue hands over, batch by batch; ``fail`` the first n exports."""

    def __init__(self, fail: int = 0) -> None:
        self.batches: list[list[int]] = []
        self.fail = fail

    async def __call__(self, batch: list[int]) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("collector gone")
        self.batches.append(batch)


async def test_a_full_queue_drops_new_spans_and_says_so() -> None:
    exports = Exports()
    queue: BatchQueue[int] = BatchQueue(exports, max_queue=4, max_batch=2, delay_s=60)
    with structlog.testing.capture_logs() as logs:
        for item in range(10):  # no await in between: the export task cannot run yet
            queue.add(item)
        assert len(queue) == 4 and queue.dropped == 6
        assert await queue.aclose(5)
    assert exports.batches == [[0, 1], [2, 3]]
    (warning,) = [log for log in logs if log["event"] == "trace queue full: spans dropped"]
    assert warning["dropped"] == 6 and warning["max_queue_size"] == 4


async def test_full_batches_leave_at_once_and_the_rest_after_the_delay() -> None:
    exports = Exports()
    queue: BatchQueue[int] = BatchQueue(exports, max_queue=100, max_batch=3, delay_s=0.3)
    for item in range(5):
        queue.add(item)
    await asyncio.sleep(0.1)
    assert exports.batches == [[0, 1, 2]]  # the partial batch waits for the delay
    await asyncio.sleep(0.4)
    assert exports.batches == [[0, 1, 2], [3, 4]]
    assert await queue.aclose(5)


async def test_a_failing_export_does_not_stop_the_next_ones() -> None:
    exports = Exports(fail=1)
    queue: BatchQueue[int] = BatchQueue(exports, max_queue=100, max_batch=2, delay_s=60)
    for item in range(4):
        queue.add(item)
    with structlog.testing.capture_logs() as logs:
        assert await queue.aclose(5)
    assert exports.batches == [[2, 3]]
    assert any(log["event"] == "span export failed" for log in logs)


def spans(count: int) -> list[bytes]:
    encoder = SpanEncoder({}, "gateway")
    out = []
    for i in range(count):
        span = Span(f"chat {i}", SERVER, i + 1, i + 1, 0, False, "", {"i": i}, print)
        span.end_time = span.start_time + 1
        out.append(encoder.span(span))
    return out


def exporter(
    receiver: OtlpReceiver, timeout_s: float = 5.0, **env: str
) -> tuple[OtlpHttpExporter, SpanEncoder]:
    target = OtlpTarget.resolve(None, None, timeout_s, {**env})
    return OtlpHttpExporter(target), SpanEncoder({"service.name": "queue-test"}, "gateway")


async def test_overload_is_retried_after_its_retry_after(receiver: OtlpReceiver) -> None:
    receiver.answer((503, {"Retry-After": "0"}), (429, {"Retry-After": "0.1"}), (200, {}))
    http, encoder = exporter(
        receiver, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=receiver.endpoint + "/v1/traces"
    )
    assert await http.export(encoder.request(spans(3)), 3)
    assert len(receiver.headers) == 3
    assert sorted(s.name for s in receiver.received()) == ["chat 0", "chat 1", "chat 2"]
    assert receiver.received()[0].resource == {"service.name": "queue-test"}
    await http.aclose()


async def test_a_refused_batch_is_not_retried(receiver: OtlpReceiver) -> None:
    receiver.answer((400, {}))
    http, encoder = exporter(receiver, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)
    with structlog.testing.capture_logs() as logs:
        assert not await http.export(encoder.request(spans(1)), 1)
    assert len(receiver.headers) == 1
    assert [log["status"] for log in logs if log["event"] == "span export refused"] == [400]
    await http.aclose()


async def test_headers_and_compression_from_the_standard_variables(
    receiver: OtlpReceiver,
) -> None:
    http, encoder = exporter(
        receiver,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint + "/",
        OTEL_EXPORTER_OTLP_HEADERS="x-api-key=secret%20value, Tenant=a",
        OTEL_EXPORTER_OTLP_TRACES_COMPRESSION="gzip",
    )
    assert await http.export(encoder.request(spans(2)), 2)
    (sent,) = receiver.headers
    assert sent["x-api-key"] == "secret value" and sent["tenant"] == "a"
    assert sent["content-encoding"] == "gzip"
    assert sent["content-type"] == "application/x-protobuf"
    assert len(receiver.received()) == 2
    await http.aclose()


async def test_a_collector_that_is_down_costs_the_export_timeout_at_most() -> None:
    target = OtlpTarget.resolve(f"http://127.0.0.1:{free_port()}/v1/traces", {}, 0.5, {})
    http = OtlpHttpExporter(target)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with structlog.testing.capture_logs() as logs:
        assert not await http.export(SpanEncoder({}, "gateway").request(spans(1)), 1)
    assert loop.time() - started < 1.5
    (failed,) = [log for log in logs if log["event"] == "span export failed"]
    assert failed["attempts"] >= 1
    await http.aclose()
