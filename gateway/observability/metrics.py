"""Prometheus metrics (spec §7), recorded by a request observer.

Names follow the OpenTelemetry GenAI semantic conventions where one exists, with
their recommended bucket boundaries. Every label value is bounded by the config:
routes, catalog aliases, provider names, profiles, outcome and error names; a
client-chosen ``provider/model`` name is always reduced to ``direct:<provider>``.

The hot path resolves label children once and keeps them in dicts keyed by their
label tuple, so a request costs a few dict lookups and child increments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from gateway.observability.exact_counter import ExactUsdCounter
from gateway.observability.fastmetrics import FastCounter, FastGauge, FastHistogram
from gateway.observability.multiprocess import (
    LabelsOrSelf,
    mark_dead_workers,
    multiprocess_dir,
)
from gateway.observability.record import RequestRecord
from gateway.routing.triage.outcome import FALLBACK_REASONS
from gateway.state.base import StateStore

if TYPE_CHECKING:
    from gateway.routing.table import RouteTable
    from gateway.runtime import Snapshot

# gen_ai.client.operation.duration (seconds)
OPERATION_DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
# gen_ai.client.token.usage ({token})
TOKEN_USAGE_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
# gen_ai.server.time_to_first_token (seconds)
TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
# The gateway's own work per request: tens of microseconds is the target.
OVERHEAD_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip
# A triage decision: microseconds for a heuristic, a classifier round trip otherwise.
TRIAGE_BUCKETS = (
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

GENAI_LABELS = (
    "gen_ai_operation_name",
    "gen_ai_provider_name",
    "gen_ai_request_model",
    "gen_ai_response_model",
    "route",
    "error_type",
)
PARKED_UNTIL = "gateway_cooldown_parked_until"  # internal: multiprocess only, not exposed

disable_created_metrics()  # type: ignore[no-untyped-call]


_STATUS_CLASSES = {status: f"{status // 100}xx" for status in range(100, 600)}


def _status_class(status: int) -> str:
    return _STATUS_CLASSES.get(status, "unknown")


class CooldownLabels:
    """Maps a cooldown key (``provider/upstream-model``) to bounded ``(provider, model)``
    labels: the catalog alias (the first alphabetically when several aliases name the
    same upstream model), else ``direct:<provider>``."""

    def __init__(self, table: RouteTable) -> None:
        self.table = table
        self.by_key: dict[str, tuple[str, str]] = {}
        for alias in sorted(table.aliases):
            member = table.aliases[alias].pool[0]
            self.by_key.setdefault(member.cooldown_key, (member.provider, alias))

    def __call__(self, key: str) -> tuple[str, str]:
        labels = self.by_key.get(key)
        if labels is None:
            provider = key.partition("/")[0]
            labels = (provider, f"direct:{provider}")
        return labels


@dataclass(slots=True)
class _Series:
    """The label children one kind of finished request touches."""

    genai: tuple[str, ...]
    requests: Any
    duration: Any
    profile: Any
    # Created on first use, so failed requests leave no empty token/cost/TTFT series.
    input_tokens: Any = None
    output_tokens: Any = None
    cost: ExactUsdCounter | None = None
    ttft: Any = None


class GatewayMetrics:
    """A request observer that records every metric; also the park listener."""

    def __init__(self, state: StateStore, snapshot: Snapshot) -> None:
        self.state = state
        self._snapshot_source: Callable[[], Snapshot] = lambda: snapshot
        self._labels: CooldownLabels | None = None
        self.multiprocess = multiprocess_dir() is not None
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = self._counter(
            "gateway_requests", "Chat requests by route and status class",
            ["route", "status_class"],
        )  # fmt: skip
        self.attempts = self._counter(
            "gateway_attempts", "Upstream attempts by pool member and outcome",
            ["route", "provider", "model", "outcome"],
        )  # fmt: skip
        self.fallbacks = self._counter(
            "gateway_fallbacks", "Moves from a failed member to the next one",
            ["route", "from_model", "to_model"],
        )  # fmt: skip
        self.cooldowns = self._counter(
            "gateway_cooldowns", "Members parked (or parked longer) by this gateway",
            ["provider", "model", "reason"],
        )  # fmt: skip
        self.cost = self._counter(
            "gateway_cost_usd", "Cost of the answered requests in USD", ["route", "model"]
        )
        self.health_checks = self._counter(
            "gateway_health_checks", "Background health checks of parked members by outcome",
            ["provider", "model", "outcome"],
        )  # fmt: skip
        self.profiles = self._counter(
            "gateway_profile_requests", "Routed requests by the QoS profile that served them",
            ["route", "profile"],
        )  # fmt: skip
        self.cache_requests = self._counter(
            "gateway_cache_requests", "Response cache verdicts: hit, miss or bypass",
            ["route", "result"],
        )  # fmt: skip
        self.cache_saved = self._counter(
            "gateway_cache_saved_usd", "What the answers served from the cache cost when made",
            ["route"],
        )  # fmt: skip
        self.state_errors = self._counter(
            "gateway_state_errors", "Failed operations against the shared state store", []
        ).labels()
        self.in_flight = self._gauge(
            "gateway_in_flight_requests", "Chat requests being served", ["route"], "livesum"
        )
        self.duration = self._histogram(
            "gen_ai_client_operation_duration_seconds", "GenAI operation duration",
            GENAI_LABELS, OPERATION_DURATION_BUCKETS,
        )  # fmt: skip
        self.tokens = self._histogram(
            "gen_ai_client_token_usage", "Input and output tokens used",
            (*GENAI_LABELS, "gen_ai_token_type"), TOKEN_USAGE_BUCKETS,
        )  # fmt: skip
        self.ttft = self._histogram(
            "gateway_time_to_first_token_seconds", "Streams: time until the first byte",
            ["route", "model"], TTFT_BUCKETS,
        )  # fmt: skip
        self.overhead = self._histogram(
            "gateway_overhead_seconds",
            "Time spent in the gateway: latency (time to first byte for streams) "
            "minus time waiting on upstreams",
            [], OVERHEAD_BUCKETS,
        ).labels()  # fmt: skip
        self.triage_decisions = self._counter(
            "gateway_triage_decisions", "Triage decisions by the tier that answered and why",
            ["route", "tier", "reason"],
        )  # fmt: skip
        self.triage_fallbacks = self._counter(
            "gateway_triage_fallbacks", "Triage decisions that fell back to the default tier",
            ["route", "reason"],
        )  # fmt: skip
        self.triage_duration = self._histogram(
            "gateway_triage_duration_seconds", "Time to decide a triage route's tier",
            ["route"], TRIAGE_BUCKETS,
        )  # fmt: skip
        self._parked_until: Any = None
        if self.multiprocess:
            # Shares each worker's parks with whichever worker answers the scrape.
            self._parked_until = self._gauge(
                PARKED_UNTIL, "Unix time a member is parked until (internal)",
                ["provider", "model"], "livemax",
            )  # fmt: skip
            mark_dead_workers()
        self._series: dict[tuple[str, str, str, str, str, str | None, str], _Series] = {}
        self._attempt_children: dict[tuple[str, str, str, str], Any] = {}
        self._fallback_children: dict[tuple[str, str, str], Any] = {}
        self._in_flight_children: dict[str, Any] = {}
        self._cost_children: dict[tuple[str, str], ExactUsdCounter] = {}
        self._saved_children: dict[str, ExactUsdCounter] = {}
        self._triage_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._until: dict[tuple[str, str], float] = {}
        self._state_errors_seen = 0
        state.add_park_listener(self._on_park)

    # -- construction: prometheus-client values with several workers, else lock-free ones
    def _counter(self, name: str, doc: str, labels: Sequence[str]) -> Any:
        if self.multiprocess:
            return LabelsOrSelf(Counter(name, doc, labels, registry=self.registry))
        family = FastCounter(name, doc, labels)
        self.registry.register(family)
        return family

    def _gauge(self, name: str, doc: str, labels: Sequence[str], mode: str) -> Any:
        if self.multiprocess:
            return Gauge(name, doc, labels, registry=self.registry, multiprocess_mode=mode)  # type: ignore[arg-type]
        family = FastGauge(name, doc, labels)
        self.registry.register(family)
        return family

    def _histogram(
        self, name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]
    ) -> Any:
        if self.multiprocess:
            metric = Histogram(name, doc, labels, registry=self.registry, buckets=buckets)
            return LabelsOrSelf(metric)
        family = FastHistogram(name, doc, labels, buckets)
        self.registry.register(family)
        return family

    # -- wiring ----------------------------------------------------------------
    def bind(self, source: Callable[[], Snapshot]) -> None:
        """Follow the gateway's current snapshot (config reloads change the catalog)."""
        self._snapshot_source = source

    def snapshot(self) -> Snapshot:
        return self._snapshot_source()

    def cooldown_labels(self) -> CooldownLabels:
        table = self._snapshot_source().table
        labels = self._labels
        if labels is None or labels.table is not table:
            labels = self._labels = CooldownLabels(table)
        return labels

    # -- observer ---------------------------------------------------------------
    def on_request_start(self, record: RequestRecord) -> None:
        child = self._in_flight_children.get(record.route_label)
        if child is None:
            child = self.in_flight.labels(record.route_label)
            self._in_flight_children[record.route_label] = child
        child.inc()

    def on_request_done(self, record: RequestRecord) -> None:
        route = record.route_label
        routed = record.route is not None
        if routed:
            in_flight = self._in_flight_children.get(route)
            if in_flight is not None:
                in_flight.dec()
        direct = route.startswith("direct:")
        model = route if direct else (record.alias or "")
        key = (
            route,
            record.provider or "",
            model,
            _status_class(record.status),
            record.error_type or "",
            (record.profile or "none") if routed else None,
            record.gen_ai_operation,
        )
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = self._new_series(key)
        series.requests.inc()
        series.duration.observe(record.latency_s)
        if series.profile is not None:
            series.profile.inc()
        usage = record.usage
        if usage is not None:
            if series.input_tokens is None:
                series.input_tokens = self.tokens.labels(*series.genai, "input")
                series.output_tokens = self.tokens.labels(*series.genai, "output")
            series.input_tokens.observe(usage.input_tokens)
            if record.operation != "embeddings":  # embeddings have input tokens only
                series.output_tokens.observe(usage.output_tokens)
        if record.cost_pico_usd:
            if series.cost is None:
                series.cost = self._cost_counter(route, model)
            series.cost.add(record.cost_pico_usd)
        ttft = record.ttft_s
        if ttft is not None:
            if series.ttft is None:
                series.ttft = self.ttft.labels(route, model)
            series.ttft.observe(ttft)
            self.overhead.observe(max(0.0, ttft - record.upstream_s))
        else:
            self.overhead.observe(max(0.0, record.latency_s - record.upstream_s))
        if record.attempts:
            self._count_attempts(record, route, direct)
        if record.cache != "off":
            self.cache_requests.labels(route, record.cache).inc()
            if record.saved_cost_pico_usd:
                self._saved_counter(route).add(record.saved_cost_pico_usd)
        if record.triage is not None:
            self._count_triage(record, route)
        if self.state.errors_total != self._state_errors_seen:
            self.sync_state_errors()

    def _count_triage(self, record: RequestRecord, route: str) -> None:
        triage = record.triage
        assert triage is not None
        key = (route, triage.tier, triage.reason)
        children = self._triage_children.get(key)
        if children is None:
            children = self._triage_children[key] = (
                self.triage_decisions.labels(*key),
                self.triage_duration.labels(route),
            )
        children[0].inc()
        children[1].observe(triage.duration_s)
        if triage.decided_by in FALLBACK_REASONS:
            self.triage_fallbacks.labels(route, triage.decided_by).inc()
        call = triage.classifier
        if call is not None:
            # The classifier's attempts and cost count under the route like the answer's.
            self._count_attempts(call, route, False)
            if call.cost_pico_usd:
                self._cost_counter(route, call.alias or "").add(call.cost_pico_usd)

    def _count_attempts(self, record: RequestRecord, route: str, direct: bool) -> None:
        previous: str | None = None
        for attempt in record.attempts:
            member = route if direct else attempt.alias
            key = (route, attempt.provider, member, attempt.outcome)
            child = self._attempt_children.get(key)
            if child is None:
                child = self._attempt_children[key] = self.attempts.labels(*key)
            child.inc()
            if previous is not None and previous != member:
                move = (route, previous, member)
                fallback = self._fallback_children.get(move)
                if fallback is None:
                    fallback = self._fallback_children[move] = self.fallbacks.labels(*move)
                fallback.inc()
            previous = member

    def _saved_counter(self, route: str) -> ExactUsdCounter:
        counter = self._saved_children.get(route)
        if counter is None:
            counter = self._saved_children[route] = ExactUsdCounter(self.cache_saved.labels(route))
        return counter

    def _cost_counter(self, route: str, model: str) -> ExactUsdCounter:
        # One exact sum per label child, whichever status or error series feeds it.
        counter = self._cost_children.get((route, model))
        if counter is None:
            counter = ExactUsdCounter(self.cost.labels(route, model))
            self._cost_children[route, model] = counter
        return counter

    def _new_series(self, key: tuple[str, str, str, str, str, str | None, str]) -> _Series:
        route, provider, model, status_class, error_type, profile, operation = key
        genai = (
            operation,
            provider,
            route,
            model,
            route,
            error_type,
        )
        return _Series(
            genai=genai,
            requests=self.requests.labels(route, status_class),
            duration=self.duration.labels(*genai),
            profile=self.profiles.labels(route, profile) if profile is not None else None,
        )

    # -- cooldowns and state ----------------------------------------------------
    def _on_park(self, key: str, until: float, reason: str) -> None:
        provider, model = labels = self.cooldown_labels()(key)
        self.cooldowns.labels(provider, model, reason).inc()
        if self._parked_until is not None and until > self._until.get(labels, 0.0):
            self._until[labels] = until
            self._parked_until.labels(provider, model).set(until)

    def count_health_check(self, key: str, outcome: str) -> None:
        provider, model = self.cooldown_labels()(key)
        self.health_checks.labels(provider, model, outcome).inc()

    def sync_state_errors(self) -> None:
        """Carry the store's error count (``StateStore.errors_total``) into the counter."""
        total = int(getattr(self.state, "errors_total", 0))
        if total > self._state_errors_seen:
            self.state_errors.inc(total - self._state_errors_seen)
        self._state_errors_seen = total
