"""One measured run of a comparison in alternating rounds: the load and the gateway's
CPU time per request served in it.

Rows that compare a feature with a plain request (a door against chat, a cache hit
against a pass-through) load both on the same warm gateway in runs seconds apart and
report the median of the rounds' ratios: a row divided by one measured minutes earlier
measures the machine's drift. The CPU per request says what the feature costs in work,
which a busy machine blurs less than requests per second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.harness import LoadResult, Service

if TYPE_CHECKING:
    from bench.run import Bench


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
