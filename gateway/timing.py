"""Stamp every response with the gateway's own cost and the road it took."""

from __future__ import annotations

from time import perf_counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

OVERHEAD_HEADER = b"x-detour-overhead-ms"
ROUTE_HEADER = b"x-detour-route"
TIMING_KEY = "detour_timing"


class Timing:
    """Per-request clock; handlers add the time they spent waiting on an upstream."""

    __slots__ = ("route", "start", "upstream")

    def __init__(self, route: str) -> None:
        self.start = perf_counter()
        self.upstream = 0.0
        self.route = route

    def overhead_ms(self) -> float:
        """Time so far not spent waiting on the upstream, in milliseconds."""
        return (perf_counter() - self.start - self.upstream) * 1000.0


def route_of(path: str) -> str:
    """`relay`, `litellm` or `gateway`, from the request path."""
    if path.startswith("/relay/"):
        return "relay"
    if path in ("/v1/chat/completions", "/chat/completions", "/v1/models", "/models"):
        return "litellm"
    return "gateway"


def timing_of(scope: Scope) -> Timing:
    """The request's Timing (a detached one outside the middleware, e.g. in unit tests)."""
    timing = scope.get(TIMING_KEY)
    if timing is None:
        timing = scope[TIMING_KEY] = Timing("gateway")
    return timing


class TimingMiddleware:
    """Pure ASGI: adds `x-detour-overhead-ms` and `x-detour-route` at response start."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        timing = Timing(route_of(scope["path"]))
        scope[TIMING_KEY] = timing

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers.append((OVERHEAD_HEADER, b"%.3f" % timing.overhead_ms()))
                headers.append((ROUTE_HEADER, timing.route.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, stamped)
