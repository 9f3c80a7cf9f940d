"""Which road a provider's request takes: direct, through the gateway, or auto.

`auto` tries direct first; only a connectivity failure (CORS, unreachable,
timeout) sends it through the gateway. The road that worked is remembered per
provider id and base URL: a gateway road for 10 minutes, so a lifted CORS block
is noticed soon; a direct road for 6 hours, since direct failing later is
caught on the spot and re-resolved. HTTP errors (401, 404, 429, 400, …) are
the same on any road and are never "fixed" by switching. The router only
retries before any body byte is read: it returns the response unconsumed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from web.clock import Clock
from web.dialects import Call, dialect_for
from web.errors import (
    AuthError,
    ConnectivityError,
    CorsBlocked,
    GatewayMissing,
    GatewayUnusable,
    HttpError,
    RouteError,
    TimedOut,
)
from web.events import EventSink, RouteChosen, RouteFallback, RouteForgotten, failure_words
from web.gateway import (
    GATEWAY_TEMPLATE,
    GatewayConfig,
    GatewayKind,
    GatewayStatus,
    check_gateway,
    gateway_error,
    no_relay_message,
    relay_request,
)
from web.providers import Provider, Routing
from web.transport import Request, Response, Transport

DIRECT_TTL = 6 * 3600.0
GATEWAY_TTL = 600.0
GATEWAY_STATUS_TTL = 300.0


E = TypeVar("E", bound=RouteError)


def reworded(error: E, message: str, *, hint: str = "", route: str | None = None) -> E:
    """A copy of `error` with a new message (and hint, road); the original is untouched."""
    new = type(error).__new__(type(error), message)
    new.__dict__.update(error.__dict__)
    new.message = message
    if hint:
        new.hint = hint
    if route is not None:
        new.route = route
    return new


class Route(StrEnum):
    """A road a request can take."""

    DIRECT = "direct"
    GATEWAY = "gateway"


@dataclass
class RoutedResponse:
    """A response whose body is still unread, and the road that produced it."""

    response: Response
    route: Route
    fallback: bool = False

    @property
    def gateway_overhead_ms(self) -> float | None:
        """The gateway's own cost, from its `x-detour-overhead-ms` header, if it sent one."""
        try:
            return float(self.response.headers["x-detour-overhead-ms"])
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True)
class Remembered:
    """A road that worked for a provider at a base URL, until `expires_at`."""

    route: Route
    base_url: str
    expires_at: float


class Router:
    """Sends a provider's calls over the right road and remembers what worked."""

    def __init__(
        self,
        transport: Transport,
        gateway: Callable[[], GatewayConfig | None],
        clock: Clock,
        *,
        on_event: EventSink | None = None,
        memory_ttl: Mapping[Route, float] | None = None,
        gateway_status_ttl: float = GATEWAY_STATUS_TTL,
    ) -> None:
        self.transport = transport
        self.gateway = gateway
        self.clock = clock
        self._emit = on_event or (lambda event: None)
        self._ttl = {Route.DIRECT: DIRECT_TTL, Route.GATEWAY: GATEWAY_TTL, **(memory_ttl or {})}
        self._status_ttl = gateway_status_ttl
        self._memory: dict[str, Remembered] = {}
        self._status: dict[str, tuple[GatewayStatus, float]] = {}
        self.last_status: GatewayStatus | None = None  # the latest check, kept live by health

    def remembered(self, provider: Provider) -> Route | None:
        """The fresh remembered road for this provider and base URL, if any."""
        entry = self._memory.get(provider.id)
        if entry and entry.base_url == provider.base_url and entry.expires_at > self.clock.now():
            return entry.route
        return None

    def remembered_routes(self) -> dict[str, dict[str, Any]]:
        """The memory as plain JSON-able data, for saving across page loads."""
        return {
            pid: {"route": e.route.value, "base_url": e.base_url, "expires_at": e.expires_at}
            for pid, e in self._memory.items()
        }

    def load_remembered(self, data: Any) -> None:
        """Restore saved memory; malformed or expired entries are skipped."""
        if not isinstance(data, dict):
            return
        now = self.clock.now()
        for pid, entry in data.items():
            try:
                remembered = Remembered(
                    Route(entry["route"]), str(entry["base_url"]), float(entry["expires_at"])
                )
            except (TypeError, KeyError, ValueError):
                continue
            if isinstance(pid, str) and remembered.expires_at > now:
                self._memory[pid] = remembered

    def forget(self, provider_id: str) -> None:
        """Drop the remembered road of one provider."""
        self._memory.pop(provider_id, None)

    def _remember(self, provider: Provider, route: Route) -> None:
        expires = self.clock.now() + self._ttl[route]
        self._memory[provider.id] = Remembered(route, provider.base_url, expires)

    def _drop(self, provider: Provider, reason: str) -> None:
        entry = self._memory.pop(provider.id, None)
        if entry is not None:
            self._emit(RouteForgotten(provider.id, provider.name, entry.route.value, reason))

    def _stale_reason(self, provider: Provider) -> str:
        entry = self._memory.get(provider.id)
        if entry is None:
            return ""
        if entry.base_url != provider.base_url:
            return "the base URL changed"
        if entry.expires_at <= self.clock.now():
            return "it expired; checking again"
        if entry.route is Route.GATEWAY and self.gateway() is None:
            return "no gateway is configured any more"
        return ""

    async def gateway_status(self, *, force: bool = False) -> GatewayStatus | None:
        """What the configured gateway is (cached a few minutes), or None if none is set."""
        config = self.gateway()
        if config is None:
            return None
        cached = self._status.get(config.base)
        if cached and not force and cached[1] > self.clock.now():
            self.last_status = cached[0]
            return cached[0]
        status = await check_gateway(self.transport, config)
        self.last_status = status
        if status.kind is GatewayKind.UNREACHABLE:
            self._status.pop(config.base, None)
        else:
            self._status[config.base] = (status, self.clock.now() + self._status_ttl)
        return status

    async def send(self, provider: Provider, call: Call) -> RoutedResponse:
        """Send `call` for `provider`; raise a `RouteError` naming what failed."""
        if provider.routing is Routing.AUTO:
            return await self._auto(provider, call)
        if provider.routing is Routing.DIRECT:
            route, response = Route.DIRECT, await self._direct(provider, call)
        else:
            route, response = Route.GATEWAY, await self._gateway(provider, call)
        self._emit(RouteChosen(provider.id, provider.name, route, f"set to {route.value}"))
        return RoutedResponse(response, route)

    async def _auto(self, provider: Provider, call: Call) -> RoutedResponse:
        stale = self._stale_reason(provider)
        if stale:
            self._drop(provider, stale)
        remembered = self.remembered(provider)
        if remembered is Route.GATEWAY:
            try:
                response = await self._gateway(provider, call)
            except (ConnectivityError, GatewayUnusable) as error:
                why = failure_words(type(error).__name__)
                unusable = isinstance(error, GatewayUnusable)
                self._drop(provider, "the gateway refused it" if unusable else f"gateway {why}")
                return await self._direct_after_gateway(provider, call, error)
            self._emit(RouteChosen(provider.id, provider.name, Route.GATEWAY, "remembered"))
            return RoutedResponse(response, Route.GATEWAY)
        try:
            response = await self._direct(provider, call)
        except ConnectivityError as direct_error:
            if remembered is Route.DIRECT:
                words = failure_words(type(direct_error).__name__)
                self._drop(provider, f"direct {words}")
            return await self._fall_back(provider, call, direct_error)
        reason = "remembered" if remembered is Route.DIRECT else "direct works"
        if remembered is None:
            self._remember(provider, Route.DIRECT)
        self._emit(RouteChosen(provider.id, provider.name, Route.DIRECT, reason))
        return RoutedResponse(response, Route.DIRECT)

    async def _direct_after_gateway(
        self, provider: Provider, call: Call, gateway_error: RouteError
    ) -> RoutedResponse:
        """The remembered gateway road failed: see whether direct works now."""
        try:
            response = await self._direct(provider, call)
        except ConnectivityError as direct_error:
            words = failure_words(type(direct_error).__name__)
            message = f"{gateway_error.message}; direct is {words} too"
            raise reworded(gateway_error, message) from direct_error
        self._remember(provider, Route.DIRECT)
        self._emit(RouteChosen(provider.id, provider.name, Route.DIRECT, "the gateway road failed"))
        return RoutedResponse(response, Route.DIRECT)

    async def _fall_back(
        self, provider: Provider, call: Call, direct_error: ConnectivityError
    ) -> RoutedResponse:
        words = failure_words(type(direct_error).__name__)
        if self.gateway() is None:
            hint = (
                "add a gateway in Settings, or ask the provider to allow this page"
                if isinstance(direct_error, CorsBlocked)
                else f"add a gateway in Settings, or {direct_error.hint}"
            )
            raise reworded(direct_error, direct_error.message, hint=hint) from direct_error
        kind = type(direct_error).__name__
        fallback = RouteFallback(
            provider.id, provider.name, "direct", "gateway", kind, str(direct_error)
        )
        try:
            response = await self._gateway(provider, call)
        except AuthError as error:
            if isinstance(direct_error, CorsBlocked):
                raise AuthError(
                    error.status,
                    error.body,
                    message=f"{provider.name}: the provider refused the key; its refusal "
                    "carried no CORS headers, so the browser could not read it "
                    f"({error.message})",
                    route=Route.GATEWAY,
                ) from error
            raise
        except RouteError as error:
            detail = error.message.removeprefix(f"{provider.name}: ")
            message = f"{provider.name}: direct {words}; through the gateway: {detail}"
            raise reworded(error, message) from error
        self._emit(fallback)  # told once the gateway served it: a refusal is no detour
        self._remember(provider, Route.GATEWAY)
        self._emit(RouteChosen(provider.id, provider.name, Route.GATEWAY, f"direct {words}"))
        return RoutedResponse(response, Route.GATEWAY, fallback=True)

    async def _direct(self, provider: Provider, call: Call) -> Response:
        url = f"{provider.base_url.rstrip('/')}/{call.path}"
        request = Request(call.method, url, call.headers, call.body, call.timeout)
        try:
            response = await self.transport.send(request)
        except ConnectivityError as error:
            message = f"{provider.name}: {error.message}"
            raise reworded(error, message, route=Route.DIRECT) from error
        await self._judge(provider, response, Route.DIRECT, None)
        return response

    async def _gateway(self, provider: Provider, call: Call) -> Response:
        config = self.gateway()
        if config is None:
            raise GatewayMissing(
                f"{provider.name} is set to use the gateway, but no gateway is configured",
                route=Route.GATEWAY,
            )
        cached = self._status.get(config.base)
        if cached and cached[0].kind is GatewayKind.LITELLM and cached[1] > self.clock.now():
            raise GatewayUnusable(no_relay_message(config), route=Route.GATEWAY)
        try:
            response = await self.transport.send(relay_request(config, provider, call))
        except ConnectivityError as error:
            up = self.last_status is not None and self.last_status.kind is GatewayKind.DETOUR
            if isinstance(error, TimedOut) and up:
                raise TimedOut(
                    f"{provider.name} did not answer through the gateway ({error.message}); "
                    f"the gateway at {config.host} is up, the provider sent nothing back",
                    hint="try again later, or check the provider's status page",
                    route=Route.GATEWAY,
                ) from error
            self._status.pop(config.base, None)
            message = (
                f"{provider.name}: the gateway at {config.host} could not be reached "
                f"({error.message})"
            )
            hint = "check the gateway URL in Settings and that the gateway is running"
            raise reworded(error, message, hint=hint, route=Route.GATEWAY) from error
        await self._judge(provider, response, Route.GATEWAY, config)
        return response

    async def _judge(
        self, provider: Provider, response: Response, route: Route, config: GatewayConfig | None
    ) -> None:
        """Pass a 2xx through unread; turn anything else into the right error."""
        if 200 <= response.status < 300:
            return
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        detail = dialect_for(provider).error_message(body)
        kind = response.headers.get("x-detour-error")
        if config is None and provider.template == GATEWAY_TEMPLATE and kind == "gateway_auth":
            raise GatewayUnusable(
                f"{provider.name} refused its token ({detail})",
                hint="fix the gateway token in Settings",
                route=route,
            )
        if config is not None:
            mapped = gateway_error(config, provider, response.status, response.headers, body)
            if mapped is not None:
                raise mapped
            status = await self.gateway_status()
            if status is not None and status.kind is GatewayKind.LITELLM:
                raise GatewayUnusable(no_relay_message(config), route=route)
        message = f"{provider.name} answered HTTP {response.status}: {detail}"
        text = body.decode("utf-8", "replace")
        if response.status in (401, 403):
            raise AuthError(response.status, text, message=message, route=route)
        raise HttpError(response.status, text, message=message, route=route)
