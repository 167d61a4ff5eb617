"""Keys made at run time: what the admin API accepts, and what the store keeps (the
secret's SHA-256, never the secret)."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from typing import Any

from pydantic import Field

from gateway.governance.config import Budget, Limits, ZonedTime
from gateway.governance.keys import KeyPolicy

SECRET_PREFIX = "sk-gw-"


class KeySpec(Limits):
    """``POST /v1/gateway/keys``: a new key's rules."""

    name: str = Field(min_length=1, max_length=128)
    team: str | None = None
    routes: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    profiles: list[str] | None = None
    expires_at: ZonedTime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class KeyPatch(Limits):
    """``PATCH /v1/gateway/keys/{id}``: the limits to change (``null`` removes one)."""

    routes: list[str] | None = Field(default=None, min_length=1)
    profiles: list[str] | None = None
    expires_at: ZonedTime | None = None
    metadata: dict[str, Any] | None = None


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def new_key(spec: KeySpec) -> tuple[KeyPolicy, str]:
    """A fresh key from ``spec`` and its secret (shown once, then forgotten)."""
    secret = new_secret()
    policy = KeyPolicy(
        id="rk_" + os.urandom(8).hex(),
        name=spec.name,
        source="runtime",
        digest=hashlib.sha256(secret.encode()).hexdigest(),
        limits=Limits(
            rpm=spec.rpm, tpm=spec.tpm, max_parallel=spec.max_parallel, budget=spec.budget
        ),
        team=spec.team,
        routes=tuple(spec.routes),
        profiles=frozenset(spec.profiles) if spec.profiles is not None else None,
        expires_at=spec.expires_at.timestamp() if spec.expires_at is not None else None,
        metadata=spec.metadata,
        created_at=time.time(),
    )
    return policy, secret


def patched(key: KeyPolicy, patch: KeyPatch, fields: set[str]) -> KeyPolicy:
    """``key`` with the fields the client sent (``fields``) replaced."""
    limits = key.limits.model_copy(
        update={name: getattr(patch, name) for name in fields & set(Limits.model_fields)}
    )
    expires = patch.expires_at.timestamp() if patch.expires_at is not None else None
    return KeyPolicy(
        id=key.id,
        name=key.name,
        source=key.source,
        digest=key.digest,
        limits=limits,
        team=key.team,
        routes=tuple(patch.routes) if "routes" in fields and patch.routes else key.routes,
        profiles=(
            (frozenset(patch.profiles) if patch.profiles is not None else None)
            if "profiles" in fields
            else key.profiles
        ),
        expires_at=expires if "expires_at" in fields else key.expires_at,
        metadata=(patch.metadata or {}) if "metadata" in fields else key.metadata,
        created_at=key.created_at,
    )


def to_stored(key: KeyPolicy) -> dict[str, Any]:
    return {**key.describe(), "digest": key.digest}


def from_stored(data: dict[str, Any]) -> KeyPolicy:
    limits = data.get("limits") or {}
    budget = limits.get("budget") or {}
    profiles = data.get("profiles")
    return KeyPolicy(
        id=str(data["id"]),
        name=str(data["name"]),
        source="runtime",
        digest=str(data["digest"]),
        limits=Limits(
            rpm=limits.get("rpm"),
            tpm=limits.get("tpm"),
            max_parallel=limits.get("max_parallel"),
            budget=Budget(**budget) if budget else None,
        ),
        team=data.get("team"),
        routes=tuple(data.get("routes") or ["*"]),
        profiles=frozenset(profiles) if profiles is not None else None,
        expires_at=data.get("expires_at"),
        metadata=data.get("metadata") or {},
        created_at=data.get("created_at"),
    )
