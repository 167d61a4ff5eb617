"""``gateway keys create|list|revoke``: runtime keys through a running gateway's admin
API (``--url``, default ``http://127.0.0.1:8080``), with an admin key from
``--admin-key`` or ``GATEWAY_ADMIN_KEY``. Going through the gateway is what makes a new
or revoked key reach every replica, whatever the state backend."""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from typing import Any

import orjson

DEFAULT_URL = "http://127.0.0.1:8080"


def add_keys_command(commands: Any) -> None:
    keys = commands.add_parser("keys", help="create, list and revoke runtime keys")
    keys.add_argument("--url", default=None, help=f"the gateway (default {DEFAULT_URL})")
    keys.add_argument("--admin-key", help="admin key (env GATEWAY_ADMIN_KEY)")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make a key; its secret is printed once")
    create.add_argument("--name", required=True)
    create.add_argument("--team")
    create.add_argument("--routes", help="comma-separated route names or globs (default *)")
    create.add_argument("--profiles", help="comma-separated profiles (default all)")
    create.add_argument("--rpm", type=int)
    create.add_argument("--tpm", type=int)
    create.add_argument("--max-parallel", type=int)
    create.add_argument("--daily-usd", type=float)
    create.add_argument("--monthly-usd", type=float)
    create.add_argument("--expires-at", help="ISO 8601 with a time zone")
    listing = actions.add_parser("list", help="keys with spend and limits, no secrets")
    listing.add_argument("--json", action="store_true")
    revoke = actions.add_parser("revoke", help="revoke a runtime key")
    revoke.add_argument("id")


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    url = (args.url or os.environ.get("GATEWAY_URL") or DEFAULT_URL).rstrip("/") + path
    data = orjson.dumps(body) if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    key = args.admin_key or os.environ.get("GATEWAY_ADMIN_KEY")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise SystemExit(f"{method} {path}: {exc.code} {detail}") from None
    except OSError as exc:
        raise SystemExit(f"{url}: {exc}") from None


def _split(raw: str | None) -> list[str] | None:
    return [p.strip() for p in raw.split(",") if p.strip()] if raw else None


def _spec(args: argparse.Namespace) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": args.name}
    optional = {
        "team": args.team,
        "routes": _split(args.routes),
        "profiles": _split(args.profiles),
        "rpm": args.rpm,
        "tpm": args.tpm,
        "max_parallel": args.max_parallel,
        "expires_at": args.expires_at,
    }
    spec.update({k: v for k, v in optional.items() if v is not None})
    if args.daily_usd is not None or args.monthly_usd is not None:
        spec["budget"] = {"daily_usd": args.daily_usd, "monthly_usd": args.monthly_usd}
    return spec


def format_keys(rows: list[dict[str, Any]]) -> str:
    header = ["ID", "NAME", "SOURCE", "TEAM", "RPM", "TPM", "PARALLEL", "SPENT_TODAY_USD"]
    lines = []
    for row in rows:
        limits = row["limits"]
        spend = row["status"]["key"]["spend"]
        budget = spend["daily_budget_usd"]
        today = f"{spend['day_usd']:.6f}" + (f" / {budget:g}" if budget is not None else "")
        cells = [row["id"], row["name"], row["source"], row["team"] or "-"]
        cells += [str(limits[k] if limits[k] is not None else "-") for k in ("rpm", "tpm")]
        cells += [str(limits["max_parallel"] or "-"), today]
        lines.append(cells)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def cmd_keys(args: argparse.Namespace) -> int:
    if args.action == "create":
        created = _call(args, "POST", "/v1/gateway/keys", _spec(args))
        sys.stdout.write(orjson.dumps(created, option=orjson.OPT_INDENT_2).decode() + "\n")
        print("The secret is shown only this once.", file=sys.stderr)
    elif args.action == "list":
        rows = _call(args, "GET", "/v1/gateway/keys")["data"]
        if args.json:
            sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        else:
            print(format_keys(rows))
    else:
        _call(args, "DELETE", f"/v1/gateway/keys/{args.id}")
        print(f"revoked {args.id}")
    return 0
