"""Where a provider's key is kept: on this device (saved state) or for this session only.

A session-only key is left out of the saved state and kept in the browser's
session storage, which ends with the tab; the provider then asks for it again.
"""

from __future__ import annotations

import json
from dataclasses import replace

from web.providers import Provider
from web.store import AppState, Storage

SESSION_KEYS = "detour.session-keys"
KEY_STORAGE = "key_storage"  # in a provider's saved fields: "session" when not remembered


def session_only(provider: Provider) -> bool:
    return provider.extra.get(KEY_STORAGE) == "session"


def set_remembered(provider: Provider, remember: bool) -> None:
    if remember:
        provider.extra.pop(KEY_STORAGE, None)
    else:
        provider.extra[KEY_STORAGE] = "session"


def for_saving(state: AppState) -> tuple[AppState, dict[str, str]]:
    """The state to save (session-only keys blanked) and the keys for session storage."""
    keys = {p.id: p.api_key for p in state.providers if session_only(p) and p.api_key}
    providers = [replace(p, api_key="") if session_only(p) else p for p in state.providers]
    return replace(state, providers=providers), keys


def save_session_keys(storage: Storage, keys: dict[str, str]) -> None:
    if keys:
        storage.set(SESSION_KEYS, json.dumps(keys))
    else:
        storage.remove(SESSION_KEYS)


def restore_session_keys(storage: Storage, state: AppState) -> None:
    """Put this session's keys back into the providers that keep theirs for the session."""
    try:
        keys = json.loads(storage.get(SESSION_KEYS) or "{}")
    except ValueError:
        return
    if not isinstance(keys, dict):
        return
    for provider in state.providers:
        key = keys.get(provider.id)
        if session_only(provider) and isinstance(key, str):
            provider.api_key = key
