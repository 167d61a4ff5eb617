"""The time windows limits and budgets count in: one-minute windows aligned to the
epoch (rpm, tpm), and the UTC calendar day and month (budgets)."""

from __future__ import annotations

import calendar
import math
import time

MINUTE_S = 60


def minute(now: float) -> int:
    return int(now // MINUTE_S)


def minute_reset_s(now: float) -> float:
    """Seconds until the current one-minute window ends."""
    return MINUTE_S - now % MINUTE_S


def day_name(now: float) -> str:
    return time.strftime("%Y%m%d", time.gmtime(now))


def month_name(now: float) -> str:
    return time.strftime("%Y%m", time.gmtime(now))


def day_reset_s(now: float) -> float:
    return 86_400 - now % 86_400


def month_reset_s(now: float) -> float:
    t = time.gmtime(now)
    days = calendar.monthrange(t.tm_year, t.tm_mon)[1]
    start = calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0))
    return start + days * 86_400 - now


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
