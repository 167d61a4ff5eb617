"""``DELETE /v1/gateway/cache[?route=R]``: purge cached answers (admin key).

With the redis backend the entries are shared, so a purge reaches every replica.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.admin import error_response, json_response
from gateway.api.usage import StateUnavailable
from gateway.cache.key import route_tag
from gateway.errors import GatewayError, NotFound
from gateway.governance.audit import audit
from gateway.runtime import Gateway


class CacheEndpoints:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def purge(self, request: Request) -> Response:
        gateway = self.gateway
        try:
            actor = gateway.authorize_admin(dict(request.headers.raw))
            route = request.query_params.get("route")
            if route is not None and gateway.snapshot.table.resolve(route) is None:
                raise NotFound(f"no route, catalog model or provider/model named '{route}'")
        except GatewayError as exc:
            return error_response(exc)
        store = gateway.response_cache
        try:
            deleted = await store.purge(route_tag(route) if route else None) if store else 0
        except gateway.state.unavailable_errors as exc:
            return error_response(StateUnavailable(f"the shared state store is unavailable: {exc}"))
        audit(actor, "cache.purge", route or "*")
        return json_response({"object": "gateway.cache.purge", "route": route, "deleted": deleted})
