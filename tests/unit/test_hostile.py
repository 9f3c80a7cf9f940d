"""Hostile upstreams: wrong types, wrong content types, malformed lines, no answer at all."""

from __future__ import annotations

import asyncio
import json

from tests.unit.conftest import Net
from tests.unit.test_chat import SSE, ZAI_CHAT, collect, conversation
from web.chat import ChatSession, stream_reply
from web.dialects import Usage
from web.providers import Provider
from web.routing import Router
from web.transport import MemoryResponse, Request, Response


def chunk(data: object) -> str:
    return f"data: {json.dumps(data)}\n\n"


def text(piece: str) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": {"content": piece}}]}


def test_token_counts_of_the_wrong_type_become_unknown() -> None:
    assert Usage("12", "7") == Usage(12, 7)
    assert Usage("many", -3) == Usage(None, None)
    assert Usage(True, 2.5) == Usage(None, None)  # type: ignore[arg-type]


async def test_a_string_token_count_still_saves_the_reply(
    net: Net, router: Router, zai: Provider
) -> None:
    usage = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": "lots"}}
    body = [chunk(text("kept")), chunk(usage), "data: [DONE]\n\n"]
    net.on(ZAI_CHAT, lambda _: MemoryResponse(headers=SSE, chunks=body))
    chat = conversation()
    received, _, stats = await collect(stream_reply(router, zai, "m", chat))
    assert received == "kept" and stats.estimated and stats.error == ""
    assert chat.messages[-1].content == "kept"


async def test_a_web_page_instead_of_a_reply_is_an_error_that_names_it(
    net: Net, router: Router, zai: Provider
) -> None:
    page = "<html><title>Hotel wifi login</title></html>"
    net.on(ZAI_CHAT, lambda _: MemoryResponse(headers={"content-type": "text/html"}, body=page))
    chat = conversation()
    _, _, stats = await collect(stream_reply(router, zai, "m", chat))
    assert "answered with a web page (text/html)" in stats.error
    assert "captive portal" in stats.error
    assert chat.messages[-1].error == stats.error


async def test_a_malformed_line_loses_nothing_around_it_and_is_reported(
    net: Net, router: Router, zai: Provider
) -> None:
    one_network_chunk = chunk(text("before ")) + "data: {oops\n\n" + chunk(text("after"))
    body = [one_network_chunk, "data: [DONE]\n\n"]
    net.on(ZAI_CHAT, lambda _: MemoryResponse(headers=SSE, chunks=body))
    chat = conversation()
    received, _, stats = await collect(stream_reply(router, zai, "m", chat))
    assert received == "before after"
    assert "1 malformed stream event(s), skipped" in stats.error
    assert chat.messages[-1].content == "before after"


async def test_stop_before_the_first_byte_abandons_the_request(
    net: Net, router: Router, zai: Provider
) -> None:
    cancelled = asyncio.Event()

    async def never(_request: Request) -> Response:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    net.on(ZAI_CHAT, never)
    chat = conversation()
    session = ChatSession(router, zai, "m", chat)
    task = asyncio.ensure_future(collect(session.stream()))
    await asyncio.sleep(0.01)
    session.cancel()
    _, _, stats = await asyncio.wait_for(task, 1)
    assert stats.stopped and cancelled.is_set()
    assert chat.messages[-1].stopped and chat.messages[-1].content == ""
