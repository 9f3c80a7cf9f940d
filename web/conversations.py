"""Many conversations, each saved under its own key, so saving one never rewrites the rest.

`detour.conversations` holds a small index (id, title, provider, model, time)
and the active id; `detour.conversation.<id>` holds one conversation's
messages. The single conversation of earlier versions (`detour.conversation`)
becomes the first one. A conversation that does not read is copied to a backup
key before anything can overwrite it, and reported.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from web.chat import Conversation
from web.errors import StorageFull
from web.store import Storage, unique_key

INDEX_KEY = "detour.conversations"
ITEM_PREFIX = "detour.conversation."
LEGACY_KEY = "detour.conversation"
TITLE_LENGTH = 48
# Browsers give a site about 5 million characters of storage; a conversation longer
# than this cannot be saved, so it is refused before the costly serialising.
SAVE_LIMIT = 4_500_000


def item_key(conversation_id: str) -> str:
    """Where one conversation's messages are saved."""
    return ITEM_PREFIX + conversation_id


def title_for(text: str) -> str:
    """A conversation's default title: the start of its first message, on one line."""
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


@dataclass
class Entry:
    """One line of the conversation list; its messages load when it is opened."""

    id: str
    title: str
    provider_id: str = ""
    model: str = ""
    updated: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "provider_id": self.provider_id,
            "model": self.model,
            "updated": self.updated,
        }


class Conversations:
    """The conversation list and the open conversation, saved as they change."""

    def __init__(self, storage: Storage, now: Callable[[], float]) -> None:
        self.storage = storage
        self.now = now
        self.entries: list[Entry] = []
        self.active = ""
        self.problems: list[str] = []
        self.removed: tuple[int, Entry, Conversation] | None = None  # for undo
        self._open: dict[str, Conversation] = {}
        self._counter = 0
        self._load_index()
        if not self.entries:
            self._adopt_legacy()
        if self.active not in {e.id for e in self.entries}:
            self.active = self.entries[0].id if self.entries else ""

    # --- reading ----------------------------------------------------------------

    def entry(self, conversation_id: str) -> Entry | None:
        return next((e for e in self.entries if e.id == conversation_id), None)

    def get(self, conversation_id: str) -> Conversation:
        """The conversation's messages, read from storage the first time."""
        found = self._open.get(conversation_id)
        if found is None:
            found = self._read(conversation_id)
            self._open[conversation_id] = found
        return found

    def current(self) -> Conversation:
        """The open conversation (a new, unsaved one when there is none)."""
        if not self.active:
            self.active = self._new_id()
            self._open[self.active] = Conversation()
        return self.get(self.active)

    # --- changing ---------------------------------------------------------------

    def start(self) -> str:
        """Open a new empty conversation; it joins the list with its first message."""
        self.active = self._new_id()
        self._open[self.active] = Conversation()
        self.save_index()
        return self.active

    def open(self, conversation_id: str) -> None:
        if self.entry(conversation_id) is None:
            raise KeyError(conversation_id)
        self.active = conversation_id
        self.save_index()

    def save(self, conversation_id: str, provider_id: str = "", model: str = "") -> None:
        """Write one conversation and the index line that names it."""
        conversation = self.get(conversation_id)
        size = sum(len(m.content) + len(m.reasoning) for m in conversation.messages)
        if size > SAVE_LIMIT:
            raise StorageFull(
                f"The browser refused to save this conversation: at {size:,} characters it is "
                "larger than a browser keeps for a site",
                hint="start a new chat; export what you need to keep",
            )
        entry = self.entry(conversation_id)
        if entry is None:
            first = next((m.content for m in conversation.messages if m.role == "user"), "")
            entry = Entry(conversation_id, title_for(first) or "New chat")
            self.entries.insert(0, entry)
        entry.provider_id = provider_id or entry.provider_id
        entry.model = model or entry.model
        entry.updated = self.now()
        self.storage.set(item_key(conversation_id), json.dumps(conversation.to_json()))
        self.save_index()

    def rename(self, conversation_id: str, title: str) -> None:
        entry = self.entry(conversation_id)
        if entry is None:
            raise KeyError(conversation_id)
        old = entry.title
        entry.title = " ".join(title.split())[:120] or old
        try:
            self.save_index()
        except Exception:
            entry.title = old
            raise

    def remove(self, conversation_id: str) -> Entry:
        """Delete a conversation; `undo_remove` brings it back while the page is open."""
        entry = self.entry(conversation_id)
        if entry is None:
            raise KeyError(conversation_id)
        conversation = self.get(conversation_id)
        index = self.entries.index(entry)
        self.entries.remove(entry)
        if self.active == conversation_id:
            self.active = self.entries[0].id if self.entries else ""
        self.save_index()
        self.storage.remove(item_key(conversation_id))
        self._open.pop(conversation_id, None)
        self.removed = (index, entry, conversation)
        return entry

    def undo_remove(self) -> Entry | None:
        """Put back the conversation removed last."""
        if self.removed is None:
            return None
        index, entry, conversation = self.removed
        self.storage.set(item_key(entry.id), json.dumps(conversation.to_json()))
        self.entries.insert(min(index, len(self.entries)), entry)
        self._open[entry.id] = conversation
        self.active = entry.id
        self.removed = None
        self.save_index()
        return entry

    def save_index(self) -> None:
        data = {"version": 1, "active": self.active, "items": [e.to_json() for e in self.entries]}
        self.storage.set(INDEX_KEY, json.dumps(data))

    # --- loading ----------------------------------------------------------------

    def _new_id(self) -> str:
        self._counter += 1
        taken = {e.id for e in self.entries} | set(self._open)
        base = f"c{int(self.now() * 1000):x}"
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def _load_index(self) -> None:
        raw = self.storage.get(INDEX_KEY)
        if not raw:
            return
        try:
            data = json.loads(raw)
            items = data["items"]
            if not isinstance(items, list):
                raise TypeError("items")
        except (ValueError, KeyError, TypeError):
            key = self._back_up(INDEX_KEY, raw)
            self.problems.append(f"the conversation list could not be read; a copy is in {key!r}")
            return
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]:
                self.entries.append(
                    Entry(
                        item["id"],
                        str(item.get("title") or "Untitled"),
                        str(item.get("provider_id") or ""),
                        str(item.get("model") or ""),
                        float(item["updated"])
                        if isinstance(item.get("updated"), int | float)
                        else 0.0,
                    )
                )
        active = data.get("active")
        self.active = active if isinstance(active, str) else ""

    def _adopt_legacy(self) -> None:
        raw = self.storage.get(LEGACY_KEY)
        if not raw:
            return
        try:
            conversation = Conversation.from_json(json.loads(raw))
        except ValueError:
            key = self._back_up(LEGACY_KEY, raw)
            self.problems.append(f"the saved conversation could not be read; a copy is in {key!r}")
            return
        if not conversation.messages:
            return
        conversation_id = self._new_id()
        self._open[conversation_id] = conversation
        self.active = conversation_id
        last = conversation.messages[-1]
        self.save(conversation_id, last.provider_id, last.model)

    def _read(self, conversation_id: str) -> Conversation:
        raw = self.storage.get(item_key(conversation_id))
        if not raw:
            return Conversation()
        try:
            return Conversation.from_json(json.loads(raw))
        except ValueError:
            key = self._back_up(item_key(conversation_id), raw)
            entry = self.entry(conversation_id)
            name = repr(entry.title) if entry else conversation_id
            self.problems.append(f"the conversation {name} could not be read; a copy is in {key!r}")
            return Conversation()

    def _back_up(self, key: str, raw: str) -> str:
        target = unique_key(self.storage, f"{key}.backup")
        self.storage.set(target, raw)
        return target
