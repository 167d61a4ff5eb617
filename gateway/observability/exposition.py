"""``GET /metrics`` and the values computed at scrape time.

One worker: the metrics' own registry is rendered as is. Several workers
(``gateway serve --workers N``): the CLI gives them a fresh
``PROMETHEUS_MULTIPROC_DIR`` and every scrape sums all workers' files, so
whichever worker answers reports the totals of all of them.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

from gateway.governance.metrics import BudgetCollector
from gateway.observability.metrics import PARKED_UNTIL, GatewayMetrics
from gateway.observability.multiprocess import multiprocess_dir

if TYPE_CHECKING:
    from gateway.runtime import Gateway

ENV = "PROMETHEUS_MULTIPROC_DIR"


class ScrapeCollector:
    """Cooldown gauges from the state store's ``CooldownBook`` (plus, with several
    workers, every worker's parks), and pool availability per route."""

    def __init__(self, metrics: GatewayMetrics, path: str | None) -> None:
        self.metrics = metrics
        self.files = MultiProcessCollector(None, path) if path else None  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        now = time.time()
        labels = self.metrics.cooldown_labels()
        parked: dict[tuple[str, str], int] = {}
        for key in self.metrics.state.cooldowns.active(now):
            pair = labels(key)
            parked[pair] = parked.get(pair, 0) + 1
        if self.files is not None:
            for family in self.files.collect():  # type: ignore[no-untyped-call]
                if family.name != PARKED_UNTIL:
                    yield family
                    continue
                for sample in family.samples:
                    if sample.value > now:
                        pair = (sample.labels["provider"], sample.labels["model"])
                        parked[pair] = max(parked.get(pair, 0), 1)
        active = GaugeMetricFamily(
            "gateway_cooldown_active",
            "Parked members (catalog models: 0 or 1; direct:<provider>: how many)",
            labels=["provider", "model"],
        )
        known = set(labels.by_key.values())
        for pair in sorted(known):
            active.add_metric(list(pair), parked.get(pair, 0))
        for pair, count in sorted(parked.items()):
            if pair not in known:
                active.add_metric(list(pair), count)
        yield active
        yield self._available(set(parked))

    def _available(self, parked: set[tuple[str, str]]) -> Metric:
        snapshot = self.metrics.snapshot()
        labels = self.metrics.cooldown_labels()
        family = GaugeMetricFamily(
            "gateway_route_available_members",
            "Members of the route's pool (active profile) that are not parked",
            labels=["route"],
        )
        for name, route in snapshot.table.routes.items():
            members = route.members_for(snapshot.profile)
            free = sum(1 for m in members if labels(m.cooldown_key) not in parked)
            family.add_metric([name], free)
        return family


def render(metrics: GatewayMetrics, registry: CollectorRegistry) -> bytes:
    metrics.sync_state_errors()
    return generate_latest(registry)


def metrics_endpoint(gateway: Gateway) -> Callable[[Request], Awaitable[Response]]:
    """The ``/metrics`` handler, bound to the gateway's ``GatewayMetrics`` observer."""
    metrics = next((o for o in gateway.observers if isinstance(o, GatewayMetrics)), None)
    if metrics is None:
        metrics = GatewayMetrics(gateway.state, gateway.snapshot)
        gateway.observers.append(metrics)
    metrics.bind(lambda: gateway.snapshot)
    path = multiprocess_dir()
    if path:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(ScrapeCollector(metrics, path))
    else:
        registry = metrics.registry
        registry.register(ScrapeCollector(metrics, None))
    registry.register(BudgetCollector(gateway.governor))
    bound = metrics

    async def endpoint(request: Request) -> Response:
        return Response(render(bound, registry), media_type=CONTENT_TYPE_LATEST)

    return endpoint


def prepare_multiprocess_metrics(workers: int) -> str | None:
    """``gateway serve``: a fresh shared-values directory for ``workers > 1``, set in
    the environment before uvicorn spawns the workers and removed when the process exits."""
    if workers <= 1:
        return None
    path = tempfile.mkdtemp(prefix="gateway-metrics-")
    os.environ[ENV] = path
    atexit.register(shutil.rmtree, path, True)
    return path
