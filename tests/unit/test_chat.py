from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import pytest

from tests.unit.conftest import GATEWAY_URL, Net, sample, status
from web.chat import ChatSession, ChatUpdate, Conversation, Message, ReplyStats, stream_reply
from web.clock import FakeClock, settle
from web.dialects import ChatParams, ReasoningDelta, TextDelta
from web.errors import AuthError, Unreachable
from web.providers import Provider
from web.routing import Router
from web.transport import MemoryResponse

ZAI_CHAT = "https://api.z.ai/api/paas/v4/chat/completions"
ANTHROPIC_CHAT = "https://api.anthropic.com/v1/messages"
SSE = {"content-type": "text/event-stream"}


class ScriptedResponse:
    """A streamed response that advances the clock or waits on a gate between chunks."""

    def __init__(self, steps: list[bytes | float | asyncio.Event], clock: FakeClock) -> None:
        self.status = 200
        self.headers: Mapping[str, str] = dict(SSE)
        self.steps = steps
        self.clock = clock
        self.closed = False
        self.read = 0
        self.read_cancelled = False

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        for step in self.steps:
            if isinstance(step, float):
                self.clock.advance(step)
            elif isinstance(step, asyncio.Event):
                try:
                    await step.wait()
                except asyncio.CancelledError:
                    self.read_cancelled = True
                    raise
            else:
                self.read += 1
                yield step

    async def aread(self) -> bytes:
        return b"".join([c async for c in self.aiter_bytes()])

    async def aclose(self) -> None:
        self.closed = True


def conversation() -> Conversation:
    chat = Conversation()
    chat.add("system", "Be brief.")
    chat.add("user", "Hello")
    return chat


async def collect(updates: AsyncIterator[ChatUpdate]) -> tuple[str, str, ReplyStats]:
    text, reasoning, stats = "", "", None
    async for update in updates:
        if isinstance(update, TextDelta):
            text += update.text
        elif isinstance(update, ReasoningDelta):
            reasoning += update.text
        else:
            stats = update
    assert stats is not None
    return text, reasoning, stats


async def test_openai_stream_yields_deltas_and_stats_from_usage(
    net: Net, router: Router, zai: Provider
) -> None:
    net.on(ZAI_CHAT, lambda _: MemoryResponse(headers=SSE, body=sample("openai_chat_stream.txt")))
    chat = conversation()
    text, reasoning, stats = await collect(stream_reply(router, zai, "gpt-4o-mini", chat))
    assert (text, reasoning) == ("Bonjour à vous 👋", "")
    assert (stats.prompt_tokens, stats.completion_tokens, stats.estimated) == (19, 5, False)
    assert (stats.finish_reason, stats.route, stats.fallback, stats.stopped) == (
        "stop",
        "direct",
        False,
        False,
    )
    assert stats.error == "" and stats.model == "gpt-4o-mini" and stats.provider_id == "zai"
    assert stats.gateway_overhead_ms is None
    reply = chat.messages[-1]
    assert (reply.meta["route"], reply.meta["ttft_ms"]) == ("direct", 0.0)
    reply.meta = {}
    assert reply == Message(
        "assistant", "Bonjour à vous 👋", model="gpt-4o-mini", provider_id="zai"
    )
    sent = net.requests[0].json()
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
    ]


async def test_reasoning_stream_over_the_gateway(net: Net, router: Router, zai: Provider) -> None:
    net.on(ZAI_CHAT, Unreachable("Failed to fetch"))
    net.on(
        f"{GATEWAY_URL}/relay/chat/completions",
        lambda _: MemoryResponse(
            headers={**SSE, "x-detour-overhead-ms": "1.5"}, body=sample("zai_glm_stream.txt")
        ),
    )
    chat = conversation()
    text, reasoning, stats = await collect(stream_reply(router, zai, "glm-4.6", chat))
    assert (text, reasoning) == ("\n你好\uff01", "\n用户在打招呼。")
    assert (stats.route, stats.fallback, stats.completion_tokens) == ("gateway", True, 14)
    assert stats.gateway_overhead_ms == 1.5
    assert chat.messages[-1].reasoning == "\n用户在打招呼。"


async def test_anthropic_stream(net: Net, router: Router, anthropic: Provider) -> None:
    net.on(
        ANTHROPIC_CHAT, lambda _: MemoryResponse(headers=SSE, body=sample("anthropic_stream.txt"))
    )
    chat = conversation()
    text, reasoning, stats = await collect(stream_reply(router, anthropic, "claude", chat))
    assert text == "Grüß dich! 😊" and reasoning.endswith("Answer briefly.")
    assert (stats.prompt_tokens, stats.completion_tokens, stats.finish_reason) == (
        37,
        42,
        "end_turn",
    )
    assert net.requests[0].json()["system"] == "Be brief."


async def test_reply_joins_the_conversation_only_when_finished(
    net: Net, router: Router, zai: Provider
) -> None:
    net.on(ZAI_CHAT, lambda _: MemoryResponse(headers=SSE, body=sample("openai_chat_stream.txt")))
    chat = conversation()
    lengths = [len(chat.messages) async for _ in stream_reply(router, zai, "m", chat)]
    assert lengths[:-1] == [2] * (len(lengths) - 1)
    assert len(chat.messages) == 3


async def test_timing_and_tokens_per_second(
    net: Net, router: Router, zai: Provider, clock: FakeClock
) -> None:
    chunk = b'data: {"choices":[{"delta":{"content":"abcdefgh"}}]}\n\n'
    usage = b'data: {"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":10}}\n\n'
    net.on(ZAI_CHAT, ScriptedResponse([0.5, chunk, 1.0, chunk, 1.0, usage], clock))
    _, _, stats = await collect(stream_reply(router, zai, "m", conversation()))
    assert stats.ttft_ms == pytest.approx(500, abs=0.01)
    assert stats.duration_ms == pytest.approx(2500, abs=0.01)
    assert stats.tokens_per_second == pytest.approx(5, abs=0.001)
    assert not stats.estimated


async def test_tokens_are_estimated_without_usage(
    net: Net, router: Router, zai: Provider, clock: FakeClock
) -> None:
    chunk = b'data: {"choices":[{"delta":{"content":"abcdefgh"}}]}\n\n'
    net.on(ZAI_CHAT, ScriptedResponse([0.2, chunk, 2.0, chunk, b"data: [DONE]\n\n"], clock))
    params = ChatParams(include_usage=False)
    _, _, stats = await collect(stream_reply(router, zai, "m", conversation(), params=params))
    assert "stream_options" not in net.requests[0].json()
    assert (stats.completion_tokens, stats.estimated, stats.prompt_tokens) == (4, True, None)
    assert stats.tokens_per_second == pytest.approx(2, abs=0.001)
    assert stats.finish_reason is None


async def test_empty_reply_has_no_rate(net: Net, router: Router, zai: Provider) -> None:
    net.on(ZAI_CHAT, lambda _: MemoryResponse(headers=SSE, body=b"data: [DONE]\n\n"))
    chat = conversation()
    _, _, stats = await collect(stream_reply(router, zai, "m", chat))
    assert (stats.ttft_ms, stats.tokens_per_second, stats.completion_tokens) == (None, None, 0)
    assert chat.messages[-1].content == ""


async def test_mid_stream_error_event_keeps_partial_text(
    net: Net, router: Router, zai: Provider
) -> None:
    net.on(ZAI_CHAT, lambda _: MemoryResponse(headers=SSE, body=sample("openai_error_stream.txt")))
    chat = conversation()
    text, _, stats = await collect(stream_reply(router, zai, "m", chat))
    assert text == "Partial"
    assert "upstream rate limit" in stats.error and not stats.stopped
    assert chat.messages[-1].content == "Partial" and "rate limit" in chat.messages[-1].error


async def test_mid_stream_failure_is_reported_and_never_replayed(
    net: Net, router: Router, zai: Provider
) -> None:
    first = b'data: {"choices":[{"delta":{"content":"Half"}}]}\n\n'
    net.on(
        ZAI_CHAT,
        lambda _: MemoryResponse(
            headers=SSE, chunks=[first], fail_after=Unreachable("the connection dropped")
        ),
    )
    net.on(f"{GATEWAY_URL}/relay/chat/completions", status(200, "must not be used"))
    chat = conversation()
    text, _, stats = await collect(stream_reply(router, zai, "m", chat))
    assert text == "Half"
    assert "the connection dropped" in stats.error
    assert net.urls() == [ZAI_CHAT]  # one request: no second road after the first byte
    assert chat.messages[-1].content == "Half"


async def test_an_error_before_any_text_is_kept_with_the_reply(
    net: Net, router: Router, zai: Provider
) -> None:
    net.on(
        ZAI_CHAT,
        lambda _: MemoryResponse(headers=SSE, chunks=[], fail_after=Unreachable("dropped")),
    )
    chat = conversation()
    _, _, stats = await collect(stream_reply(router, zai, "m", chat))
    assert "dropped" in stats.error
    assert chat.messages[-1].role == "assistant" and "dropped" in chat.messages[-1].error


def test_an_unanswered_message_is_not_sent_again_as_history() -> None:
    chat = Conversation()
    chat.add("user", "lost")
    chat.messages.append(Message("assistant", "", error="refused"))
    chat.add("user", "again")
    assert chat.wire_messages() == [{"role": "user", "content": "again"}]


async def test_an_error_before_streaming_is_kept_with_the_reply(
    net: Net, router: Router, zai: Provider
) -> None:
    net.on(ZAI_CHAT, status(401, {"error": {"message": "bad key"}}))
    chat = conversation()
    with pytest.raises(AuthError):
        await collect(stream_reply(router, zai, "m", chat))
    assert "bad key" in chat.messages[-1].error


async def test_cancel_stops_reading_at_once_and_keeps_the_partial_reply(
    net: Net, router: Router, zai: Provider, clock: FakeClock
) -> None:
    gate = asyncio.Event()
    first = b'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n'
    response = ScriptedResponse([first, gate, first], clock)
    net.on(ZAI_CHAT, response)
    chat = conversation()
    session = ChatSession(router, zai, "m", chat)
    updates = []
    async for update in session.stream():
        updates.append(update)
        if isinstance(update, TextDelta):
            session.cancel()  # the next chunk never comes: cancel must not wait for it
    stats = updates[-1]
    assert isinstance(stats, ReplyStats) and stats.stopped
    assert response.closed and response.read == 1
    await settle()
    assert response.read_cancelled
    assert chat.messages[-1].content == "Hel" and chat.messages[-1].stopped
    assert session.reply.stopped


async def test_task_cancellation_stops_and_keeps_the_partial_reply(
    net: Net, router: Router, zai: Provider, clock: FakeClock
) -> None:
    gate = asyncio.Event()
    first = b'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n'
    response = ScriptedResponse([first, gate], clock)
    net.on(ZAI_CHAT, response)
    chat = conversation()
    task = asyncio.ensure_future(collect(stream_reply(router, zai, "m", chat)))
    await settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await settle()
    assert response.closed and response.read_cancelled  # no read left running behind

    assert chat.messages[-1].content == "Hel" and chat.messages[-1].stopped


async def test_reader_walking_away_counts_as_stopped(
    net: Net, router: Router, zai: Provider, clock: FakeClock
) -> None:
    chunk = b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n'
    response = ScriptedResponse([chunk, chunk, chunk], clock)
    net.on(ZAI_CHAT, response)
    chat = conversation()
    updates = stream_reply(router, zai, "m", chat)
    assert await anext(updates) == TextDelta("Hi")
    await updates.aclose()  # type: ignore[attr-defined]
    assert response.closed
    assert chat.messages[-1].content == "Hi" and chat.messages[-1].stopped


async def test_a_json_answer_to_a_stream_request_is_read_whole(
    net: Net, router: Router, zai: Provider
) -> None:
    body = {
        "choices": [{"message": {"content": "Whole"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1},
    }
    net.on(ZAI_CHAT, lambda _: MemoryResponse(json_body=body))
    text, _, stats = await collect(stream_reply(router, zai, "m", conversation()))
    assert text == "Whole" and stats.completion_tokens == 1 and stats.finish_reason == "stop"


def test_conversation_round_trips_through_json() -> None:
    chat = conversation()
    chat.messages.append(Message("assistant", "Hi", reasoning="r", stopped=True, model="m"))
    chat.add("user", "")
    data = chat.to_json()
    assert Conversation.from_json(data) == chat
    assert chat.wire_messages()[-1] == {"role": "assistant", "content": "Hi"}
    assert len(chat.wire_messages()) == 3


def test_conversation_from_bad_json_keeps_what_it_can() -> None:
    data = {
        "messages": [
            {"role": "user", "content": "ok", "future_field": 1},
            {"role": "wizard", "content": "x"},
            {"role": "user", "content": 5},
            "junk",
        ]
    }
    assert Conversation.from_json(data).messages == [Message("user", "ok")]
    assert Conversation.from_json(None).messages == []
    assert Conversation.from_json({"messages": "no"}).messages == []


def test_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        Conversation().add("wizard", "x")


async def test_cancel_before_start_sends_nothing(net: Net, router: Router, zai: Provider) -> None:
    chat = conversation()
    session = ChatSession(router, zai, "m", chat)
    session.cancel()
    assert [u async for u in session.stream()] == []
    assert net.requests == [] and len(chat.messages) == 2 and session.reply.stopped
