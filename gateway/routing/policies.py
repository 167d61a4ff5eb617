"""Ordering a pool into a plan: ``priority`` keeps the configured order, ``weighted``
draws by weight without replacement so that later members remain fallbacks."""

from __future__ import annotations

import random
from collections.abc import Sequence

from gateway.routing.table import Member


def priority_order(members: Sequence[Member], rng: random.Random) -> list[Member]:
    return list(members)


def weighted_order(members: Sequence[Member], rng: random.Random) -> list[Member]:
    # Efraimidis-Spirakis: sort by u ** (1 / w); equivalent to drawing by weight
    # without replacement. Weight 0 is standby: after every weighted member.
    weighted = [m for m in members if m.weight > 0]
    standby = [m for m in members if m.weight <= 0]
    if len(weighted) > 1:
        keyed = [(rng.random() ** (1.0 / m.weight), i) for i, m in enumerate(weighted)]
        keyed.sort(reverse=True)
        weighted = [weighted[i] for _, i in keyed]
    return weighted + standby


POLICIES = {"priority": priority_order, "weighted": weighted_order}


def order_pool(policy: str, members: Sequence[Member], rng: random.Random) -> list[Member]:
    return POLICIES[policy](members, rng)
