"""A triage route at run time: its classifier and its tiers, resolved once per config."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.config.base import PoolEntry
from gateway.config.schema import GatewayConfig
from gateway.config.triage import TIERS, TriageSection
from gateway.routing.options import flatten_extra_body
from gateway.routing.table import Member, Route
from gateway.routing.triage.heuristics import Rules
from gateway.routing.triage.ladder import Ladders, Tier, build_ladders, tier_profiles
from gateway.routing.triage.prompt import DEFAULT_PROMPT

# Provider kinds whose API takes `response_format: {"type": "json_object"}`. The
# anthropic kind drops the field, so it is sent only when every member accepts it.
JSON_MODE_KINDS = frozenset(("openai", "azure", "mock"))
RANK = {name: i for i, name in enumerate(TIERS)}

MemberFactory = Callable[[PoolEntry, Mapping[str, Any], list[str]], Member]


@dataclass(frozen=True, slots=True)
class TriageRoute:
    classifier: Route
    tiers: tuple[Tier, ...]  # the configured tiers, weakest first
    default_tier: str
    section: TriageSection
    prompt: str
    json_mode: bool
    # Hashed into every decision-cache key: another route, classifier or prompt
    # never reuses this one's verdicts.
    cache_scope: bytes
    # Index in ``tiers`` of the tier that serves each verdict (see ``position``).
    positions: Mapping[str, int]
    rules: Rules | None  # section.heuristics, read on every request
    # The plans for each profile some tier's pool depends on, and for None: any other.
    ladders: Mapping[str | None, Ladders]

    def position(self, tier: str) -> int:
        """Index in ``tiers`` of the tier that serves a verdict of ``tier``: that tier
        when configured, else the next one up, else the nearest one down."""
        return self.positions[tier]

    def ladders_for(self, profile: str | None) -> Ladders:
        found = self.ladders.get(profile)
        return found if found is not None else self.ladders[None]


def serving_positions(configured: tuple[str, ...]) -> dict[str, int]:
    """For each of the four tiers, the index in ``configured`` (weakest first) of the
    tier that serves its verdicts."""
    positions = {}
    for tier in TIERS:
        rank = RANK[tier]
        up = (i for i, name in enumerate(configured) if RANK[name] >= rank)
        positions[tier] = next(up, len(configured) - 1)
    return positions


def _classifier_json_mode(config: GatewayConfig, classifier: Route) -> bool:
    members = [*classifier.pool, *(m for p in classifier.profiles.values() for m in p)]
    return all(config.providers[m.provider].kind in JSON_MODE_KINDS for m in members)


def build_triage_route(
    config: GatewayConfig,
    name: str,
    resolve: Callable[[str], Route | None],
    member: MemberFactory,
) -> Route:
    """The runtime route of ``routes.<name>`` (validated: every name resolves)."""
    section = config.routes[name]
    triage = section.triage
    assert triage is not None
    options = flatten_extra_body(section.options)
    tiers = []
    for tier_name in TIERS:
        target = triage.tiers.get(tier_name)
        if target is None:
            continue
        if isinstance(target, str):
            named = resolve(target)
            assert named is not None
            tiers.append(Tier(tier_name, named, named.kind == "route"))
            continue
        pool = tuple(member(entry, options, section.force) for entry in target)
        route = Route(
            name=f"{name}:{tier_name}",
            pool=pool,
            policy=section.policy,
            kind="tier",
            metrics_label=name,
        )
        tiers.append(Tier(tier_name, route, False))
    classifier = resolve(triage.classifier)
    assert classifier is not None
    prompt = triage.prompt or DEFAULT_PROMPT
    scope = hashlib.sha256(f"{name}\0{triage.classifier}\0{prompt}\0".encode()).digest()
    positions = serving_positions(tuple(tier.name for tier in tiers))
    profiles = [None, *sorted(tier_profiles(tiers))]
    plan = TriageRoute(
        classifier=classifier,
        tiers=tuple(tiers),
        default_tier=triage.default_tier,
        section=triage,
        prompt=prompt,
        json_mode=_classifier_json_mode(config, classifier),
        cache_scope=scope,
        positions=positions,
        rules=Rules.of(triage.heuristics) if triage.heuristics is not None else None,
        ladders={p: build_ladders(tiers, positions, p) for p in profiles},
    )
    everyone: dict[str, Member] = {}
    for tier in plan.tiers:
        for each in tier.route.pool:
            everyone.setdefault(each.cooldown_key, each)
    return Route(
        name=name,
        # Every model the tiers may call, weakest tier first: what the explain view and
        # the available-members gauge read as the route's pool.
        pool=tuple(everyone.values()),
        policy=section.policy,
        pinned=section.pinned,
        kind="route",
        metrics_label=name,
        triage=plan,
    )
