"""OpenAI's rate-limit headers, so the SDKs' own backoff works against the gateway."""

from __future__ import annotations

import math

from gateway.governance.quota import WindowQuota

RawHeaders = list[tuple[bytes, bytes]]


def duration(seconds: float) -> str:
    """OpenAI's reset format: ``20ms``, ``12s``, ``1m0s``."""
    if seconds < 1:
        return f"{max(1, math.ceil(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def _tightest(quotas: list[WindowQuota], shared: bool) -> tuple[WindowQuota, int] | None:
    best: tuple[WindowQuota, int] | None = None
    for quota in quotas:
        remaining = quota.remaining(shared)
        if best is None or remaining < best[1]:
            best = (quota, remaining)
    return best


def ratelimit_headers(
    requests: list[WindowQuota], tokens: list[WindowQuota], shared: bool, reset_s: float
) -> RawHeaders:
    """The tightest of the caller's request and token limits (key's or team's)."""
    out: RawHeaders = []
    reset = duration(reset_s).encode()
    for kind, quotas in (("requests", requests), ("tokens", tokens)):
        tightest = _tightest(quotas, shared)
        if tightest is None:
            continue
        quota, remaining = tightest
        out += [
            (f"x-ratelimit-limit-{kind}".encode(), str(quota.limit).encode()),
            (f"x-ratelimit-remaining-{kind}".encode(), str(remaining).encode()),
            (f"x-ratelimit-reset-{kind}".encode(), reset),
        ]
    return out
