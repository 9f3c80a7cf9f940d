"""A freshly started gateway process (the seed's one-liner): ready means ready, the first
stream flows at the upstream's pace without holding anyone else up, and no request can
make LiteLLM send anything anywhere.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests.gateway.conftest import REPO
from tests.gateway.llm_standins import canary
from tests.gateway.standins import closed_port, openai_standin, serve
from tests.gateway.test_startup import PYTHON, clean_env

KEY = "sk-fresh-upstream-key-0123"
PACE = 0.25
REPLY = "one two three four five six"
HELLO = [{"role": "user", "content": "hello"}]
# LiteLLM's logging integrations batch their posts; these make one flush within a second,
# so the canary would hear from a call at once if a request could switch logging on.
FAST_FLUSH = {"LANGSMITH_BATCH_SIZE": "1", "DEFAULT_FLUSH_INTERVAL_SECONDS": "1"}


def configuration_fields(canary_url: str) -> dict[str, Any]:
    """Every way a request body could configure LiteLLM, each pointed at the canary."""
    return {
        "success_callback": ["langsmith"], "failure_callback": ["langsmith"],
        "callbacks": ["langsmith"], "langsmith_base_url": canary_url,
        "langsmith_api_key": "ls-key", "api_base": f"{canary_url}/v1",
        "base_url": f"{canary_url}/v1", "api_key": "sk-client", "custom_llm_provider": "openai",
        "metadata": {"tags": ["x"]}, "mock_response": "pwned", "timeout": 0.001,
        "litellm_metadata": {"a": 1}, "extra_headers": {"x-evil": "1"},
        "extra_body": {"api_base": canary_url}, "model_list": [
            {"model_name": "fresh", "litellm_params": {"model": "openai/x",
                                                       "api_base": canary_url}}],
        "num_retries": 5, "mock_testing_fallbacks": True,
    }  # fmt: skip


async def timed_relay(base: str, upstream: str) -> float:
    async with httpx.AsyncClient(timeout=30) as client:
        started = time.perf_counter()
        response = await client.get(f"{base}/relay/echo/x", headers={"x-detour-upstream": upstream})
        assert response.status_code == 200
        return time.perf_counter() - started


async def first_stream_beside_relays(base: str, upstream: str) -> dict[str, Any]:
    """The first LiteLLM stream after ready, with relay requests sent while it starts."""
    alone = statistics.median([await timed_relay(base, upstream) for _ in range(5)])
    arrivals: list[float] = []

    async def stream() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            started = time.perf_counter()
            body = {"model": "fresh", "messages": HELLO, "stream": True}
            async with client.stream("POST", f"{base}/v1/chat/completions", json=body) as answer:
                async for _ in answer.aiter_raw():
                    arrivals.append(time.perf_counter() - started)

    async def relays() -> list[float]:
        timings = []
        for _ in range(6):
            timings.append(await timed_relay(base, upstream))
            await asyncio.sleep(0.05)
        return timings

    _, beside = await asyncio.gather(stream(), relays())
    return {"alone": alone, "beside": beside, "arrivals": arrivals}


@pytest.fixture(scope="module")
def upstream_app() -> Starlette:
    return openai_standin(api_key=KEY, reply=REPLY, piece=4, pace=PACE)


@pytest.fixture(scope="module")
def canary_app() -> Starlette:
    return canary()


@pytest.fixture(scope="module")
def fresh(upstream_app: Starlette, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Start `python -m gateway --model ... --api_base ...`; record how it became ready."""
    log_path: Path = tmp_path_factory.mktemp("fresh") / "gateway.log"
    port = closed_port()
    base = f"http://127.0.0.1:{port}"
    with serve(upstream_app) as upstream, log_path.open("w") as log:
        env = clean_env(OPENAI_API_KEY=KEY, GATEWAY_ALLOW_PRIVATE_UPSTREAMS="true", **FAST_FLUSH)
        command = [PYTHON, "-m", "gateway", "--model", "fresh=openai/standin-model",
                   "--api_base", f"{upstream}/v1", "--port", str(port)]  # fmt: skip
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
        try:
            record: dict[str, Any] = {"base": base, "upstream": upstream, "log": log_path}
            record.update(wait_for_readiness(base, process))
            record.update(asyncio.run(first_stream_beside_relays(base, upstream)))
            yield record
        finally:
            process.terminate()
            process.wait(timeout=15)


def wait_for_readiness(base: str, process: subprocess.Popen[bytes]) -> dict[str, int]:
    """Readiness when /health first answers, and once it says ready (within 120 s)."""
    deadline = time.monotonic() + 120
    first: int | None = None
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if first is None and httpx.get(f"{base}/health").status_code == 200:
                first = httpx.get(f"{base}/health/readiness").status_code
            if first is not None and httpx.get(f"{base}/health/readiness").status_code == 200:
                return {"first_readiness": first, "readiness": 200}
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the gateway never became ready (first readiness {first})")


def test_readiness_is_503_while_litellm_loads(fresh: dict[str, Any]) -> None:
    assert fresh["first_readiness"] == 503


def test_readiness_turns_200_once_litellm_is_warm(fresh: dict[str, Any]) -> None:
    assert fresh["readiness"] == 200


def test_the_first_stream_after_ready_flows_at_the_upstreams_pace(fresh: dict[str, Any]) -> None:
    arrivals = fresh["arrivals"]
    pieces = -(-len(REPLY) // 4)
    assert len(arrivals) >= pieces // 2, arrivals  # pieces, not one burst
    assert arrivals[-1] - arrivals[0] > 0.6 * (pieces - 1) * PACE, arrivals


def test_a_relay_request_beside_the_first_stream_is_not_held_up(fresh: dict[str, Any]) -> None:
    assert max(fresh["beside"]) < fresh["alone"] + 0.3, (fresh["alone"], fresh["beside"])


async def test_the_one_liner_serves_its_model_with_the_environments_key(
    fresh: dict[str, Any], upstream_app: Starlette
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{fresh['base']}/v1/chat/completions", json={"model": "fresh", "messages": HELLO}
        )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == REPLY
    assert upstream_app.state.seen[-1]["headers"]["authorization"] == f"Bearer {KEY}"


async def test_configuration_in_a_request_reaches_nothing(
    fresh: dict[str, Any], upstream_app: Starlette, canary_app: Starlette
) -> None:
    with serve(canary_app) as canary_url:
        body = {"model": "fresh", "messages": HELLO, **configuration_fields(canary_url)}
        async with httpx.AsyncClient(timeout=30) as client:
            plain = await client.post(f"{fresh['base']}/v1/chat/completions", json=body)
            streamed = await client.post(
                f"{fresh['base']}/v1/chat/completions", json={**body, "stream": True}
            )
        await asyncio.sleep(3)  # three flush intervals of any logger switched on
    assert plain.status_code == 200 and streamed.status_code == 200
    assert plain.json()["choices"][0]["message"]["content"] == REPLY  # no mock, no redirect
    assert canary_app.state.hits == []
    sent = json.loads(upstream_app.state.seen[-1]["body"])
    assert set(sent) <= {"model", "messages", "stream", "stream_options"}
