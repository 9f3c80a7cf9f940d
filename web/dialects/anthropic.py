"""The Anthropic Messages dialect."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

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

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # the API requires max_tokens; enough for a long chat answer
MODELS_PAGE = 100


class AnthropicDialect:
    """Builds and reads Anthropic `models` and `messages` calls."""

    name = "anthropic"

    def models_call(self, provider: Provider, *, after: str | None = None) -> Call:
        """`GET models`, a page of up to 100, after the model id `after`."""
        path = f"models?limit={MODELS_PAGE}"
        if after:
            path += f"&after_id={quote(after, safe='')}"
        return Call("GET", path, _headers(provider, body=False), timeout=MODELS_TIMEOUT)

    def parse_models(self, body: bytes) -> ModelPage:
        """Read `{"data":[{"id","display_name"}],"has_more","last_id"}`."""
        with expecting("the model list"):
            data = load_json(body, "the model list")
            items = data.get("data") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise ProtocolError(f"The model list has an unexpected shape: {str(data)[:80]!r}")
            models = [
                ModelInfo(item["id"], str(item.get("display_name") or ""))
                for item in items
                if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]
            ]
            more = data.get("has_more") is True and models
            return ModelPage(models, str(data.get("last_id") or models[-1].id) if more else None)

    def chat_call(
        self,
        provider: Provider,
        model: str,
        messages: Iterable[Mapping[str, str]],
        params: ChatParams | None = None,
        *,
        stream: bool = True,
    ) -> Call:
        """`POST messages`, with system messages lifted into `system`."""
        params = params or ChatParams()
        system: list[str] = []
        turns: list[dict[str, str]] = []
        for message in messages:
            if message["role"] == "system":
                system.append(message["content"])
            else:
                turns.append({"role": message["role"], "content": message["content"]})
        payload: dict[str, Any] = {
            "model": model,
            "max_tokens": params.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": turns,
        }
        if system:
            payload["system"] = "\n\n".join(system)
        if stream:
            payload["stream"] = True
        if params.temperature is not None:
            payload["temperature"] = params.temperature
        payload.update(params.extra)
        return Call("POST", "messages", _headers(provider, body=True), json_body(payload), stream)

    def stream_decoder(self) -> AnthropicStreamDecoder:
        """A decoder for one `messages` stream."""
        return AnthropicStreamDecoder()

    def parse_reply(self, body: bytes) -> Reply:
        """Read a non-streamed message."""
        with expecting("the chat request"):
            data = load_json(body, "the chat request")
            if not isinstance(data, dict) or data.get("type") == "error":
                raise ProtocolError(f"The reply is not a message: {error_message(body)}")
            text: list[str] = []
            reasoning: list[str] = []
            for block in data.get("content") or []:
                if block.get("type") == "text":
                    text.append(block.get("text", ""))
                elif block.get("type") == "thinking":
                    reasoning.append(block.get("thinking", ""))
            usage = data.get("usage") or {}
            return Reply(
                "".join(text),
                "".join(reasoning),
                Usage(usage.get("input_tokens"), usage.get("output_tokens")) if usage else None,
                data.get("stop_reason"),
            )

    def error_message(self, body: bytes) -> str:
        """The message in `{"type":"error","error":{"type","message"}}` (or any body)."""
        return error_message(body)


class AnthropicStreamDecoder:
    """Reads typed events; input tokens from `message_start` join the final usage."""

    def __init__(self) -> None:
        self._input_tokens: int | None = None

    def decode(self, event: SseEvent) -> list[ReplyEvent]:
        """Reply events carried by one SSE event."""
        try:
            data = json.loads(event.data)
        except ValueError:
            if event.event == "error":
                return [StreamError(event.data.strip() or "the stream failed")]
            raise ProtocolError(f"A stream event is not JSON: {event.data[:80]!r}") from None
        if not isinstance(data, dict):
            return []
        kind = data.get("type") or event.event
        if kind == "error" or event.event == "error":
            error = data.get("error")
            code = error.get("type", "") if isinstance(error, dict) else ""
            return [StreamError(error_message(event.data), str(code))]
        if kind == "message_start":
            usage = (data.get("message") or {}).get("usage") or {}
            self._input_tokens = usage.get("input_tokens")
        elif kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "text" and block.get("text"):
                return [TextDelta(block["text"])]
            if block.get("type") == "thinking" and block.get("thinking"):
                return [ReasoningDelta(block["thinking"])]
        elif kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                return [TextDelta(delta["text"])]
            if delta.get("type") == "thinking_delta" and delta.get("thinking"):
                return [ReasoningDelta(delta["thinking"])]
        elif kind == "message_delta":
            events: list[ReplyEvent] = []
            usage = data.get("usage") or {}
            if usage:
                prompt = usage.get("input_tokens") or self._input_tokens
                events.append(Usage(prompt, usage.get("output_tokens")))
            reason = (data.get("delta") or {}).get("stop_reason")
            if reason:
                events.append(Finish(str(reason)))
            return events
        return []


def _headers(provider: Provider, *, body: bool) -> dict[str, str]:
    headers = request_headers(provider, {"x-api-key": provider.api_key}, body=body)
    headers.setdefault("anthropic-version", API_VERSION)
    headers.setdefault("anthropic-dangerous-direct-browser-access", "true")
    return headers
