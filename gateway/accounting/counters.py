"""Usage counters: what one request adds, where it is kept, and how it is read back.

Counters live in one hash per time bucket (``<prefix>:usage:minute:202611212340``,
``<prefix>:usage:day:20261121``, ``<prefix>:usage:month:202611``). A hash field is
``<metric>|<dimensions as JSON>``, with the dimensions ``route, profile, provider,
model, api_key, cache, purpose, byok, key, team`` at full detail, so any ``group_by`` is
a sum at read time. ``purpose`` is ``answer``, or ``triage`` for a triage route's
classifier call; ``byok`` is ``true`` when the request was served under its user's own
provider key. The month window is the UTC calendar month (budgets count in it).

Cost is counted exactly, in integer pico-USD (``cost_pico_usd``, and
``saved_cost_pico_usd`` for cache hits). Versions before the exact ledger wrote whole
micro-USD under ``cost_micro_usd`` (``saved_cost_micro_usd``); a read adds such fields
(× 1e6) to the pico sums, so counters written before an upgrade, or by replicas not yet
upgraded, keep counting without a migration, and age out with their buckets.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.accounting.pricing import PICO_PER_MICRO, pico_to_micro, pico_to_usd

# New dimensions go last: a field written before one existed reads it as its default
# ("", or DIMENSION_DEFAULTS).
DIMENSIONS = (
    "route", "profile", "provider", "model", "api_key", "cache", "purpose", "byok", "key",
    "team",
)  # fmt: skip
DIMENSION_DEFAULTS = {"purpose": "answer", "byok": "false"}
METRICS = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_pico_usd",
    "saved_cost_pico_usd",
)
# The fields versions before the exact ledger wrote, in whole micro-USD: read as the
# pico-USD metric beside them, × 1e6.
LEGACY_MICRO_FIELDS = {
    "cost_micro_usd": "cost_pico_usd",
    "saved_cost_micro_usd": "saved_cost_pico_usd",
}
# Seconds per bucket; a month is a calendar month (31 days is its longest).
WINDOWS = {"minute": 60, "day": 86_400, "month": 31 * 86_400}
# How long a bucket is kept, and so how many buckets back a read may go.
RETENTION_BUCKETS = {"minute": 180, "day": 35, "month": 13}
_FORMATS = {"minute": "%Y%m%d%H%M", "day": "%Y%m%d", "month": "%Y%m"}

Increments = dict[str, dict[str, int]]  # bucket key -> field -> amount


# Not frozen: one or two are made per request, and a frozen dataclass sets each of its
# seventeen fields through object.__setattr__.
@dataclass(slots=True)
class UsageEvent:
    """What one finished request adds to the counters."""

    route: str
    profile: str
    provider: str
    model: str
    api_key: str
    error: bool
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_pico_usd: int = 0
    at: float = 0.0
    # The response cache's verdict (hit, miss, bypass; "" when off) and, on a hit,
    # what the answer cost when it was made.
    cache: str = ""
    saved_cost_pico_usd: int = 0
    # `answer`, or `triage` for a triage route's classifier call.
    purpose: str = "answer"
    byok: bool = False  # served under the user's own provider key
    key: str = ""  # the inbound key's name and its team (governance)
    team: str = ""


@functools.lru_cache(maxsize=1024)
def _bucket_name(window: str, index: int) -> str:
    if window == "month":
        year, month = divmod(index, 12)
        return f"usage:month:{year:04d}{month + 1:02d}"
    start = index * WINDOWS[window]
    return f"usage:{window}:{time.strftime(_FORMATS[window], time.gmtime(start))}"


def bucket_index(window: str, at: float) -> int:
    """Which bucket of ``window`` holds ``at``: fixed-length windows count from the
    epoch, months as ``year * 12 + month - 1``."""
    if window == "month":
        return _month_of_day(int(at // 86_400))  # a UTC month starts on a UTC day
    return int(at // WINDOWS[window])


@functools.lru_cache(maxsize=64)
def _month_of_day(day: int) -> int:
    t = time.gmtime(day * 86_400)
    return t.tm_year * 12 + t.tm_mon - 1


@functools.lru_cache(maxsize=4096)
def _dims_json(dims: tuple[str, ...]) -> str:
    return orjson.dumps(dims).decode()


def bucket_key(window: str, at: float) -> str:
    return _bucket_name(window, bucket_index(window, at))


def bucket_keys(window: str, last: int, now: float | None = None) -> list[str]:
    """The current bucket and the ``last - 1`` before it, newest first."""
    now = time.time() if now is None else now
    index = bucket_index(window, now)
    return [_bucket_name(window, index - i) for i in range(last)]


def bucket_ttl_s(window: str) -> int:
    return WINDOWS[window] * (RETENTION_BUCKETS[window] + 1)


RowKey = tuple[str, int, tuple[str, ...]]  # window, bucket index, dimensions


class UsageRows:
    """Counters summed in process: one row of ``METRICS`` per window, bucket and
    dimensions. Adding is a couple of dict updates; the hash fields are built only
    when the rows are read or flushed."""

    __slots__ = ("_indices", "_minute", "rows")

    def __init__(self) -> None:
        self.rows: dict[RowKey, list[int]] = {}
        # Each window's bucket index for the minute of the last event: every window is
        # a whole number of minutes long, so they change only when the minute does.
        self._minute = -1
        self._indices: tuple[tuple[str, int], ...] = ()

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, event: UsageEvent, limit: int | None = None) -> bool:
        """Adds ``event``; with ``limit``, refuses (returns False) to grow past it."""
        dims = (
            event.route, event.profile, event.provider, event.model, event.api_key,
            event.cache, event.purpose, "true" if event.byok else "false", event.key,
            event.team,
        )  # fmt: skip
        at = event.at
        minute = int(at // 60)
        if minute != self._minute:
            self._indices = tuple((window, bucket_index(window, at)) for window in WINDOWS)
            self._minute = minute
        keys = [(window, index, dims) for window, index in self._indices]
        rows = self.rows
        if limit is not None and len(rows) + len(keys) > limit:
            if any(key not in rows for key in keys):
                return False
        err = 1 if event.error else 0
        tin, tout, tcached = event.input_tokens, event.output_tokens, event.cached_tokens
        cost, saved = event.cost_pico_usd, event.saved_cost_pico_usd
        for key in keys:
            row = rows.get(key)
            if row is None:
                rows[key] = [1, err, tin, tout, tcached, cost, saved]
            else:
                row[0] += 1
                row[1] += err
                row[2] += tin
                row[3] += tout
                row[4] += tcached
                row[5] += cost
                row[6] += saved
        return True

    def increments(self) -> Increments:
        out: Increments = {}
        for (window, index, dims), row in self.rows.items():
            fields = out.setdefault(_bucket_name(window, index), {})
            dims_json = _dims_json(dims)
            for metric, amount in zip(METRICS, row, strict=True):
                if amount:
                    name = f"{metric}|{dims_json}"
                    fields[name] = fields.get(name, 0) + amount
        return out

    def prune(self, now: float) -> None:
        """Drops buckets older than their window's retention."""
        oldest = {w: bucket_index(w, now) - RETENTION_BUCKETS[w] for w in WINDOWS}
        for key in [k for k in self.rows if k[1] <= oldest[k[0]]]:
            del self.rows[key]

    def clear(self) -> None:
        self.rows.clear()


def aggregate(
    buckets: Iterable[Mapping[str, int]], group_by: Sequence[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows summed over ``group_by`` (sorted by cost, then requests) and the totals."""
    indexes = [DIMENSIONS.index(name) for name in group_by]
    defaults = [DIMENSION_DEFAULTS.get(name, "") for name in group_by]
    rows: dict[tuple[str, ...], dict[str, int]] = {}
    totals = dict.fromkeys(METRICS, 0)
    for bucket in buckets:
        for name, amount in bucket.items():
            metric, _, dims_json = name.partition("|")
            if metric in LEGACY_MICRO_FIELDS:
                metric, amount = LEGACY_MICRO_FIELDS[metric], int(amount) * PICO_PER_MICRO
            elif metric not in totals:
                continue
            dims = orjson.loads(dims_json)
            group = tuple(
                str(dims[i]) if i < len(dims) else d for i, d in zip(indexes, defaults, strict=True)
            )
            row = rows.get(group)
            if row is None:
                row = rows[group] = dict.fromkeys(METRICS, 0)
            row[metric] += int(amount)
            totals[metric] += int(amount)
    out: list[dict[str, Any]] = []
    for group, counts in rows.items():
        out.append({**dict(zip(group_by, group, strict=True)), **_with_usd(counts)})
    out.sort(key=lambda r: (-r["cost_pico_usd"], -r["requests"], [r[g] for g in group_by]))
    return out, _with_usd(totals)


def _with_usd(counts: dict[str, int]) -> dict[str, Any]:
    """The exact pico-USD sums, plus their micro-USD form (kept for clients of the
    micro-USD ledger, fractional when it must be) and USD for display."""
    pico, saved = counts["cost_pico_usd"], counts["saved_cost_pico_usd"]
    return {
        **counts,
        "cost_micro_usd": pico_to_micro(pico),
        "cost_usd": pico_to_usd(pico),
        "saved_cost_micro_usd": pico_to_micro(saved),
        "saved_cost_usd": pico_to_usd(saved),
    }


def parse_group_by(raw: str | None) -> list[str]:
    """``route,model`` -> ``["route", "model"]``; raises ``ValueError`` on unknown names."""
    names = [n.strip() for n in (raw or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown:
        raise ValueError(
            f"unknown group_by '{', '.join(unknown)}' (known: {', '.join(DIMENSIONS)})"
        )
    return list(dict.fromkeys(names))
