"""The error a plan ends with when no member answered: what was tried and why, and
the status that tells the client what to do (spec §5)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gateway.config.schema import ResilienceSection
from gateway.errors import NoMemberAvailable
from gateway.observability.record import RequestRecord
from gateway.resilience.classify import Outcome
from gateway.routing.table import Member
from gateway.state.base import StateStore

if TYPE_CHECKING:
    from gateway.governance.provider_quota import ProviderQuotas

# Honouring a Retry-After longer than this on a client-facing call means we'd
# rather fall over to the next member than keep the client waiting.
SHOULD_RETRY_HORIZON_S = 60.0


def exhausted_error(
    state: StateStore,
    settings: ResilienceSection,
    plan: Sequence[Member],
    record: RequestRecord,
    failures: list[Outcome],
    capped: bool = False,
    overloaded_only: bool = False,
    quotas: ProviderQuotas | None = None,
) -> NoMemberAvailable:
    now = state.cooldowns.now()
    soonest = state.cooldowns.soonest((m.cooldown_key for m in plan), now)
    wait = max(1, math.ceil(soonest - now)) if soonest is not None else 1
    # Members at their provider quota come back when their window resets.
    skipped = set(record.skipped)
    at_limit = any(f"{m.alias}:at_limit" in skipped for m in plan)
    if at_limit and quotas is not None:
        reset = max(1, math.ceil(quotas.reset_s()))
        wait = min(wait, reset) if soonest is not None else reset
    parts = [
        f"{a.alias} → {a.outcome}" + (f" ({a.status})" if a.status else "") for a in record.attempts
    ]
    # Then the members never called: parked, or too small for this prompt.
    parts += [" → ".join(s.rsplit(":", 1)) for s in record.skipped]
    listed = "; ".join(parts) or "no member was eligible"
    if capped:
        listed += f"; stopped after max_attempts={settings.max_attempts}"
    # 429 only when everything between the client and an answer is a rate limit:
    # this request's failures, members at their quota, and the reasons members it
    # skipped were parked.
    parked_reasons = [
        state.cooldowns.reason(m.cooldown_key) for m in plan if f"{m.alias}:parked" in skipped
    ]
    all_rate_limited = (
        bool(failures or parked_reasons or at_limit)
        and all(f is Outcome.RATE_LIMITED for f in failures)
        and all(r == Outcome.RATE_LIMITED.value for r in parked_reasons)
    )
    # 529 (Anthropic's overloaded) only when every failure and park was an overload.
    all_overloaded = (
        overloaded_only
        and bool(failures or parked_reasons)
        and all(r == "overloaded" for r in parked_reasons)
    )
    headers = {"Retry-After": str(wait)}
    if wait > SHOULD_RETRY_HORIZON_S:
        headers["x-should-retry"] = "false"
    return NoMemberAvailable(
        f"no member of '{record.route}' could answer: {listed}",
        all_rate_limited=all_rate_limited,
        all_overloaded=all_overloaded,
        headers=headers,
    )
