from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.unit.conftest import sample
from web.sse import SseEvent, SseParser, aiter_sse


def parse_all(data: bytes, splits: list[int] | None = None) -> list[SseEvent]:
    parser = SseParser()
    events: list[SseEvent] = []
    last = 0
    for cut in splits or []:
        events += parser.feed(data[last:cut])
        last = cut
    events += parser.feed(data[last:])
    return events + parser.close()


def test_joins_data_lines_and_keeps_event_name_and_id() -> None:
    events = parse_all(b"event: delta\nid: 7\ndata: one\ndata:two\n\n")
    assert events == [SseEvent("one\ntwo", "delta", "7")]


def test_comments_are_ignored_and_blank_events_not_dispatched() -> None:
    events = parse_all(b": keep-alive\n\nevent: ping\n\ndata: x\n\n")
    assert events == [SseEvent("x")]


def test_event_name_resets_but_id_persists() -> None:
    events = parse_all(b"event: a\nid: 1\ndata: x\n\ndata: y\n\n")
    assert events == [SseEvent("x", "a", "1"), SseEvent("y", "message", "1")]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(eol: bytes) -> None:
    data = eol.join([b"data: first", b"", b"event: e", b"data: second", b"", b""])
    assert parse_all(data) == [SseEvent("first"), SseEvent("second", "e")]


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    data = b"data: a\r\n\r\ndata: b\r\n\r\n"
    for cut in range(len(data) + 1):
        assert parse_all(data, [cut]) == [SseEvent("a"), SseEvent("b")], cut


def test_multibyte_characters_split_anywhere() -> None:
    data = "data: héllo 👋 你好\n\n".encode()
    for cut in range(len(data) + 1):
        assert parse_all(data, [cut]) == [SseEvent("héllo 👋 你好")], cut


def test_every_byte_alone() -> None:
    data = sample("anthropic_stream.txt")
    whole = parse_all(data)
    one_by_one = parse_all(data, list(range(1, len(data))))
    assert one_by_one == whole
    assert len(whole) == 13


def test_field_without_colon_value_space_and_retry() -> None:
    events = parse_all(b"\xef\xbb\xbfdata\nretry: 3000\nretry: soon\ndata:  two spaces\n\n")
    assert events == [SseEvent("\n two spaces", retry=3000)]


def test_id_with_nul_is_ignored_and_unknown_fields_skipped() -> None:
    assert parse_all(b"id: a\x00b\nfoo: bar\ndata: x\n\n") == [SseEvent("x")]


def test_final_event_without_blank_line_is_still_dispatched() -> None:
    parser = SseParser()
    assert parser.feed(b"data: last") == []
    assert parser.close() == [SseEvent("last")]


def test_trailing_cr_at_end_of_stream_ends_the_line() -> None:
    parser = SseParser()
    assert parser.feed(b"data: x\r") == []
    assert parser.close() == [SseEvent("x")]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert parse_all(b"data: \xff\n\n") == [SseEvent("\ufffd")]


async def test_aiter_sse_yields_each_event_as_it_completes() -> None:
    seen: list[str] = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: a\n"
        assert seen == []
        yield b"\ndata: b"
        assert seen == ["a"]
        yield b"\n\n"

    async for event in aiter_sse(chunks()):
        seen.append(event.data)
    assert seen == ["a", "b"]


async def test_aiter_sse_flushes_an_unterminated_last_event() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: a\n\ndata: tail"

    assert [e.data async for e in aiter_sse(chunks())] == ["a", "tail"]
