"""``gateway triage``: run one real classification, for tuning prompts and heuristics."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import sys
import time
from typing import Any

import orjson

from gateway.config.loader import ConfigError, load_config
from gateway.config.schema import GatewayConfig
from gateway.config.settings import DEFAULT_CONFIG, EnvSettings
from gateway.observability.record import RequestRecord
from gateway.providers.registry import build_providers
from gateway.resilience.attempts import AttemptRunner
from gateway.routing.table import Route, RouteTable, check_profile
from gateway.routing.triage.cache import DecisionCache
from gateway.routing.triage.service import TriageService
from gateway.state.memory import MemoryStateStore


def add_triage_command(commands: Any) -> None:
    triage = commands.add_parser(
        "triage", help="classify a prompt as a triage route would, and show why"
    )
    triage.add_argument("--config", help="config file (env GATEWAY_CONFIG)")
    triage.add_argument("--route", help="the triage route (default: the only one, or the first)")
    triage.add_argument("--profile", help="profile to resolve pools for")
    triage.add_argument("--no-heuristics", action="store_true", help="always ask the classifier")
    triage.add_argument("--json", action="store_true", help="print JSON")
    triage.add_argument("prompt", help="the user message to classify; - reads it from stdin")


def _pick_route(table: RouteTable, name: str | None) -> Route:
    triage_routes = [r for r in table.routes.values() if r.triage is not None]
    if name is not None:
        route = table.routes.get(name)
        if route is None or route.triage is None:
            known = ", ".join(r.name for r in triage_routes) or "none"
            raise ConfigError(
                "--route", [f"--route: '{name}' is not a triage route (known: {known})"]
            )
        return route
    if not triage_routes:
        raise ConfigError("routes", ["routes: no route has a `triage:` section"])
    return triage_routes[0]


async def classify(
    config: GatewayConfig,
    prompt: str,
    *,
    route_name: str | None = None,
    profile: str | None = None,
    heuristics: bool = True,
) -> dict[str, Any]:
    """The decision for one user message, as a plain report."""
    table = RouteTable(config)
    route = _pick_route(table, route_name)
    triage = route.triage
    assert triage is not None
    if not heuristics:
        section = triage.section.model_copy(update={"heuristics": None})
        triage = dataclasses.replace(triage, section=section, rules=None)
        route = dataclasses.replace(route, triage=triage)
    profile = profile or config.profile
    check_profile(table.profiles, profile)
    state = MemoryStateStore()
    providers = build_providers(config.providers)
    runner = AttemptRunner(providers, state, config.resilience)
    service = TriageService(runner, DecisionCache(state), random.Random())
    payload: dict[str, Any] = {"messages": [{"role": "user", "content": prompt}]}
    record = RequestRecord(request_id="triage-cli", started=time.perf_counter(), route=route.name)
    try:
        started = time.perf_counter()
        outcome = await service.decide(route, profile, payload, record, len(prompt) // 4)
        elapsed = time.perf_counter() - started
    finally:
        for provider in providers.values():
            await provider.aclose()
    chosen = triage.tiers[triage.position(outcome.chosen)].name
    call = outcome.classifier
    return {
        "route": route.name,
        "tier": chosen,
        "verdict": outcome.chosen,
        "reason": outcome.reason,
        "raw": outcome.raw,
        "decision_ms": round(elapsed * 1000, 3),
        "classifier": None
        if call is None
        else {
            "model": call.alias,
            "provider": call.provider,
            "latency_ms": round(call.latency_s * 1000, 3),
            "attempts": [
                {"model": a.alias, "outcome": a.outcome, "status": a.status} for a in call.attempts
            ],
            "input_tokens": call.usage.input_tokens if call.usage else None,
            "output_tokens": call.usage.output_tokens if call.usage else None,
            "cost_usd": call.cost_usd,
        },
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"route     {report['route']}",
        f"tier      {report['tier']}"
        + (f" (verdict {report['verdict']})" if report["verdict"] != report["tier"] else ""),
        f"reason    {report['reason']}",
    ]
    call = report["classifier"]
    if call is None:
        lines.append(f"decided   in {report['decision_ms']:.3f} ms, classifier not asked")
        return "\n".join(lines)
    attempts = ", ".join(f"{a['model']} → {a['outcome']}" for a in call["attempts"]) or "none"
    lines += [
        f"raw       {report['raw']!r}" if report["raw"] is not None else "raw       (no answer)",
        f"latency   {call['latency_ms']:.1f} ms (classifier), attempts: {attempts}",
    ]
    if call["cost_usd"] is not None:
        lines.append(
            f"usage     {call['input_tokens']} in, {call['output_tokens']} out, "
            f"${call['cost_usd']:.6f}"
        )
    return "\n".join(lines)


def cmd_triage(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config or EnvSettings().config or DEFAULT_CONFIG)
        prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
        report = asyncio.run(
            classify(
                config,
                prompt,
                route_name=args.route,
                profile=args.profile,
                heuristics=not args.no_heuristics,
            )
        )
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(format_report(report))
    return 0
