"""The LiteLLM path speaks OpenAI's wire format: answers validate against the published schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from tests.gateway.conftest import running_gateway
from tests.gateway.llm_standins import choices_standin
from tests.gateway.openai_schema import problems
from tests.gateway.standins import serve

HELLO = [{"role": "user", "content": "hello"}]


def sse_json(raw: bytes) -> list[dict[str, Any]]:
    lines = [line[6:] for line in raw.decode().split("\n") if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


@pytest.fixture(scope="module")
def choices_app() -> Starlette:
    return choices_standin()


@pytest.fixture(scope="module")
def choices_gateway(choices_app: Starlette) -> Iterator[str]:
    with serve(choices_app) as upstream:
        params = {"model": "openai/choices-model", "api_base": f"{upstream}/v1", "api_key": "sk-n"}
        config = {"model_list": [{"model_name": "choices", "litellm_params": params}]}
        with running_gateway(yaml.safe_dump(config), allow_private_upstreams=True) as url:
            yield url


async def chat(url: str, **body: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(f"{url}/v1/chat/completions", json={"messages": HELLO, **body})


async def test_models_list_validates_against_openai_schema(gateway: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(f"{gateway}/v1/models")
    assert problems("ListModelsResponse", response.json()) == []


async def test_completion_validates_against_openai_schema(gateway: str) -> None:
    response = await chat(gateway, model="standin-gpt")
    assert response.status_code == 200
    assert problems("CreateChatCompletionResponse", response.json()) == []


async def test_completion_message_carries_no_null_tool_calls(gateway: str) -> None:
    message = (await chat(gateway, model="standin-gpt")).json()["choices"][0]["message"]
    assert "tool_calls" not in message and "function_call" not in message
    assert message["refusal"] is None


async def test_every_chunk_validates_against_openai_schema(gateway: str) -> None:
    chunks = sse_json((await chat(gateway, model="standin-gpt", stream=True)).content)
    assert [problems("CreateChatCompletionStreamResponse", c) for c in chunks] == [[]] * len(chunks)


async def test_chunks_keep_a_null_finish_reason_until_the_end(gateway: str) -> None:
    chunks = sse_json((await chat(gateway, model="standin-gpt", stream=True)).content)
    reasons = [choice["finish_reason"] for c in chunks for choice in c["choices"]]
    assert reasons[-1] == "stop"
    assert reasons[:-1] == [None] * (len(reasons) - 1)


@pytest.mark.parametrize(
    ("body", "status"),
    [({"model": "gpt-9"}, 404), ({"model": "standin-wrong-key"}, 401),
     ({"model": "standin-down"}, 502), ({"model": 7}, 422)],
)  # fmt: skip
async def test_error_answers_validate_with_a_string_or_null_code(
    gateway: str, body: dict[str, Any], status: int
) -> None:
    response = await chat(gateway, **body)
    assert response.status_code == status
    assert problems("ErrorResponse", response.json()) == []


async def test_two_streamed_choices_each_keep_their_finish_reason(choices_gateway: str) -> None:
    chunks = sse_json((await chat(choices_gateway, model="choices", n=2, stream=True)).content)
    ended = {
        choice["index"]: choice["finish_reason"]
        for c in chunks
        for choice in c["choices"]
        if choice["finish_reason"] is not None
    }
    assert ended == {0: "stop", 1: "stop"}


async def test_user_reaches_the_upstream(choices_gateway: str, choices_app: Starlette) -> None:
    response = await chat(choices_gateway, model="choices", user="person-42")
    assert response.status_code == 200
    assert choices_app.state.seen[-1]["user"] == "person-42"


async def test_invalid_body_is_422_as_documented(gateway: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{gateway}/v1/chat/completions", json={"model": "x"})
        documented = (await client.get(f"{gateway}/openapi.json")).json()
    assert response.status_code == 422
    responses = documented["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert "422" in responses and "400" not in responses


async def test_405_names_the_allowed_methods(gateway: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(f"{gateway}/v1/chat/completions")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert problems("ErrorResponse", response.json()) == []


async def test_openapi_documents_readiness_and_the_error_shape(gateway: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        documented = (await client.get(f"{gateway}/openapi.json")).json()
    assert "503" in documented["paths"]["/health/readiness"]["get"]["responses"]
    detail = documented["components"]["schemas"]["ErrorDetail"]["properties"]["code"]
    assert {"type": "integer"} not in detail["anyOf"]
    assert "HTTPValidationError" not in json.dumps(documented)  # a 422 is OpenAI-shaped
