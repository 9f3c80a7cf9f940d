"""Replicas share LiteLLM's deployment cooldowns through Redis; one replica needs none.

The replicas run deploy/gateway/model_list.example.yaml: one model name, two
deployments, each on its own stand-in provider; a mock model is added to warm the
replicas up. The router_settings (allowed_fails, cooldown_time, redis_*) are the
example's own. The cluster first serves traffic with both deployments healthy;
then the first deployment's provider starts failing every chat.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
import yaml
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.deploy.servers import (
    DEPLOY,
    TOKEN,
    Replica,
    replica_environment,
    running_redis,
    running_replicas,
)
from tests.gateway.standins import openai_standin, serve

STANDIN_KEY = "sk-deploy-standin"
KEYS = {"ZAI_API_KEY_A": STANDIN_KEY, "ZAI_API_KEY_B": STANDIN_KEY}
WARM_UP = {"model_name": "warm-up",
           "litellm_params": {"model": "openai/warm-up", "mock_response": "ready"}}  # fmt: skip
FIRST_PHASE_LIMIT = 30  # chats to one replica before its failures must have cooled a deployment

pytestmark = pytest.mark.timeout(420)  # replicas load LiteLLM first: slow on a busy machine


class Breakable:
    """A stand-in provider that answers every chat with a 500 once `broken` is set."""

    def __init__(self) -> None:
        self.app: ASGIApp = openai_standin(api_key=STANDIN_KEY)
        self.broken = False
        self.failed: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.broken and scope["type"] == "http" and scope["path"] == "/v1/chat/completions":
            self.failed.append(scope["path"])
            answer = JSONResponse({"error": {"message": "down", "type": "server_error"}}, 500)
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)


@dataclass
class Providers:
    first: str
    second: str
    breakable: Breakable


@pytest.fixture(scope="module")
def providers() -> Iterator[Providers]:
    breakable = Breakable()
    with serve(breakable) as first, serve(openai_standin(api_key=STANDIN_KEY)) as second:
        yield Providers(first, second, breakable)


def model_list(bases: list[str], target: Path, *, redis: bool = True) -> Path:
    """The example model_list, its deployments on `bases`, the warm-up model added."""
    data = yaml.safe_load((DEPLOY / "gateway" / "model_list.example.yaml").read_text())
    assert len(data["model_list"]) == len(bases)
    for deployment, base in zip(data["model_list"], bases, strict=True):
        deployment["litellm_params"]["api_base"] = f"{base}/v1"
    data["model_list"].append(WARM_UP)
    if not redis:
        for key in [k for k in data["router_settings"] if k.startswith("redis_")]:
            del data["router_settings"][key]
    target.write_text(yaml.safe_dump(data))
    return target


def chat(replica: Replica, text: str) -> httpx.Response:
    body = {"model": "team-chat", "messages": [{"role": "user", "content": text}]}
    headers = {"X-Detour-Token": TOKEN}
    return httpx.post(f"{replica.url}/v1/chat/completions", json=body, headers=headers, timeout=30)


def test_one_replicas_failures_cool_a_deployment_down_for_all(
    providers: Providers, tmp_path: Path
) -> None:
    with running_redis() as redis_port:
        config = model_list([providers.first, providers.second], tmp_path / "models.yaml")
        env = replica_environment(
            config, "https://detour.example.test",
            {**KEYS, "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis_port)},
        )  # fmt: skip
        with running_replicas(3, env, warm_model="warm-up") as (first, *others):
            store = redis.Redis(host="127.0.0.1", port=redis_port)
            serving = [chat(r, f"healthy-{n}") for r in (first, *others) for n in range(4)]
            assert [a.status_code for a in serving] == [200] * len(serving)

            providers.breakable.broken = True
            for number in range(FIRST_PHASE_LIMIT):
                chat(first, f"first-{number}")
                if store.keys("deployment:*:cooldown"):
                    break
            assert store.keys("deployment:*:cooldown"), "no cooldown reached Redis"
            failures_on_first = len(providers.breakable.failed)
            assert failures_on_first >= 2  # allowed_fails: 1

            answers = [chat(other, f"other-{n}") for other in others for n in range(10)]

            assert [a.status_code for a in answers] == [200] * len(answers)
            # Without the shared cooldown each of the two others would pick the failing
            # deployment about every other time until it had failed twice there too (4 or
            # more calls in all). With it they skip it; one call may still slip through when
            # a replica read the cooldown list just before the first replica wrote it.
            assert len(providers.breakable.failed) - failures_on_first <= 1
            store.close()


def test_a_single_replica_needs_no_redis(providers: Providers, tmp_path: Path) -> None:
    config = model_list([providers.second] * 2, tmp_path / "models.yaml", redis=False)
    env = replica_environment(config, "https://detour.example.test", KEYS)
    with running_replicas(1, env, warm_model="warm-up") as (replica,):
        answers = [chat(replica, f"alone-{n}") for n in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert all(a.json()["choices"][0]["message"]["content"] for a in answers)
