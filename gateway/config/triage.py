"""The ``triage:`` section of a route: a classifier picks the tier that answers.

The schema checks each field on its own; ``check_triage`` checks what spans the
config (the classifier and tier routes exist, no triage route inside another).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from gateway.config.base import PoolEntry, Strict, normalise_pool

if TYPE_CHECKING:
    from gateway.config.schema import GatewayConfig, RouteSection

TIERS = ("simple", "medium", "complex", "expert")


class TriageHeuristics(Strict):
    """The rules that decide without asking the classifier (README, Complexity routing)."""

    # A request whose turns (system messages aside) hold at most this many characters of
    # plain text, with no tools, images or code, goes straight to `simple`. 0 = off.
    simple_max_chars: int = Field(default=64, ge=0)
    # Tools, images, or a prompt over `large_prompt_tokens` never go below this tier.
    # null turns the rule off.
    floor_tier: str | None = "medium"
    large_prompt_tokens: int = Field(default=8000, gt=0)


class TriageSection(Strict):
    classifier: str
    tiers: dict[str, str | list[PoolEntry]]
    default_tier: str = "medium"
    timeout_s: float = Field(default=5.0, gt=0)
    max_classifier_tokens: int = Field(default=2000, gt=0)
    prompt: str | None = None
    heuristics: TriageHeuristics | None = Field(default_factory=TriageHeuristics)
    cache_ttl_s: float = Field(default=300.0, ge=0)
    # How long a request waits for the shared (Redis) cache before it asks the classifier.
    cache_wait_ms: float = Field(default=5.0, ge=0, le=1000)

    @field_validator("tiers", mode="before")
    @classmethod
    def _pool_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {name: normalise_pool(tier) for name, tier in value.items()}
        return value

    @field_validator("heuristics", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        # `heuristics: true` keeps every rule at its default, `false` turns all off.
        if value is True:
            return {}
        if value is False:
            return None
        return value


def _known_tier(path: str, name: str, problems: list[str]) -> bool:
    if name in TIERS:
        return True
    problems.append(f"{path}: unknown tier '{name}' (known: {', '.join(TIERS)})")
    return False


def _check_tier_target(
    config: GatewayConfig, path: str, target: str | list[PoolEntry], problems: list[str]
) -> None:
    if isinstance(target, list):
        if not target:
            problems.append(f"{path}: a pool needs at least one member")
        for i, entry in enumerate(target):
            if entry.model not in config.models:
                problems.append(f"{path}[{i}]: unknown model '{entry.model}'")
        return
    route = config.routes.get(target)
    if route is not None:
        if route.triage is not None:
            problems.append(f"{path}: '{target}' is a triage route; tiers cannot nest")
    elif target not in config.models:
        problems.append(f"{path}: '{target}' is neither a route nor a catalog alias")


def check_triage(
    config: GatewayConfig, base: str, route: RouteSection, problems: list[str]
) -> None:
    """Cross-reference rules of ``<base>.triage`` (``base`` is ``routes.<name>``)."""
    triage = route.triage
    assert triage is not None
    path = f"{base}.triage"
    if route.pool is not None:
        problems.append(f"{base}: a route has either `pool` or `triage`, not both")
    if route.profiles:
        problems.append(
            f"{base}.profiles: a triage route has no pool of its own; "
            "give profiles to the routes its tiers name"
        )
    if not triage.tiers:
        problems.append(f"{path}.tiers: at least one tier is needed")
    for name, target in triage.tiers.items():
        if _known_tier(f"{path}.tiers.{name}", name, problems):
            _check_tier_target(config, f"{path}.tiers.{name}", target, problems)
    if _known_tier(f"{path}.default_tier", triage.default_tier, problems):
        if triage.tiers and triage.default_tier not in triage.tiers:
            problems.append(
                f"{path}.default_tier: '{triage.default_tier}' is not a configured tier "
                f"(configured: {', '.join(t for t in TIERS if t in triage.tiers)})"
            )
    heuristics = triage.heuristics
    if heuristics is not None and heuristics.floor_tier is not None:
        _known_tier(f"{path}.heuristics.floor_tier", heuristics.floor_tier, problems)
    classifier = config.routes.get(triage.classifier)
    if classifier is not None:
        if classifier.triage is not None:
            problems.append(
                f"{path}.classifier: '{triage.classifier}' is a triage route; "
                "the classifier must be a plain route or a catalog alias"
            )
    elif triage.classifier not in config.models:
        problems.append(
            f"{path}.classifier: '{triage.classifier}' is neither a catalog alias nor a route"
        )
