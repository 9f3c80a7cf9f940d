"""What every dialect shares: the relative call, neutral reply events, error bodies."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from web.errors import ProtocolError
from web.providers import Provider
from web.sse import SseEvent, SseParser

MODELS_TIMEOUT = 20.0  # seconds; a model list is small, so a slower answer is a stall


@dataclass(frozen=True)
class Call:
    """A request relative to a provider's base URL: the router picks the road."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    stream: bool = False
    timeout: float | None = None

    def __repr__(self) -> str:  # headers carry keys: never show them
        return f"Call({self.method} {self.path}, stream={self.stream})"

    def json(self) -> Any:
        """The body decoded as JSON (None without a body)."""
        return json.loads(self.body or b"null")


@dataclass(frozen=True)
class ChatParams:
    """Per-call chat options; `extra` fields are sent as they are."""

    max_tokens: int | None = None
    temperature: float | None = None
    include_usage: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelInfo:
    """One model a provider lists."""

    id: str
    name: str = ""


@dataclass(frozen=True)
class ModelPage:
    """Models from one list call; `next_after` asks for the next page."""

    models: list[ModelInfo]
    next_after: str | None = None


@dataclass(frozen=True)
class TextDelta:
    """A piece of the reply's text."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the model's visible reasoning (thinking)."""

    text: str


@dataclass(frozen=True)
class Usage:
    """Token counts as the provider reports them; a count of the wrong type becomes None."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    def __post_init__(self) -> None:
        for name in ("prompt_tokens", "completion_tokens"):
            object.__setattr__(self, name, count(getattr(self, name)))


def count(value: object) -> int | None:
    """A token count from a provider: an int, or digits sent as a string; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


@dataclass(frozen=True)
class Finish:
    """Why the model stopped (`stop`, `length`, `end_turn`, …)."""

    reason: str


@dataclass(frozen=True)
class StreamError:
    """The provider reported an error in the middle of a stream."""

    message: str
    kind: str = ""


ReplyEvent = TextDelta | ReasoningDelta | Usage | Finish | StreamError


@dataclass(frozen=True)
class Reply:
    """A whole (non-streamed) reply."""

    text: str
    reasoning: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None

    def events(self) -> list[ReplyEvent]:
        """The same reply as the events a stream would have carried."""
        events: list[ReplyEvent] = []
        if self.reasoning:
            events.append(ReasoningDelta(self.reasoning))
        if self.text:
            events.append(TextDelta(self.text))
        if self.usage is not None:
            events.append(self.usage)
        if self.finish_reason:
            events.append(Finish(self.finish_reason))
        return events


class EventDecoder(Protocol):
    """Turns one SSE event of a dialect's stream into neutral reply events."""

    def decode(self, event: SseEvent) -> list[ReplyEvent]:
        """Reply events carried by one SSE event."""
        ...


class WireDialect(Protocol):
    """One wire format: builds calls and reads answers."""

    name: str

    def models_call(self, provider: Provider, *, after: str | None = None) -> Call:
        """The call that lists models (the page after model id `after`)."""
        ...

    def parse_models(self, body: bytes) -> ModelPage:
        """Models in a list answer; `ProtocolError` if it is not one."""
        ...

    def chat_call(
        self,
        provider: Provider,
        model: str,
        messages: Iterable[Mapping[str, str]],
        params: ChatParams | None = None,
        *,
        stream: bool = True,
    ) -> Call:
        """The call that asks `model` for a reply to `messages`."""
        ...

    def stream_decoder(self) -> EventDecoder:
        """A fresh decoder for one reply stream."""
        ...

    def parse_reply(self, body: bytes) -> Reply:
        """A whole non-streamed reply; `ProtocolError` if it is not one."""
        ...

    def error_message(self, body: bytes) -> str:
        """The readable message in an error answer."""
        ...


class StreamDecoder:
    """Bytes of a reply stream in, reply events out: SSE parsing plus a dialect."""

    def __init__(self, dialect: WireDialect) -> None:
        self._sse = SseParser()
        self._decoder = dialect.stream_decoder()
        self.skipped: list[str] = []  # events that did not decode; the rest is kept

    def feed(self, chunk: bytes) -> list[ReplyEvent]:
        """Parse a chunk; return the reply events it completed."""
        return self._decode(self._sse.feed(chunk))

    def close(self) -> list[ReplyEvent]:
        """End of stream: return whatever the last bytes completed."""
        return self._decode(self._sse.close())

    def _decode(self, events: list[SseEvent]) -> list[ReplyEvent]:
        decoded: list[ReplyEvent] = []
        for event in events:
            try:
                with expecting("the chat request"):
                    decoded.extend(self._decoder.decode(event))
            except ProtocolError as error:  # one bad event loses nothing around it
                self.skipped.append(error.message)
        return decoded


@contextmanager
def expecting(what: str) -> Iterator[None]:
    """Turn an answer of the wrong shape into a `ProtocolError` naming what was expected."""
    try:
        yield
    except (AttributeError, TypeError, KeyError, IndexError) as error:
        raise ProtocolError(f"The answer to {what} has an unexpected shape ({error})") from error


def load_json(body: bytes | str, what: str) -> Any:
    """Parse JSON or raise `ProtocolError` naming what was expected."""
    try:
        return json.loads(body)
    except ValueError as error:
        raise ProtocolError(f"The answer to {what} is not JSON: {excerpt(body)!r}") from error


def json_body(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON for a request body."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def request_headers(provider: Provider, auth: dict[str, str], *, body: bool) -> dict[str, str]:
    """Only the headers a request needs: auth when a key is set, JSON type with a body."""
    headers: dict[str, str] = {}
    if body:
        headers["Content-Type"] = "application/json"
    if provider.api_key:
        headers.update(auth)
    headers.update(provider.headers)
    return headers


_TAG = re.compile(r"<[^>]*>")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")


def excerpt(body: bytes | str, limit: int = 160) -> str:
    """A short, single-line, tag-free excerpt of an answer, safe to show."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    title = _TITLE.search(text)
    if title:
        text = title.group(1)
    elif "<" in text and ">" in text:
        text = _TAG.sub(" ", re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", text))
    text = _SPACE.sub(" ", html.unescape(text)).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def error_message(body: bytes | str) -> str:
    """The readable message in a provider's error body, whatever its shape."""
    try:
        data = json.loads(body)
    except ValueError:
        return excerpt(body)
    found = _find_message(data)
    return excerpt(found) if found else excerpt(body)


def _find_message(data: Any) -> str:
    if isinstance(data, str):
        return data
    if isinstance(data, list) and data:
        return _find_message(data[0])
    if not isinstance(data, dict):
        return ""
    error = data.get("error")
    if isinstance(error, dict):
        message = _find_message(error)
        code = error.get("type") or error.get("code")
        if message and isinstance(code, str | int) and str(code) not in message:
            return f"{message} ({code})"
        return message or (str(code) if code else "")
    for key in ("message", "detail", "msg"):
        if key in data:
            return _find_message(data[key])
    return _find_message(error) if error else ""
