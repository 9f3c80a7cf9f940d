from __future__ import annotations

import json

import pytest

from tests.unit.conftest import make_provider, sample
from web.dialects import (
    AnthropicDialect,
    ChatParams,
    Finish,
    ModelInfo,
    OpenAIDialect,
    ReasoningDelta,
    ReplyEvent,
    StreamDecoder,
    StreamError,
    TextDelta,
    Usage,
    WireDialect,
    dialect_for,
)
from web.dialects.base import MODELS_TIMEOUT, Call, Reply, error_message, excerpt
from web.errors import ProtocolError
from web.providers import Dialect, Provider
from web.sse import SseEvent

OPENAI = OpenAIDialect()
ANTHROPIC = AnthropicDialect()
MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hello"},
]


def decode(dialect: WireDialect, data: bytes, cuts: list[int]) -> list[ReplyEvent]:
    decoder = StreamDecoder(dialect)
    events: list[ReplyEvent] = []
    last = 0
    for cut in cuts:
        events += decoder.feed(data[last:cut])
        last = cut
    events += decoder.feed(data[last:])
    return events + decoder.close()


def merged(events: list[ReplyEvent]) -> tuple[str, str, list[ReplyEvent]]:
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    rest: list[ReplyEvent] = [e for e in events if not isinstance(e, TextDelta | ReasoningDelta)]
    return text, reasoning, rest


STREAMS = [
    (OPENAI, "openai_chat_stream.txt", "Bonjour à vous 👋", "", [Finish("stop"), Usage(19, 5)]),
    (
        OPENAI,
        "zai_glm_stream.txt",
        "\n你好\uff01",
        "\n用户在打招呼。",
        [Finish("stop"), Usage(8, 14)],
    ),
    (
        ANTHROPIC,
        "anthropic_stream.txt",
        "Grüß dich! 😊",
        "The user says hello in German. Answer briefly.",
        [Usage(37, 42), Finish("end_turn")],
    ),
]


@pytest.mark.parametrize(("dialect", "name", "text", "reasoning", "rest"), STREAMS)
def test_recorded_stream_parses_the_same_split_at_every_byte(
    dialect: WireDialect, name: str, text: str, reasoning: str, rest: list[ReplyEvent]
) -> None:
    data = sample(name)
    for cut in range(len(data) + 1):
        assert merged(decode(dialect, data, [cut])) == (text, reasoning, rest), cut
    assert merged(decode(dialect, data, list(range(1, len(data))))) == (text, reasoning, rest)


@pytest.mark.parametrize("eol", [b"\r\n", b"\r"])
def test_recorded_stream_with_other_line_ends(eol: bytes) -> None:
    data = sample("anthropic_stream.txt").replace(b"\n", eol)
    text, reasoning, _ = merged(decode(ANTHROPIC, data, []))
    assert text == "Grüß dich! 😊"
    assert reasoning.startswith("The user says hello")


@pytest.mark.parametrize(
    ("dialect", "name", "kind", "message"),
    [
        (OPENAI, "openai_error_stream.txt", "rate_limit_error", "upstream rate limit"),
        (ANTHROPIC, "anthropic_error_stream.txt", "overloaded_error", "Overloaded"),
    ],
)
def test_error_in_mid_stream_becomes_a_stream_error_after_the_partial_text(
    dialect: WireDialect, name: str, kind: str, message: str
) -> None:
    data = sample(name)
    for cut in range(len(data) + 1):
        events = decode(dialect, data, [cut])
        assert events[0] == TextDelta("Partial")
        error = next(e for e in events if isinstance(e, StreamError))
        assert error.kind == kind and message in error.message


def test_openai_error_event_name_and_non_json_error() -> None:
    decoder = OPENAI.stream_decoder()
    events = decoder.decode(SseEvent('{"error": {"message": "boom"}}', "error"))
    assert events == [StreamError("boom")]
    assert decoder.decode(SseEvent("upstream died", "error")) == [StreamError("upstream died")]
    assert ANTHROPIC.stream_decoder().decode(SseEvent("gone", "error")) == [StreamError("gone")]


def test_openai_reasoning_field_of_openrouter_and_odd_chunks() -> None:
    decoder = OPENAI.stream_decoder()
    chunk = {"choices": [{"delta": {"reasoning": "hmm", "content": "ok"}}]}
    assert decoder.decode(SseEvent(json.dumps(chunk))) == [ReasoningDelta("hmm"), TextDelta("ok")]
    assert decoder.decode(SseEvent("[1, 2]")) == []
    with pytest.raises(ProtocolError, match="not JSON"):
        decoder.decode(SseEvent("<html>"))
    with pytest.raises(ProtocolError, match="not JSON"):
        ANTHROPIC.stream_decoder().decode(SseEvent("<html>"))
    assert ANTHROPIC.stream_decoder().decode(SseEvent("[]")) == []


def test_anthropic_block_start_with_text_and_usage_without_input() -> None:
    decoder = ANTHROPIC.stream_decoder()
    start = {"type": "content_block_start", "content_block": {"type": "text", "text": "Hi"}}
    think = {"type": "content_block_start", "content_block": {"type": "thinking", "thinking": "h"}}
    delta = {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 3}}
    assert decoder.decode(SseEvent(json.dumps(start))) == [TextDelta("Hi")]
    assert decoder.decode(SseEvent(json.dumps(think))) == [ReasoningDelta("h")]
    assert decoder.decode(SseEvent(json.dumps(delta))) == [Usage(None, 3)]


def test_openai_chat_call_is_relative_with_usage_option() -> None:
    provider = make_provider(headers={"HTTP-Referer": "https://detour.test"})
    call = OPENAI.chat_call(
        provider, "glm-4.6", MESSAGES, ChatParams(max_tokens=50, temperature=0.2)
    )
    assert (call.method, call.path, call.stream) == ("POST", "chat/completions", True)
    assert call.headers == {
        "Content-Type": "application/json",
        "Authorization": "Bearer sk-test-key-1234",
        "HTTP-Referer": "https://detour.test",
    }
    assert call.json() == {
        "model": "glm-4.6",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 50,
        "temperature": 0.2,
    }
    assert "sk-test" not in repr(call)


def test_openai_chat_call_without_usage_option_key_or_stream() -> None:
    provider = make_provider(api_key="")
    call = OPENAI.chat_call(
        provider, "llama3", MESSAGES, ChatParams(include_usage=False, extra={"top_k": 4})
    )
    assert "stream_options" not in call.json()
    assert call.json()["top_k"] == 4
    assert "Authorization" not in call.headers
    plain = OPENAI.chat_call(provider, "llama3", MESSAGES, stream=False)
    assert "stream" not in plain.json() and not plain.stream


def test_models_call_has_no_body_headers() -> None:
    call = OPENAI.models_call(make_provider())
    assert call == Call(
        "GET", "models", {"Authorization": "Bearer sk-test-key-1234"}, timeout=MODELS_TIMEOUT
    )
    assert call.json() is None


def test_anthropic_calls_lift_system_and_send_its_headers() -> None:
    provider = make_provider(dialect=Dialect.ANTHROPIC)
    call = ANTHROPIC.chat_call(provider, "claude-sonnet-4-5", MESSAGES, ChatParams(temperature=1))
    assert call.path == "messages"
    assert call.headers == {
        "Content-Type": "application/json",
        "x-api-key": "sk-test-key-1234",
        "anthropic-version": "2023-06-01",
        "anthropic-dangerous-direct-browser-access": "true",
    }
    assert call.json() == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "Hello"}],
        "system": "Be brief.",
        "stream": True,
        "temperature": 1,
    }
    plain = ANTHROPIC.chat_call(provider, "m", MESSAGES[1:], ChatParams(max_tokens=9), stream=False)
    assert plain.json() == {"model": "m", "max_tokens": 9, "messages": MESSAGES[1:]}
    models = ANTHROPIC.models_call(make_provider(dialect=Dialect.ANTHROPIC, api_key=""))
    assert models.path == "models?limit=100"
    assert "x-api-key" not in models.headers and "Content-Type" not in models.headers
    assert ANTHROPIC.models_call(provider, after="claude a/b").path.endswith(
        "after_id=claude%20a%2Fb"
    )


@pytest.mark.parametrize(
    ("body", "ids"),
    [
        ({"object": "list", "data": [{"id": "gpt-4o"}, {"id": "o3"}]}, ["gpt-4o", "o3"]),
        ([{"id": "a"}, "b", 3, {"nothing": 1}], ["a", "b"]),
        ({"models": [{"name": "llama3:8b", "model": "llama3:8b"}]}, ["llama3:8b"]),
        ({"data": []}, []),
    ],
)
def test_openai_model_lists_of_every_shape(body: object, ids: list[str]) -> None:
    page = OPENAI.parse_models(json.dumps(body).encode())
    assert [m.id for m in page.models] == ids and page.next_after is None


def test_openai_model_names_kept_when_they_differ() -> None:
    page = OPENAI.parse_models(b'{"models":[{"model":"q:1","name":"Qwen"}]}')
    assert page.models == [ModelInfo("q:1", "Qwen")]


@pytest.mark.parametrize("body", [b"<html>404</html>", b'{"data": 3}', b'"x"'])
def test_model_lists_that_are_not_lists_are_protocol_errors(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        OPENAI.parse_models(body)
    with pytest.raises(ProtocolError):
        ANTHROPIC.parse_models(body)


def test_anthropic_model_pages() -> None:
    body = {
        "data": [{"type": "model", "id": "claude-opus-4-1", "display_name": "Claude Opus 4.1"}],
        "has_more": True,
        "first_id": "claude-opus-4-1",
        "last_id": "claude-opus-4-1",
    }
    page = ANTHROPIC.parse_models(json.dumps(body).encode())
    assert page.models == [ModelInfo("claude-opus-4-1", "Claude Opus 4.1")]
    assert page.next_after == "claude-opus-4-1"
    body["has_more"] = False
    assert ANTHROPIC.parse_models(json.dumps(body).encode()).next_after is None


def test_non_streamed_replies() -> None:
    openai_body = {
        "choices": [
            {
                "message": {"role": "assistant", "content": "Hi", "reasoning_content": "think"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    reply = OPENAI.parse_reply(json.dumps(openai_body).encode())
    assert reply == Reply("Hi", "think", Usage(3, 1), "stop")
    assert reply.events() == [ReasoningDelta("think"), TextDelta("Hi"), Usage(3, 1), Finish("stop")]
    anthropic_body = {
        "content": [{"type": "thinking", "thinking": "t"}, {"type": "text", "text": "Hallo"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 5, "output_tokens": 2},
    }
    assert ANTHROPIC.parse_reply(json.dumps(anthropic_body).encode()) == Reply(
        "Hallo", "t", Usage(5, 2), "end_turn"
    )
    assert ANTHROPIC.parse_reply(b'{"content": []}') == Reply("")
    assert Reply("").events() == []


def test_non_streamed_error_bodies_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError, match="bad key"):
        OPENAI.parse_reply(b'{"error": {"message": "bad key"}}')
    with pytest.raises(ProtocolError, match="nope"):
        ANTHROPIC.parse_reply(b'{"type": "error", "error": {"type": "x", "message": "nope"}}')


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"error":{"message":"Incorrect API key provided","type":"invalid_request_error",'
            b'"code":"invalid_api_key"}}',
            "Incorrect API key provided (invalid_request_error)",
        ),
        (
            b'{"type":"error","error":{"type":"authentication_error",'
            b'"message":"invalid x-api-key"}}',
            "invalid x-api-key (authentication_error)",
        ),
        (
            b'{"error":{"code":"1113","message":"\xe4\xbd\x99\xe9\xa2\x9d\xe4\xb8\x8d\xe8\xb6\xb3"}}',
            "余额不足 (1113)",
        ),
        (b'{"error":{"code":401}}', "401"),
        (b'{"error":"model not found"}', "model not found"),
        (b'{"detail":[{"msg":"field required"}]}', "field required"),
        (b'{"message":"Too many requests"}', "Too many requests"),
        (b'{"error": {"message": "rate limit (429)", "code": 429}}', "rate limit (429)"),
        (b"upstream connect error", "upstream connect error"),
        (
            b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
            "502 Bad Gateway",
        ),
        (
            b"<html><body><script>x()</script><h1>Oops &amp; sorry</h1></body></html>",
            "Oops & sorry",
        ),
        (b'{"unexpected": true}', '{"unexpected": true}'),
        (b"[]", "[]"),
        (b"42", "42"),
    ],
)
def test_error_bodies_become_readable_messages(body: bytes, expected: str) -> None:
    assert error_message(body) == expected
    assert OPENAI.error_message(body) == ANTHROPIC.error_message(body) == expected


def test_excerpt_is_short_and_single_line() -> None:
    text = excerpt("word " * 100 + "\n\nend")
    assert len(text) == 160 and text.endswith("…") and "\n" not in text


@pytest.mark.parametrize(
    ("value", "kind"), [(Dialect.OPENAI, OpenAIDialect), ("anthropic", AnthropicDialect)]
)
def test_dialect_for(value: Dialect | str, kind: type) -> None:
    assert isinstance(dialect_for(value), kind)
    provider: Provider = make_provider(dialect=Dialect(value))
    assert isinstance(dialect_for(provider), kind)


@pytest.mark.parametrize("dialect", [OPENAI, ANTHROPIC])
def test_answers_of_the_wrong_shape_are_protocol_errors(dialect: WireDialect) -> None:
    with pytest.raises(ProtocolError, match="unexpected shape"):
        dialect.parse_reply(b'{"choices": [{"message": 3}], "content": [3]}')


@pytest.mark.parametrize("dialect", [OPENAI, ANTHROPIC])
def test_stream_events_of_the_wrong_shape_are_skipped_and_counted(dialect: WireDialect) -> None:
    decoder = StreamDecoder(dialect)
    assert decoder.feed(b'data: {"choices": [3], "type": "message_start", "message": 3}\n\n') == []
    decoder.feed(b'data: {"choices": [3], "type": "message_start", "message": 3}')
    assert decoder.close() == []
    assert len(decoder.skipped) == 2 and "unexpected shape" in decoder.skipped[0]


def test_groq_usage_on_its_last_chunk() -> None:
    chunk = {
        "choices": [{"delta": {}, "finish_reason": "stop"}],
        "x_groq": {"id": "req_1", "usage": {"prompt_tokens": 9, "completion_tokens": 3}},
    }
    events = OPENAI.stream_decoder().decode(SseEvent(json.dumps(chunk)))
    assert events == [Finish("stop"), Usage(9, 3)]
    assert OPENAI.stream_decoder().decode(SseEvent('{"choices": [], "x_groq": 1}')) == []


@pytest.mark.parametrize(("dialect", "name", "text", "reasoning", "rest"), STREAMS)
def test_recorded_stream_parses_the_same_in_random_pieces(
    dialect: WireDialect, name: str, text: str, reasoning: str, rest: list[ReplyEvent]
) -> None:
    import random

    data = sample(name)
    rng = random.Random(2026)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(data)), k=rng.randint(2, 12)))
        assert merged(decode(dialect, data, cuts)) == (text, reasoning, rest), cuts
