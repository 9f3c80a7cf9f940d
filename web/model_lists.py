"""Long model lists live under their own keys, out of the saved state.

A provider listing thousands of models would make every save of the state
rewrite them. Lists longer than `INLINE_LIMIT` are saved under
`detour.models.<provider id>`, written only when the list changes, and read
back when the state loads.
"""

from __future__ import annotations

import json
from dataclasses import replace

from web.providers import Provider
from web.store import AppState, Storage

PREFIX = "detour.models."
INLINE_LIMIT = 200
MARK = "models_saved_apart"  # in a provider's saved fields when its list is under its own key


def set_apart(state: AppState) -> tuple[AppState, dict[str, list[str]]]:
    """The state with long model lists left out, and those lists by provider id."""
    apart = {p.id: p.models for p in state.providers if len(p.models) > INLINE_LIMIT}
    providers = [
        replace(p, models=[], extra={**p.extra, MARK: True}) if p.id in apart else p
        for p in state.providers
    ]
    return replace(state, providers=providers), apart


class ModelLists:
    """Writes each long list once per change; reads them back at load."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._written: dict[str, tuple[int, int]] = {}

    def save(self, apart: dict[str, list[str]]) -> None:
        for provider_id, models in apart.items():
            stamp = (id(models), len(models))
            if self._written.get(provider_id) != stamp:
                self.storage.set(PREFIX + provider_id, json.dumps(models))
                self._written[provider_id] = stamp

    def restore(self, providers: list[Provider]) -> bool:
        """Read the lists saved apart; True when a long list is still inside the state."""
        inline = False
        for provider in providers:
            if not provider.extra.pop(MARK, False):
                inline = inline or len(provider.models) > INLINE_LIMIT
                continue
            try:
                models = json.loads(self.storage.get(PREFIX + provider.id) or "[]")
            except ValueError:
                models = []  # found again by the next listing
            if isinstance(models, list):
                provider.models = [m for m in models if isinstance(m, str)]
                self._written[provider.id] = (id(provider.models), len(provider.models))
        return inline
