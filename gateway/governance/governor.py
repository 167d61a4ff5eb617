"""Governance as the gateway sees it: ``authenticate`` (key -> Caller), the admitter the
admission stage calls, runtime keys, and, as a request observer, settling what a
request took once it is done. With no keys, teams or model limits configured a request
costs a dict lookup at most."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from gateway.api.auth import presented_key
from gateway.errors import Unauthorized
from gateway.governance.admission import Admission, Admitter
from gateway.governance.budget import SpendBook, spend_of
from gateway.governance.keys import Caller, KeyPolicy, KeyRing
from gateway.governance.provider_quota import ProviderQuotas
from gateway.governance.quota import QuotaBook, WindowQuota
from gateway.governance.runtime_keys import to_stored
from gateway.observability.record import RequestRecord

if TYPE_CHECKING:
    from gateway.config.schema import GatewayConfig
    from gateway.governance.sync import GovernanceSync
    from gateway.state.base import StateStore


class Governor:
    def __init__(self, config: GatewayConfig, state: StateStore, flat_keys: frozenset[str]) -> None:
        settings = config.governance
        self.state = state
        self.ring = KeyRing()
        self.quotas = QuotaBook(settings.lease_fraction, shared=state.backend == "redis")
        self.spend = SpendBook()
        self.admitter = Admitter(self.quotas, self.spend, settings.default_max_tokens)
        self.provider_quotas = ProviderQuotas(self.quotas, settings.default_max_tokens)
        self.sync: GovernanceSync | None = None
        # Only the redis store has a client: the memory backend shares nothing.
        client = getattr(state, "client", None)
        if client is not None:
            from gateway.governance.redis_store import RedisGovernanceStore
            from gateway.governance.sync import GovernanceSync

            store = RedisGovernanceStore(client, getattr(state, "namespace", "gw"))
            self.sync = GovernanceSync(
                store,
                self.quotas,
                self.spend,
                self.ring,
                lambda: state.health() == "ok",
                settings.sync_interval_s,
            )
        self.configure(config, flat_keys)

    def configure(self, config: GatewayConfig, flat_keys: frozenset[str]) -> None:
        """Take the keys, teams and settings of a (re)loaded config."""
        settings = config.governance
        self.quotas.fraction = settings.lease_fraction
        self.admitter.default_max_tokens = settings.default_max_tokens
        self.provider_quotas.default_max_tokens = settings.default_max_tokens
        self.ring.configure(flat_keys, config.keys, config.teams)
        self.admitter.forget_plans()
        budgeted = {f"team:{name}" for name, team in config.teams.items() if team.budget}
        self.spend.pin(budgeted, time.time())

    async def start(self) -> None:
        if self.sync is not None:
            await self.sync.start()

    async def aclose(self) -> None:
        if self.sync is not None:
            await self.sync.aclose()

    # -- the request path --------------------------------------------------------------
    def authenticate(self, headers: dict[bytes, bytes], record: RequestRecord) -> Caller | None:
        caller = self.caller(headers)
        if caller is not None:
            record.api_key_id = caller.api_key_id
            record.key_name = caller.key.id
            record.team = caller.key.team
        return caller

    def caller(self, headers: dict[bytes, bytes]) -> Caller | None:
        """The caller, ``None`` when the gateway is open; raises 401 on a bad key."""
        ring = self.ring
        if ring.open:
            return None
        secret = presented_key(headers)
        caller = ring.lookup(secret) if secret is not None else None
        if caller is None:
            raise Unauthorized("invalid or missing API key for this gateway")
        expires = caller.key.expires_at
        if expires is not None and time.time() >= expires:
            raise Unauthorized("this API key has expired")
        return caller

    # -- runtime keys and status (admin API) ----------------------------------------------
    async def save_key(self, key: KeyPolicy) -> None:
        """Store a new or changed runtime key; every replica has it within 1 s."""
        if self.sync is not None:
            await self.sync.store.put_key(to_stored(key))
        self.ring.put_runtime(key)

    async def revoke_key(self, key_id: str) -> None:
        if self.sync is not None:
            await self.sync.store.delete_key(key_id)
        self.ring.drop_runtime(key_id)

    # -- observer: settle at the end -----------------------------------------------------
    def on_request_start(self, record: RequestRecord) -> None:
        return None

    def on_request_done(self, record: RequestRecord) -> None:
        admission: Admission | None = record.admission
        charges = record.quota_charges
        if admission is None and charges is None:
            return
        usage = record.usage
        actual = usage.input_tokens + usage.output_tokens if usage is not None else 0
        if admission is not None:
            for slots in admission.parallel:
                slots.in_flight -= 1
            for quota in admission.tpm:
                _correct(quota, admission.window, admission.tokens, actual)
            cost = spend_of(record)
            if cost and admission.spend:
                now = time.time()
                day = int(now // 86_400)
                for spend in admission.spend:
                    if spend.day_index != day:
                        spend.roll(now)
                    spend.add(cost)
        for charge in charges or ():
            if charge.tpm is not None:
                used = actual if charge.alias == record.alias else 0
                _correct(charge.tpm, charge.window, charge.tokens, used)


def _correct(quota: WindowQuota, window: int, estimate: int, actual: int) -> None:
    """Replace a token estimate by the real count, within the window it was taken in."""
    if quota.window != window or actual == estimate:
        return
    if actual < estimate:
        quota.give(estimate - actual)
    else:
        quota.take(actual - estimate)
