"""Typed failures of the gateway and their HTTP shape.

The tree (each leaf names its `x-detour-error` kind and HTTP status)::

    GatewayError                      any failure the gateway itself decides
    ├── ConfigError                   start-up only: bad settings or YAML (exit 2, one line)
    ├── AuthRequired                  gateway_auth  401  token missing or wrong
    ├── PolicyRefused                 policy        403  upstream/origin not allowed (rule in code)
    ├── BadRequest                    bad_request   400  malformed request
    ├── NotFound                      not_found     404  unknown route or model
    ├── LimitExceeded                 limit         413 / 431  body or headers too large
    ├── Unreachable                   unreachable   502  upstream refused / DNS failed / reset
    ├── UpstreamTimeout               timeout       504  upstream too slow to connect or answer
    └── NotReady                      not_ready     503  LiteLLM still loading, or its config failed

Errors an upstream returns itself (a provider's 401, 429, 500 ...) are not
GatewayErrors: they pass through with their status and no `x-detour-error`.
Messages never contain keys or tokens.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

ERROR_HEADER = "x-detour-error"


class GatewayError(Exception):
    """A failure decided by the gateway; rendered as an OpenAI-shaped error."""

    kind: ClassVar[str] = "gateway"
    status: int = 500
    error_type: ClassVar[str] = "api_error"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.kind
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        """The OpenAI error shape."""
        return openai_error(self.message, self.error_type, self.code)

    def headers(self) -> list[tuple[bytes, bytes]]:
        """Raw ASGI headers for the response."""
        return [
            (b"content-type", b"application/json"),
            (ERROR_HEADER.encode(), self.kind.encode()),
        ]

    def encoded(self) -> bytes:
        """The response body as bytes."""
        return json.dumps(self.body()).encode()


class ConfigError(GatewayError):
    """Settings or model list are invalid; start-up stops with one line."""

    kind = "config"


class AuthRequired(GatewayError):
    """The gateway token is missing or wrong."""

    kind = "gateway_auth"
    status = 401
    error_type = "authentication_error"


class PolicyRefused(GatewayError):
    """The relay policy refuses this upstream (the rule is in `code`)."""

    kind = "policy"
    status = 403
    error_type = "permission_error"


class BadRequest(GatewayError):
    """The request is malformed."""

    kind = "bad_request"
    status = 400
    error_type = "invalid_request_error"


class NotFound(GatewayError):
    """No such route or model."""

    kind = "not_found"
    status = 404
    error_type = "invalid_request_error"


class LimitExceeded(GatewayError):
    """Body or headers exceed the configured limit."""

    kind = "limit"
    status = 413
    error_type = "invalid_request_error"


class Unreachable(GatewayError):
    """The upstream could not be reached."""

    kind = "unreachable"
    status = 502
    error_type = "api_connection_error"


class UpstreamTimeout(GatewayError):
    """The upstream did not connect or answer in time."""

    kind = "timeout"
    status = 504
    error_type = "timeout_error"


class NotReady(GatewayError):
    """The LiteLLM path is not ready: still loading, or its model list cannot be served."""

    kind = "not_ready"
    status = 503
    error_type = "api_error"


def openai_error(
    message: str, error_type: str, code: str | int | None = None, param: str | None = None
) -> dict[str, Any]:
    """Build `{"error": {"message", "type", "param", "code"}}`."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}
