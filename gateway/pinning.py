"""Pinning: a request's checked addresses travel with it to the connection code.

The URL keeps the upstream's name (so Host, TLS SNI, certificate checks and the
connection pool all use the name), but `gateway.upstream` refuses to open a
connection unless the current request pinned that name to checked addresses,
and then connects to those addresses — never resolving the name again.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

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


def pinned_upstream() -> CheckedUpstream | None:
    """The upstream the current request pinned, if any."""
    return _PINNED.get()


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
