"""Comparisons in alternating rounds: the runs, the run of median throughput, and the
median of the rounds' throughput ratios.

Rows that compare a feature with a plain request (a door against chat, a cache hit
against a pass-through, a traced gateway against an untraced one) load both in runs
seconds apart and report the median of the rounds' ratios: a row divided by one
measured minutes earlier measures the machine's drift. The CPU per request says what
the feature costs in work, which a busy machine blurs less than requests per second.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.harness import LoadResult, Service

if TYPE_CHECKING:
    from bench.run import Bench

CHAT_PATH = "/v1/chat/completions"


def median_run(runs: Sequence[LoadResult]) -> LoadResult:
    """The run of median throughput (the lower of the middle two of an even count)."""
    by_rps = sorted(runs, key=lambda run: run.rps)
    return by_rps[(len(by_rps) - 1) // 2]


def round_ratio(runs: Sequence[LoadResult], bases: Sequence[LoadResult]) -> float:
    """The median over the rounds of each round's throughput ratio: a round's runs are
    seconds apart, so their ratio cancels the machine's drift."""
    pairs = zip(runs, bases, strict=True)
    return statistics.median(run.rps / base.rps for run, base in pairs if base.rps)


def measured(
    bench: Bench,
    name: str,
    gateway: Service,
    path: str,
    body: dict[str, Any],
    duration: float,
    headers: dict[str, str] | None = None,
) -> tuple[LoadResult, float]:
    """One run on 64 connections (the gateway is warm), and the gateway's CPU
    microseconds per request served in it."""
    before = gateway.cpu_seconds()
    run = bench.load(
        name, gateway.port, body, 64, duration, headers=headers, path=path, warm_up=False
    )
    cpu = gateway.cpu_seconds() - before
    return run, cpu / max(1, run.requests) * 1e6


@dataclass(frozen=True)
class Load:
    """What one side of a comparison sends, and the name of its runs (``{name}_{i}``)."""

    name: str
    body: dict[str, Any]
    path: str = CHAT_PATH
    headers: dict[str, str] | None = None


@dataclass
class Comparison:
    """A side's runs against its base's, round by round, with the gateway's CPU
    microseconds per request in each."""

    runs: list[LoadResult] = field(default_factory=list)
    bases: list[LoadResult] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    base_cpu: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return round_ratio(self.runs, self.bases)

    @property
    def cpu_us(self) -> float:
        return round(statistics.median(self.cpu), 1)

    @property
    def base_cpu_us(self) -> float:
        return round(statistics.median(self.base_cpu), 1)


def alternate(bench: Bench, gateway: Service, base: Load, side: Load) -> Comparison:
    """Both loads on one warm gateway: the base, then the side, three rounds (one in a
    smoke run)."""
    rounds = 1 if bench.smoke else 3
    duration = max(2.0, bench.duration * 0.6)
    found = Comparison()
    for i in range(1, rounds + 1):
        run, cpu = measured(
            bench, f"{base.name}_{i}", gateway, base.path, base.body, duration, base.headers
        )
        found.bases.append(run)
        found.base_cpu.append(cpu)
        run, cpu = measured(
            bench, f"{side.name}_{i}", gateway, side.path, side.body, duration, side.headers
        )
        found.runs.append(run)
        found.cpu.append(cpu)
    return found
