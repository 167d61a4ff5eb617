"""The admission stage: after the key is known and the route resolved, before any
upstream call. Route and profile rules, then rpm/tpm/max_parallel, then budgets; all
read local memory only (``QuotaBook``, ``SpendBook``).

What a caller's limits resolve to (its quota objects, its budgets in spend units) is
worked out once per caller and kept until the set of keys changes, so a request does
a few comparisons per limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gateway.errors import InsufficientQuota, PermissionDenied, RateLimited
from gateway.governance.budget import Spend, SpendBook, usd_to_units
from gateway.governance.headers import RawHeaders, ratelimit_headers
from gateway.governance.keys import Caller
from gateway.governance.quota import ParallelQuota, QuotaBook, WindowQuota
from gateway.governance.windows import day_reset_s, minute_reset_s, month_reset_s, retry_after
from gateway.observability.record import RequestRecord

# A refused request asks the shared store again at most this often per limit, in
# case another replica gave units back.
RETRY_REFILL_S = 1.0


class RefillPending(Exception):
    """This replica's lease (and its one borrowed lease) ran out while the shared window
    may still have room: the stage waits, bounded, for the refill and asks again."""


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


@dataclass(frozen=True, slots=True)
class BudgetRule:
    scope: str  # key | team
    spend: Spend
    daily: int | None  # spend units
    monthly: int | None
    daily_usd: float | None
    monthly_usd: float | None


@dataclass(frozen=True, slots=True)
class Plan:
    """One caller's limits, resolved."""

    caller: Caller
    requests: list[WindowQuota]
    tokens: list[WindowQuota]
    parallel: list[ParallelQuota]
    budgets: list[BudgetRule]
    spends: list[Spend]  # the budgets' spend windows, charged when the request ends


class Admitter:
    def __init__(self, quotas: QuotaBook, spend: SpendBook, default_max_tokens: int) -> None:
        self.quotas = quotas
        self.spend = spend
        self.default_max_tokens = default_max_tokens
        self._plans: dict[int, Plan] = {}

    def forget_plans(self) -> None:
        """The keys changed: resolve every caller's limits again on its next request."""
        self._plans = {}

    def plan(self, caller: Caller) -> Plan:
        plan = self._plans.get(id(caller))
        if plan is not None and plan.caller is caller:
            return plan
        key = caller.key
        requests, tokens, parallel, budgets = [], [], [], []
        now = time.time()
        for scope, name, limits in (
            ("key", f"key:{key.id}", key.limits),
            ("team", f"team:{key.team}", caller.team_limits),
        ):
            if limits is None:
                continue
            if limits.rpm or limits.tpm or limits.max_parallel:
                subject = self.quotas.subject(name, limits.rpm, limits.tpm, limits.max_parallel)
                requests += [subject.rpm] if subject.rpm is not None else []
                tokens += [subject.tpm] if subject.tpm is not None else []
                parallel += [subject.parallel] if subject.parallel is not None else []
            budget = limits.budget
            if budget is not None and (
                budget.daily_usd is not None or budget.monthly_usd is not None
            ):
                budgets.append(
                    BudgetRule(
                        scope,
                        self.spend.get(name, now),
                        usd_to_units(budget.daily_usd),
                        usd_to_units(budget.monthly_usd),
                        budget.daily_usd,
                        budget.monthly_usd,
                    )
                )
        plan = Plan(caller, requests, tokens, parallel, budgets, [b.spend for b in budgets])
        if len(self._plans) > 10_000:
            self._plans = {}
        self._plans[id(caller)] = plan
        return plan

    def admit(
        self,
        record: RequestRecord,
        caller: Caller,
        route: str,
        profile: str | None,
        payload: dict[str, Any],
        prompt_estimate: int,
        *,
        final: bool = True,
    ) -> None:
        """Admit the request or raise its refusal; with ``final=False`` a refusal that a
        refill in flight may lift raises ``RefillPending`` instead."""
        if not caller.any_route and not caller.allows_route(route):
            raise PermissionDenied(f"this key may not use the route '{route}'", param="model")
        if not caller.any_profile and not caller.allows_profile(profile):
            raise PermissionDenied(
                f"this key may not use the profile '{profile}'", param="X-Gateway-Profile"
            )
        plan = self.plan(caller)
        now = time.time()
        window = int(now // 60)
        shared = self.quotas.leasing
        tokens = (
            estimate_tokens(payload, prompt_estimate, self.default_max_tokens) if plan.tokens else 0
        )
        self._check_rates(plan, window, tokens, shared and not final, now)
        if plan.budgets:
            self._check_budgets(plan, shared, now)
        spends = plan.spends
        want = self.quotas.want
        for quota in plan.requests:
            if quota.take(1, now) and shared and not quota.queued:
                want(quota)
        for quota in plan.tokens:
            if quota.take(tokens, now) and shared and not quota.queued:
                want(quota)
        for slots in plan.parallel:
            slots.in_flight += 1
            if shared and not slots.queued and slots.wants_refill():
                want(slots)
        if plan.tokens or plan.parallel or spends:  # something to settle at the end
            record.admission = Admission(window, tokens, plan.tokens, plan.parallel, spends)
        if caller.limited:
            # Remaining counts after this request.
            record.limit_headers = ratelimit_headers(
                plan.requests, plan.tokens, shared, minute_reset_s(now)
            )

    def _check_rates(self, plan: Plan, window: int, need: int, may_wait: bool, now: float) -> None:
        shared = self.quotas.leasing
        for quota in plan.requests:
            if quota.window != window:
                quota.roll(window)
            if not quota.allows(1, shared):
                self._refuse(plan, quota, "requests per minute", may_wait, now)
        for quota in plan.tokens:
            if quota.window != window:
                quota.roll(window)
            if not quota.allows(need, shared):
                what = f"tokens per minute (this request counts as {need}: prompt and max_tokens)"
                self._refuse(plan, quota, what, may_wait, now)
        for slots in plan.parallel:
            if not slots.allows(shared):
                self._refuse(plan, slots, "parallel requests", may_wait, now)

    def _refuse(
        self,
        plan: Plan,
        quota: WindowQuota | ParallelQuota,
        what: str,
        may_wait: bool,
        now: float,
    ) -> None:
        shared = self.quotas.leasing
        if may_wait and not quota.exhausted:
            self.quotas.want(quota)
            raise RefillPending
        if shared and now - quota.tried_at >= RETRY_REFILL_S:
            quota.tried_at = now
            self.quotas.want(quota)
        wait = "1" if isinstance(quota, ParallelQuota) else retry_after(minute_reset_s(now))
        headers = ratelimit_headers(plan.requests, plan.tokens, shared, minute_reset_s(now))
        scope = quota.name.split(":", 1)[0]
        raise RateLimited(
            f"this {scope}'s limit of {quota.limit} {what} is reached",
            headers={"Retry-After": wait, **_str(headers)},
        )

    def _check_budgets(self, plan: Plan, shared: bool, now: float) -> None:
        day = int(now // 86_400)
        for rule in plan.budgets:
            spend = rule.spend
            if spend.day_index != day:
                spend.roll(now)
            spend.active_at = now
            over = spend.over(rule.daily, rule.monthly)
            if over is not None:
                headers = ratelimit_headers(plan.requests, plan.tokens, shared, minute_reset_s(now))
                raise _budget_error(rule, over, now, headers)


def _budget_error(
    rule: BudgetRule, window: str, now: float, headers: RawHeaders
) -> InsufficientQuota:
    if window == "day":
        usd, reset, name = rule.daily_usd, day_reset_s(now), "daily"
    else:
        usd, reset, name = rule.monthly_usd, month_reset_s(now), "monthly"
    return InsufficientQuota(
        f"this {rule.scope}'s {name} budget of ${usd:g} is spent",
        headers={"Retry-After": retry_after(reset), **_str(headers)},
    )


def _str(headers: RawHeaders) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in headers}
