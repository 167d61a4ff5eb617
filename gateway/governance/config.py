"""The config sections of governance: ``teams:``, ``keys:``, ``governance:`` and a
catalog model's ``limits:``. Cross-references (a key's team, profiles) are checked
in ``gateway.governance.validate``."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

SHA256 = re.compile(r"sha256:[0-9a-f]{64}")


def _zoned(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone, e.g. 2027-01-31T00:00:00Z")
    return value


# A key's expiry: a moment, so never a wall-clock time without its zone.
ZonedTime = Annotated[datetime, AfterValidator(_zoned)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Budget(_Strict):
    """USD per UTC calendar day and month; ``None`` = no budget for that window."""

    daily_usd: float | None = Field(default=None, ge=0)
    monthly_usd: float | None = Field(default=None, ge=0)


class Limits(_Strict):
    """What a key or a team may use; every field is optional (``None`` = no limit)."""

    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    max_parallel: int | None = Field(default=None, ge=1)
    budget: Budget | None = None


class TeamSection(Limits):
    metadata: dict[str, Any] = Field(default_factory=dict)


class KeySection(Limits):
    # `${ENV}` (resolved by the loader) or `sha256:<64 hex>` of the secret.
    secret: str
    team: str | None = None
    routes: list[str] = Field(default_factory=lambda: ["*"])
    profiles: list[str] | None = None
    expires_at: ZonedTime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("secret")
    @classmethod
    def _usable_secret(cls, value: str) -> str:
        value = value.strip()
        if value.startswith("sha256:") and not SHA256.fullmatch(value):
            raise ValueError("a sha256: secret needs 64 lower-case hex digits")
        if not value:
            raise ValueError("empty secret (is its environment variable set?)")
        return value


class ModelLimits(_Strict):
    """A deployment's quota at its provider, per minute."""

    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)


class GovernanceSection(_Strict):
    # The tpm estimate of a request without max_tokens: prompt estimate + this.
    default_max_tokens: int = Field(default=512, ge=0)
    # A replica leases this share of a window's limit from the shared store at a time.
    lease_fraction: float = Field(default=0.05, gt=0, le=1)
    # How often spend is pushed to and read from the shared store.
    sync_interval_s: float = Field(default=0.5, gt=0, le=5)
