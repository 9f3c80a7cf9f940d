"""OpenAI's wire format on the LiteLLM path: what a request may carry, and answers cut to the
published schema (openai/openai-openapi) from LiteLLM's pydantic objects.

Requests carry chat, never configuration: only `CHAT_FIELDS`, the request properties of
OpenAI's `CreateChatCompletionRequest`, reach LiteLLM. `metadata` is in OpenAI's schema but
LiteLLM acts on it (tags, callbacks' parameters), so it stays out. Everything else LiteLLM
would read as per-call configuration (callbacks and their URLs, `api_base`, `api_key`,
provider overrides, timeouts, mock switches) is dropped because it is not on the list.
"""

from __future__ import annotations

import json
from typing import Any

CHAT_FIELDS = frozenset(
    {
        "messages", "model", "audio", "frequency_penalty", "function_call", "functions",
        "logit_bias", "logprobs", "max_completion_tokens", "max_tokens", "modalities",
        "moderation", "n", "parallel_tool_calls", "prediction", "presence_penalty",
        "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention", "reasoning_effort",
        "response_format", "safety_identifier", "seed", "service_tier", "stop", "store", "stream",
        "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user",
        "verbosity", "web_search_options",
    }
)  # fmt: skip
# Fields OpenAI sends as null rather than leaving out; every other null is left out.
KEPT_NULLS = frozenset({"content", "refusal", "finish_reason", "logprobs"})


def chat_arguments(body: dict[str, Any]) -> dict[str, Any]:
    """The request fields LiteLLM may see: OpenAI chat fields only."""
    return {key: value for key, value in body.items() if key in CHAT_FIELDS}


def dropped_fields(body: dict[str, Any]) -> list[str]:
    """The request fields that are not OpenAI chat fields (and so never reach LiteLLM)."""
    return sorted(key for key in body if key not in CHAT_FIELDS)


def without_nulls(value: Any) -> Any:
    """`value` with null fields left out, except those OpenAI's schema sends as null."""
    if isinstance(value, dict):
        return {
            key: without_nulls(item)
            for key, item in value.items()
            if item is not None or key in KEPT_NULLS
        }
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def completion_body(response: Any) -> dict[str, Any]:
    """A non-streamed completion as OpenAI sends it (`refusal: null`, no `tool_calls: null`)."""
    body: dict[str, Any] = without_nulls(response.model_dump())
    for choice in body.get("choices") or []:
        message = choice.get("message")
        if isinstance(message, dict):
            message.setdefault("content", None)
            message.setdefault("refusal", None)
        choice.setdefault("logprobs", None)
    return body


def chunk_body(chunk: Any) -> dict[str, Any]:
    """A streamed chunk as OpenAI sends it (`finish_reason: null` until a choice ends)."""
    body: dict[str, Any] = without_nulls(chunk.model_dump())
    for choice in body.get("choices") or []:
        choice.setdefault("finish_reason", None)
        choice.setdefault("delta", {})
    return body


def encode(data: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(data, separators=(",", ":")).encode()


def sse(data: Any) -> bytes:
    """One SSE event carrying JSON."""
    return b"data: " + encode(data) + b"\n\n"


def chunks_of(completion: dict[str, Any], include_usage: bool) -> list[dict[str, Any]]:
    """A finished completion as the chunks of a stream: each choice's message, then its finish.

    Used for `n` > 1: LiteLLM's stream keeps the finish of one choice only, so the gateway
    asks for the whole answer and sends it in OpenAI's chunk format.
    """
    base: dict[str, Any] = {k: completion[k] for k in ("id", "created", "model") if k in completion}
    base["object"] = "chat.completion.chunk"
    chunks: list[dict[str, Any]] = []
    for choice in completion.get("choices") or []:
        message = choice.get("message") or {}
        delta = {k: v for k, v in message.items() if v is not None and k != "refusal"}
        chunks.append({**base, "choices": [{"index": choice["index"], "delta": delta,
                                            "finish_reason": None}]})  # fmt: skip
    for choice in completion.get("choices") or []:
        finish = {"index": choice["index"], "delta": {}, "finish_reason": choice["finish_reason"]}
        chunks.append({**base, "choices": [finish]})
    if include_usage and completion.get("usage"):
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    return chunks
