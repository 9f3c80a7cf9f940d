"""A model_list means what it means to LiteLLM's proxy: deployments, failover, wildcards, keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from tests.gateway.conftest import running_gateway
from tests.gateway.standins import closed_port, openai_standin, serve

HELLO = [{"role": "user", "content": "hello"}]
MASTER_KEY = "sk-master-0123456789"


def deployment(name: str, base: str, model: str = "openai/standin-model") -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": model, "api_base": f"{base}/v1",
                                                   "api_key": "sk-x"}}  # fmt: skip


@pytest.fixture(scope="module")
def first_app() -> Starlette:
    return openai_standin()


@pytest.fixture(scope="module")
def second_app() -> Starlette:
    return openai_standin()


@pytest.fixture(scope="module")
def router_gateway(first_app: Starlette, second_app: Starlette) -> Iterator[str]:
    dead = f"http://127.0.0.1:{closed_port()}"
    with serve(first_app) as first, serve(second_app) as second:
        config = {
            "model_list": [
                deployment("pair", first), deployment("pair", second),
                deployment("half-dead", dead), deployment("half-dead", first),
                deployment("openai/*", first, model="openai/*"),
            ],
            "general_settings": {"master_key": MASTER_KEY},
        }  # fmt: skip
        with running_gateway(yaml.safe_dump(config), allow_private_upstreams=True) as url:
            yield url


async def chat(url: str, model: str, key: str | None = MASTER_KEY) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(
            f"{url}/v1/chat/completions", json={"model": model, "messages": HELLO}, headers=headers
        )


def chats(app: Starlette) -> list[dict[str, Any]]:
    return [json.loads(s["body"]) for s in app.state.seen if s["path"] == "/v1/chat/completions"]


async def test_a_name_with_two_deployments_uses_both(
    router_gateway: str, first_app: Starlette, second_app: Starlette
) -> None:
    before = len(chats(first_app)), len(chats(second_app))
    statuses = [(await chat(router_gateway, "pair")).status_code for _ in range(16)]
    assert statuses == [200] * 16
    assert len(chats(first_app)) > before[0] and len(chats(second_app)) > before[1]


async def test_a_dead_deployment_fails_over_to_the_live_one(router_gateway: str) -> None:
    statuses = [(await chat(router_gateway, "half-dead")).status_code for _ in range(8)]
    assert statuses == [200] * 8


async def test_a_wildcard_name_routes_real_model_names(
    router_gateway: str, first_app: Starlette
) -> None:
    response = await chat(router_gateway, "openai/gpt-4o-mini")
    assert response.status_code == 200, response.text
    assert chats(first_app)[-1]["model"] == "gpt-4o-mini"


async def test_a_wildcard_is_listed_as_models_not_as_the_pattern(router_gateway: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        listed = await client.get(
            f"{router_gateway}/v1/models", headers={"authorization": f"Bearer {MASTER_KEY}"}
        )
    ids = [m["id"] for m in listed.json()["data"]]
    assert "openai/*" not in ids
    assert "openai/gpt-4o" in ids and ids[:2] == ["pair", "half-dead"]


async def test_the_master_key_is_required(router_gateway: str) -> None:
    assert (await chat(router_gateway, "pair", key=None)).status_code == 401
    assert (await chat(router_gateway, "pair", key="sk-guess")).status_code == 401


async def test_the_master_key_is_accepted_as_the_gateway_token(router_gateway: str) -> None:
    nowhere = f"http://127.0.0.1:{closed_port()}"
    async with httpx.AsyncClient(timeout=30) as client:
        health = await client.get(f"{router_gateway}/health")
        relay = await client.get(
            f"{router_gateway}/relay/v1/models",
            headers={"x-detour-token": MASTER_KEY, "x-detour-upstream": nowhere},
        )
    assert health.json()["auth_required"] is True
    assert relay.status_code == 502  # past the gateway's token check, to the dead upstream
