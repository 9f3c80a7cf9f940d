"""The relay against real loopback stand-ins: forwarding, streaming, errors, policy, limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.gateway.conftest import ORIGIN, STANDIN_KEY, TOKEN
from tests.gateway.standins import anthropic_standin, closed_port, openai_standin, serve

SECRET = "sk-secret-user-key"
CHAT = {"model": "standin-model", "messages": [{"role": "user", "content": "hi"}]}


def relay_headers(upstream: str, **extra: str) -> dict[str, str]:
    return {"x-detour-upstream": upstream, **extra}


@pytest.fixture(scope="module")
def anthropic_upstream() -> Iterator[str]:
    with serve(anthropic_standin(api_key="sk-ant-standin", pace=0.01)) as url:
        yield url


async def test_relay_forwards_request_and_keeps_provider_headers(
    gateway: str, upstream: str, upstream_app: Any
) -> None:
    headers = relay_headers(
        upstream,
        authorization="Bearer sk-user-key",
        **{"x-api-key": "user-x-key", "anthropic-version": "2023-06-01", "origin": ORIGIN,
           "cookie": "session=1", "referer": f"{ORIGIN}/", "x-detour-token": "t",
           "sec-fetch-mode": "cors", "x-custom-provider": "kept"},
    )  # fmt: skip
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{gateway}/relay/echo/a/b?x=1&y=two", headers=headers, content=b"payload"
        )
    assert response.status_code == 200
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["path"] == "/echo/a/b"
    assert seen["query"] == "x=1&y=two"
    assert seen["body"] == "payload"
    got = seen["headers"]
    assert got["authorization"] == "Bearer sk-user-key"
    assert got["x-api-key"] == "user-x-key"
    assert got["anthropic-version"] == "2023-06-01"
    assert got["x-custom-provider"] == "kept"
    assert got["host"] == upstream.removeprefix("http://")
    assert got["content-length"] == "7"
    for dropped in (
        "origin",
        "cookie",
        "referer",
        "x-detour-token",
        "x-detour-upstream",
        "sec-fetch-mode",
    ):
        assert dropped not in got
    assert upstream_app.state.seen[-1]["path"] == "/echo/a/b"


async def test_relay_response_headers_cors_replaced_and_exposed(
    gateway: str, upstream: str
) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"{gateway}/relay/echo/x", headers=relay_headers(upstream, origin=ORIGIN)
        )
    assert response.headers["access-control-allow-origin"] == ORIGIN  # not the upstream's "*"
    assert response.headers.get_list("access-control-allow-origin") == [ORIGIN]
    assert "set-cookie" not in response.headers
    assert response.headers["x-standin"] == "yes"
    exposed = response.headers["access-control-expose-headers"]
    assert (
        "x-standin" in exposed and "x-detour-overhead-ms" in exposed and "x-detour-route" in exposed
    )
    assert response.headers["x-detour-route"] == "relay"
    assert float(response.headers["x-detour-overhead-ms"]) >= 0


async def test_relay_streams_sse_chunks_as_they_come(gateway: str, paced_upstream: str) -> None:
    body = {**CHAT, "stream": True}
    arrivals: list[tuple[float, bytes]] = []
    async with httpx.AsyncClient(timeout=10) as client:
        started = time.perf_counter()
        async with client.stream(
            "POST",
            f"{gateway}/relay/v1/chat/completions",
            json=body,
            headers=relay_headers(paced_upstream),
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            async for chunk in response.aiter_raw():
                arrivals.append((time.perf_counter() - started, chunk))
    total = arrivals[-1][0]
    first_at = arrivals[0][0]
    # The upstream needs >= 1.2 s (5 pieces, 0.3 s apart); the first piece must not wait for it.
    assert total >= 1.1
    assert first_at < 0.3
    assert len(arrivals) >= 4
    data = b"".join(c for _, c in arrivals)
    assert data.endswith(b"data: [DONE]\n\n")
    assert data.count(b"chat.completion.chunk") == 6


async def test_relay_passes_anthropic_typed_events_unchanged(
    gateway: str, anthropic_upstream: str
) -> None:
    body = {
        "model": "claude-x",
        "max_tokens": 20,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    headers = {"x-api-key": "sk-ant-standin", "anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient() as client:
        direct = await client.post(f"{anthropic_upstream}/v1/messages", json=body, headers=headers)
        relayed = await client.post(
            f"{gateway}/relay/v1/messages",
            json=body,
            headers={**headers, **relay_headers(anthropic_upstream)},
        )
        refused = await client.post(
            f"{gateway}/relay/v1/messages", json=body,
            headers={"x-api-key": "wrong", **relay_headers(anthropic_upstream)},
        )  # fmt: skip
    assert relayed.status_code == 200
    assert relayed.content == direct.content
    assert b"event: message_start" in relayed.content and b"event: message_stop" in relayed.content
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication_error"


async def test_redirect_towards_metadata_is_passed_back_not_followed(
    gateway: str, upstream: str
) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{gateway}/relay/redirect", headers=relay_headers(upstream))
    assert response.status_code == 302
    assert response.headers["location"] == "http://169.254.169.254/latest/meta-data/"
    assert "x-detour-error" not in response.headers


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 503])
async def test_upstream_status_is_kept_without_gateway_error_header(
    gateway: str, upstream: str, status: int
) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{gateway}/relay/status/{status}", headers=relay_headers(upstream)
        )
    assert response.status_code == status
    assert response.json()["error"]["message"] == f"stand-in says {status}"
    assert "x-detour-error" not in response.headers


async def test_wrong_user_key_stays_401(gateway: str, upstream: str) -> None:
    async with httpx.AsyncClient() as client:
        wrong = await client.post(
            f"{gateway}/relay/v1/chat/completions", json=CHAT,
            headers=relay_headers(upstream, authorization="Bearer sk-wrong"),
        )  # fmt: skip
        right = await client.post(
            f"{gateway}/relay/v1/chat/completions", json=CHAT,
            headers=relay_headers(upstream, authorization=f"Bearer {STANDIN_KEY}"),
        )  # fmt: skip
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert right.status_code == 200
    assert right.json()["choices"][0]["message"]["content"]


async def test_unreachable_upstream_is_502(gateway: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{gateway}/relay/v1/chat/completions", json=CHAT,
            headers=relay_headers(f"http://127.0.0.1:{closed_port()}/"),
        )  # fmt: skip
    assert response.status_code == 502
    assert response.headers["x-detour-error"] == "unreachable"
    assert response.json()["error"]["code"] == "upstream_unreachable"


async def test_silent_upstream_is_504(impatient_gateway: str, upstream: str) -> None:
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            f"{impatient_gateway}/relay/hang", headers=relay_headers(upstream)
        )
    assert response.status_code == 504
    assert response.headers["x-detour-error"] == "timeout"
    assert time.perf_counter() - started < 5


async def test_content_encoding_is_forwarded_raw(gateway: str, upstream: str) -> None:
    async with httpx.AsyncClient() as client:
        async with client.stream(
            "GET", f"{gateway}/relay/gzip", headers=relay_headers(upstream)
        ) as response:
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
        decoded = await client.get(f"{gateway}/relay/gzip", headers=relay_headers(upstream))
    assert response.headers["content-encoding"] == "gzip"
    assert raw[:2] == b"\x1f\x8b"
    assert decoded.json() == {"compressed": True}


async def test_missing_upstream_header_is_400(gateway: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{gateway}/relay/v1/chat/completions", json=CHAT)
    assert response.status_code == 400
    assert response.headers["x-detour-error"] == "bad_request"
    assert "X-Detour-Upstream" in response.json()["error"]["message"]


async def pieces() -> AsyncIterator[bytes]:
    for _ in range(2):
        yield b"y" * 800


async def test_limits_body_and_headers(impatient_gateway: str, upstream: str) -> None:
    async with httpx.AsyncClient() as client:
        big_body = await client.post(
            f"{impatient_gateway}/relay/echo/x",
            content=b"x" * 5000,
            headers=relay_headers(upstream),
        )
        streamed_body = await client.post(
            f"{impatient_gateway}/relay/echo/x",
            content=pieces(),
            headers=relay_headers(upstream),
        )
        big_headers = await client.get(
            f"{impatient_gateway}/relay/echo/x",
            headers=relay_headers(upstream, **{"x-big": "z" * 3000}),
        )
        fine = await client.post(
            f"{impatient_gateway}/relay/echo/x", content=b"ok", headers=relay_headers(upstream)
        )
    assert big_body.status_code == 413 and big_body.headers["x-detour-error"] == "limit"
    assert streamed_body.status_code == 413
    assert big_headers.status_code == 431 and big_headers.headers["x-detour-error"] == "limit"
    assert fine.status_code == 200


@pytest.mark.parametrize(
    ("upstream_base", "rule"),
    [("http://private.example/v1", "private_address"),
     ("http://mixed.example/v1", "private_address"),
     ("http://127.0.0.1:9/v1", "private_address"), ("http://localhost:9/", "localhost"),
     ("http://169.254.169.254/", "metadata"), ("http://2130706433/", "private_address"),
     ("http://[::ffff:127.0.0.1]/", "private_address"), ("file:///etc/passwd", "scheme"),
     ("gopher://x.example/", "scheme")],
)  # fmt: skip
async def test_relay_refuses_by_policy_with_403(
    strict_gateway: str, upstream_base: str, rule: str
) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{strict_gateway}/relay/chat/completions", json=CHAT,
            headers=relay_headers(upstream_base, authorization=f"Bearer {SECRET}", origin=ORIGIN),
        )  # fmt: skip
    assert response.status_code == 403
    assert response.headers["x-detour-error"] == "policy"
    assert response.headers["access-control-allow-origin"] == ORIGIN
    error = response.json()["error"]
    assert error["code"] == rule and rule in error["message"]
    assert SECRET not in response.text


async def test_relay_with_token_requires_x_detour_token_and_forwards_authorization(
    token_gateway: str, upstream: str
) -> None:
    async with httpx.AsyncClient() as client:
        missing = await client.post(
            f"{token_gateway}/relay/echo/x",
            headers=relay_headers(upstream, authorization=f"Bearer {TOKEN}"),
        )
        ok = await client.post(
            f"{token_gateway}/relay/echo/x",
            headers=relay_headers(
                upstream, authorization="Bearer sk-user", **{"x-detour-token": TOKEN}
            ),
        )
    assert missing.status_code == 401
    assert missing.headers["x-detour-error"] == "gateway_auth"
    assert TOKEN not in missing.text
    assert ok.status_code == 200
    assert ok.json()["headers"]["authorization"] == "Bearer sk-user"
    assert "x-detour-token" not in ok.json()["headers"]


@pytest.fixture(scope="module")
def long_stream_app() -> Any:
    return openai_standin(reply="x" * 40, piece=4, pace=0.2)


async def test_client_going_away_closes_the_upstream_stream(
    gateway: str, long_stream_app: Any
) -> None:
    with serve(long_stream_app) as upstream_url:
        async with httpx.AsyncClient(timeout=10) as client, client.stream(
            "POST", f"{gateway}/relay/v1/chat/completions",
            json={**CHAT, "stream": True}, headers=relay_headers(upstream_url),
        ) as response:  # fmt: skip
            async for _ in response.aiter_raw():
                break  # the person pressed Stop after the first piece
        deadline = time.monotonic() + 3
        while not long_stream_app.state.streams and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    # The full stream takes 2 s; it was stopped well before.
    assert long_stream_app.state.streams == ["stopped"]


async def test_upstream_breaking_mid_stream_breaks_the_relayed_stream(gateway: str) -> None:
    received = b""
    with serve(openai_standin(piece=4, pace=0.05, break_after=3)) as broken:
        async with httpx.AsyncClient(timeout=10) as client:
            with pytest.raises(httpx.RemoteProtocolError):
                async with client.stream(
                    "POST", f"{gateway}/relay/v1/chat/completions",
                    json={**CHAT, "stream": True}, headers=relay_headers(broken),
                ) as response:  # fmt: skip
                    assert response.status_code == 200
                    async for chunk in response.aiter_raw():
                        received += chunk
    # What arrived is passed on; the break is not disguised as a clean end.
    assert received.count(b"data: ") == 3
    assert b"[DONE]" not in received


async def test_upstream_cookies_are_never_kept_or_replayed(
    gateway: str, upstream: str, upstream_app: Any
) -> None:
    async with httpx.AsyncClient() as client:
        first = await client.get(f"{gateway}/relay/echo/one", headers=relay_headers(upstream))
        second = await client.get(f"{gateway}/relay/echo/two", headers=relay_headers(upstream))
    assert "set-cookie" not in first.headers  # the stand-in sets one; the page never sees it
    assert "cookie" not in second.json()["headers"]  # and the gateway does not replay it
    assert "cookie" not in upstream_app.state.seen[-1]["headers"]


async def test_relayed_event_streams_ask_proxies_not_to_buffer(gateway: str, upstream: str) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"{gateway}/relay/v1/chat/completions",
            json={**CHAT, "stream": True},
            headers=relay_headers(upstream, authorization=f"Bearer {STANDIN_KEY}"),
        )
    assert response.status_code == 200
    assert response.headers["x-accel-buffering"] == "no"
