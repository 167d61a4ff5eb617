"""The response headers of a triage route's answer."""

from __future__ import annotations

from gateway.config.triage import TIERS
from gateway.routing.triage.outcome import REASONS, TriageOutcome

TierHeaders = tuple[tuple[bytes, bytes], tuple[bytes, bytes]]

# Every tier and reason is known in advance: each pair of headers is encoded once.
_HEADERS: dict[str, dict[str, TierHeaders]] = {
    tier: {
        reason: ((b"x-gateway-tier", tier.encode()), (b"x-gateway-tier-reason", reason.encode()))
        for reason in REASONS
    }
    for tier in TIERS
}


def tier_headers(outcome: TriageOutcome) -> TierHeaders:
    return _HEADERS[outcome.tier][outcome.reason]
