"""The explain view: what goes where right now, for one profile."""

from __future__ import annotations

from typing import Any

from gateway.routing.adaptive import Ask
from gateway.routing.policies import Planner
from gateway.routing.table import Route, RouteTable


def _members(route: Route, profile: str | None, planner: Planner) -> list[dict[str, Any]]:
    members = route.members_for(profile)
    live = planner.board.describe(m.cooldown_key for m in members)
    return [
        {
            "model": m.alias,
            "provider": m.provider,
            "upstream_model": m.upstream_model,
            "weight": m.weight,
            "state": planner.state_of(m).value,
            "estimates": live[m.cooldown_key],
        }
        for m in members
    ]


def explain_routes(
    table: RouteTable, profile: str | None, planner: Planner
) -> list[dict[str, Any]]:
    rows = []
    for route in table.routes.values():
        members = route.members_for(profile)
        order = planner.order(route, members, Ask())
        rows.append(
            {
                "route": route.name,
                "profile": route.profile_used(profile),
                "pinned": route.pinned,
                "policy": route.policy,
                "exploration": route.exploration,
                # What a non-streaming request would be sent to now, before exploration.
                "policy_order": [m.alias for m in order],
                "members": _members(route, profile, planner),
            }
        )
    return rows


def explain_view(table: RouteTable, profile: str | None, planner: Planner) -> dict[str, Any]:
    """The one document both ``GET /v1/gateway/routes`` and ``gateway routes --json`` print."""
    return {"object": "list", "profile": profile, "data": explain_routes(table, profile, planner)}


def _member_cell(member: dict[str, Any]) -> str:
    text = f"{member['model']} ({member['provider']}:{member['upstream_model']}"
    text += f", w={member['weight']:g}"
    if member["state"] != "available":
        text += f", {member['state']}"
    estimates = member["estimates"]
    for name, unit in (("ttft_ms", "ms ttft"), ("ms_per_output_token", "ms/token")):
        if estimates[name] is not None:
            text += f", {estimates[name]:g} {unit}"
    if estimates["in_flight"]:
        text += f", {estimates['in_flight']} in flight"
    return text + ")"


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'ROUTE':<20} {'PROFILE':<10} {'POLICY':<10} {'PINNED':<6} MEMBERS (policy order)"]
    for row in rows:
        by_alias = {m["model"]: m for m in row["members"]}
        members = ", ".join(_member_cell(by_alias[alias]) for alias in row["policy_order"])
        lines.append(
            f"{row['route']:<20} {row['profile'] or '-':<10} {row['policy']:<10} "
            f"{'yes' if row['pinned'] else 'no':<6} {members}"
        )
    return "\n".join(lines)
