"""Lock-free counters, gauges and histograms for the one-worker case.

prometheus-client guards every value with a lock, which costs more than the rest
of a request's bookkeeping. A single-worker gateway updates its metrics from one
event-loop thread only, so plain attributes do; a scrape renders them through the
same prometheus-client families, so the text is the same as with its own metrics.
Several workers use prometheus-client's multiprocess values instead.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString


class CounterChild:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class GaugeChild(CounterChild):
    __slots__ = ()

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def set(self, value: float) -> None:
        self.value = value


class HistogramChild:
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        # bisect_left: the first bound >= amount, i.e. the bucket with le >= amount.
        self.counts[bisect_left(self.bounds, amount)] += 1
        self.sum += amount


class _Family:
    kind = ""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = list(labelnames)
        self.children: dict[tuple[str, ...], object] = {}

    def _child(self) -> object:
        raise NotImplementedError

    def labels(self, *values: str) -> object:
        key = tuple(values)
        if len(key) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {key}")
        child = self.children.get(key)
        if child is None:
            child = self.children[key] = self._child()
        return child


class FastCounter(_Family):
    def _child(self) -> CounterChild:
        return CounterChild()

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, child in self.children.items():
            assert isinstance(child, CounterChild)
            family.add_metric(key, child.value)
        if not self.labelnames and not self.children:
            family.add_metric((), 0.0)
        yield family


class FastGauge(_Family):
    def _child(self) -> GaugeChild:
        return GaugeChild()

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, child in self.children.items():
            assert isinstance(child, GaugeChild)
            family.add_metric(key, child.value)
        yield family


class FastHistogram(_Family):
    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = (),
    ) -> None:
        super().__init__(name, documentation, labelnames)
        self.bounds = tuple(float(b) for b in buckets)
        self._les = [floatToGoString(b) for b in self.bounds] + ["+Inf"]  # type: ignore[no-untyped-call]

    def _child(self) -> HistogramChild:
        return HistogramChild(self.bounds)

    def collect(self) -> Iterable[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        children = list(self.children.items())
        if not self.labelnames and not children:
            children = [((), HistogramChild(self.bounds))]
        for key, child in children:
            assert isinstance(child, HistogramChild)
            total = 0
            buckets = []
            for le, count in zip(self._les, child.counts, strict=True):
                total += count
                buckets.append((le, float(total)))
            family.add_metric(key, buckets, child.sum)
        yield family
