"""``/v1/gateway/keys``: runtime keys over HTTP (admin key required).

``POST`` creates a key and returns its secret once; ``GET`` lists keys (or one) with
spend against budget and use against limits, never a secret; ``PATCH`` changes a
runtime key's limits; ``DELETE`` revokes it. Every action writes one audit line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.api.admin import error_response, json_response
from gateway.api.auth import key_id, presented_key
from gateway.api.usage import StateUnavailable
from gateway.config.loader import format_path
from gateway.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    Unauthorized,
)
from gateway.governance.audit import audit
from gateway.governance.keys import Caller
from gateway.governance.runtime_keys import KeyPatch, KeySpec, new_key, patched
from gateway.governance.status import key_status

if TYPE_CHECKING:
    from gateway.runtime import Gateway

M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], raw: bytes) -> M:
    try:
        data = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise InvalidRequest("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        path = format_path([p for p in err["loc"] if isinstance(p, str | int)])
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise InvalidRequest(f"{path}: {message}", param=path) from None


class KeysEndpoints:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def routes(self) -> list[Route]:
        return [
            Route("/v1/gateway/keys", self._wrap(self.create), methods=["POST"]),
            Route("/v1/gateway/keys", self._wrap(self.list), methods=["GET"]),
            Route("/v1/gateway/keys/{key_id}", self._wrap(self.get), methods=["GET"]),
            Route("/v1/gateway/keys/{key_id}", self._wrap(self.patch), methods=["PATCH"]),
            Route("/v1/gateway/keys/{key_id}", self._wrap(self.revoke), methods=["DELETE"]),
        ]

    def _wrap(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                actor = self._admin(request)
                response: Response = await handler(request, actor)
                return response
            except GatewayError as exc:
                return error_response(exc)
            except self.gateway.state.unavailable_errors as exc:
                return error_response(
                    StateUnavailable(f"the shared state store is unavailable: {exc}")
                )

        return endpoint

    def _admin(self, request: Request) -> str:
        admin_keys = self.gateway.admin_keys
        if not admin_keys:
            raise PermissionDenied(
                "managing keys needs an admin key; none is configured (GATEWAY_ADMIN_KEYS)"
            )
        secret = presented_key(dict(request.headers.raw))
        if secret is None or secret not in admin_keys:
            raise Unauthorized("this endpoint needs an admin key")
        return key_id(secret)

    def _runtime(self, key_id_: str) -> Caller:
        caller = self.gateway.governor.ring.by_id.get(key_id_)
        if caller is None:
            raise NotFound(f"no key '{key_id_}'")
        if caller.key.source != "runtime":
            raise InvalidRequest(
                f"'{key_id_}' comes from the config file; change it there", param="key_id"
            )
        return caller

    def _check_refs(self, team: str | None, profiles: list[str] | None) -> None:
        governor = self.gateway.governor
        if team is not None and team not in governor.ring.teams:
            raise InvalidRequest(f"team: unknown team '{team}'", param="team")
        known = self.gateway.snapshot.config.known_profiles()
        for profile in profiles or []:
            if profile not in known:
                raise InvalidRequest(f"profiles: unknown profile '{profile}'", param="profiles")

    async def _view(self, caller: Caller) -> dict[str, Any]:
        status = await key_status(self.gateway.governor, caller)
        return {"object": "gateway.key", **caller.key.describe(), "status": status}

    async def create(self, request: Request, actor: str) -> Response:
        spec = _parse(KeySpec, await request.body())
        self._check_refs(spec.team, spec.profiles)
        key, secret = new_key(spec)
        await self.gateway.governor.save_key(key)
        audit(actor, "key.create", key.id)
        return json_response({"object": "gateway.key", **key.describe(), "secret": secret}, 201)

    async def list(self, request: Request, actor: str) -> Response:
        callers = sorted(self.gateway.governor.ring.by_id.values(), key=lambda c: c.key.id)
        data = [await self._view(caller) for caller in callers]
        audit(actor, "key.list", "*")
        return json_response({"object": "list", "data": data})

    async def get(self, request: Request, actor: str) -> Response:
        key_id_ = request.path_params["key_id"]
        caller = self.gateway.governor.ring.by_id.get(key_id_)
        if caller is None:
            raise NotFound(f"no key '{key_id_}'")
        audit(actor, "key.read", key_id_)
        return json_response(await self._view(caller))

    async def patch(self, request: Request, actor: str) -> Response:
        caller = self._runtime(request.path_params["key_id"])
        change = _parse(KeyPatch, await request.body())
        self._check_refs(None, change.profiles)
        key = patched(caller.key, change, set(change.model_fields_set))
        await self.gateway.governor.save_key(key)
        audit(actor, "key.update", key.id)
        return json_response(await self._view(self.gateway.governor.ring.by_id[key.id]))

    async def revoke(self, request: Request, actor: str) -> Response:
        caller = self._runtime(request.path_params["key_id"])
        await self.gateway.governor.revoke_key(caller.key.id)
        audit(actor, "key.revoke", caller.key.id)
        return json_response({"object": "gateway.key", "id": caller.key.id, "deleted": True})
