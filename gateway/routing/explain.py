"""The explain view: what goes where right now, for one profile."""

from __future__ import annotations

from typing import Any

from gateway.routing.table import Member, RouteTable


def member_view(member: Member) -> dict[str, Any]:
    return {
        "model": member.alias,
        "provider": member.provider,
        "upstream_model": member.upstream_model,
        "weight": member.weight,
    }


def explain_routes(table: RouteTable, profile: str | None) -> list[dict[str, Any]]:
    rows = []
    for route in table.routes.values():
        members = route.members_for(profile)
        row: dict[str, Any] = {
            "route": route.name,
            "profile": route.profile_used(profile),
            "pinned": route.pinned,
            "policy": route.policy,
            "members": [member_view(m) for m in members],
        }
        if route.triage is not None:
            from gateway.routing.triage.explain import triage_view

            row["triage"] = triage_view(route.triage, profile, member_view)
        rows.append(row)
    return rows


def explain_view(table: RouteTable, profile: str | None) -> dict[str, Any]:
    """The one document both ``GET /v1/gateway/routes`` and ``gateway routes --json`` print."""
    return {"object": "list", "profile": profile, "data": explain_routes(table, profile)}


def _describe(members: list[dict[str, Any]]) -> str:
    return ", ".join(
        f"{m['model']} ({m['provider']}:{m['upstream_model']}, w={m['weight']:g})" for m in members
    )


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'ROUTE':<20} {'PROFILE':<10} {'POLICY':<9} {'PINNED':<6} MEMBERS"]
    for row in rows:
        triage = row.get("triage")
        members = "triage (tiers below)" if triage else _describe(row["members"])
        lines.append(
            f"{row['route']:<20} {row['profile'] or '-':<10} {row['policy']:<9} "
            f"{'yes' if row['pinned'] else 'no':<6} {members}"
        )
        if triage:
            from gateway.routing.triage.explain import triage_lines

            lines += triage_lines(triage, _describe)
    return "\n".join(lines)
