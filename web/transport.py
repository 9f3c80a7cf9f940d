"""The one seam through which the core talks to the network.

A `Transport` turns a `Request` into a `Response` whose body can be streamed.
It raises only the connectivity errors (`CorsBlocked`, `Unreachable`,
`TimedOut`); an HTTP error status is a normal `Response` that callers judge.
The page injects a fetch-based transport (`web.browser.fetch`); tests inject
`MockTransport`, in the manner of httpx's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Request:
    """An HTTP request as the core builds it; header names are kept as given."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    timeout: float | None = None

    def __repr__(self) -> str:  # headers may carry keys: never show them
        return f"Request({self.method} {self.url})"

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class Response(Protocol):
    """A response whose body may still be arriving."""

    status: int
    headers: Mapping[str, str]  # lower-case names

    def aiter_bytes(self) -> AsyncIterator[bytes]: ...

    async def aread(self) -> bytes: ...

    async def aclose(self) -> None: ...


class Transport(Protocol):
    """Sends one request; raises `ConnectivityError` subclasses only."""

    async def send(self, request: Request) -> Response: ...


class MemoryResponse:
    """A response held in memory, optionally delivered in chunks (for streams)."""

    def __init__(
        self,
        status: int = 200,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        json_body: Any = None,
        chunks: Iterable[bytes | str] | None = None,
        fail_after: BaseException | None = None,
    ) -> None:
        self.status = status
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        if json_body is not None:
            body = json.dumps(json_body)
            lowered.setdefault("content-type", "application/json")
        self.headers: Mapping[str, str] = lowered
        if chunks is None:
            chunks = [] if body is None else [body]
        self._chunks = [c.encode() if isinstance(c, str) else c for c in chunks]
        self._fail_after = fail_after
        self.closed = False

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            if self.closed:
                return
            yield chunk
        if self._fail_after is not None:
            raise self._fail_after

    async def aread(self) -> bytes:
        return b"".join([c async for c in self.aiter_bytes()])

    async def aclose(self) -> None:
        self.closed = True


Handler = Callable[[Request], "Response | Awaitable[Response]"]


class MockTransport:
    """Answers every request with `handler(request)`; records what was sent."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []

    async def send(self, request: Request) -> Response:
        self.requests.append(request)
        result = self.handler(request)
        if isinstance(result, Awaitable):
            result = await result
        return result
