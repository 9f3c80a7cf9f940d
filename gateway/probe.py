"""The probe: ask an upstream, server-side, whether a page at some origin may call it.

One CORS preflight (`OPTIONS` with `Origin`, `Access-Control-Request-Method:
POST`, `Access-Control-Request-Headers: authorization,content-type`), under the
relay's policy, so the page can say "api.z.ai answered but sent no
Access-Control-Allow-Origin for http://127.0.0.1:8000".
"""

from __future__ import annotations

from time import perf_counter

import httpx
from pydantic import BaseModel, Field

from gateway.pinning import pinned
from gateway.policy import CheckedUpstream

REQUESTED_HEADERS = ("authorization", "content-type")


class ProbeRequest(BaseModel):
    """What to probe, and for which page origin."""

    url: str = Field(description="Provider base URL or full URL, e.g. https://api.z.ai/api/paas/v4")
    origin: str | None = Field(
        default=None, description="The page origin, e.g. http://127.0.0.1:8000"
    )


class CorsVerdict(BaseModel):
    """The upstream's CORS answer and what it means for the page."""

    allow_origin: str | None
    allow_methods: str | None
    allow_headers: str | None
    allows_origin: bool
    allows_headers: bool


class ProbeResult(BaseModel):
    """Reachability and CORS stance of one upstream, as seen from the gateway."""

    url: str
    reachable: bool
    status: int | None
    elapsed_ms: float
    cors: CorsVerdict
    error: str | None


def judge_cors(headers: httpx.Headers, origin: str) -> CorsVerdict:
    """Read a preflight answer: would a browser at `origin` be let through?"""
    allow_origin = headers.get("access-control-allow-origin")
    allow_methods = headers.get("access-control-allow-methods")
    allow_headers = headers.get("access-control-allow-headers")
    allows_origin = allow_origin is not None and allow_origin.strip() in ("*", origin)
    listed = {h.strip().lower() for h in (allow_headers or "").split(",") if h.strip()}
    # A wildcard does not cover Authorization (Fetch standard).
    allows_headers = all(
        h in listed or (h != "authorization" and "*" in listed) for h in REQUESTED_HEADERS
    )
    return CorsVerdict(
        allow_origin=allow_origin,
        allow_methods=allow_methods,
        allow_headers=allow_headers,
        allows_origin=allows_origin,
        allows_headers=allows_headers,
    )


async def probe_cors(
    client: httpx.AsyncClient, upstream: CheckedUpstream, origin: str
) -> ProbeResult:
    """Send one preflight to a checked upstream; never raises for network trouble."""
    headers = {
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": ",".join(REQUESTED_HEADERS),
    }
    started = perf_counter()
    try:
        with pinned(upstream):
            response = await client.request("OPTIONS", upstream.url, headers=headers)
    except httpx.TimeoutException:
        error = f"timeout: {upstream.host} did not answer in time"
    except httpx.TransportError as exc:
        error = f"unreachable: {upstream.host}:{upstream.port} ({exc.__class__.__name__})"
    else:
        return ProbeResult(
            url=shown_url(upstream.url),
            reachable=True,
            status=response.status_code,
            elapsed_ms=round((perf_counter() - started) * 1000, 3),
            cors=judge_cors(response.headers, origin),
            error=None,
        )
    return unreachable(upstream.url, origin, error, round((perf_counter() - started) * 1000, 3))


def shown_url(url: str) -> str:
    """`url` with its query values masked: some providers take the key as `?key=`."""
    base, _, query = url.partition("?")
    if not query:
        return url
    names = (part.split("=", 1)[0] for part in query.split("&") if part)
    return base + "?" + "&".join(f"{name}=***" for name in names)


def unreachable(url: str, origin: str, error: str, elapsed_ms: float = 0.0) -> ProbeResult:
    """The probe's answer when nothing answered at `url`."""
    return ProbeResult(
        url=shown_url(url),
        reachable=False,
        status=None,
        elapsed_ms=elapsed_ms,
        cors=judge_cors(httpx.Headers(), origin),
        error=error,
    )
