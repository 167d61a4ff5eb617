"""The gateway's error catalogue.

Every error the gateway produces itself is a ``GatewayError``. Each class knows its
HTTP status and its OpenAI error ``type``/``code``; one function renders the
OpenAI-shaped body, so no handler builds error JSON by hand::

    GatewayError
     ├── InvalidRequest        400 invalid_request_error
     │    └── UnknownProfile   400 invalid_request_error / unknown_profile
     ├── Unauthorized          401 authentication_error / invalid_api_key
     ├── Forbidden             403 permission_error
     │    └── PermissionDenied 403 permission_error / permission_denied
     ├── ModelNotFound         404 invalid_request_error / model_not_found
     ├── NotFound              404 invalid_request_error / not_found
     ├── PayloadTooLarge       413 invalid_request_error / request_too_large
     ├── RateLimited           429 rate_limit_error / rate_limit_exceeded
     ├── InsufficientQuota     429 insufficient_quota / insufficient_quota
     ├── NoMemberAvailable     503/429 service_unavailable / rate_limit_exceeded
     ├── HolderUnavailable     503 service_unavailable / response_holder_unavailable
     ├── ShuttingDown          503 service_unavailable / server_shutting_down
     └── InternalError         500 server_error
"""

from __future__ import annotations

from typing import Any

import orjson


class GatewayError(Exception):
    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers: dict[str, str] = headers or {}

    def body(self) -> bytes:
        return error_body(self.message, self.type, self.param, self.code)


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class UnknownProfile(InvalidRequest):
    code = "unknown_profile"


class Unauthorized(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class Forbidden(GatewayError):
    status = 403
    type = "permission_error"
    code = "forbidden"


class PermissionDenied(Forbidden):
    code = "permission_denied"


class RateLimited(GatewayError):
    """A key's or team's own limit (rpm, tpm, max_parallel), not an upstream's."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class InsufficientQuota(GatewayError):
    """A key's or team's budget is spent (OpenAI's name for an account out of credit)."""

    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"


class ModelNotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"
    # The client is still sending: the answer reads the rest first (gateway.api.oversize).
    body_unread = False


class NoMemberAvailable(GatewayError):
    """Every member of the plan was parked or failed."""

    status = 503
    type = "service_unavailable"
    code = "no_member_available"

    def __init__(
        self,
        message: str,
        *,
        all_rate_limited: bool,
        headers: dict[str, str],
        all_overloaded: bool = False,
    ) -> None:
        super().__init__(message, headers=headers)
        # Every failure and every parking was an overload (529): a door whose API has
        # a status for that (Anthropic's) says so.
        self.all_overloaded = all_overloaded
        if all_rate_limited:
            self.status = 429
            self.type = "rate_limit_error"
            self.code = "rate_limit_exceeded"


class HolderUnavailable(GatewayError):
    """The one member that holds a stored response cannot be reached now."""

    status = 503
    type = "service_unavailable"
    code = "response_holder_unavailable"


class ShuttingDown(GatewayError):
    """The shutdown grace ran out before the answer came (gateway.lifecycle.shutdown)."""

    status = 503
    type = "service_unavailable"
    code = "server_shutting_down"


class InternalError(GatewayError):
    status = 500
    type = "server_error"
    code = "internal_error"


def error_body(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> bytes:
    payload: dict[str, Any] = {
        "error": {"message": message, "type": type_, "param": param, "code": code}
    }
    return orjson.dumps(payload)
