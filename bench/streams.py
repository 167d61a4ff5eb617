"""Thousands of streams held open at once, with the server's peak RSS sampled meanwhile."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from bench.harness import LoadResult, Service, run_wrk


def held_streams(
    server: Service,
    body: dict[str, Any],
    *,
    connections: int,
    duration_s: float,
    cpu: int | None,
    workdir: Path,
    sample_every_s: float = 0.2,
) -> tuple[LoadResult, float]:
    """wrk holding `connections` streams open against `server`; returns the load result
    and the server's peak RSS (MB), sampled every `sample_every_s` seconds."""
    peak = server.rss_mb()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(sample_every_s):
            peak = max(peak, server.rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = run_wrk(
            f"http://127.0.0.1:{server.port}/v1/chat/completions",
            body,
            connections=connections,
            duration_s=duration_s,
            cpu=cpu,
            workdir=workdir,
            timeout_s=30,
        )
    finally:
        done.set()
        sampler.join()
    return result, peak
