"""A key's status for the admin API: its (and its team's) spend against budget and use
against limits, now. With Redis the counts are the shared ones (one read per key)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from gateway.governance.budget import SPEND_UNITS_PER_USD
from gateway.governance.config import Budget, Limits
from gateway.governance.keys import Caller
from gateway.governance.windows import minute

if TYPE_CHECKING:
    from gateway.governance.governor import Governor


async def key_status(governor: Governor, caller: Caller) -> dict[str, Any]:
    key = caller.key
    now = time.time()
    window = minute(now)
    subjects = [("key", f"key:{key.id}", key.limits)]
    if key.team is not None:
        subjects.append(("team", f"team:{key.team}", caller.team_limits or Limits()))
    spends = [governor.spend.get(name, now, touch=False) for _, name, _ in subjects]
    shared: list[int] | None = None
    if governor.sync is not None:
        names: list[str] = []
        for (_, name, _), spend in zip(subjects, spends, strict=True):
            names += [f"spend:{name}:{spend.day.name}", f"spend:{name}:{spend.month.name}"]
            names += [f"win:{name}:{metric}:{window}" for metric in ("rpm", "tpm")]
        shared = await governor.sync.store.read(names)
    out: dict[str, Any] = {}
    for i, ((scope, name, limits), spend) in enumerate(zip(subjects, spends, strict=True)):
        local = governor.quotas.subjects.get(name)
        if shared is not None:
            day, month, requests, tokens = shared[i * 4 : i * 4 + 4]
        else:
            day, month = spend.day.spent, spend.month.spent
            rpm = local.rpm if local is not None else None
            tpm = local.tpm if local is not None else None
            requests = rpm.used if rpm is not None and rpm.window == window else 0
            tokens = tpm.used if tpm is not None and tpm.window == window else 0
        budget = limits.budget or Budget()
        parallel = local.parallel if local is not None else None
        out[scope] = {
            "spend": {
                "day_usd": day / SPEND_UNITS_PER_USD,
                "month_usd": month / SPEND_UNITS_PER_USD,
                "daily_budget_usd": budget.daily_usd,
                "monthly_budget_usd": budget.monthly_usd,
            },
            "usage": {
                "requests_this_minute": requests,
                "tokens_this_minute": tokens,
                "in_flight_here": parallel.in_flight if parallel is not None else 0,
                "rpm": limits.rpm,
                "tpm": limits.tpm,
                "max_parallel": limits.max_parallel,
            },
        }
    return out
