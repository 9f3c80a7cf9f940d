"""CORS for the gateway itself: the page's origins may call it, others get nothing.

Preflights (any path) from an allowed origin get 204 with the requested
headers echoed; from any other origin, 403. Actual responses to an allowed
origin carry `Access-Control-Allow-Origin: <origin>` and expose the gateway's
headers plus every header of the response (so the page can read an upstream's
`retry-after` or rate-limit headers through the relay).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import PolicyRefused
from gateway.timing import TIMING_KEY

GATEWAY_HEADERS = (b"x-detour-overhead-ms", b"x-detour-error", b"x-detour-route")
ALLOW_METHODS = b"GET, POST, PUT, PATCH, DELETE, OPTIONS"
DEFAULT_ALLOW_HEADERS = b"authorization, content-type, x-detour-token, x-detour-upstream"
# Readable by a page without being exposed, so not worth listing.
_SAFELISTED = frozenset(
    {
        b"cache-control",
        b"content-language",
        b"content-length",
        b"content-type",
        b"expires",
        b"last-modified",
        b"pragma",
    }
)


class CORSMiddleware:
    """Pure ASGI CORS: never buffers the body, only touches response start."""

    def __init__(self, app: ASGIApp, origins: frozenset[str]) -> None:
        self.app = app
        self.any_origin = "*" in origins
        self.origins = frozenset(o.encode() for o in origins)

    def allows(self, origin: bytes) -> bool:
        """True when a page at `origin` may call the gateway."""
        return self.any_origin or origin in self.origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin: bytes | None = None
        request_method: bytes | None = None
        request_headers: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                request_method = value
            elif name == b"access-control-request-headers":
                request_headers = value
        if origin is not None and request_method is not None and scope["method"] == "OPTIONS":
            await self.preflight(scope, send, origin, request_headers)
            return
        if origin is None or not self.allows(origin):
            await self.app(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    h for h in message.get("headers", ()) if not h[0].startswith(b"access-control-")
                ]
                names = [n for n, _ in headers if n.lower() not in _SAFELISTED]
                exposed = dict.fromkeys([*GATEWAY_HEADERS, *(n.lower() for n in names)])
                headers.append((b"access-control-allow-origin", origin))
                headers.append((b"access-control-expose-headers", b", ".join(exposed)))
                headers.append((b"vary", b"Origin"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_cors)

    async def preflight(
        self, scope: Scope, send: Send, origin: bytes, request_headers: bytes | None
    ) -> None:
        """Answer a CORS preflight without calling the app."""
        timing = scope.get(TIMING_KEY)
        if timing is not None:
            timing.route = "gateway"
        if not self.allows(origin):
            error = PolicyRefused(
                f"origin {origin.decode('latin-1')} may not call this gateway; "
                "add it to GATEWAY_ALLOWED_ORIGINS",
                code="origin",
            )
            body = error.encoded()
            headers = [*error.headers(), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 403, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        headers = [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", request_headers or DEFAULT_ALLOW_HEADERS),
            (b"access-control-max-age", b"600"),
            (b"vary", b"Origin, Access-Control-Request-Headers"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
