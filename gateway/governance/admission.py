"""The admission stage: after the key is known and the route resolved, before any
upstream call. Route and profile rules, then rpm/tpm/max_parallel, then budgets; all
read local memory only (``QuotaBook``, ``SpendBook``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gateway.errors import InsufficientQuota, PermissionDenied, RateLimited
from gateway.governance.budget import Spend, SpendBook
from gateway.governance.config import Budget, Limits
from gateway.governance.headers import RawHeaders, ratelimit_headers
from gateway.governance.keys import Caller
from gateway.governance.quota import ParallelQuota, QuotaBook, SubjectQuotas, WindowQuota
from gateway.governance.windows import (
    day_reset_s,
    minute,
    minute_reset_s,
    month_reset_s,
    retry_after,
)
from gateway.observability.record import RequestRecord

# A refused request asks the shared store again at most this often per limit, in
# case another replica gave units back.
RETRY_REFILL_S = 1.0


def estimate_tokens(payload: dict[str, Any], prompt_estimate: int, default_max: int) -> int:
    """The prompt estimate plus ``max_completion_tokens``/``max_tokens`` (or the default)."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return prompt_estimate + value
    return prompt_estimate + default_max


@dataclass(slots=True)
class Admission:
    """What one request took: given back (slots) or corrected (tokens) at the end."""

    window: int
    tokens: int
    tpm: list[WindowQuota]
    parallel: list[ParallelQuota]
    spend: list[Spend]


class Admitter:
    def __init__(self, quotas: QuotaBook, spend: SpendBook, default_max_tokens: int) -> None:
        self.quotas = quotas
        self.spend = spend
        self.default_max_tokens = default_max_tokens

    def admit(
        self,
        record: RequestRecord,
        caller: Caller,
        route: str,
        profile: str | None,
        payload: dict[str, Any],
        prompt_estimate: int,
    ) -> None:
        if not caller.allows_route(route):
            raise PermissionDenied(f"this key may not use the route '{route}'", param="model")
        if not caller.allows_profile(profile):
            raise PermissionDenied(
                f"this key may not use the profile '{profile}'", param="X-Gateway-Profile"
            )
        now = time.time()
        subjects = self._subjects(caller)
        tokens = estimate_tokens(payload, prompt_estimate, self.default_max_tokens)
        window = minute(now)
        requests = [s.rpm for s in subjects if s.rpm is not None]
        token_limits = [s.tpm for s in subjects if s.tpm is not None]
        parallel = [s.parallel for s in subjects if s.parallel is not None]
        shared = self.quotas.leasing
        refused = self._refusal(requests, token_limits, parallel, window, tokens, shared, now)
        if refused is not None:
            headers = ratelimit_headers(requests, token_limits, shared, minute_reset_s(now))
            raise RateLimited(refused[0], headers={"Retry-After": refused[1], **_str(headers)})
        spends = self._check_budgets(caller, now, requests, token_limits, shared)
        for quota in requests:
            self._take(quota, 1, shared, now)
        for quota in token_limits:
            self._take(quota, tokens, shared, now)
        for slots in parallel:
            slots.in_flight += 1
            if shared and slots.wants_refill():
                self.quotas.want(slots)
        record.admission = Admission(window, tokens, token_limits, parallel, spends)
        if caller.limited:
            # Remaining counts after this request.
            record.limit_headers = ratelimit_headers(
                requests, token_limits, shared, minute_reset_s(now)
            )

    def _subjects(self, caller: Caller) -> list[SubjectQuotas]:
        key = caller.key
        out = []
        pairs = ((f"key:{key.id}", key.limits), (f"team:{key.team}", caller.team_limits))
        for name, limits in pairs:
            if limits is not None and (limits.rpm or limits.tpm or limits.max_parallel):
                out.append(self.quotas.subject(name, limits.rpm, limits.tpm, limits.max_parallel))
        return out

    def _refusal(
        self,
        requests: list[WindowQuota],
        tokens: list[WindowQuota],
        parallel: list[ParallelQuota],
        window: int,
        need: int,
        shared: bool,
        now: float,
    ) -> tuple[str, str] | None:
        reset = retry_after(minute_reset_s(now))
        for quota, amount, what in [(q, 1, "requests") for q in requests] + [
            (q, need, "tokens") for q in tokens
        ]:
            quota.roll(window)
            if not quota.allows(amount, shared):
                self._retry_later(quota, shared, now)
                scope = quota.name.rsplit(":", 1)[0].split(":", 1)[0]
                return (
                    f"this {scope}'s limit of {quota.limit} {what} per minute is reached",
                    reset,
                )
        for slots in parallel:
            if not slots.allows(shared):
                self._retry_later(slots, shared, now)
                scope = slots.name.split(":", 1)[0]
                return (f"this {scope}'s limit of {slots.limit} parallel requests is reached", "1")
        return None

    def _retry_later(self, quota: WindowQuota | ParallelQuota, shared: bool, now: float) -> None:
        if shared and now - quota.tried_at >= RETRY_REFILL_S:
            quota.tried_at = now
            self.quotas.want(quota)

    def _take(self, quota: WindowQuota, amount: int, shared: bool, now: float) -> None:
        quota.take(amount, now)
        if shared and quota.wants_refill():
            self.quotas.want(quota)

    def _check_budgets(
        self,
        caller: Caller,
        now: float,
        requests: list[WindowQuota],
        tokens: list[WindowQuota],
        shared: bool,
    ) -> list[Spend]:
        key = caller.key
        spends = []
        for scope, name, limits in (
            ("key", f"key:{key.id}", key.limits),
            ("team", f"team:{key.team}", caller.team_limits),
        ):
            budget = limits.budget if limits is not None else None
            if budget is None or (budget.daily_usd is None and budget.monthly_usd is None):
                continue
            spend = self.spend.get(name, now)
            over = spend.over(budget)
            if over is not None:
                headers = ratelimit_headers(requests, tokens, shared, minute_reset_s(now))
                raise _budget_error(scope, over, budget, now, headers)
            spends.append(spend)
        return spends


def _budget_error(
    scope: str, window: str, budget: Budget, now: float, headers: RawHeaders
) -> InsufficientQuota:
    if window == "day":
        usd, reset = budget.daily_usd, day_reset_s(now)
    else:
        usd, reset = budget.monthly_usd, month_reset_s(now)
    return InsufficientQuota(
        f"this {scope}'s {'daily' if window == 'day' else 'monthly'} budget of ${usd:g} is spent",
        headers={"Retry-After": retry_after(reset), **_str(headers)},
    )


def _str(headers: RawHeaders) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in headers}


def has_rate_limits(limits: Limits | None) -> bool:
    return limits is not None and bool(limits.rpm or limits.tpm or limits.max_parallel)
