"""Live routing signals per provider model: latency estimates and requests in flight.

Signals are keyed like cooldowns (``provider/upstream-model``): one provider model is
as fast or as busy whichever route reached it. A request only reads and writes this
board, in memory; the state store trades it with other replicas in the background
(``take_report`` then ``apply_shared``, about once a second), so no round trip to a
remote store sits on a request's path.

Latency estimates are exponentially weighted moving averages. A batch of ``n``
samples with mean ``m`` moves an estimate ``v`` to ``v + (1 - (1 - ALPHA) ** n) *
(m - v)``: the same rule whether the samples are merged one by one here, or as one
replica's batch in the shared store. In-flight counts are gauges: each replica
publishes its own current counts, and the shared view sums the live replicas'.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

# Weight of one new sample: after 3 samples of a new level an estimate has moved half
# way there (1 - 0.8 ** 3 = 0.49), after 10 samples 89 % of the way.
ALPHA = 0.2


class Metric(StrEnum):
    TTFT = "ttft_s"  # streams: time to the first event
    PER_TOKEN = "s_per_token"  # other answers: latency / output tokens
    OUTPUT_TOKENS = "output_tokens"  # tokens per answer, for the cost policy's estimate


def merge_ewma(value: float, samples: int, n: int, mean: float, alpha: float = ALPHA) -> float:
    """An estimate after ``n`` more samples of mean ``mean`` (the first batch sets it)."""
    if samples <= 0:
        return mean
    return value + (1.0 - (1.0 - alpha) ** n) * (mean - value)


@dataclass(slots=True)
class Estimate:
    value: float = 0.0
    samples: int = 0
    # Samples taken here since the last publish: what goes to the shared store.
    pending: int = 0
    pending_total: float = 0.0

    def add(self, sample: float) -> None:
        self.value = self.value + ALPHA * (sample - self.value) if self.samples else sample
        self.samples += 1
        self.pending += 1
        self.pending_total += sample


@dataclass(slots=True)
class MemberSignals:
    estimates: dict[Metric, Estimate] = field(default_factory=dict)
    in_flight: int = 0  # this replica
    others_in_flight: int = 0  # the other live replicas, as of the last shared view


@dataclass(frozen=True, slots=True)
class SignalReport:
    """One replica's news for the shared store: sample batches and its in-flight gauges."""

    samples: list[tuple[str, Metric, int, float]]  # key, metric, n, mean
    in_flight: dict[str, int]  # every count this replica has or had (0 = gone)


@dataclass(frozen=True, slots=True)
class SharedView:
    """The store's answer: every replica's estimates merged, the others' in-flight sums."""

    estimates: dict[tuple[str, Metric], Estimate]
    others_in_flight: dict[str, int]


class SignalBoard:
    """This replica's copy of the signals. ``enabled`` is set when some route uses an
    adaptive policy; when it is off, nothing records into the board."""

    def __init__(self) -> None:
        self.enabled = False
        self._tracked: frozenset[str] | None = None
        self._members: dict[str, MemberSignals] = {}
        self._published: set[str] = set()

    def _member(self, key: str) -> MemberSignals:
        member = self._members.get(key)
        if member is None:
            member = self._members[key] = MemberSignals()
        return member

    def track(self, keys: Iterable[str]) -> None:
        """Measure only these (the catalog's models): a client-chosen ``provider/model``
        name must not grow the board, or the shared hashes, without bound."""
        self._tracked = frozenset(keys)

    # -- the request path ----------------------------------------------------
    def started(self, key: str) -> None:
        if self._tracked is None or key in self._tracked:
            self._member(key).in_flight += 1

    def finished(self, key: str) -> None:
        member = self._members.get(key)
        if member is not None:
            member.in_flight = max(0, member.in_flight - 1)

    def observe(self, key: str, metric: Metric, value: float) -> None:
        if self._tracked is not None and key not in self._tracked:
            return
        estimates = self._member(key).estimates
        estimate = estimates.get(metric)
        if estimate is None:
            estimate = estimates[metric] = Estimate()
        estimate.add(value)

    def estimate(self, key: str, metric: Metric) -> float | None:
        member = self._members.get(key)
        if member is None:
            return None
        estimate = member.estimates.get(metric)
        return estimate.value if estimate is not None and estimate.samples else None

    def samples(self, key: str, metric: Metric) -> int:
        member = self._members.get(key)
        estimate = member.estimates.get(metric) if member is not None else None
        return estimate.samples if estimate is not None else 0

    def in_flight(self, key: str) -> int:
        member = self._members.get(key)
        return member.in_flight + member.others_in_flight if member is not None else 0

    # -- the background exchange ------------------------------------------------
    def take_report(self) -> SignalReport:
        samples = []
        for key, member in self._members.items():
            for metric, estimate in member.estimates.items():
                if estimate.pending:
                    mean = estimate.pending_total / estimate.pending
                    samples.append((key, metric, estimate.pending, mean))
                    estimate.pending, estimate.pending_total = 0, 0.0
        busy = {key for key, m in self._members.items() if m.in_flight}
        counts = {key: self._members[key].in_flight for key in busy | self._published}
        self._published = busy
        return SignalReport(samples, counts)

    def apply_shared(self, view: SharedView) -> None:
        """Adopt the shared view, then re-apply the samples taken since the report."""
        for (key, metric), shared in view.estimates.items():
            estimates = self._member(key).estimates
            local = estimates.get(metric)
            estimate = estimates[metric] = Estimate(shared.value, shared.samples)
            if local is not None and local.pending:
                estimate.pending, estimate.pending_total = local.pending, local.pending_total
                mean = local.pending_total / local.pending
                estimate.value = merge_ewma(shared.value, shared.samples, local.pending, mean)
                estimate.samples += local.pending
        for key, member in self._members.items():
            member.others_in_flight = view.others_in_flight.get(key, 0)
        for key in view.others_in_flight.keys() - self._members.keys():
            self._member(key).others_in_flight = view.others_in_flight[key]

    def lost_shared(self) -> None:
        """The shared store is away: serve on this replica's own signals. Counts are
        sent in full again once it is back (it may have dropped this replica's)."""
        for member in self._members.values():
            member.others_in_flight = 0
        self._published = set(self._members)

    def describe(self, keys: Iterable[str]) -> dict[str, dict[str, float | int | None]]:
        """The current estimates of ``keys``, in milliseconds, for the explain view."""
        out: dict[str, dict[str, float | int | None]] = {}
        for key in keys:
            ttft = self.estimate(key, Metric.TTFT)
            per_token = self.estimate(key, Metric.PER_TOKEN)
            tokens = self.estimate(key, Metric.OUTPUT_TOKENS)
            out[key] = {
                "ttft_ms": round(ttft * 1000, 3) if ttft is not None else None,
                "ms_per_output_token": round(per_token * 1000, 4)
                if per_token is not None
                else None,
                "output_tokens": round(tokens, 1) if tokens is not None else None,
                "samples": self.samples(key, Metric.TTFT) + self.samples(key, Metric.PER_TOKEN),
                "in_flight": self.in_flight(key),
            }
        return out
