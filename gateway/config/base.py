"""The pieces every config section is built from: strict models and pool entries."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    # No .inf/.nan: an infinite price or timeout only fails later, on a request.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PoolEntry(Strict):
    model: str
    weight: float = Field(default=1.0, ge=0)


def normalise_pool(value: Any) -> Any:
    """``[a, {model: b, weight: 2}]``: a bare string is shorthand for ``{model: a}``."""
    if not isinstance(value, list):
        return value
    return [{"model": item} if isinstance(item, str) else item for item in value]
