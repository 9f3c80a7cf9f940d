"""The gateway under load, restarts, secrets and generated requests (loopback, bounded in time)."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.gateway.conftest import REPO, TOKEN, running_gateway
from tests.gateway.faults import faulty_upstream
from tests.gateway.standins import closed_port, openai_standin, serve
from tests.gateway.test_startup import PYTHON, clean_env

STREAM = {"model": "standin-model", "messages": [{"role": "user", "content": "hi"}], "stream": True}
KEY = "sk-live-do-not-leak-7f3a9c"


@pytest.fixture(scope="module")
def paced() -> Iterator[str]:
    """A stand-in streaming 10 pieces 20 ms apart (12 SSE events with the end and [DONE])."""
    with serve(openai_standin(reply="abcd" * 10, piece=4, pace=0.02)) as url:
        yield url


@pytest.fixture(scope="module")
def roomy_gateway() -> Iterator[str]:
    """A gateway with generous timeouts: this process also runs the stand-in and the clients."""
    with running_gateway(allow_private_upstreams=True, connect_timeout=20, read_timeout=30) as url:
        yield url


async def stream_events(client: httpx.AsyncClient, gateway: str, upstream: str) -> list[bytes]:
    """The SSE events of one relayed stream, in order."""
    async with client.stream(
        "POST", f"{gateway}/relay/v1/chat/completions", json=STREAM,
        headers={"x-detour-upstream": upstream},
    ) as response:  # fmt: skip
        if response.status_code != 200:
            await response.aread()
        assert response.status_code == 200, response.text
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    return [event for event in body.split(b"\n\n") if event]


async def test_200_concurrent_streams_lose_nothing(roomy_gateway: str, paced: str) -> None:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        results = await asyncio.gather(
            *(stream_events(client, roomy_gateway, paced) for _ in range(200)),
            return_exceptions=True,
        )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    streams = [r for r in results if isinstance(r, list)]
    assert all(len(events) == 12 and events[-1] == b"data: [DONE]" for events in streams)


def test_keys_and_token_absent_from_logs_errors_and_probe_answers(
    caplog: pytest.LogCaptureFixture, token_gateway: str
) -> None:
    caplog.set_level(logging.DEBUG)
    answers: list[str] = []
    secret_headers = {"authorization": f"Bearer {KEY}", "x-api-key": KEY, "x-detour-token": TOKEN}
    with faulty_upstream() as (base, _), httpx.Client(timeout=10) as client:
        for target in (base, f"http://127.0.0.1:{closed_port()}"):
            for path in ("/close", "/reset", "/garbage", "/short", "/ok"):
                try:
                    response = client.post(
                        f"{token_gateway}/relay{path}?key={KEY}", content=b"{}",
                        headers={**secret_headers, "x-detour-upstream": target},
                    )  # fmt: skip
                    answers.append(str(response.headers) + response.text)
                except httpx.TransportError as exc:  # the short body: the stream breaks
                    answers.append(str(exc))
        probe = client.post(
            f"{token_gateway}/probe", json={"url": f"{base}/close?key={KEY}"},
            headers={"x-detour-token": TOKEN},
        )  # fmt: skip
        answers.append(probe.text)
        wrong = client.get(f"{token_gateway}/v1/models", headers={"x-detour-token": KEY})
        answers.append(str(wrong.headers) + wrong.text)
    assert probe.status_code == 200 and wrong.status_code == 401
    # httpx's own logger is this test's client (the gateway never enables it).
    records = [r for r in caplog.get_records("call") if not r.name.startswith("httpx")]
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in records)
    for secret in (KEY, TOKEN):
        assert secret not in logged
        assert all(secret not in answer for answer in answers)


def test_generated_requests_cause_no_gateway_fault(strict_gateway: str) -> None:
    schema = schemathesis.openapi.from_url(f"{strict_gateway}/openapi.json")
    faults: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(operation.as_strategy())
        @settings(
            max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def call(case: Any) -> None:
            response = case.call(base_url=strict_gateway, timeout=10)
            # A 502/504 with x-detour-error is the gateway reporting an upstream; a bare
            # 5xx (or a 500 of any kind) is the gateway failing.
            if response.status_code >= 500 and (
                response.status_code == 500 or "x-detour-error" not in response.headers
            ):
                faults.append(f"{case.method} {case.formatted_path}: {response.status_code}")

        call()
    assert faults == []


def start_gateway(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [PYTHON, "-m", "gateway", "--port", str(port), "--allow-private-upstreams"],
        cwd=REPO, env=clean_env(GATEWAY_LOG_LEVEL="warning", GATEWAY_SHUTDOWN_TIMEOUT="10"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def wait_healthy(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("the gateway did not start")


async def test_restart_under_load_ends_in_flight_streams_cleanly() -> None:
    port = closed_port()
    gateway = f"http://127.0.0.1:{port}"
    with serve(openai_standin(reply="abcd" * 10, piece=4, pace=0.1)) as upstream:  # ~1 s each
        first = start_gateway(port)
        try:
            wait_healthy(port)
            async with httpx.AsyncClient(timeout=30) as client:
                in_flight = [
                    asyncio.create_task(stream_events(client, gateway, upstream)) for _ in range(20)
                ]
                await asyncio.sleep(0.4)
                first.send_signal(signal.SIGTERM)
                streams = await asyncio.gather(*in_flight)
            assert all(len(events) == 12 and events[-1] == b"data: [DONE]" for events in streams)
            # uvicorn re-raises the signal once its graceful shutdown is done.
            assert first.wait(timeout=15) in (0, -signal.SIGTERM)
        finally:
            first.kill()
            assert first.stderr is not None
            first_log = first.stderr.read().decode()
            first.stderr.close()
        assert "Traceback" not in first_log
        second = start_gateway(port)
        try:
            wait_healthy(port)
            async with httpx.AsyncClient(timeout=30) as client:
                streams = await asyncio.gather(
                    *(stream_events(client, gateway, upstream) for _ in range(20))
                )
            assert all(events[-1] == b"data: [DONE]" for events in streams)
        finally:
            second.terminate()
            second.wait(timeout=15)
            assert second.stderr is not None
            second.stderr.close()
