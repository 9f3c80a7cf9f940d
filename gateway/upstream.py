"""The relay's upstream transport: lean HTTP/1.1 keep-alive over asyncio, pinned connects.

An `httpx.AsyncBaseTransport`, so the relay and the probe speak httpx
(`httpx.Request` in, a streaming `httpx.Response` out, read with `aiter_raw`),
but without httpcore's pool and anyio layers, which cost more than half a
millisecond per request and grow with concurrency. h11 does the protocol
(chunked, sized and close-delimited bodies, 1xx, HEAD); this module does
connections:

- It connects only to the addresses the policy checked for the request's host
  (pinned by `gateway.pinning.pinned`), never resolving the name again; TLS
  uses the name for SNI and certificate checks.
- Idle connections are kept per (scheme, host, port) in a small LIFO list and
  reused. One the upstream closed (seen on the socket, not only by the event
  loop) is dropped before
  the request is written; after that nothing is retried, so a request is never
  sent twice.
- Every upstream fault (close, reset, short body, protocol error, timeout of
  connect, write or read) surfaces as an `httpx.TransportError`.
- Raw body bytes are passed through as received: content-encoding untouched.
"""

from __future__ import annotations

import asyncio
import select
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any

import h11
import httpx

from gateway.pinning import pinned_upstream

READ_SIZE = 64 * 1024
Origin = tuple[str, str, int]


class UpstreamConnection:
    """One HTTP/1.1 connection to a checked address."""

    def __init__(
        self, origin: Origin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.origin = origin
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(our_role=h11.CLIENT)
        self.idle_since = time.monotonic()

    def usable(self, expiry: float) -> bool:
        """True when an idle connection may carry another request."""
        return (
            not self.writer.is_closing()
            and not self.reader.at_eof()
            and time.monotonic() - self.idle_since < expiry
            and not self.readable()
        )

    def readable(self) -> bool:
        """True when bytes or EOF wait on the idle socket: the upstream closed (or is out of step).

        The event loop may not have seen a close that already arrived; the socket has.
        """
        sock = self.writer.get_extra_info("socket")
        if sock is None:
            return False
        try:
            return bool(select.select([sock], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    def close(self) -> None:
        """Drop the connection."""
        self.writer.close()


def next_event(conn: UpstreamConnection) -> Any:
    """h11's next event; the upstream's protocol errors as httpx's."""
    try:
        return conn.h11.next_event()
    except h11.RemoteProtocolError as exc:
        raise httpx.RemoteProtocolError(f"upstream broke the protocol: {exc}") from None


class UpstreamStream(httpx.AsyncByteStream):
    """The answer's body, raw, as it arrives; returns the connection to the pool when done."""

    def __init__(
        self, transport: UpstreamTransport, conn: UpstreamConnection, read_timeout: float | None
    ) -> None:
        self.transport = transport
        self.conn = conn
        self.read_timeout = read_timeout
        self.done = False
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self.conn
        while not self.done:
            event = next_event(conn)
            if event is h11.NEED_DATA:
                await self.transport.receive(conn, self.read_timeout)
            elif isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self.done = True
            elif isinstance(event, h11.ConnectionClosed):
                raise httpx.RemoteProtocolError("upstream closed the connection mid-answer")
            else:  # pragma: no cover - h11 sends nothing else here
                raise httpx.RemoteProtocolError(f"unexpected upstream event {event!r}")

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.transport.release(self.conn, clean=self.done)


class UpstreamTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 to pinned, checked addresses; see the module docstring."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None = None,
        keepalive_expiry: float = 30.0,
        max_idle_per_origin: int = 64,
    ) -> None:
        self.ssl_context = ssl_context or httpx.create_ssl_context(trust_env=False)
        self.keepalive_expiry = keepalive_expiry
        self.max_idle_per_origin = max_idle_per_origin
        self.idle: dict[Origin, list[UpstreamConnection]] = {}
        self.releases = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin: Origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        response, stream = await self.exchange(
            request.method,
            origin,
            url.raw_path,
            request.headers.raw,
            request.content,
            request.extensions.get("timeout", {}),
        )
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers.raw_items(),
            stream=stream,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason},
            request=request,
        )

    async def exchange(
        self,
        method: str,
        origin: Origin,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeouts: dict[str, Any],
    ) -> tuple[h11.Response, UpstreamStream]:
        """Send one request (headers complete: Host, Content-Length); the answer's head and body.

        The relay's own entry: no `httpx.Request`/`Response` objects on its path.
        """
        try:
            message = h11.Request(method=method, target=target, headers=headers)
        except h11.LocalProtocolError:  # its text may quote a header value: a key
            raise httpx.LocalProtocolError(
                "the path or a header has characters HTTP does not allow"
            ) from None
        # Stale idle connections are dropped here, before a byte of this request is
        # sent; once it is sent, a failure is final (a POST must never go out twice).
        conn = await self.acquire(origin, timeouts.get("connect"))
        try:
            await self.send_request(conn, message, body, timeouts.get("write"))
            response = await self.read_head(conn, timeouts.get("read"))
        except BaseException:
            conn.close()
            raise
        return response, UpstreamStream(self, conn, timeouts.get("read"))

    async def send_request(
        self,
        conn: UpstreamConnection,
        message: h11.Request,
        body: bytes,
        write_timeout: float | None,
    ) -> None:
        """Write the request head and body, within the write timeout."""
        try:
            data = conn.h11.send(message) or b""
            if body:
                data += conn.h11.send(h11.Data(data=body)) or b""
            data += conn.h11.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc)) from None
        try:
            async with asyncio.timeout(write_timeout):
                conn.writer.write(data)
                await conn.writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("upstream did not take the request in time") from None
        except OSError as exc:
            raise httpx.WriteError(str(exc) or exc.__class__.__name__) from None

    async def read_head(self, conn: UpstreamConnection, read_timeout: float | None) -> h11.Response:
        """Read up to the final response head (skipping 1xx)."""
        while True:
            event = next_event(conn)
            if event is h11.NEED_DATA:
                await self.receive(conn, read_timeout)
            elif isinstance(event, h11.Response):
                return event
            elif isinstance(event, h11.InformationalResponse):
                continue
            else:
                raise httpx.RemoteProtocolError("upstream closed the connection before answering")

    async def receive(self, conn: UpstreamConnection, read_timeout: float | None) -> None:
        """Feed h11 the next bytes from the upstream (b"" at EOF)."""
        try:
            async with asyncio.timeout(read_timeout):
                data = await conn.reader.read(READ_SIZE)
        except TimeoutError:
            raise httpx.ReadTimeout("upstream read timed out") from None
        except OSError as exc:
            raise httpx.ReadError(str(exc) or exc.__class__.__name__) from None
        try:
            conn.h11.receive_data(data)
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from None

    async def acquire(self, origin: Origin, connect_timeout: float | None) -> UpstreamConnection:
        """An idle connection to `origin` still open, or a new one to its checked address."""
        idle = self.idle.get(origin)
        while idle:
            conn = idle.pop()
            if conn.usable(self.keepalive_expiry):
                return conn
            conn.close()
        return await self.connect(origin, connect_timeout)

    async def connect(self, origin: Origin, connect_timeout: float | None) -> UpstreamConnection:
        """Open a connection to a checked address of `origin` (TLS with the name for https)."""
        scheme, host, port = origin
        upstream = pinned_upstream()
        if upstream is None or upstream.host != host.rstrip(".").lower():
            raise httpx.ConnectError(f"refused: {host} was not checked by the relay policy")
        tls = self.ssl_context if scheme == "https" else None
        last: Exception | None = None
        for address in upstream.addresses:
            try:
                async with asyncio.timeout(connect_timeout):
                    reader, writer = await asyncio.open_connection(
                        address,
                        port,
                        ssl=tls,
                        server_hostname=host if tls else None,
                        limit=READ_SIZE * 4,
                    )
                return UpstreamConnection(origin, reader, writer)
            except TimeoutError:
                raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
            except (OSError, ssl.SSLError) as exc:
                last = exc
        raise httpx.ConnectError(f"cannot connect to {host}:{port}: {last}")

    def sweep(self) -> None:
        """Close idle connections that expired or that the upstream closed (their sockets too)."""
        for origin in list(self.idle):
            keep = []
            for conn in self.idle[origin]:
                if conn.usable(self.keepalive_expiry):
                    keep.append(conn)
                else:
                    conn.close()
            if keep:
                self.idle[origin] = keep
            else:
                del self.idle[origin]

    def release(self, conn: UpstreamConnection, clean: bool) -> None:
        """Keep a connection whose exchange completed and may continue; close the rest."""
        self.releases += 1
        if self.releases % 256 == 0:
            self.sweep()
        h = conn.h11
        if clean and h.our_state is h11.DONE and h.their_state is h11.DONE:
            try:
                h.start_next_cycle()
            except h11.LocalProtocolError:
                conn.close()
                return
            idle = self.idle.setdefault(conn.origin, [])
            if len(idle) < self.max_idle_per_origin:
                conn.idle_since = time.monotonic()
                idle.append(conn)
                return
        conn.close()

    async def aclose(self) -> None:
        for conns in self.idle.values():
            for conn in conns:
                conn.close()
        self.idle.clear()
