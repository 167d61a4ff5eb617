"""Spend per team against its budget, at scrape time: ``gateway_team_spend_usd`` and
``gateway_team_budget_usd`` (labels ``team``, ``window`` = day | month). Teams come from
the config, so the labels are bounded; with Redis every replica reports the shared
total, so dashboards take the ``max`` over instances, not the sum."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, Metric

from gateway.governance.budget import SPEND_UNITS_PER_USD

if TYPE_CHECKING:
    from gateway.governance.governor import Governor


class BudgetCollector:
    def __init__(self, governor: Governor) -> None:
        self.governor = governor

    def collect(self) -> Iterable[Metric]:
        spend = GaugeMetricFamily(
            "gateway_team_spend_usd",
            "Spend of a team with a budget in the current UTC day or month",
            labels=["team", "window"],
        )
        budget = GaugeMetricFamily(
            "gateway_team_budget_usd",
            "A team's budget per UTC day or month",
            labels=["team", "window"],
        )
        now = time.time()
        for name, team in sorted(self.governor.ring.teams.items()):
            limits = team.budget
            if limits is None:
                continue
            book = self.governor.spend.get(f"team:{name}", now, touch=False)
            for window, usd, spent in (
                ("day", limits.daily_usd, book.day.spent),
                ("month", limits.monthly_usd, book.month.spent),
            ):
                if usd is None:
                    continue
                spend.add_metric([name, window], spent / SPEND_UNITS_PER_USD)
                budget.add_metric([name, window], usd)
        yield spend
        yield budget
