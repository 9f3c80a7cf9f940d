"""The HTTP edge under hostile clients: limits hold while the request arrives, /health stays up.

Real sockets against the real gateway on 127.0.0.1, with short limits set by
the fixtures so each case ends in a second or two.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.gateway.conftest import running_gateway

LIMITS = {
    "max_header_bytes": 4096,
    "max_headers": 20,
    "max_body_bytes": 64 * 1024,
    "head_timeout": 1.0,
    "body_timeout": 1.0,
    "keepalive_timeout": 1.0,
}


@pytest.fixture(scope="module")
def edge_gateway() -> Iterator[str]:
    """A gateway with small edge limits."""
    with running_gateway(**LIMITS) as url:
        yield url


@pytest.fixture(scope="module")
def capped_gateway() -> Iterator[str]:
    """A gateway that holds at most 4 connections."""
    with running_gateway(max_connections=4, head_timeout=5.0) as url:
        yield url


def address(url: str) -> tuple[str, int]:
    parsed = httpx.URL(url)
    return parsed.host, parsed.port or 80


def connect(url: str) -> socket.socket:
    sock = socket.create_connection(address(url), timeout=5)
    sock.settimeout(5)
    return sock


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the one answer on `sock` (read until the server closes)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0]:
        return 0, {}, b""
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


def send_all(sock: socket.socket, data: bytes, piece: int = 16 * 1024) -> int:
    """Send `data` until the server stops reading; the number of bytes it took."""
    sent = 0
    try:
        while sent < len(data):
            sent += sock.send(data[sent : sent + piece])
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    return sent


def assert_limit_error(status: int, headers: dict[str, str], body: bytes, expected: int) -> None:
    assert status == expected, (status, body)
    assert headers.get("x-detour-error") == "limit"
    assert json.loads(body)["error"]["type"] == "invalid_request_error"


def test_large_json_body_is_413_before_it_is_read(edge_gateway: str) -> None:
    sock = connect(edge_gateway)
    size = 40 * 1024 * 1024
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\ncontent-type: application/json\r\n"
        f"content-length: {size}\r\n\r\n"
    ).encode()
    sock.sendall(head)
    sent = send_all(sock, b"[" + b"1," * (size // 2))
    assert_limit_error(*read_answer(sock), 413)
    assert sent < size // 4  # refused at the head, not after buffering the body
    sock.close()


def test_chunked_body_past_the_limit_is_413_on_probe(edge_gateway: str) -> None:
    def pieces() -> Iterator[bytes]:
        for _ in range(64):
            yield b'{"url": "' + b"a" * 4096

    response = httpx.post(f"{edge_gateway}/probe", content=pieces(), timeout=5)
    assert response.status_code == 413
    assert response.headers["x-detour-error"] == "limit"


def test_huge_header_is_refused_while_it_arrives(edge_gateway: str) -> None:
    sock = connect(edge_gateway)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: gw\r\nx-big: ")
    send_all(sock, b"a" * (8 * 1024 * 1024))  # the head never ends: refused while it arrives
    assert_limit_error(*read_answer(sock), 431)
    sock.close()


def test_too_many_header_lines_is_431(edge_gateway: str) -> None:
    headers = {f"x-h{i}": "1" for i in range(30)}
    response = httpx.get(f"{edge_gateway}/health", headers=headers, timeout=5)
    assert response.status_code == 431
    assert response.headers["x-detour-error"] == "limit"


def test_slow_heads_are_closed_and_health_stays_up(edge_gateway: str) -> None:
    with ExitStack() as stack:
        slow = [stack.enter_context(connect(edge_gateway)) for _ in range(50)]
        for sock in slow:
            sock.sendall(b"GET /health HTTP/1.1\r\nx-slow: ")
        started = time.monotonic()
        closed: set[int] = set()
        health_ok = 0
        while len(closed) < len(slow) and time.monotonic() - started < 8:  # head timeout: 1 s
            for i, sock in enumerate(slow):  # one more byte of the head per round
                if i not in closed and send_all(sock, b"a") == 0:
                    closed.add(i)
            health_ok += httpx.get(f"{edge_gateway}/health", timeout=2).status_code == 200
            time.sleep(0.25)
        for i, sock in enumerate(slow):  # the server's answer (408) or its close arrived
            if i not in closed:
                sock.settimeout(0.5)
                if read_answer(sock)[0] in (0, 408):
                    closed.add(i)
        assert len(closed) == len(slow)
        assert health_ok >= 2


def test_slow_head_gets_408(edge_gateway: str) -> None:
    sock = connect(edge_gateway)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: gw\r\n")  # never finished
    assert_limit_error(*read_answer(sock), 408)
    sock.close()


def test_silent_connection_is_closed_after_the_head_timeout(edge_gateway: str) -> None:
    sock = connect(edge_gateway)
    started = time.monotonic()
    assert sock.recv(1) == b""
    assert time.monotonic() - started < 4
    sock.close()


def test_idle_keepalive_connection_is_closed(edge_gateway: str) -> None:
    sock = connect(edge_gateway)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: gw\r\n\r\n")
    data = b""
    while not data.endswith(b"}"):  # the whole JSON answer
        data += sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 200")
    started = time.monotonic()
    assert sock.recv(1) == b""
    assert time.monotonic() - started < 4
    sock.close()


def test_connections_past_the_cap_get_503_and_health_returns_after(capped_gateway: str) -> None:
    with ExitStack() as stack:
        for _ in range(4):
            stack.enter_context(connect(capped_gateway))
        time.sleep(0.2)
        response = httpx.get(f"{capped_gateway}/health", timeout=5)
        assert response.status_code == 503
        assert response.headers["x-detour-error"] == "limit"
        assert "connections" in response.json()["error"]["message"]
    time.sleep(0.2)
    assert httpx.get(f"{capped_gateway}/health", timeout=5).status_code == 200


def test_unparseable_relay_body_is_a_json_400(edge_gateway: str) -> None:
    sock = connect(edge_gateway)
    sock.sendall(
        b"POST /relay/v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
        b"x-detour-upstream: https://api.example.com\r\ntransfer-encoding: chunked\r\n\r\n"
        b"zz\r\n{not json\r\n0\r\n\r\n"
    )
    status, headers, body = read_answer(sock)
    assert status == 400
    assert headers["x-detour-error"] == "bad_request"
    assert json.loads(body)["error"]["code"] == "malformed_request"
    sock.close()


def test_idle_connections_past_the_cap_are_closed_within_a_second(capped_gateway: str) -> None:
    with ExitStack() as stack:
        held = [stack.enter_context(connect(capped_gateway)) for _ in range(4)]
        extra = stack.enter_context(connect(capped_gateway))
        started = time.monotonic()
        assert extra.recv(1) == b""  # closed by the server, not by the 5 s head timeout
        assert time.monotonic() - started < 3
        held[0].sendall(b"GET /health HTTP/1.1\r\nHost: gw\r\n\r\n")
        assert held[0].recv(12) == b"HTTP/1.1 200"


def test_slow_body_gets_408(edge_gateway: str) -> None:
    sock = connect(edge_gateway)
    sock.sendall(
        b"POST /probe HTTP/1.1\r\nHost: gw\r\ncontent-type: application/json\r\n"
        b"content-length: 100\r\n\r\n{"
    )  # 99 bytes never come
    assert_limit_error(*read_answer(sock), 408)
    sock.close()
