"""Sending as the page does it: checks first, regenerate, edit, compare, saving that can fail."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.unit.conftest import Net, make_provider
from tests.unit.test_app import ZAI_CHAT, collect, make_app, saved, seeded, streamed
from web.chat import ReplyStats
from web.clock import FakeClock
from web.conversations import INDEX_KEY, item_key
from web.dialects import TextDelta
from web.errors import DetourError, StorageFull
from web.providers import Routing
from web.store import MemoryStorage
from web.transport import Request, Response

GROQ_CHAT = "https://api.groq.com/openai/v1/chat/completions"


def direct_zai() -> MemoryStorage:
    return seeded(make_provider(routing=Routing.DIRECT))


async def test_a_refused_message_changes_nothing_and_sends_nothing(
    net: Net, clock: FakeClock
) -> None:
    app = make_app(net, clock, direct_zai())
    for provider_id, model, text in (("nope", "m", "hi"), ("zai", " ", "hi"), ("zai", "m", " ")):
        with pytest.raises(DetourError):
            app.chats.send(provider_id, model, text)  # raised by the call, before any await
    assert app.conversation.messages == [] and net.requests == []


async def test_a_disabled_provider_is_refused_with_the_fix(net: Net, clock: FakeClock) -> None:
    app = make_app(net, clock, seeded(make_provider(routing=Routing.DIRECT, enabled=False)))
    with pytest.raises(DetourError, match="disabled"):
        app.chats.send("zai", "m", "hi")


async def test_regenerate_drops_the_last_reply_and_asks_again(net: Net, clock: FakeClock) -> None:
    net.on(ZAI_CHAT, streamed("first"), streamed("second"))
    app = make_app(net, clock, direct_zai())
    await collect(app.chats.send("zai", "m", "Hello"))
    text, _ = await collect(app.chats.regenerate("zai", "m"))
    assert text == "second"
    assert [(m.role, m.content) for m in app.conversation.messages] == [
        ("user", "Hello"),
        ("assistant", "second"),
    ]
    assert net.requests[-1].json()["messages"] == [{"role": "user", "content": "Hello"}]


async def test_regenerate_with_nothing_sent_is_refused(net: Net, clock: FakeClock) -> None:
    app = make_app(net, clock, direct_zai())
    with pytest.raises(DetourError, match="no message"):
        app.chats.regenerate("zai", "m")


async def test_edit_last_replaces_the_message_and_what_followed(net: Net, clock: FakeClock) -> None:
    net.on(ZAI_CHAT, streamed("a"), streamed("b"))
    app = make_app(net, clock, direct_zai())
    await collect(app.chats.send("zai", "m", "Helo"))
    await collect(app.chats.edit_last("zai", "m", "Hello"))
    assert [(m.role, m.content) for m in app.conversation.messages] == [
        ("user", "Hello"),
        ("assistant", "b"),
    ]


async def test_compare_sends_one_message_to_each_model_and_saves_nothing(
    net: Net, clock: FakeClock
) -> None:
    net.on(ZAI_CHAT, lambda request: streamed(request.json()["model"])(request))
    storage = direct_zai()
    app = make_app(net, clock, storage)
    runs = app.chats.compare([("zai", "glm-a"), ("zai", "glm-b")], "Which?")
    assert app.chats.busy
    results = await asyncio.gather(*(collect(run.updates) for run in runs))
    assert [text for text, _ in results] == ["glm-a", "glm-b"]
    assert all(isinstance(stats, ReplyStats) and stats.route == "direct" for _, stats in results)
    assert not app.chats.busy
    assert app.conversation.messages == [] and INDEX_KEY not in storage.data


@pytest.mark.parametrize(
    ("targets", "problem"),
    [
        ([("zai", "a")], "2 to 4"),
        ([("zai", "a")] * 5, "2 to 4"),
        ([("zai", "a"), ("zai", "a")], "different model"),
        ([("zai", "a"), ("nope", "b")], "Choose a provider"),
    ],
)
def test_a_comparison_is_checked_before_anything_starts(
    net: Net, clock: FakeClock, targets: list[tuple[str, str]], problem: str
) -> None:
    app = make_app(net, clock, direct_zai())
    with pytest.raises(DetourError, match=problem):
        app.chats.compare(targets, "hi")
    assert not app.chats.busy


async def test_stop_ends_every_column(net: Net, clock: FakeClock) -> None:
    hang = asyncio.Event()

    async def never(_request: Request) -> Response:
        await hang.wait()
        raise AssertionError("unreachable")

    net.transport.handler = never  # type: ignore[assignment]
    app = make_app(net, clock, direct_zai())
    runs = app.chats.compare([("zai", "a"), ("zai", "b")], "hi")
    tasks = [asyncio.ensure_future(collect(run.updates)) for run in runs]
    await asyncio.sleep(0)
    app.stop()
    results = await asyncio.wait_for(asyncio.gather(*tasks), 1)
    assert all(stats.stopped for _, stats in results)


async def test_a_reply_the_browser_refuses_to_save_says_so(net: Net, clock: FakeClock) -> None:
    net.on(ZAI_CHAT, streamed("kept in view"))
    storage = direct_zai()
    app = make_app(net, clock, storage)
    storage.quota = sum(len(k) + len(v) for k, v in storage.data.items()) + 10
    text, stats = await collect(app.chats.send("zai", "m", "Hello"))
    assert text == "kept in view"
    assert stats.unsaved.startswith("Not saved: The browser refused")
    assert "delete old conversations" in stats.unsaved
    assert app.conversation.messages[-1].content == "kept in view"  # still on screen


async def test_a_full_storage_does_not_refuse_the_chat(net: Net, clock: FakeClock) -> None:
    net.on(ZAI_CHAT, streamed("ok"))
    storage = direct_zai()
    storage.quota = 0  # nothing can be saved at all
    app = make_app(net, clock, storage)
    app.select("zai", "m")
    text, _ = await collect(app.chats.send("zai", "m", "Hello"))
    assert text == "ok"


def test_a_provider_that_cannot_be_saved_is_not_kept(net: Net, clock: FakeClock) -> None:
    from tests.unit.test_app import draft

    storage = MemoryStorage(quota=10)
    app = make_app(net, clock, storage)
    with pytest.raises(StorageFull, match="delete old conversations"):
        app.save_provider(draft())
    assert app.state.providers == [] and app.providers() == []


def test_undo_brings_a_removed_provider_back(net: Net, clock: FakeClock) -> None:
    storage = direct_zai()
    app = make_app(net, clock, storage)
    app.delete_provider("zai")
    assert saved(storage)["providers"] == []
    app.undo_delete()
    assert [p["id"] for p in saved(storage)["providers"]] == ["zai"]
    assert app.undo_delete() is None


def test_disabling_a_provider_is_saved(net: Net, clock: FakeClock) -> None:
    storage = direct_zai()
    app = make_app(net, clock, storage)
    app.set_enabled("zai", False)
    assert saved(storage)["providers"][0]["enabled"] is False


def test_settle_choice_picks_the_first_provider_and_keeps_a_typed_model(
    net: Net, clock: FakeClock
) -> None:
    app = make_app(net, clock, seeded(make_provider(models=["glm-4.6"])))
    assert app.settle_choice()
    assert (app.state.settings.active_provider, app.state.settings.active_model) == (
        "zai",
        "glm-4.6",
    )
    app.select("zai", "typed-by-hand")
    assert not app.settle_choice()
    assert app.state.settings.active_model == "typed-by-hand"


async def test_conversations_open_with_their_provider_and_model(net: Net, clock: FakeClock) -> None:
    net.on(ZAI_CHAT, streamed("hi"))
    storage = direct_zai()
    app = make_app(net, clock, storage)
    await collect(app.chats.send("zai", "glm-x", "first"))
    first = app.conversations.active
    app.new_conversation()
    app.select("zai", "other")
    app.open_conversation(first)
    assert app.state.settings.active_model == "glm-x"
    assert app.conversation.messages[0].content == "first"
    title = app.delete_conversation(first)
    assert title == "first" and item_key(first) not in storage.data
    app.undo_delete_conversation()
    assert json.loads(storage.data[INDEX_KEY])["items"][0]["id"] == first


async def test_text_arrives_in_pieces_but_is_joined_once(net: Net, clock: FakeClock) -> None:
    pieces = [f"p{i} " for i in range(500)]
    net.on(ZAI_CHAT, streamed(*pieces))
    app = make_app(net, clock, direct_zai())
    updates = [u async for u in app.chats.send("zai", "m", "long")]
    assert sum(isinstance(u, TextDelta) for u in updates) == 500
    assert app.conversation.messages[-1].content == "".join(pieces)
