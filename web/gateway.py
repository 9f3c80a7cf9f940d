"""The page's view of the gateway: what kind it is, the relay, its own models, probes.

Contract (fixed by the gateway): `GET /health` answers without auth and makes no
upstream call; `/relay/{path}` forwards a provider request named by
`X-Detour-Upstream`; gateway-made errors carry `x-detour-error`. A stock LiteLLM
proxy also serves `/v1/*` but has no relay, and its `/health` needs the master
key and makes billable calls, so only `/health/liveliness` is used to spot one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from web.dialects.base import Call, error_message, excerpt
from web.errors import (
    ConnectivityError,
    GatewayUnusable,
    HttpError,
    RouteError,
    TimedOut,
    Unreachable,
)
from web.providers import Dialect, Provider, Routing
from web.transport import Request, Transport

GATEWAY_PROVIDER_ID = "gateway"
GATEWAY_TEMPLATE = "detour-gateway"
SERVICE_NAME = "detour-gateway"
CHECK_TIMEOUT = 5.0


@dataclass(frozen=True)
class GatewayConfig:
    """Where the gateway is, and the token it wants (never shown in repr)."""

    url: str
    token: str = field(default="", repr=False)

    @property
    def base(self) -> str:
        """The URL without a trailing slash."""
        return self.url.rstrip("/")

    @property
    def host(self) -> str:
        """The gateway's host (and port), for messages."""
        return urlsplit(self.url).netloc or self.url


class GatewayKind(StrEnum):
    """What answers at the gateway URL."""

    DETOUR = "detour"
    LITELLM = "litellm"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class GatewayStatus:
    """The result of checking the gateway; `message` says what was found."""

    kind: GatewayKind
    url: str
    message: str = ""
    version: str = ""
    name: str = ""
    auth_required: bool = False
    models: int = 0
    relay_enabled: bool = True

    @property
    def relay(self) -> bool:
        """Whether page-configured providers can take the detour through it."""
        return self.kind is GatewayKind.DETOUR and self.relay_enabled


def no_relay_message(config: GatewayConfig) -> str:
    """Why a stock LiteLLM proxy cannot carry a page-configured provider."""
    return (
        f"The gateway at {config.host} is a stock LiteLLM proxy: it offers its own models "
        "but has no relay, so providers set up in this page cannot use it as a detour"
    )


async def check_gateway(
    transport: Transport, config: GatewayConfig, *, timeout: float = CHECK_TIMEOUT
) -> GatewayStatus:
    """Find out what answers at the gateway URL, sending no credentials at all."""
    try:
        response = await transport.send(Request("GET", f"{config.base}/health", timeout=timeout))
        body = await _read(response)
    except ConnectivityError as error:
        return GatewayStatus(
            GatewayKind.UNREACHABLE,
            config.url,
            f"The gateway at {config.host} did not answer ({error.message}); check the gateway "
            "URL in Settings and that the gateway is running",
        )
    data = _json_object(body)
    if response.status == 200 and data.get("service") == SERVICE_NAME:
        return GatewayStatus(
            GatewayKind.DETOUR,
            config.url,
            f"Detour gateway {data.get('version', '')} at {config.host}".replace("  ", " "),
            version=str(data.get("version", "")),
            name=str(data.get("name", "")),
            auth_required=data.get("auth_required") is True,
            models=data["models"] if isinstance(data.get("models"), int) else 0,
            relay_enabled=data.get("relay") is not False,
        )
    try:
        live = await transport.send(
            Request("GET", f"{config.base}/health/liveliness", timeout=timeout)
        )
        await _read(live)
    except ConnectivityError:
        live_status = 0
    else:
        live_status = live.status
    if live_status == 200:
        return GatewayStatus(GatewayKind.LITELLM, config.url, no_relay_message(config))
    return GatewayStatus(
        GatewayKind.UNREACHABLE,
        config.url,
        f"{config.host} answered HTTP {response.status} but is neither a Detour gateway "
        "nor a LiteLLM proxy; check the gateway URL in Settings",
    )


def relay_request(config: GatewayConfig, provider: Provider, call: Call) -> Request:
    """The same provider request, sent to the gateway's relay."""
    headers = dict(call.headers)
    headers["X-Detour-Upstream"] = provider.base_url
    if config.token:
        headers["X-Detour-Token"] = config.token
    return Request(
        call.method, f"{config.base}/relay/{call.path}", headers, call.body, call.timeout
    )


def gateway_error(
    config: GatewayConfig,
    provider: Provider,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
) -> RouteError | None:
    """The core error for a gateway-made failure, or None if the provider answered."""
    kind = headers.get("x-detour-error", "")
    if not kind:
        return None
    detail = error_message(body)
    upstream = urlsplit(provider.base_url).netloc or provider.base_url
    where = f"the gateway at {config.host}"
    if kind == "gateway_auth":
        return GatewayUnusable(
            f"The gateway at {config.host} refused its token ({detail})",
            hint="fix the gateway token in Settings",
            route="gateway",
        )
    if kind == "policy":
        return GatewayUnusable(
            f"The gateway at {config.host} refuses to relay to {upstream} ({detail})",
            hint="for a local or private server, start the gateway with "
            "GATEWAY_ALLOW_PRIVATE_UPSTREAMS=true, or switch this provider to direct",
            route="gateway",
        )
    if kind == "unreachable":
        return Unreachable(
            f"{provider.name} ({upstream}) is unreachable from {where} ({detail})",
            hint="check the base URL and that the server is running",
            route="gateway",
        )
    if kind == "timeout":
        return TimedOut(
            f"{provider.name} ({upstream}) did not answer {where} in time ({detail})",
            route="gateway",
        )
    hints = {
        "limit": "the request is larger than the gateway accepts; shorten the conversation, "
        "or ask the gateway's operator to raise its limit",
        "bad_request": "the gateway could not read the request; check the provider settings",
        "not_found": "the gateway does not serve this path; update the gateway",
    }
    return HttpError(
        status,
        body.decode("utf-8", "replace"),
        message=f"The gateway at {config.host} refused the request ({detail})",
        hint=hints.get(kind, "see the gateway's logs"),
        route="gateway",
    )


def gateway_provider(config: GatewayConfig, name: str = "Gateway") -> Provider:
    """The gateway's own configured models, as a provider reached directly."""
    return Provider(
        id=GATEWAY_PROVIDER_ID,
        name=name,
        base_url=f"{config.base}/v1",
        dialect=Dialect.OPENAI,
        template=GATEWAY_TEMPLATE,
        api_key=config.token,
        routing=Routing.DIRECT,
    )


@dataclass(frozen=True)
class ProbeResult:
    """What the gateway saw when it called `url` on the page's behalf."""

    url: str
    reachable: bool
    status: int | None = None
    elapsed_ms: float | None = None
    allow_origin: str = ""
    allow_methods: str = ""
    allow_headers: str = ""
    allows_origin: bool = False
    allows_headers: bool = False
    error: str = ""


async def probe(transport: Transport, config: GatewayConfig, url: str, origin: str) -> ProbeResult:
    """Ask the gateway to call `url` and report the host's CORS answer for `origin`."""
    headers = {"Content-Type": "application/json"}
    if config.token:
        headers["X-Detour-Token"] = config.token
    body = json.dumps({"url": url, "origin": origin}).encode()
    response = await transport.send(Request("POST", f"{config.base}/probe", headers, body))
    raw = await _read(response)
    if response.status != 200:
        raise HttpError(
            response.status,
            raw.decode("utf-8", "replace"),
            message=f"The gateway at {config.host} could not probe {url} ({error_message(raw)})",
        )
    data = _json_object(raw)
    found = data.get("cors")
    cors: dict[str, Any] = found if isinstance(found, dict) else {}
    return ProbeResult(
        url=str(data.get("url", url)),
        reachable=data.get("reachable") is True,
        status=data["status"] if isinstance(data.get("status"), int) else None,
        elapsed_ms=data.get("elapsed_ms")
        if isinstance(data.get("elapsed_ms"), int | float)
        else None,
        allow_origin=str(cors.get("allow_origin") or ""),
        allow_methods=str(cors.get("allow_methods") or ""),
        allow_headers=str(cors.get("allow_headers") or ""),
        allows_origin=cors.get("allows_origin") is True,
        allows_headers=cors.get("allows_headers") is True,
        error=excerpt(str(data.get("error") or "")),
    )


def explain_block(result: ProbeResult, origin: str) -> str:
    """One sentence on why the browser was (or would not be) blocked."""
    host = urlsplit(result.url).hostname or result.url
    if not result.reachable:
        why = f" ({result.error})" if result.error else ""
        return f"{host} did not answer the gateway either{why}: it is down or the URL is wrong"
    if not result.allows_origin:
        if not result.allow_origin:
            return f"{host} answered but sent no Access-Control-Allow-Origin for {origin}"
        return f"{host} answered but allows the origin {result.allow_origin}, not {origin}"
    if not result.allows_headers:
        allowed = result.allow_headers or "none"
        return (
            f"{host} allows {origin} but not the headers this request sends "
            f"(it allows: {allowed}); remove optional headers from the provider"
        )
    return f"{host} allows calls from {origin}; a direct call should work now"


async def _read(response: Any) -> bytes:
    try:
        return bytes(await response.aread())
    finally:
        await response.aclose()


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
