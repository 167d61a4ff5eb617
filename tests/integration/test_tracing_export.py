"""Traces over a real socket: a ``gateway serve`` exports OTLP/HTTP protobuf to a local
receiver, configured only by the standard ``OTEL_*`` variables, and the batch still
pending when it gets SIGTERM is flushed before it exits. With tracing off neither the
SDK nor the exporter is even imported."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.conftest import GatewayFactory
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream, error, ok
from tests.support.otlp_receiver import OtlpReceiver

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN_ID = "b7ad6b7169203331"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver().start()
    yield server
    server.stop()


def test_otlp_export_over_http_flushed_at_sigterm(
    fake_upstream: FakeUpstream, receiver: OtlpReceiver, gateway_factory: GatewayFactory
) -> None:
    config = upstream_config(fake_upstream.base_url, ["m1", "m2"])
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_SERVICE_NAME": "gateway-under-test",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
        # Longer than the test: only the flush at shutdown can deliver the spans.
        "OTEL_BSP_SCHEDULE_DELAY": "60000",
    }
    gw = gateway_factory(config, env=env)
    fake_upstream.set("m1", error(502, "bad gateway"))
    fake_upstream.set("m2", ok())
    # The client is the openai SDK, as an instrumented application would call it.
    client = openai.OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0)
    response = client.chat.completions.with_raw_response.create(
        model="chat",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"},
    )
    assert response.parse().choices[0].finish_reason == "stop"
    assert response.headers["x-gateway-attempts"] == "2"
    assert receiver.received() == []  # still batched

    gw.signal(signal.SIGTERM)
    assert gw.proc is not None
    gw.proc.wait(15)  # uvicorn shuts down gracefully, then re-raises the signal
    spans = receiver.received()
    assert receiver.content_types == ["application/x-protobuf"]
    assert sorted((s.kind, s.name) for s in spans) == [
        ("client", "chat m1"),
        ("client", "chat m2"),
        ("server", "chat chat"),
    ]
    by_name = {s.name: s for s in spans}
    server = by_name["chat chat"]
    assert {s.trace_id for s in spans} == {TRACE_ID}
    assert server.parent_span_id == CLIENT_SPAN_ID
    assert by_name["chat m1"].parent_span_id == server.span_id
    assert by_name["chat m2"].parent_span_id == server.span_id
    assert server.resource["service.name"] == "gateway-under-test"
    assert server.resource["deployment.environment"] == "test"
    assert server.attributes["gen_ai.operation.name"] == "chat"
    assert server.attributes["gen_ai.provider.name"] == "openai"
    assert server.attributes["gen_ai.response.model"] == "m2"
    assert server.attributes["gen_ai.usage.input_tokens"] == 11
    assert server.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert server.attributes["gateway.attempts"] == 2
    assert by_name["chat m1"].attributes["error.type"] == "upstream_5xx"
    assert by_name["chat m1"].status_code == 2  # STATUS_CODE_ERROR

    # The request's log line names its span, so a log search leads to the trace.
    line = next(line for line in gw.log_lines() if line.get("event") == "request")
    assert (line["trace_id"], line["span_id"]) == (TRACE_ID, server.span_id)

    # What the fake upstream saw: each attempt's own span as its parent.
    sent = [hit.headers.get("traceparent") for hit in fake_upstream.hits()]
    assert sent == [
        f"00-{TRACE_ID}-{by_name['chat m1'].span_id}-01",
        f"00-{TRACE_ID}-{by_name['chat m2'].span_id}-01",
    ]


def test_tracing_off_imports_nothing_and_keeps_the_plain_attempt_loop(tmp_path: Path) -> None:
    script = """
import sys
from gateway.app import create_app
from gateway.config.loader import load_config_text
from gateway.resilience.attempts import AttemptRunner

app = create_app(load_config_text("providers: {m: {kind: mock}}\\nroutes: {}\\n"))
gateway = app.app.state.gateway
assert gateway.tracing is None
assert type(gateway.snapshot.runner) is AttemptRunner
assert gateway.snapshot.runner.hook is None
# FastAPI itself imports the OpenTelemetry API when it is installed; the SDK and the
# exporter are the gateway's to load, and only when tracing is on.
sdk = ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.proto")
loaded = sorted(m for m in sys.modules if m.startswith(sdk))
assert not loaded, loaded
assert "gateway.observability.tracing.runtime" not in sys.modules
print("ok")
"""
    env = {"PATH": "/usr/bin:/bin", "OTEL_SERVICE_NAME": "unused-without-an-endpoint"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
