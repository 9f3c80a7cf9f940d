"""The relay: forward the page's own request to a checked upstream and stream the answer back.

`ANY /relay/{path}` with `X-Detour-Upstream: <base URL>` goes to
`base.rstrip("/") + "/" + path (+ "?" + query)`. Method, body and the user's
headers (Authorization, x-api-key, anthropic-*, ...) are forwarded; hop-by-hop,
browser-only and `x-detour-*` headers are not. The answer comes back as the
upstream sent it — status (3xx included: redirects are never followed), raw
body bytes with their content-encoding, SSE events as they arrive — minus
hop-by-hop and the upstream's own `access-control-*` headers.
"""

from __future__ import annotations

import asyncio
import logging
from time import perf_counter
from urllib.parse import quote, urlsplit

import h11
import httpx
from starlette.types import Receive, Scope, Send

from gateway.errors import BadRequest, GatewayError, LimitExceeded, Unreachable, UpstreamTimeout
from gateway.pinning import pinned
from gateway.policy import CheckedUpstream, Resolver, UpstreamPolicy, check_upstream
from gateway.timing import Timing, timing_of
from gateway.upstream import UpstreamStream, UpstreamTransport

log = logging.getLogger("gateway.relay")

UPSTREAM_HEADER = b"x-detour-upstream"
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"te", b"trailer", b"trailers", b"transfer-encoding", b"upgrade"}
)
DROP_REQUEST = HOP_BY_HOP | {
    b"host", b"content-length", b"origin", b"referer", b"cookie", b"dnt", b"priority",
    b"upgrade-insecure-requests", b"forwarded", b"x-forwarded-for", b"x-forwarded-host",
    b"x-forwarded-proto", b"x-real-ip", b"expect",
}  # fmt: skip
TARGET_SAFE = "/%:@!$&'()*+,;=-._~"
DROP_RESPONSE = HOP_BY_HOP | {b"set-cookie", b"date", b"server", b"alt-svc"}


def forwardable_request_headers(
    raw: list[tuple[bytes, bytes]], max_bytes: int
) -> tuple[str | None, list[tuple[bytes, bytes]]]:
    """(upstream base, headers to forward); LimitExceeded when the headers are too large."""
    upstream: str | None = None
    size = 0
    listed: set[bytes] = set()
    kept: list[tuple[bytes, bytes]] = []
    for name, value in raw:
        size += len(name) + len(value) + 4
        if name == UPSTREAM_HEADER:
            upstream = value.decode("latin-1").strip()
        elif name == b"connection":
            listed.update(v.strip().lower() for v in value.split(b","))
        elif not (
            name in DROP_REQUEST
            or name.startswith((b"x-detour-", b"sec-", b"proxy-", b"access-control-request-"))
        ):
            kept.append((name, value))
    if size > max_bytes:
        raise LimitExceeded(
            f"request headers exceed {max_bytes} bytes", code="header_size", status=431
        )
    if listed:
        kept = [h for h in kept if h[0] not in listed]
    return upstream, kept


def response_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Upstream response headers the page should see (lower-cased names)."""
    kept: list[tuple[bytes, bytes]] = []
    for name, value in raw:
        lower = name.lower()
        if lower in DROP_RESPONSE or lower.startswith((b"access-control-", b"proxy-")):
            continue
        if lower == b"content-type" and value.startswith(b"text/event-stream"):
            kept.append((b"x-accel-buffering", b"no"))  # a proxy in front must not hold events
        kept.append((lower, value))
    return kept


def upstream_url(base: str, scope: Scope) -> str:
    """Join the base URL named by the page with the path after /relay/ and the query."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    rest = raw_path.split(b"/relay/", 1)[1] if b"/relay/" in raw_path else b""
    url = base.rstrip("/") + "/" + rest.decode("latin-1")
    query: bytes = scope.get("query_string", b"")
    return url + "?" + query.decode("latin-1") if query else url


def request_target(checked: CheckedUpstream) -> tuple[bytes, bytes]:
    """(request target, Host value) for a checked URL: the path and query as given,
    with anything HTTP does not allow in a target percent-encoded."""
    parts = urlsplit(checked.url)
    target = quote(parts.path or "/", safe=TARGET_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=TARGET_SAFE + "?")
    host = f"[{checked.host}]" if ":" in checked.host else checked.host
    if checked.port != (443 if checked.scheme == "https" else 80):
        host += f":{checked.port}"
    return target.encode("ascii"), host.encode("ascii")


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, or LimitExceeded past `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("the client went away", code="disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise LimitExceeded(f"request body exceeds {limit} bytes", code="body_size")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_error(send: Send, error: GatewayError) -> None:
    """Answer with the error's OpenAI shape and `x-detour-error`."""
    body = error.encoded()
    headers = [*error.headers(), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Relay:
    """ASGI endpoint for `/relay/{path}`; one shared httpx client, policy checked per request."""

    def __init__(
        self,
        transport: UpstreamTransport,
        timeout: httpx.Timeout,
        policy: UpstreamPolicy,
        resolver: Resolver,
        max_body_bytes: int,
        max_header_bytes: int,
    ) -> None:
        # The transport, not a Client: no cookie jar, auth, redirect or hook machinery
        # on the hot path, and the page's headers go out exactly as given.
        self.transport = transport
        self.timeouts = timeout.as_dict()
        self.policy = policy
        self.resolver = resolver
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        timing = timing_of(scope)
        timing.route = "relay"
        method: str = scope["method"]
        try:
            base, headers = forwardable_request_headers(scope["headers"], self.max_header_bytes)
            if not base:
                raise BadRequest(
                    "the relay needs the provider's base URL in the X-Detour-Upstream header, "
                    "e.g. X-Detour-Upstream: https://api.z.ai/api/paas/v4",
                    code="missing_upstream",
                )
            for name, value in scope["headers"]:
                if (
                    name == b"content-length"
                    and value.isdigit()
                    and int(value) > self.max_body_bytes
                ):
                    raise LimitExceeded(
                        f"request body exceeds {self.max_body_bytes} bytes", code="body_size"
                    )
            body = await read_body(receive, self.max_body_bytes)
            checked = await check_upstream(upstream_url(base, scope), self.policy, self.resolver)
            response, stream = await self.open(method, checked, headers, body, timing)
        except GatewayError as error:
            await send_error(send, error)
            return
        await self.stream_back(response, stream, receive, send, checked, method, timing.start)

    async def open(
        self,
        method: str,
        checked: CheckedUpstream,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timing: Timing,
    ) -> tuple[h11.Response, UpstreamStream]:
        """Send the request to the checked address; the response body is not read yet."""
        started = perf_counter()
        try:
            target, host = request_target(checked)
            sent = [(b"host", host), *headers]
            if body or method in ("POST", "PUT", "PATCH"):
                sent.append((b"content-length", str(len(body)).encode()))
            with pinned(checked):
                return await self.transport.exchange(
                    method, (checked.scheme, checked.host, checked.port), target, sent, body,
                    self.timeouts,
                )  # fmt: skip
        except httpx.LocalProtocolError as exc:
            raise BadRequest(f"upstream URL is not valid: {exc}", code="bad_upstream") from None
        except (httpx.TimeoutException, TimeoutError):
            raise UpstreamTimeout(
                f"upstream {checked.host} did not answer in time", code="upstream_timeout"
            ) from None
        except httpx.TransportError as exc:
            raise Unreachable(
                f"upstream {checked.host}:{checked.port} is unreachable ({exc.__class__.__name__})",
                code="upstream_unreachable",
            ) from None
        finally:
            timing.upstream += perf_counter() - started

    async def stream_back(
        self,
        response: h11.Response,
        stream: UpstreamStream,
        receive: Receive,
        send: Send,
        checked: CheckedUpstream,
        method: str,
        started: float,
    ) -> None:
        """Pass status, headers and raw body chunks through as they arrive.

        If the page goes away (a person pressed Stop), the upstream request is
        closed at once rather than read to its end.
        """
        complete = False
        task = asyncio.current_task()
        gone = asyncio.Event()

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()
            if task is not None:
                task.cancel()

        watcher: asyncio.Task[None] | None = None
        try:
            try:
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status_code,
                        "headers": response_headers(response.headers.raw_items()),
                    }
                )
                async for chunk in stream:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    if watcher is None:  # from the first piece on (not on its critical path)
                        watcher = asyncio.create_task(watch_disconnect())
                complete = True
            finally:
                if watcher is not None:
                    watcher.cancel()
        except asyncio.CancelledError:
            if not gone.is_set() or task is None:
                raise
            task.uncancel()
            log.info("relay %s %s: the client went away; upstream closed", method, checked.host)
        except httpx.TransportError as exc:
            log.warning(
                "relay %s %s stream broke: %s", method, checked.host, exc.__class__.__name__
            )
        finally:
            await stream.aclose()
            # One line per request is a third of the relay's CPU (bench): debug level only.
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "relay %s %s %s %d %.1fms",
                    method,
                    checked.host,
                    urlsplit(checked.url).path,
                    response.status_code,
                    (perf_counter() - started) * 1000,
                )
        if complete:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
