"""Provider quotas (``models.<alias>.limits``): the attempt loop skips a member whose
deployment is at its rpm or tpm, as it skips a parked one (``alias:at_limit``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gateway.governance.admission import RETRY_REFILL_S, estimate_tokens
from gateway.governance.config import ModelLimits
from gateway.governance.quota import QuotaBook, WindowQuota
from gateway.governance.windows import minute, minute_reset_s
from gateway.observability.record import RequestRecord


@dataclass(frozen=True, slots=True)
class QuotaCharge:
    alias: str
    tpm: WindowQuota | None
    tokens: int
    window: int


class ProviderQuotas:
    def __init__(self, book: QuotaBook, default_max_tokens: int) -> None:
        self.book = book
        self.default_max_tokens = default_max_tokens

    def take(
        self,
        alias: str,
        limits: ModelLimits,
        record: RequestRecord,
        body: dict[str, Any],
        prompt_estimate: int,
    ) -> bool:
        """Takes one request and the token estimate from the member's quota, if it has room."""
        now = time.time()
        window = minute(now)
        subject = self.book.subject(f"model:{alias}", limits.rpm, limits.tpm, None)
        tokens = estimate_tokens(body, prompt_estimate, self.default_max_tokens)
        shared = self.book.leasing
        needs = [(q, n) for q, n in ((subject.rpm, 1), (subject.tpm, tokens)) if q is not None]
        for quota, need in needs:
            quota.roll(window)
            if not quota.allows(need, shared):
                if shared and now - quota.tried_at >= RETRY_REFILL_S:
                    quota.tried_at = now
                    self.book.want(quota)
                return False
        for quota, need in needs:
            quota.take(need, now)
            if shared and quota.wants_refill():
                self.book.want(quota)
        if record.quota_charges is None:
            record.quota_charges = []
        record.quota_charges.append(QuotaCharge(alias, subject.tpm, tokens, window))
        return True

    @staticmethod
    def reset_s() -> float:
        return minute_reset_s(time.time())
