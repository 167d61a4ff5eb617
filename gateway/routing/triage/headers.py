"""The response headers of a triage route's answer."""

from __future__ import annotations

from gateway.routing.triage.outcome import TriageOutcome


def tier_headers(outcome: TriageOutcome) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-gateway-tier", outcome.tier.encode()),
        (b"x-gateway-tier-reason", outcome.reason.encode()),
    ]
