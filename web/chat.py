"""A conversation, and one streamed reply to it with its timing and token counts.

A reply is never retried once bytes have arrived: a mid-stream failure keeps
the partial text and reports the error. The reply joins the conversation when
it finishes, is stopped, or fails after some text arrived (marked as such).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

from web.dialects import (
    ChatParams,
    Finish,
    ReasoningDelta,
    ReplyEvent,
    StreamDecoder,
    StreamError,
    TextDelta,
    Usage,
    dialect_for,
)
from web.dialects.base import excerpt
from web.errors import ProtocolError, RouteError
from web.providers import Provider
from web.routing import RoutedResponse, Router
from web.transport import Response

CHARS_PER_TOKEN = 4  # rough estimate when the provider reports no usage
FEED_SLICE = 32_768  # a large network chunk is decoded in slices, so the page gets turns
ROLES = ("system", "user", "assistant")


@dataclass
class Message:
    """One turn; an assistant turn may carry reasoning and say it was stopped or failed."""

    role: str
    content: str
    reasoning: str = ""
    stopped: bool = False
    error: str = ""
    model: str = ""
    provider_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)  # road, timing, speed of a reply


@dataclass
class Conversation:
    """The messages of one chat, in order; saved as plain JSON."""

    messages: list[Message] = field(default_factory=list)

    def add(self, role: str, content: str) -> Message:
        """Append a message and return it."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        message = Message(role, content)
        self.messages.append(message)
        return message

    def wire_messages(self) -> list[dict[str, str]]:
        """What is sent to a provider: role and content.

        Empty turns are left out, and so is a message that was never answered
        (its reply failed or was stopped before any text), except the last one.
        """
        sent: list[dict[str, str]] = []
        last = len(self.messages) - 1
        for index, message in enumerate(self.messages):
            if not message.content:
                continue
            if message.role == "user" and index < last:
                following = self.messages[index + 1]
                if following.role != "assistant" or not following.content:
                    continue
            sent.append({"role": message.role, "content": message.content})
        return sent

    def to_json(self) -> dict[str, Any]:
        """Plain data for saving."""
        return {"messages": [asdict(m) for m in self.messages]}

    @classmethod
    def from_json(cls, data: Any) -> Conversation:
        """Rebuild from saved data, skipping entries that are not messages."""
        messages: list[Message] = []
        items = data.get("messages") if isinstance(data, dict) else None
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or item.get("role") not in ROLES:
                continue
            known = {k: v for k, v in item.items() if k in Message.__dataclass_fields__}
            if isinstance(known.get("content"), str):
                messages.append(Message(**known))
        return cls(messages)


@dataclass(frozen=True)
class ReplyStats:
    """How a reply went: road, timing, tokens (estimated when not reported), ending."""

    provider_id: str
    model: str
    route: str | None
    fallback: bool
    ttft_ms: float | None
    duration_ms: float
    prompt_tokens: int | None
    completion_tokens: int
    tokens_per_second: float | None
    estimated: bool
    finish_reason: str | None
    stopped: bool = False
    error: str = ""
    gateway_overhead_ms: float | None = None
    unsaved: str = ""  # why the reply could not be saved, when it could not


ChatUpdate = TextDelta | ReasoningDelta | ReplyStats


class ChatSession:
    """One reply being streamed; `cancel()` stops it and keeps what arrived."""

    def __init__(
        self,
        router: Router,
        provider: Provider,
        model: str,
        conversation: Conversation,
        *,
        params: ChatParams | None = None,
        system: str = "",
    ) -> None:
        self.router = router
        self.system = system.strip()
        self.provider = provider
        self.model = model
        self.conversation = conversation
        self.params = params
        self.reply = Message("assistant", "", model=model, provider_id=provider.id)
        self.stats: ReplyStats | None = None
        self._stop = asyncio.Event()
        self._usage: Usage | None = None
        self._finish: str | None = None
        self._first_at: float | None = None
        self._pieces: list[str] = []  # joined once at the end: appending is linear
        self._thoughts: list[str] = []

    def wire_messages(self) -> list[dict[str, str]]:
        """The conversation as sent, led by the system prompt when there is one."""
        lead = [{"role": "system", "content": self.system}] if self.system else []
        return lead + self.conversation.wire_messages()

    def text(self) -> str:
        """The reply's text so far."""
        return self.reply.content + "".join(self._pieces)

    def cancel(self) -> None:
        """Stop reading; the partial reply is kept and marked as stopped."""
        self._stop.set()

    async def stream(self) -> AsyncIterator[ChatUpdate]:
        """Yield text and reasoning as they arrive, then the `ReplyStats`."""
        clock = self.router.clock
        dialect = dialect_for(self.provider)
        call = dialect.chat_call(self.provider, self.model, self.wire_messages(), self.params)
        start = clock.now()
        if self._stop.is_set():  # cancelled before it began: send nothing
            self.reply.stopped = True
            return
        try:
            routed = await self._connect(call)
        except RouteError as error:
            self.reply.error = str(error)
            self.conversation.messages.append(self.reply)
            raise
        if routed is None:  # stopped before the first byte: the request was aborted
            self.reply.stopped = True
            self.conversation.messages.append(self.reply)
            self.stats = ReplyStats(
                self.provider.id, self.model, None, False, None,
                (clock.now() - start) * 1000, None, 0, None, True, None, stopped=True,
            )  # fmt: skip
            yield self.stats
            return
        finished = False
        decoder = StreamDecoder(dialect)
        events = self._events(routed.response, decoder)
        try:
            async with contextlib.aclosing(events):
                async for event in events:
                    if isinstance(event, StreamError):
                        self.reply.error = event.message
                        break
                    if isinstance(event, TextDelta | ReasoningDelta):
                        if self._first_at is None:
                            self._first_at = clock.now()
                        if isinstance(event, TextDelta):
                            self._pieces.append(event.text)
                        else:
                            self._thoughts.append(event.text)
                        yield event
                    elif isinstance(event, Usage):
                        self._usage = event
                    elif isinstance(event, Finish):
                        self._finish = event.reason
        except RouteError as error:
            self.reply.error = str(error)
        except GeneratorExit:
            self._stop.set()  # the reader walked away: keep what arrived, as stopped
            raise
        except asyncio.CancelledError:
            self._stop.set()
            self._end(start, routed)
            finished = True
            raise
        finally:
            with contextlib.suppress(Exception):
                await routed.response.aclose()
            if not finished and self.stats is None and self._stop.is_set():
                self._end(start, routed)
        if decoder.skipped and not self.reply.error:
            count = len(decoder.skipped)
            self.reply.error = (
                f"{self.provider.name} sent {count} malformed stream event(s), skipped; "
                f"the rest of the reply is kept ({decoder.skipped[0]})"
            )
        stats = self.stats or self._end(start, routed)
        yield stats

    async def _connect(self, call: Any) -> RoutedResponse | None:
        """Send the request, or abort it when Stop comes first (None)."""
        sending = asyncio.ensure_future(self.router.send(self.provider, call))
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({sending, stopper}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            sending.cancel()
            raise
        finally:
            stopper.cancel()
        if sending.done():
            return sending.result()
        sending.cancel()  # the transport aborts the request on cancellation
        with contextlib.suppress(BaseException):
            await sending
        return None

    async def _events(
        self, response: Response, decoder: StreamDecoder
    ) -> AsyncGenerator[ReplyEvent, None]:
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind in ("text/html", "application/xhtml+xml"):
            body = await response.aread()
            raise ProtocolError(
                f"{self.provider.name} answered with a web page ({kind}), not a reply: "
                f"{excerpt(body)!r}",
                hint="a captive portal or login page may be in the way, or the base URL is wrong",
            )
        if kind == "application/json":
            body = await response.aread()  # the server ignored `stream: true`
            for event in dialect_for(self.provider).parse_reply(body).events():
                yield event
            return
        chunks = response.aiter_bytes().__aiter__()
        stopper = asyncio.ensure_future(self._stop.wait())
        reading: asyncio.Future[bytes] | None = None
        try:
            while True:
                reading = asyncio.ensure_future(chunks.__anext__())
                await asyncio.wait({reading, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if not reading.done():
                    reading.cancel()
                    return
                try:
                    chunk = reading.result()
                except StopAsyncIteration:
                    break
                for start in range(0, len(chunk), FEED_SLICE):  # bounded work per event
                    for event in decoder.feed(chunk[start : start + FEED_SLICE]):
                        yield event
            for event in decoder.close():
                yield event
        finally:
            stopper.cancel()
            if reading is not None and not reading.done():
                reading.cancel()  # cancelled while waiting: stop the read too

    def _end(self, start: float, routed: RoutedResponse) -> ReplyStats:
        now = self.router.clock.now()
        stopped = self._stop.is_set()
        reply = self.reply
        reply.stopped = stopped
        reply.content += "".join(self._pieces)
        reply.reasoning += "".join(self._thoughts)
        self._pieces.clear()
        self._thoughts.clear()
        reported = self._usage.completion_tokens if self._usage else None
        chars = len(reply.content) + len(reply.reasoning)
        tokens = reported if reported is not None else -(-chars // CHARS_PER_TOKEN)
        generating = now - self._first_at if self._first_at is not None else 0.0
        self.stats = ReplyStats(
            provider_id=self.provider.id,
            model=self.model,
            route=routed.route,
            fallback=routed.fallback,
            ttft_ms=(self._first_at - start) * 1000 if self._first_at is not None else None,
            duration_ms=(now - start) * 1000,
            prompt_tokens=self._usage.prompt_tokens if self._usage else None,
            completion_tokens=tokens,
            tokens_per_second=tokens / generating if generating > 0 and tokens else None,
            estimated=reported is None,
            finish_reason=self._finish,
            stopped=stopped,
            error=reply.error,
            gateway_overhead_ms=routed.gateway_overhead_ms,
        )
        stats = self.stats
        reply.meta = {
            "route": stats.route,
            "fallback": stats.fallback,
            "ttft_ms": stats.ttft_ms,
            "tokens_per_second": stats.tokens_per_second,
            "estimated": stats.estimated,
            "gateway_overhead_ms": stats.gateway_overhead_ms,
        }
        self.conversation.messages.append(reply)  # a failed reply is kept with its error
        return self.stats


def stream_reply(
    router: Router,
    provider: Provider,
    model: str,
    conversation: Conversation,
    *,
    params: ChatParams | None = None,
) -> AsyncIterator[ChatUpdate]:
    """Stream one reply to `conversation` from `model` (see `ChatSession`)."""
    return ChatSession(router, provider, model, conversation, params=params).stream()
