"""``gateway usage``: the usage counters on the command line.

By default it reads Redis directly (``--redis-url`` > ``GATEWAY_REDIS_URL`` > the config's
``state`` section), so it needs no running gateway; with ``--url`` it asks a running
gateway's ``/v1/gateway/usage`` instead, which is the only way to see the counters of
the memory backend.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import orjson

from gateway.accounting.counters import (
    DIMENSIONS,
    METRICS,
    RETENTION_BUCKETS,
    WINDOWS,
    aggregate,
    bucket_keys,
    parse_group_by,
)

Report = dict[str, Any]


def add_usage_command(commands: Any) -> None:
    usage = commands.add_parser("usage", help="show usage and cost counters")
    usage.add_argument("--config", help="config file (env GATEWAY_CONFIG)")
    usage.add_argument("--redis-url", help="read this Redis (env GATEWAY_REDIS_URL)")
    usage.add_argument("--url", help="ask a running gateway instead, e.g. http://127.0.0.1:8080")
    usage.add_argument("--api-key", help="inbound key for --url (env GATEWAY_API_KEY)")
    usage.add_argument("--window", choices=list(WINDOWS), default="day")
    usage.add_argument("--last", type=int, default=1, help="buckets back, current included")
    usage.add_argument("--group-by", default="", help=f"comma-separated: {', '.join(DIMENSIONS)}")
    usage.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _from_gateway(args: argparse.Namespace, group_by: list[str]) -> Report:
    query = urllib.parse.urlencode(
        {"window": args.window, "last": args.last, "group_by": ",".join(group_by)}
    )
    request = urllib.request.Request(f"{args.url.rstrip('/')}/v1/gateway/usage?{query}")
    key = args.api_key or os.environ.get("GATEWAY_API_KEY")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            report: Report = orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"{args.url}: {exc.code} {exc.read().decode(errors='replace')}") from None
    except OSError as exc:
        raise SystemExit(f"{args.url}: {exc}") from None
    return report


def _from_redis(args: argparse.Namespace, group_by: list[str]) -> Report:
    from redis.exceptions import RedisError

    from gateway.config.loader import ConfigError, load_config
    from gateway.config.settings import DEFAULT_CONFIG
    from gateway.state.redis import RedisStateStore

    try:
        config = load_config(args.config or os.environ.get("GATEWAY_CONFIG") or DEFAULT_CONFIG)
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    state = config.state
    url = args.redis_url or os.environ.get("GATEWAY_REDIS_URL")
    url = url or (state.redis_url if state.backend == "redis" else None)
    if not url:
        raise SystemExit(
            "state.backend is memory: the counters live inside the gateway process; "
            "use --url to ask it, or --redis-url"
        )

    async def read() -> Report:
        store = RedisStateStore(url, state.key_prefix, cluster=state.cluster)
        try:
            buckets = await store.usage_buckets(bucket_keys(args.window, args.last))
        finally:
            await store.aclose()
        rows, totals = aggregate(buckets, group_by)
        return {
            "object": "gateway.usage",
            "window": args.window,
            "last": args.last,
            "group_by": group_by,
            "state": "redis",
            "data": rows,
            "totals": totals,
        }

    try:
        return asyncio.run(read())
    except (RedisError, OSError) as exc:
        raise SystemExit(f"redis: {exc}") from None


# Costs are shown in USD, rounded only here.
_COUNTS = tuple(m for m in METRICS if "cost" not in m)


def format_report(report: Report) -> str:
    dims: list[str] = report["group_by"]
    header = [d.upper() for d in dims] + [m.upper() for m in _COUNTS] + ["COST_USD", "SAVED_USD"]
    lines = [[*(str(r[d]) or "-" for d in dims), *_numbers(r)] for r in report["data"]]
    lines.append(
        [*(["TOTAL"] + [""] * (len(dims) - 1) if dims else []), *_numbers(report["totals"])]
    )
    if not dims:
        lines = [lines[-1]]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def _numbers(row: dict[str, Any]) -> list[str]:
    return [str(row[m]) for m in _COUNTS] + [
        f"{row['cost_usd']:.6f}",
        f"{row.get('saved_cost_usd', 0.0):.6f}",
    ]


def cmd_usage(args: argparse.Namespace) -> int:
    try:
        group_by = parse_group_by(args.group_by)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    limit = RETENTION_BUCKETS[args.window]
    if not 1 <= args.last <= limit:
        print(f"--last must be from 1 to {limit} for --window {args.window}", file=sys.stderr)
        return 1
    report = _from_gateway(args, group_by) if args.url else _from_redis(args, group_by)
    if args.json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(format_report(report))
    return 0
