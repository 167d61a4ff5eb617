"""The explain view of a triage route: the classifier and each tier's resolved pool."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.routing.table import Member
from gateway.routing.triage.route import TriageRoute

MemberView = Callable[[Member], dict[str, Any]]
Describe = Callable[[list[dict[str, Any]]], str]


def triage_view(triage: TriageRoute, profile: str | None, member: MemberView) -> dict[str, Any]:
    classifier = triage.classifier
    section = triage.section
    return {
        "classifier": {
            "name": classifier.name,
            "kind": classifier.kind,
            "members": [member(m) for m in classifier.members_for(profile)],
        },
        "default_tier": triage.tiers[triage.position(triage.default_tier)].name,
        "heuristics": section.heuristics is not None,
        "cache_ttl_s": section.cache_ttl_s,
        "timeout_s": section.timeout_s,
        "tiers": [
            {
                "tier": tier.name,
                "route": tier.route.name if tier.named_route else None,
                "policy": tier.route.policy,
                "members": [member(m) for m in tier.route.members_for(profile)],
            }
            for tier in triage.tiers
        ],
    }


def triage_lines(
    view: dict[str, Any], describe: Callable[[list[dict[str, Any]]], str]
) -> list[str]:
    """Indented lines under a triage route's row in ``gateway routes``."""
    classifier = view["classifier"]
    lines = [f"{'':<4}classifier {classifier['name']}: {describe(classifier['members'])}"]
    for tier in view["tiers"]:
        via = f" (route {tier['route']})" if tier["route"] else ""
        default = " [default]" if tier["tier"] == view["default_tier"] else ""
        lines.append(f"{'':<4}tier {tier['tier']}{default}{via}: {describe(tier['members'])}")
    return lines
