"""The OpenAI-compatible dialect: OpenAI, Z.ai, OpenRouter, Groq, Ollama, LiteLLM."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from web.dialects.base import (
    MODELS_TIMEOUT,
    Call,
    ChatParams,
    Finish,
    ModelInfo,
    ModelPage,
    ReasoningDelta,
    Reply,
    ReplyEvent,
    StreamError,
    TextDelta,
    Usage,
    error_message,
    expecting,
    json_body,
    load_json,
    request_headers,
)
from web.errors import ProtocolError
from web.providers import Provider
from web.sse import SseEvent

_REASONING_FIELDS = ("reasoning_content", "reasoning")  # Z.ai / DeepSeek, OpenRouter


class OpenAIDialect:
    """Builds and reads OpenAI-style `models` and `chat/completions` calls."""

    name = "openai"

    def models_call(self, provider: Provider, *, after: str | None = None) -> Call:
        """`GET models` (the OpenAI API has no paging; `after` is ignored)."""
        return Call("GET", "models", _headers(provider, body=False), timeout=MODELS_TIMEOUT)

    def parse_models(self, body: bytes) -> ModelPage:
        """Read `{"data":[{"id"}]}`, a bare list, or Ollama's `{"models":[{"name"}]}`."""
        with expecting("the model list"):
            data = load_json(body, "the model list")
            items = data.get("data", data.get("models")) if isinstance(data, dict) else data
            if not isinstance(items, list):
                raise ProtocolError(f"The model list has an unexpected shape: {str(data)[:80]!r}")
            models: list[ModelInfo] = []
            for item in items:
                if isinstance(item, str):
                    models.append(ModelInfo(item))
                elif isinstance(item, dict):
                    model_id = item.get("id") or item.get("model") or item.get("name")
                    if isinstance(model_id, str) and model_id:
                        name = item.get("name") if item.get("name") != model_id else ""
                        models.append(ModelInfo(model_id, name if isinstance(name, str) else ""))
            return ModelPage(models)

    def chat_call(
        self,
        provider: Provider,
        model: str,
        messages: Iterable[Mapping[str, str]],
        params: ChatParams | None = None,
        *,
        stream: bool = True,
    ) -> Call:
        """`POST chat/completions`; `stream_options` only when usage is asked for."""
        params = params or ChatParams()
        payload: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        }
        if stream:
            payload["stream"] = True
            if params.include_usage:
                payload["stream_options"] = {"include_usage": True}
        if params.max_tokens is not None:
            payload["max_tokens"] = params.max_tokens
        if params.temperature is not None:
            payload["temperature"] = params.temperature
        payload.update(params.extra)
        body = json_body(payload)
        return Call("POST", "chat/completions", _headers(provider, body=True), body, stream)

    def stream_decoder(self) -> OpenAIStreamDecoder:
        """A decoder for one `chat/completions` stream."""
        return OpenAIStreamDecoder()

    def parse_reply(self, body: bytes) -> Reply:
        """Read a non-streamed `chat.completion`."""
        with expecting("the chat request"):
            data = load_json(body, "the chat request")
            if not isinstance(data, dict) or "error" in data:
                raise ProtocolError(f"The reply is not a chat completion: {error_message(body)}")
            choices = data.get("choices") or [{}]
            choice = choices[0] if isinstance(choices[0], dict) else {}
            message = choice.get("message") or {}
            reasoning = next((message[f] for f in _REASONING_FIELDS if message.get(f)), "")
            return Reply(
                text=message.get("content") or "",
                reasoning=reasoning,
                usage=_usage(data.get("usage")),
                finish_reason=choice.get("finish_reason"),
            )

    def error_message(self, body: bytes) -> str:
        """The message in an OpenAI-shaped (or any) error body."""
        return error_message(body)


class OpenAIStreamDecoder:
    """Reads `data: {chunk}` events up to `data: [DONE]`."""

    def decode(self, event: SseEvent) -> list[ReplyEvent]:
        """Reply events carried by one SSE event."""
        if event.data.strip() == "[DONE]":
            return []
        try:
            chunk = json.loads(event.data)
        except ValueError:
            if event.event == "error":
                return [StreamError(event.data.strip() or "the stream failed")]
            raise ProtocolError(f"A stream chunk is not JSON: {event.data[:80]!r}") from None
        if not isinstance(chunk, dict):
            return []
        if event.event == "error" or "error" in chunk:
            error = chunk.get("error")
            kind = error.get("type") or error.get("code") if isinstance(error, dict) else ""
            return [StreamError(error_message(event.data), str(kind or ""))]
        events: list[ReplyEvent] = []
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            for name in _REASONING_FIELDS:
                if isinstance(delta.get(name), str) and delta[name]:
                    events.append(ReasoningDelta(delta[name]))
                    break
            if isinstance(delta.get("content"), str) and delta["content"]:
                events.append(TextDelta(delta["content"]))
            if choice.get("finish_reason"):
                events.append(Finish(str(choice["finish_reason"])))
        groq = chunk.get("x_groq")  # Groq reports usage here on its last chunk
        usage = _usage(
            chunk.get("usage") or (groq.get("usage") if isinstance(groq, dict) else None)
        )
        if usage is not None:
            events.append(usage)
        return events


def _headers(provider: Provider, *, body: bool) -> dict[str, str]:
    return request_headers(provider, {"Authorization": f"Bearer {provider.api_key}"}, body=body)


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    return Usage(data.get("prompt_tokens"), data.get("completion_tokens"))
