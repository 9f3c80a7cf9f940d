"""Many conversations: each saved under its own key, renamed, deleted with undo, backed up."""

from __future__ import annotations

import json

from web.chat import Conversation
from web.conversations import INDEX_KEY, LEGACY_KEY, Conversations, item_key, title_for
from web.errors import StorageFull
from web.store import MemoryStorage


def now() -> float:
    return 1_800_000_000.0


def with_message(store: Conversations, text: str) -> str:
    conversation_id = store.start()
    store.current().add("user", text)
    store.save(conversation_id, "zai", "glm")
    return conversation_id


def test_a_conversation_joins_the_list_with_its_first_message_as_title() -> None:
    storage = MemoryStorage()
    store = Conversations(storage, now)
    first = with_message(store, "How do   tides\nwork?")
    assert [(e.id, e.title, e.provider_id, e.model) for e in store.entries] == [
        (first, "How do tides work?", "zai", "glm")
    ]
    again = Conversations(storage, now)
    assert again.active == first
    assert again.current().messages[0].content == "How do   tides\nwork?"


def test_saving_one_conversation_writes_only_it_and_the_small_index() -> None:
    storage = MemoryStorage()
    store = Conversations(storage, now)
    big = with_message(store, "x" * 100_000)
    small = with_message(store, "hi")
    storage.writes = 0
    store.current().add("assistant", "hello")
    store.save(small)
    assert storage.writes < 2_000  # the 100 KB conversation was not rewritten
    assert big in storage.data[INDEX_KEY]


def test_long_titles_are_cut_with_an_ellipsis() -> None:
    assert title_for("word " * 30).endswith("…")
    assert len(title_for("word " * 30)) <= 48


def test_rename_keeps_the_old_title_when_the_new_one_is_blank() -> None:
    store = Conversations(MemoryStorage(), now)
    conversation_id = with_message(store, "hello")
    store.rename(conversation_id, "  Tides  ")
    assert store.entry(conversation_id).title == "Tides"  # type: ignore[union-attr]
    store.rename(conversation_id, "   ")
    assert store.entry(conversation_id).title == "Tides"  # type: ignore[union-attr]


def test_a_deleted_conversation_comes_back_with_undo() -> None:
    storage = MemoryStorage()
    store = Conversations(storage, now)
    first = with_message(store, "one")
    second = with_message(store, "two")
    store.remove(second)
    assert item_key(second) not in storage.data
    assert store.active == first
    store.undo_remove()
    assert [e.id for e in store.entries] == [second, first]
    assert json.loads(storage.data[item_key(second)])["messages"][0]["content"] == "two"
    assert store.undo_remove() is None


def test_the_single_conversation_of_earlier_versions_becomes_the_first() -> None:
    old = Conversation()
    old.add("user", "from before")
    storage = MemoryStorage({LEGACY_KEY: json.dumps(old.to_json())})
    store = Conversations(storage, now)
    assert [e.title for e in store.entries] == ["from before"]
    assert store.current().messages[0].content == "from before"


def test_a_corrupt_conversation_is_backed_up_before_it_can_be_overwritten() -> None:
    storage = MemoryStorage()
    store = Conversations(storage, now)
    conversation_id = with_message(store, "kept")
    storage.data[item_key(conversation_id)] = "{broken"
    again = Conversations(storage, now)
    assert again.current().messages == []
    backup = f"{item_key(conversation_id)}.backup"
    assert storage.data[backup] == "{broken"
    assert again.problems == [f"the conversation 'kept' could not be read; a copy is in {backup!r}"]


def test_a_corrupt_index_is_backed_up_and_the_list_starts_empty() -> None:
    storage = MemoryStorage({INDEX_KEY: "[nope"})
    store = Conversations(storage, now)
    assert store.entries == []
    assert storage.data[f"{INDEX_KEY}.backup"] == "[nope"
    assert "conversation list could not be read" in store.problems[0]


def test_a_conversation_too_long_for_the_browser_is_refused_before_serialising() -> None:
    storage = MemoryStorage()
    store = Conversations(storage, now)
    conversation_id = with_message(store, "start")
    store.current().add("assistant", "z" * 5_000_000)
    try:
        store.save(conversation_id)
    except StorageFull as error:
        assert "larger than a browser keeps" in str(error) and "new chat" in str(error)
    else:
        raise AssertionError("a 5 MB conversation was saved")
    assert len(storage.data[item_key(conversation_id)]) < 1_000  # the saved copy is intact
