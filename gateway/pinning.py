"""The relay's HTTP client: it connects only to addresses the policy checked.

The URL keeps the upstream's name (so Host, TLS SNI, certificate checks and the
connection pool all use the name), but the network backend refuses to open a
connection unless the current request pinned that name to checked addresses,
and then connects to those addresses — never resolving the name again.
"""

from __future__ import annotations

import contextvars
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpcore
import httpx
from httpcore._backends.anyio import AnyIOBackend

from gateway.policy import CheckedUpstream

_PINNED: contextvars.ContextVar[CheckedUpstream | None] = contextvars.ContextVar(
    "detour_pinned_upstream", default=None
)


@contextmanager
def pinned(upstream: CheckedUpstream) -> Iterator[None]:
    """Within this block, connections to `upstream.host` go to its checked addresses."""
    token = _PINNED.set(upstream)
    try:
        yield
    finally:
        _PINNED.reset(token)


class PinnedBackend(AnyIOBackend):
    """An httpcore network backend that only connects to pinned, checked addresses."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        upstream = _PINNED.get()
        if upstream is None or upstream.host != host.strip("[]").rstrip(".").lower():
            raise httpcore.ConnectError(f"refused: {host} was not checked by the relay policy")
        last: Exception | None = None
        for address in upstream.addresses:
            try:
                return await super().connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectTimeout:
                raise
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address to connect to for {host}")


def relay_transport() -> httpx.AsyncHTTPTransport:
    """HTTP/1.1 keep-alive pool with pinned connects and no environment proxies."""
    transport = httpx.AsyncHTTPTransport(trust_env=False, http1=True, http2=False)
    # httpx has no public hook for the network backend; swap the pool for one that uses ours.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=200,
        max_keepalive_connections=100,
        keepalive_expiry=30.0,
        http1=True,
        http2=False,
        network_backend=PinnedBackend(),
    )
    return transport


def timeouts(connect_timeout: float, read_timeout: float) -> httpx.Timeout:
    """The gateway's connect/read timeouts for upstream calls."""
    return httpx.Timeout(
        connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
    )


def relay_client(transport: httpx.AsyncBaseTransport, timeout: httpx.Timeout) -> httpx.AsyncClient:
    """A client over the relay transport: no redirects, no env proxies, keeps no cookies.

    (A shared client would otherwise remember one upstream's Set-Cookie and send it
    with another user's request.)
    """
    return httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        cookies=httpx.Cookies(CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))),
    )
