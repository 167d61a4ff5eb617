"""The explain view: what goes where right now, for one profile."""

from __future__ import annotations

from typing import Any

from gateway.routing.adaptive import Ask
from gateway.routing.policies import Planner
from gateway.routing.table import Member, Route, RouteTable
from gateway.routing.triage.explain import MemberView, triage_lines, triage_view


def member_viewer(planner: Planner) -> MemberView:
    """A member as the view shows it: where it goes, its cooldown state and the live
    estimates the adaptive policies order by."""

    def view(member: Member) -> dict[str, Any]:
        key = member.cooldown_key
        return {
            "model": member.alias,
            "provider": member.provider,
            "upstream_model": member.upstream_model,
            "weight": member.weight,
            "state": planner.state_of(member).value,
            "estimates": planner.board.describe([key])[key],
        }

    return view


def _row(route: Route, profile: str | None, planner: Planner, view: MemberView) -> dict[str, Any]:
    members = route.members_for(profile)
    order = planner.order(route, members, Ask())
    row: dict[str, Any] = {
        "route": route.name,
        "profile": route.profile_used(profile),
        "pinned": route.pinned,
        "policy": route.policy,
        "exploration": route.exploration,
        # What a non-streaming request would be sent to now, before exploration.
        "policy_order": [m.alias for m in order],
        "members": [view(m) for m in members],
    }
    if route.triage is not None:
        row["triage"] = triage_view(route.triage, profile, view)
    return row


def explain_routes(
    table: RouteTable, profile: str | None, planner: Planner
) -> list[dict[str, Any]]:
    view = member_viewer(planner)
    return [_row(route, profile, planner, view) for route in table.routes.values()]


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


def _describe(members: list[dict[str, Any]]) -> str:
    return ", ".join(_member_cell(m) for m in members)


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'ROUTE':<20} {'PROFILE':<10} {'POLICY':<10} {'PINNED':<6} MEMBERS (policy order)"]
    for row in rows:
        triage = row.get("triage")
        by_alias = {m["model"]: m for m in row["members"]}
        members = (
            "triage (tiers below)"
            if triage
            else _describe([by_alias[alias] for alias in row["policy_order"]])
        )
        lines.append(
            f"{row['route']:<20} {row['profile'] or '-':<10} {row['policy']:<10} "
            f"{'yes' if row['pinned'] else 'no':<6} {members}"
        )
        if triage:
            lines += triage_lines(triage, _describe)
    return "\n".join(lines)
