"""The metrics observer in-process: lock-free values render exactly like
prometheus-client's, labels stay bounded, cooldowns are labelled by catalog alias."""

from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gateway.config.loader import load_config_text
from gateway.observability.exposition import ScrapeCollector, render
from gateway.observability.fastmetrics import FastCounter, FastGauge, FastHistogram
from gateway.observability.metrics import (
    TOKEN_USAGE_BUCKETS,
    CooldownLabels,
    GatewayMetrics,
)
from gateway.observability.record import AttemptRecord, RequestRecord, Usage
from gateway.routing.table import RouteTable
from gateway.runtime import build_snapshot
from gateway.state.memory import MemoryStateStore

CONFIG = """
providers:
  p: {kind: mock}
  q: {kind: mock}
models:
  a: {provider: p, model: shared-upstream}
  b: {provider: p, model: shared-upstream}
  c: {provider: q}
routes:
  chat: {pool: [a, c]}
"""


def test_fast_values_render_like_prometheus_client() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    counter, gauge = FastCounter("c", "doc", ["x"]), FastGauge("g", "doc", ["x"])
    histogram = FastHistogram("h", "doc", ["x"], TOKEN_USAGE_BUCKETS)
    bare = FastHistogram("bare", "doc", [], (0.5, 1.0))
    for family in (counter, gauge, histogram, bare):
        ours.register(family)
    ref_counter = Counter("c", "doc", ["x"], registry=theirs)
    ref_gauge = Gauge("g", "doc", ["x"], registry=theirs)
    ref_histogram = Histogram("h", "doc", ["x"], registry=theirs, buckets=TOKEN_USAGE_BUCKETS)
    Histogram("bare", "doc", registry=theirs, buckets=(0.5, 1.0))
    for value in (0, 1, 3, 4, 5, 16, 1000, 10**9):
        histogram.labels("v").observe(value)  # type: ignore[attr-defined]
        ref_histogram.labels("v").observe(value)
    counter.labels("v").inc(2.5)  # type: ignore[attr-defined]
    ref_counter.labels("v").inc(2.5)
    gauge.labels("v").inc()  # type: ignore[attr-defined]
    gauge.labels("v").dec(3)  # type: ignore[attr-defined]
    ref_gauge.labels("v").inc()
    ref_gauge.labels("v").dec(3)
    assert generate_latest(ours) == generate_latest(theirs)


def test_fast_labels_must_match() -> None:
    with pytest.raises(ValueError):
        FastCounter("c", "doc", ["x", "y"]).labels("only-one")


def test_cooldown_labels_are_catalog_aliases_or_direct() -> None:
    labels = CooldownLabels(RouteTable(load_config_text(CONFIG)))
    assert labels("p/shared-upstream") == ("p", "a")  # first alias alphabetically
    assert labels("q/c") == ("q", "c")
    assert labels("p/anything-a-client-chose") == ("p", "direct:p")


def _record(route: str, label: str, alias: str, status: int = 200) -> RequestRecord:
    record = RequestRecord(request_id="r", started=0.0, route=route, route_label=label)
    record.attempts = [AttemptRecord(alias, "p", alias, "success", status, 0.001)]
    record.provider, record.alias, record.status = "p", alias, status
    record.usage, record.cost_pico_usd = Usage(5, 2, 0), 500_000_000_000
    record.latency_s, record.upstream_s = 0.004, 0.003
    return record


def test_direct_names_and_in_flight_and_cooldowns() -> None:
    state = MemoryStateStore()
    metrics = GatewayMetrics(state, build_snapshot(load_config_text(CONFIG), state))
    metrics.registry.register(ScrapeCollector(metrics, None))
    for i in range(3):
        record = _record(f"p/model-{i}", "direct:p", f"p/model-{i}")
        metrics.on_request_start(record)
        metrics.on_request_done(record)
    pending = _record("chat", "chat", "a")
    metrics.on_request_start(pending)
    state.park("p/shared-upstream", time.time() + 60, "rate_limited")
    state.park("p/model-1", time.time() + 60, "timeout")
    text = render(metrics, metrics.registry).decode()

    assert "model-" not in text
    assert 'gateway_requests_total{route="direct:p",status_class="2xx"} 3.0' in text
    assert 'gateway_in_flight_requests{route="chat"} 1.0' in text
    assert 'gateway_in_flight_requests{route="direct:p"} 0.0' in text
    assert 'gateway_cooldown_active{model="a",provider="p"} 1.0' in text
    assert 'gateway_cooldown_active{model="c",provider="q"} 0.0' in text
    assert 'gateway_cooldown_active{model="direct:p",provider="p"} 1.0' in text
    assert 'gateway_cooldowns_total{model="a",provider="p",reason="rate_limited"} 1.0' in text
    assert 'gateway_route_available_members{route="chat"} 1.0' in text
    assert 'gateway_cost_usd_total{model="direct:p",route="direct:p"} 1.5' in text

    state.errors_total = 4  # what a Redis store counts when it cannot reach Redis
    assert "gateway_state_errors_total 4.0" in render(metrics, metrics.registry).decode()
