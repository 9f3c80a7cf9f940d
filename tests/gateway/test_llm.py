"""The LiteLLM path: demo mock, an `openai/` model on a loopback stand-in, errors, config."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.config import load_model_list, parse_model_list
from gateway.errors import ConfigError
from gateway.routing import router_arguments
from tests.gateway.conftest import REPO, STANDIN_KEY

HELLO = [{"role": "user", "content": "hello"}]


def sse_events(raw: bytes) -> list[str]:
    return [line[6:] for line in raw.decode().split("\n") if line.startswith("data: ")]


async def test_models_list_in_openai_format(gateway: str) -> None:
    async with httpx.AsyncClient() as client:
        v1 = await client.get(f"{gateway}/v1/models")
        bare = await client.get(f"{gateway}/models")
    assert v1.status_code == 200 and bare.json() == v1.json()
    body = v1.json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids[:2] == ["detour-demo", "standin-gpt"]
    assert all(m["object"] == "model" and m["created"] == 0 and m["owned_by"] for m in body["data"])
    assert v1.headers["x-detour-route"] == "litellm"


async def test_demo_answers_without_a_key(gateway: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{gateway}/v1/chat/completions", json={"model": "detour-demo", "messages": HELLO}
        )
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    text = body["choices"][0]["message"]["content"]
    assert "keyless demo" in text and "add a provider" in text
    assert sum(text.count(mark) for mark in ".!") >= 4


async def test_demo_streams_in_many_pieces_over_time(gateway: str) -> None:
    arrivals: list[float] = []
    raw = b""
    async with httpx.AsyncClient(timeout=30) as client:
        started = time.perf_counter()
        async with client.stream(
            "POST",
            f"{gateway}/chat/completions",
            json={"model": "detour-demo", "messages": HELLO, "stream": True},
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for chunk in response.aiter_raw():
                arrivals.append(time.perf_counter() - started)
                raw += chunk
    events = sse_events(raw)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert "keyless demo" in text
    assert len(chunks) > 100
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    # It types: the pieces arrive over more than a second, not in one burst.
    assert arrivals[-1] - arrivals[0] > 1.0
    assert len(arrivals) > 50


async def test_openai_model_through_litellm_non_streamed(gateway: str, upstream_app: Any) -> None:
    body = {"model": "standin-gpt", "messages": HELLO, "temperature": 0.3, "max_tokens": 50,
            "top_p": 0.9, "stop": ["\n\n"], "api_base": "http://169.254.169.254/",
            "base_url": "http://169.254.169.254/", "api_key": "sk-from-client"}  # fmt: skip
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{gateway}/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"].startswith("Hello from the stand-in")
    call = upstream_app.state.seen[-1]
    sent = json.loads(call["body"])
    assert (
        call["headers"]["authorization"] == f"Bearer {STANDIN_KEY}"
    )  # the YAML's key, not the client's
    assert sent["temperature"] == 0.3 and sent["max_tokens"] == 50 and sent["top_p"] == 0.9
    assert sent["stop"] == ["\n\n"]
    assert sent["model"] == "standin-model"
    assert "api_base" not in sent and "base_url" not in sent and "api_key" not in sent


async def test_openai_model_through_litellm_streamed(gateway: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{gateway}/v1/chat/completions",
            json={"model": "standin-gpt", "messages": HELLO, "stream": True},
        )
    events = sse_events(response.content)
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    assert text == "Hello from the stand-in. It streams in small pieces."


@pytest.mark.parametrize("stream", [False, True])
async def test_upstream_401_stays_401(gateway: str, stream: bool) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{gateway}/v1/chat/completions",
            json={"model": "standin-wrong-key", "messages": HELLO, "stream": stream},
        )
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "authentication_error" and error["message"]
    assert "x-detour-error" not in response.headers
    assert "sk-wrong" not in response.text


@pytest.mark.parametrize("stream", [False, True])
async def test_unreachable_model_is_502(gateway: str, stream: bool) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{gateway}/v1/chat/completions",
            json={"model": "standin-down", "messages": HELLO, "stream": stream},
        )
    assert response.status_code == 502
    assert response.headers["x-detour-error"] == "unreachable"
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


async def test_slow_model_is_504_after_the_gateway_timeout(impatient_gateway: str) -> None:
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{impatient_gateway}/v1/chat/completions",
            json={"model": "standin-slow", "messages": HELLO},
        )
    assert response.status_code == 504
    assert response.headers["x-detour-error"] == "timeout"
    assert (
        time.perf_counter() - started < 2.9
    )  # the gateway's 1 s, not LiteLLM's 6000 s, no retries


async def test_unknown_model_is_404_with_the_known_list(gateway: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{gateway}/v1/chat/completions", json={"model": "gpt-9", "messages": HELLO}
        )
    assert response.status_code == 404
    assert response.headers["x-detour-error"] == "not_found"
    message = response.json()["error"]["message"]
    assert "gpt-9" in message and "detour-demo" in message and "standin-gpt" in message


async def test_malformed_chat_request_is_422(gateway: str) -> None:
    async with httpx.AsyncClient() as client:
        no_messages = await client.post(
            f"{gateway}/v1/chat/completions", json={"model": "detour-demo"}
        )
        not_json = await client.post(
            f"{gateway}/v1/chat/completions",
            content=b"{",
            headers={"content-type": "application/json"},
        )
    for response in (no_messages, not_json):
        assert response.status_code == 422
        assert response.headers["x-detour-error"] == "bad_request"
        assert response.json()["error"]["type"] == "invalid_request_error"


async def test_flaky_upstream_is_not_retried(upstream: str) -> None:
    from tests.gateway.conftest import running_gateway
    from tests.gateway.standins import openai_standin, serve

    flaky = openai_standin(flaky=1)
    with serve(flaky) as flaky_url:
        config = yaml.safe_dump(
            {"model_list": [{"model_name": "flaky", "litellm_params": {
                "model": "openai/standin-model", "api_base": f"{flaky_url}/v1",
                "api_key": "sk-x"}}]}
        )  # fmt: skip
        with running_gateway(config, allow_private_upstreams=True) as gw:
            async with httpx.AsyncClient(timeout=30) as client:
                first = await client.post(
                    f"{gw}/v1/chat/completions", json={"model": "flaky", "messages": HELLO}
                )
                second = await client.post(
                    f"{gw}/v1/chat/completions", json={"model": "flaky", "messages": HELLO}
                )
    assert first.status_code == 500
    assert second.status_code == 200  # no cooldown either
    assert len([s for s in flaky.state.seen if s["path"] == "/v1/chat/completions"]) == 2


def test_product_zai_yaml_loads_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "zai.yaml"
    path.write_text(
        "model_list:\n"
        "  - model_name: zai-coding-model\n"
        "    litellm_params:\n"
        "      model: openai/zai-coding-model\n"
        '      api_base: "https://api.z.ai/api/coding/paas/v4"\n'
        '      api_key: "0123456789abcdef.XYZ"\n'
        "litellm_settings:\n  drop_params: true\n"
        "general_settings:\n  master_key: sk-whatever\n"
        "router_settings:\n  routing_strategy: simple-shuffle\n"
    )
    models = load_model_list(path)
    assert models.names == ["zai-coding-model"]
    assert models.drop_params
    assert models.master_key is not None and models.master_key.get_secret_value() == "sk-whatever"
    assert "0123456789abcdef" not in repr(models)
    assert "0123456789abcdef.XYZ" in models.secrets
    arguments = router_arguments(models, 30.0)
    (deployment,) = arguments["model_list"]
    assert deployment["litellm_params"]["api_base"] == "https://api.z.ai/api/coding/paas/v4"
    assert deployment["litellm_params"]["model"] == "openai/zai-coding-model"
    assert arguments["num_retries"] == 0 and arguments["timeout"] == 30.0
    assert arguments["routing_strategy"] == "simple-shuffle"
    assert arguments["default_litellm_params"] == {"drop_params": True}


def test_os_environ_references_resolve_at_load() -> None:
    params = {"model": "zai/glm-4.6", "api_key": "os.environ/ZAI_API_KEY"}
    data = {"model_list": [{"model_name": "m", "litellm_params": params}]}
    models = parse_model_list(data, "t.yaml", {"ZAI_API_KEY": "from-env"})
    assert models.deployments[0]["litellm_params"]["api_key"] == "from-env"
    with pytest.raises(ConfigError, match="ZAI_API_KEY, which is not set"):
        parse_model_list(data, "t.yaml", {})


@pytest.mark.parametrize(
    ("data", "needle"),
    [([1, 2], "expected a mapping"), ({"model_list": {"a": 1}}, "must be a list"),
     ({"model_list": [{"litellm_params": {"model": "x"}}]}, "model_name is missing"),
     ({"model_list": [{"model_name": "x", "litellm_params": {}}]},
      "litellm_params.model is missing")],
)  # fmt: skip
def test_invalid_model_lists_name_the_problem(data: Any, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_model_list(data, "bad.yaml", {})


def test_demo_yaml_is_stock_litellm_shaped() -> None:
    data = yaml.safe_load((REPO / "gateway" / "demo.yaml").read_text())
    assert set(data) == {"model_list"}
    (entry,) = data["model_list"]
    assert set(entry) == {"model_name", "litellm_params", "model_info"}
    assert entry["litellm_params"]["model"].startswith("openai/")
    assert isinstance(entry["litellm_params"]["mock_response"], str)
    assert load_model_list(REPO / "gateway" / "demo.yaml").stream_delay("detour-demo") > 0


async def test_mid_stream_failure_becomes_an_sse_error_event() -> None:
    from tests.gateway.conftest import running_gateway
    from tests.gateway.standins import openai_standin, serve

    with serve(openai_standin(piece=4, pace=0.02, break_after=3)) as broken:
        config = yaml.safe_dump(
            {"model_list": [{"model_name": "broken", "litellm_params": {
                "model": "openai/standin-model", "api_base": f"{broken}/v1",
                "api_key": "sk-x"}}]}
        )  # fmt: skip
        with running_gateway(config, allow_private_upstreams=True) as gw:
            async with httpx.AsyncClient(timeout=30) as client:
                response = await client.post(
                    f"{gw}/v1/chat/completions",
                    json={"model": "broken", "messages": HELLO, "stream": True},
                )
    assert response.status_code == 200
    events = sse_events(response.content)
    assert "[DONE]" not in events
    last = json.loads(events[-1])
    assert set(last["error"]) == {"message", "type", "param", "code"}
    assert len(events) >= 2  # the pieces that did arrive came first
