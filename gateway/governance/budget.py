"""Spend against budgets per UTC day and month, as one replica sees it.

Spend is counted in the cost ledger's integer unit (``SPEND_UNITS_PER_USD``). Each
replica adds what its requests cost at once and queues it for the shared store; the
background sync pushes the queue and reads back the totals of all replicas, so a
replica sees the others' spend within two sync intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.governance.windows import day_name, month_name
from gateway.observability.record import RequestRecord

SPEND_UNITS_PER_USD = 10**12  # pico-USD: the unit of RequestRecord.cost_pico_usd (exact)


def spend_of(record: RequestRecord) -> int:
    return record.cost_pico_usd


def usd_to_units(usd: float | None) -> int | None:
    """A budget in spend units, exactly as written (``0.1`` is 1e11 pico-USD, not a float's
    nearest value times a million)."""
    return None if usd is None else int(Decimal(str(usd)) * SPEND_UNITS_PER_USD)


@dataclass(slots=True)
class SpendWindow:
    """One subject's spend in one day or month."""

    name: str  # day:<YYYYMMDD> or month:<YYYYMM>
    spent: int = 0  # every replica's, as last read, plus this one's since
    pending: int = 0  # this replica's, not yet in the shared store


class Spend:
    __slots__ = ("active_at", "day", "day_index", "month", "pinned", "subject")

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.day = SpendWindow("")
        self.month = SpendWindow("")
        self.day_index = -1
        self.active_at = 0.0
        self.pinned = False  # kept in step with the shared store even when idle

    def roll(self, now: float) -> None:
        index = int(now // 86_400)
        if index == self.day_index:
            return  # a month only turns when a day does
        self.day_index = index
        day = "day:" + day_name(now)
        if self.day.name != day:
            self.day = SpendWindow(day)
        month = "month:" + month_name(now)
        if self.month.name != month:
            self.month = SpendWindow(month)

    def add(self, amount: int) -> None:
        for window in (self.day, self.month):
            window.spent += amount
            window.pending += amount

    def over(self, daily: int | None, monthly: int | None) -> str | None:
        """``day`` or ``month`` when that budget (in spend units) is spent, else ``None``."""
        if daily is not None and self.day.spent >= daily:
            return "day"
        if monthly is not None and self.month.spent >= monthly:
            return "month"
        return None


class SpendBook:
    def __init__(self) -> None:
        self.subjects: dict[str, Spend] = {}

    def get(self, subject: str, now: float, *, touch: bool = True) -> Spend:
        spend = self.subjects.get(subject)
        if spend is None:
            spend = self.subjects[subject] = Spend(subject)
        spend.roll(now)
        if touch:
            spend.active_at = now
        return spend

    def pin(self, subjects: set[str], now: float) -> None:
        """Subjects whose spend is always read back (teams with a budget, for metrics)."""
        for spend in self.subjects.values():
            spend.pinned = spend.subject in subjects
        for subject in subjects:
            self.get(subject, now, touch=False).pinned = True
