"""What triage decided for one request; kept on its ``RequestRecord`` for the observers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.observability.record import RequestRecord

# The decision fell back to `default_tier`: counted in gateway_triage_fallbacks_total.
FALLBACK_REASONS = frozenset(("default", "timeout", "error"))
# The values of `x-gateway-tier-reason`, the log's `tier_reason` and the metric's `reason`.
REASONS = (
    "classifier",
    "regex",
    "heuristic",
    "default",
    "timeout",
    "error",
    "bypass",
    "cache",
    "escalated",
)


@dataclass(slots=True)
class TriageOutcome:
    """Made on every request of a triage route: built with all four names given
    (``TriageOutcome(tier, reason, tier, reason)`` for a fresh decision), no defaults
    worked out per request."""

    chosen: str  # the tier the decision picked
    reason: str
    tier: str  # the tier that answered: `chosen` unless the plan escalated
    # Why `chosen` was chosen; `reason` becomes `escalated` when a tier above answered.
    decided_by: str
    duration_s: float = 0.0
    raw: str | None = None  # the classifier's answer, cut to a few hundred characters
    # The classifier's own call (attempts, usage, cost), when it was asked.
    classifier: RequestRecord | None = None


def add_triage_fields(fields: dict[str, Any], outcome: TriageOutcome) -> None:
    """Adds the request log line's triage fields (README, Complexity routing)."""
    fields["tier"] = outcome.tier
    fields["tier_reason"] = outcome.reason
    # Whole microseconds, shown in ms: the same three decimals as round(ms, 3), which
    # rounds through a decimal conversion and costs more than the rest of these lines.
    fields["triage_ms"] = round(outcome.duration_s * 1_000_000) / 1000
    if outcome.tier != outcome.chosen:
        fields["tier_chosen"] = outcome.chosen
        fields["tier_chosen_reason"] = outcome.decided_by
    call = outcome.classifier
    if call is not None:
        fields["triage_model"] = call.alias
        fields["triage_attempts"] = len(call.attempts)
        fields["triage_cost_usd"] = call.cost_usd
