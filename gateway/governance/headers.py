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


# Resets of one-minute windows, by whole seconds: built once, not per answer.
_RESETS = [duration(s).encode() for s in range(61)]
_NAMES = {
    kind: tuple(f"x-ratelimit-{part}-{kind}".encode() for part in ("limit", "remaining", "reset"))
    for kind in ("requests", "tokens")
}


def _reset(seconds: float) -> bytes:
    return _RESETS[math.ceil(seconds)] if 1 <= seconds <= 60 else duration(seconds).encode()


def ratelimit_headers(
    requests: list[WindowQuota], tokens: list[WindowQuota], shared: bool, reset_s: float
) -> RawHeaders:
    """The tightest of the caller's request and token limits (key's or team's)."""
    out: RawHeaders = []
    reset = _reset(reset_s)
    for kind, quotas in (("requests", requests), ("tokens", tokens)):
        if not quotas:
            continue
        best = quotas[0]
        remaining = best.remaining(shared)
        if len(quotas) > 1:
            for quota in quotas[1:]:
                left = quota.remaining(shared)
                if left < remaining:
                    best, remaining = quota, left
        limit_name, remaining_name, reset_name = _NAMES[kind]
        out.append((limit_name, best.limit_header))
        out.append((remaining_name, str(remaining).encode()))
        out.append((reset_name, reset))
    return out
