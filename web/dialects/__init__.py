"""Wire formats, one module each, chosen by `Provider.dialect`."""

from __future__ import annotations

from web.dialects.anthropic import AnthropicDialect
from web.dialects.base import (
    Call,
    ChatParams,
    Finish,
    ModelInfo,
    ModelPage,
    ReasoningDelta,
    Reply,
    ReplyEvent,
    StreamDecoder,
    StreamError,
    TextDelta,
    Usage,
    WireDialect,
)
from web.dialects.openai import OpenAIDialect
from web.providers import Dialect, Provider

__all__ = [
    "AnthropicDialect",
    "Call",
    "ChatParams",
    "Finish",
    "ModelInfo",
    "ModelPage",
    "OpenAIDialect",
    "ReasoningDelta",
    "Reply",
    "ReplyEvent",
    "StreamDecoder",
    "StreamError",
    "TextDelta",
    "Usage",
    "WireDialect",
    "dialect_for",
]

_DIALECTS: dict[Dialect, WireDialect] = {
    Dialect.OPENAI: OpenAIDialect(),
    Dialect.ANTHROPIC: AnthropicDialect(),
}


def dialect_for(provider: Provider | Dialect | str) -> WireDialect:
    """The dialect a provider speaks (or the one named)."""
    key = provider.dialect if isinstance(provider, Provider) else Dialect(provider)
    return _DIALECTS[key]
