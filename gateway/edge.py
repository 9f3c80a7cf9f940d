"""The HTTP edge: request limits enforced by the server while it reads, not after.

uvicorn's httptools protocol buffers a whole request head (100 MiB of it, if
sent) before any application code can look at it, and has no time limit for
receiving one. `edge_protocol(limits)` is that protocol with the gateway's
limits added where the bytes arrive:

- the request head (request line + headers) may take at most `max_head_bytes`
  and `max_headers` lines: past either, 431 and the connection closes, counted
  as the bytes come in;
- a request body may take at most `max_body_bytes` (a larger Content-Length is
  refused before the body is read; a chunked body as soon as it passes): 413;
- from the moment the server waits for a request until its head is complete,
  at most `head_timeout` seconds (slow clients and idle-on-connect sockets):
  408, or a plain close if nothing arrived; the body then gets `body_timeout`
  seconds to arrive in full (408);
- past `max_connections` open connections, a new request is answered 503 at
  once and its connection closed, so the process never holds unbounded sockets
  and existing connections (and `/health` on them) stay fast.

Every refusal is an OpenAI-shaped JSON error with `x-detour-error: limit`; a
request the parser cannot read (bad framing or chunked body) is a JSON 400.
Keep-alive idle time is uvicorn's own `timeout_keep_alive`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from gateway.errors import BadRequest, GatewayError, LimitExceeded

log = logging.getLogger("gateway.edge")


@dataclass(frozen=True)
class EdgeLimits:
    """What one client may cost the server."""

    max_head_bytes: int = 32 * 1024
    max_headers: int = 100
    max_body_bytes: int = 16 * 1024 * 1024
    head_timeout: float = 10.0
    body_timeout: float = 60.0
    max_connections: int = 1000


class Refused(Exception):
    """Raised inside a parser callback to stop parsing; carries the answer."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message)
        self.error = error


def error_bytes(error: GatewayError) -> bytes:
    """A complete HTTP/1.1 answer for `error` that closes the connection."""
    body = error.encoded()
    head = [STATUS_LINE[error.status]]
    head.extend(name + b": " + value + b"\r\n" for name, value in error.headers())
    head.append(b"content-length: " + str(len(body)).encode() + b"\r\n")
    head.append(b"connection: close\r\n\r\n")
    return b"".join(head) + body


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `EdgeLimits` applied while reading."""

    limits: EdgeLimits = EdgeLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_pending = True
        self.head_bytes = 0
        self.header_count = 0
        self.head_size = 0
        self.body_bytes = 0
        self.head_timer: asyncio.TimerHandle | None = None
        self.body_timer: asyncio.TimerHandle | None = None

    # Connection life

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        over = len(self.connections) > self.limits.max_connections
        # Past the cap a connection gets one second to ask (and be told 503), not the
        # full head timeout: a flood of idle sockets must not hold file descriptors.
        self.arm_head_timer(min(1.0, self.limits.head_timeout) if over else None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm_head_timer()
        self.disarm_body_timer()
        super().connection_lost(exc)

    def arm_head_timer(self, seconds: float | None = None) -> None:
        self.disarm_head_timer()
        self.head_timer = self.loop.call_later(
            seconds or self.limits.head_timeout, self.head_timed_out
        )

    def disarm_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def disarm_body_timer(self) -> None:
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None

    def body_timed_out(self) -> None:
        self.body_timer = None
        if not self.transport.is_closing():
            self.refuse(
                LimitExceeded(
                    f"the request body did not arrive within {self.limits.body_timeout:g} s",
                    code="body_timeout",
                    status=408,
                )
            )

    def head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing() or not self.head_pending:
            return
        if self.head_bytes == 0:
            self.transport.close()  # nothing asked: nothing to answer
            return
        self.refuse(
            LimitExceeded(
                f"the request head did not arrive within {self.limits.head_timeout:g} s",
                code="head_timeout",
                status=408,
            )
        )

    def refuse(self, error: GatewayError) -> None:
        """Answer `error` (unless an answer already started) and close the connection."""
        self.disarm_head_timer()
        self.disarm_body_timer()
        if self.transport.is_closing():
            return
        log.warning("refused a request: %s (%d)", error.code, error.status)
        if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
            self.transport.write(error_bytes(error))
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.response_complete = True  # the application may not answer as well
                self.cycle.disconnected = True
                self.cycle.message_event.set()
        self.transport.close()

    # Reading

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self.head_pending:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, Refused):
                self.refuse(exc.__context__.error)
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self.head_pending and self.head_bytes > self.limits.max_head_bytes:
            self.refuse(self.head_too_large())

    def send_400_response(self, msg: str) -> None:
        """A request the parser cannot read (bad framing, bad chunked body): JSON 400."""
        self.refuse(
            BadRequest(
                "the request is not valid HTTP/1.1 (check its framing: Content-Length, "
                "Transfer-Encoding, chunk sizes)",
                code="malformed_request",
            )
        )

    def head_too_large(self) -> LimitExceeded:
        return LimitExceeded(
            f"request headers exceed {self.limits.max_head_bytes} bytes or "
            f"{self.limits.max_headers} lines",
            code="header_size",
            status=431,
        )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.header_count = 0
        self.head_size = 0
        self.body_bytes = 0

    def on_url(self, url: bytes) -> None:
        self.head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_count += 1
        self.head_size += len(name) + len(value) + 4
        if (
            self.header_count > self.limits.max_headers
            or self.head_size > self.limits.max_head_bytes
        ):
            raise Refused(self.head_too_large())
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.head_pending = False
        self.disarm_head_timer()
        for name, value in self.headers:
            if (
                name == b"content-length"
                and value.isdigit()
                and int(value) > self.limits.max_body_bytes
            ):
                raise Refused(self.body_too_large())
        if len(self.connections) > self.limits.max_connections:
            raise Refused(
                LimitExceeded(
                    f"the gateway is at its limit of {self.limits.max_connections} connections; "
                    "retry shortly",
                    code="connections",
                    status=503,
                )
            )
        super().on_headers_complete()
        # Cancelled by on_message_complete, at once for a request without a body.
        self.body_timer = self.loop.call_later(self.limits.body_timeout, self.body_timed_out)

    def body_too_large(self) -> LimitExceeded:
        return LimitExceeded(
            f"request body exceeds {self.limits.max_body_bytes} bytes", code="body_size"
        )

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        if self.body_bytes > self.limits.max_body_bytes:
            raise Refused(self.body_too_large())
        super().on_body(body)

    def on_message_complete(self) -> None:
        self.disarm_body_timer()
        super().on_message_complete()
        self.head_pending = True
        self.head_bytes = 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.head_pending:
            self.arm_head_timer()


def edge_protocol(limits: EdgeLimits) -> type[EdgeProtocol]:
    """The protocol class for uvicorn's `http=` with these limits."""
    return type("GatewayEdgeProtocol", (EdgeProtocol,), {"limits": limits})
