"""Inbound keys as the gateway knows them: config keys, runtime keys and the flat
``api_keys`` (keys without limits), each resolved to a ``Caller`` once, when the
set of keys changes, so a request costs one dict lookup (and a SHA-256 only for
keys stored as hashes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from gateway.governance.config import Budget, KeySection, Limits, TeamSection


def secret_hash(secret: str) -> str:
    """The hex SHA-256 of a secret; a ``sha256:`` value is already one."""
    if secret.startswith("sha256:"):
        return secret[7:]
    return hashlib.sha256(secret.encode()).hexdigest()


def usage_key_id(digest: str) -> str:
    """The id usage counters have always used for a key (``gateway.api.auth.key_id``)."""
    return "key_" + digest[:12]


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    id: str
    name: str
    source: str  # config | runtime | api_keys
    digest: str
    limits: Limits = field(default_factory=Limits)
    team: str | None = None
    routes: tuple[str, ...] = ("*",)
    profiles: frozenset[str] | None = None
    expires_at: float | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: float | None = None

    def describe(self) -> dict[str, Any]:
        """The key as the admin API shows it: never the secret, nor its hash."""
        return {
            "id": self.id,
            "name": self.name,
            "source": self.source,
            "team": self.team,
            "routes": list(self.routes),
            "profiles": sorted(self.profiles) if self.profiles is not None else None,
            "limits": limits_view(self.limits),
            "expires_at": self.expires_at,
            "created_at": self.created_at,
            "metadata": dict(self.metadata),
        }


def limits_view(limits: Limits) -> dict[str, Any]:
    budget = limits.budget or Budget()
    return {
        "rpm": limits.rpm,
        "tpm": limits.tpm,
        "max_parallel": limits.max_parallel,
        "budget": {"daily_usd": budget.daily_usd, "monthly_usd": budget.monthly_usd},
    }


def has_limits(limits: Limits | None) -> bool:
    if limits is None:
        return False
    budget = limits.budget
    return (
        limits.rpm is not None
        or limits.tpm is not None
        or limits.max_parallel is not None
        or (budget is not None and (budget.daily_usd is not None or budget.monthly_usd is not None))
    )


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request comes from: its key, its team's limits, and whether anything
    about it needs the admission stage at all."""

    key: KeyPolicy
    team_limits: Limits | None
    api_key_id: str
    governed: bool
    limited: bool  # rate or parallel limits: answers carry x-ratelimit-* headers
    any_route: bool = True
    any_profile: bool = True

    def allows_route(self, name: str) -> bool:
        return self.any_route or any(fnmatchcase(name, pattern) for pattern in self.key.routes)

    def allows_profile(self, profile: str | None) -> bool:
        allowed = self.key.profiles
        return allowed is None or profile is None or profile in allowed


def config_key(name: str, section: KeySection) -> KeyPolicy:
    return KeyPolicy(
        id=name,
        name=name,
        source="config",
        digest=secret_hash(section.secret),
        limits=Limits(
            rpm=section.rpm,
            tpm=section.tpm,
            max_parallel=section.max_parallel,
            budget=section.budget,
        ),
        team=section.team,
        routes=tuple(section.routes),
        profiles=frozenset(section.profiles) if section.profiles is not None else None,
        expires_at=_epoch(section.expires_at),
        metadata=section.metadata,
    )


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _caller(key: KeyPolicy, teams: Mapping[str, TeamSection]) -> Caller:
    team = teams.get(key.team) if key.team is not None else None
    team_limits = (
        Limits(rpm=team.rpm, tpm=team.tpm, max_parallel=team.max_parallel, budget=team.budget)
        if team is not None
        else None
    )
    rate = (key.limits, team_limits)
    limited = any(lim is not None and (lim.rpm or lim.tpm or lim.max_parallel) for lim in rate)
    governed = (
        has_limits(key.limits)
        or has_limits(team_limits)
        or key.routes != ("*",)
        or key.profiles is not None
        or key.team is not None  # usage by team
        or key.source != "api_keys"  # usage by key name
    )
    return Caller(
        key,
        team_limits,
        usage_key_id(key.digest),
        governed,
        limited,
        any_route=key.routes == ("*",),
        any_profile=key.profiles is None,
    )


class KeyRing:
    """Every key this replica accepts. ``plain`` is looked up by the presented secret
    itself (keys whose secret the config holds), ``hashed`` by its SHA-256."""

    def __init__(self) -> None:
        self.plain: dict[str, Caller] = {}
        self.hashed: dict[str, Caller] = {}
        self.by_id: dict[str, Caller] = {}
        self.open = True
        self._flat: frozenset[str] = frozenset()
        self._config: dict[str, KeySection] = {}
        self._teams: dict[str, TeamSection] = {}
        self.runtime: dict[str, KeyPolicy] = {}

    def configure(
        self,
        flat: Iterable[str],
        keys: Mapping[str, KeySection],
        teams: Mapping[str, TeamSection],
    ) -> None:
        self._flat = frozenset(flat)
        self._config = dict(keys)
        self._teams = dict(teams)
        self._rebuild()

    def set_runtime(self, keys: Iterable[KeyPolicy]) -> None:
        self.runtime = {key.id: key for key in keys}
        self._rebuild()

    def put_runtime(self, key: KeyPolicy) -> None:
        self.runtime[key.id] = key
        self._rebuild()

    def drop_runtime(self, key_id: str) -> bool:
        found = self.runtime.pop(key_id, None) is not None
        if found:
            self._rebuild()
        return found

    @property
    def teams(self) -> Mapping[str, TeamSection]:
        return self._teams

    def _rebuild(self) -> None:
        plain: dict[str, Caller] = {}
        hashed: dict[str, Caller] = {}
        by_id: dict[str, Caller] = {}
        for secret in self._flat:
            digest = secret_hash(secret)
            flat = KeyPolicy(usage_key_id(digest), usage_key_id(digest), "api_keys", digest)
            plain[secret] = by_id[flat.id] = _caller(flat, self._teams)
        for name, section in self._config.items():
            caller = _caller(config_key(name, section), self._teams)
            by_id[name] = caller
            if section.secret.startswith("sha256:"):
                hashed[caller.key.digest] = caller
            else:
                plain[section.secret] = caller
        for key in self.runtime.values():
            hashed[key.digest] = by_id[key.id] = _caller(key, self._teams)
        # Swapped in whole: a request never sees half a rebuild.
        self.plain, self.hashed, self.by_id = plain, hashed, by_id
        self.open = not by_id

    def lookup(self, secret: str) -> Caller | None:
        caller = self.plain.get(secret)
        if caller is None and self.hashed:
            caller = self.hashed.get(hashlib.sha256(secret.encode()).hexdigest())
        return caller
