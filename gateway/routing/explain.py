"""The explain view: what goes where right now, for one profile."""

from __future__ import annotations

from typing import Any

from gateway.routing.table import RouteTable


def explain_routes(table: RouteTable, profile: str | None) -> list[dict[str, Any]]:
    rows = []
    for route in table.routes.values():
        members = route.members_for(profile)
        rows.append(
            {
                "route": route.name,
                "profile": route.profile_used(profile),
                "pinned": route.pinned,
                "policy": route.policy,
                "members": [
                    {
                        "model": m.alias,
                        "provider": m.provider,
                        "upstream_model": m.upstream_model,
                        "weight": m.weight,
                    }
                    for m in members
                ],
            }
        )
    return rows


def explain_view(table: RouteTable, profile: str | None) -> dict[str, Any]:
    """The one document both ``GET /v1/gateway/routes`` and ``gateway routes --json`` print."""
    return {"object": "list", "profile": profile, "data": explain_routes(table, profile)}


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'ROUTE':<20} {'PROFILE':<10} {'POLICY':<9} {'PINNED':<6} MEMBERS"]
    for row in rows:
        members = ", ".join(
            f"{m['model']} ({m['provider']}:{m['upstream_model']}, w={m['weight']:g})"
            for m in row["members"]
        )
        lines.append(
            f"{row['route']:<20} {row['profile'] or '-':<10} {row['policy']:<9} "
            f"{'yes' if row['pinned'] else 'no':<6} {members}"
        )
    return "\n".join(lines)
