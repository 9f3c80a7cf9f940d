"""The LiteLLM routes' request and answer shapes, as `/openapi.json` documents them.

The shapes are OpenAI's (openai/openai-openapi); the tests validate the gateway's
real answers against that published schema, so what is written here is what is sent.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.wire import CHAT_FIELDS


class ChatRequest(BaseModel):
    """An OpenAI chat completion request.

    Only OpenAI's chat fields reach the model; any other field (LiteLLM's per-call
    settings such as `api_base`, `api_key`, callbacks, `metadata`) is dropped.
    """

    model_config = ConfigDict(extra="allow")

    model: str = Field(description="A model from /v1/models (a wildcard name matches too)")
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False


class ErrorDetail(BaseModel):
    """OpenAI's `Error`: `code` is a string or null, never a number."""

    message: str
    type: str
    param: str | None
    code: str | None


class ErrorAnswer(BaseModel):
    """OpenAI's `ErrorResponse`."""

    error: ErrorDetail


class Readiness(BaseModel):
    """What /health/readiness says."""

    status: Literal["ready", "loading", "failed"]
    detail: str | None = None


class ChatChoice(BaseModel):
    """One choice of a non-streamed completion."""

    index: int
    message: dict[str, Any]
    finish_reason: str
    logprobs: dict[str, Any] | None


class ChatCompletion(BaseModel):
    """OpenAI's `CreateChatCompletionResponse` (the chunks of a stream are
    `CreateChatCompletionStreamResponse` objects, one per SSE `data:` line, then `[DONE]`)."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: dict[str, Any] | None = None


def error(description: str) -> dict[str, Any]:
    """An OpenAPI response entry for an error status."""
    return {"model": ErrorAnswer, "description": description}


COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    401: error("Gateway token missing or wrong, or the upstream refused the operator's key"),
    422: error("The body is not a chat completion request"),
    503: error("LiteLLM is still loading (see /health/readiness)"),
}
MODELS_RESPONSES: dict[int | str, dict[str, Any]] = {401: COMMON_ERRORS[401]}
CHAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ChatCompletion,
        "description": (
            "The completion; with `stream: true`, `text/event-stream` of chat.completion.chunk "
            "objects ending with `data: [DONE]` (a failure mid-stream is a `data:` error object)."
            f" Request fields that reach the model: {', '.join(sorted(CHAT_FIELDS))}."
        ),
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **COMMON_ERRORS,
    404: error("No configured model matches `model`"),
    502: error("The upstream is unreachable (`x-detour-error: unreachable`)"),
    504: error("The upstream did not answer in time (`x-detour-error: timeout`)"),
}


def validation_errors_as_answered(schema: dict[str, Any]) -> dict[str, Any]:
    """Document a 422 as the gateway answers it: OpenAI's error shape, not FastAPI's default."""
    answer = {"$ref": "#/components/schemas/ErrorAnswer"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            invalid = operation.get("responses", {}).get("422")
            if invalid is not None:
                invalid["content"] = {"application/json": {"schema": answer}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    components.setdefault(
        "ErrorAnswer", ErrorAnswer.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    return schema
