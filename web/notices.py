"""Typed change notices: what changed, so the page re-renders only that part."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum


class Change(StrEnum):
    """One part of what the page shows."""

    PROVIDERS = "providers"  # the provider list, a provider's settings or models
    HEALTH = "health"  # health states, notes, the gateway's status
    CONVERSATION = "conversation"  # the open conversation's messages
    CONVERSATIONS = "conversations"  # the list of conversations
    SETTINGS = "settings"  # the chosen provider and model, preferences, gateway URL
    ACTIVITY = "activity"  # the activity log


Listener = Callable[[Change], None]


class LogLine(str):
    """An activity line that knows when it happened (`at`, seconds since the epoch)."""

    at: float

    def __new__(cls, text: str, at: float) -> LogLine:
        line = super().__new__(cls, text)
        line.at = at
        return line
