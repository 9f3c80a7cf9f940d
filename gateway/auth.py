"""The gateway token: required on every route but health when one is set.

The token is `GATEWAY_TOKEN`, or the model list's `general_settings.master_key`
(as in LiteLLM's proxy); when both are set, either one is accepted.

`X-Detour-Token: <token>` works everywhere. `Authorization: Bearer <token>`
works on the gateway's own routes only: on the relay, `Authorization` is the
user's provider key and is forwarded untouched.
"""

from __future__ import annotations

import hmac

from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import AuthRequired

OPEN_PATHS = frozenset({"/health", "/health/liveliness", "/health/readiness"})
TOKEN_HEADER = b"x-detour-token"


def token_matches(given: bytes | None, expected: bytes) -> bool:
    """Constant-time comparison; a missing token never matches."""
    return given is not None and hmac.compare_digest(given, expected)


def presented_token(scope: Scope) -> bytes | None:
    """The token a request carries, by the header its path allows."""
    bearer_allowed = not scope["path"].startswith("/relay/")
    found: bytes | None = None
    for name, value in scope["headers"]:
        if name == TOKEN_HEADER:
            return bytes(value).strip()
        if bearer_allowed and name == b"authorization" and value[:7].lower() == b"bearer ":
            found = bytes(value[7:]).strip()
    return found


class AuthMiddleware:
    """Pure ASGI: answers 401 `gateway_auth` unless the request carries the token."""

    def __init__(
        self, app: ASGIApp, token: SecretStr | None, master_key: SecretStr | None = None
    ) -> None:
        self.app = app
        self.accepted = tuple(t.get_secret_value().encode() for t in (token, master_key) if t)
        self.expected = self.accepted[0] if self.accepted else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.expected is None
            or scope["type"] != "http"
            or scope["path"] in OPEN_PATHS
            or self.matches(presented_token(scope))
        ):
            await self.app(scope, receive, send)
            return
        relay = scope["path"].startswith("/relay/")
        how = "X-Detour-Token" if relay else "X-Detour-Token or Authorization: Bearer"
        error = AuthRequired(
            f"this gateway requires its token: send it as {how} "
            "(set it in the page's gateway settings)",
        )
        body = error.encoded()
        headers = [*error.headers(), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def matches(self, given: bytes | None) -> bool:
        """True when `given` is one of the accepted tokens (each compared in constant time)."""
        return any([token_matches(given, expected) for expected in self.accepted])
