"""The plans a triage route serves from, built with the route.

A verdict's plan is its tier's members, then each tier's above, a model already listed
in a lower tier left out. A profile may give a tier another pool, so each profile a
tier knows has plans of its own. Built once per config: a request looks its plan up
and, once answered, which tier the member that answered came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.routing.table import Member, Route


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    # The route a tier names, or one made for its pool list (named `<route>:<tier>`).
    route: Route
    named_route: bool


@dataclass(frozen=True, slots=True)
class Ladder:
    """The plan from one tier up."""

    start: int  # index of the first tier in the route's tiers
    name: str  # its name
    fixed: tuple[Member, ...] | None  # None: some tier draws its order per request
    # The tier (index) the plan takes each member from, by cooldown key: the tier that
    # answered when that member did.
    tier_of: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Ladders:
    """A triage route's plans for one profile."""

    bypass: bool  # every tier is one and the same member: no classifier is asked
    by_verdict: Mapping[str, Ladder]  # for each of the four tiers a verdict may name


def build_ladders(
    tiers: Sequence[Tier], positions: Mapping[str, int], profile: str | None
) -> Ladders:
    """``positions``: the index in ``tiers`` of the tier that serves each verdict."""
    climbs = {start: _climb(tiers, start, profile) for start in set(positions.values())}
    keys = {m.cooldown_key for tier in tiers for m in tier.route.members_for(profile)}
    return Ladders(
        bypass=len(keys) == 1,
        by_verdict={verdict: climbs[start] for verdict, start in positions.items()},
    )


def tier_profiles(tiers: Sequence[Tier]) -> set[str]:
    """The profiles some tier's pool depends on; any other serves as no profile does."""
    return {name for tier in tiers if not tier.route.pinned for name in tier.route.profiles}


def _climb(tiers: Sequence[Tier], start: int, profile: str | None) -> Ladder:
    tier_of: dict[str, int] = {}
    plan: list[Member] = []
    for index in range(start, len(tiers)):
        for member in tiers[index].route.members_for(profile):
            if member.cooldown_key not in tier_of:
                tier_of[member.cooldown_key] = index
                plan.append(member)
    fixed = all(tier.route.policy == "priority" for tier in tiers[start:])
    return Ladder(start, tiers[start].name, tuple(plan) if fixed else None, tier_of)
