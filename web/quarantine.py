"""Set-aside entries, as a person handles them in Settings: export, edit and load, or remove.

An entry's text hides its keys unless asked; a hidden key left as it was is
put back from the original when the edited entry is loaded.
"""

from __future__ import annotations

import json
from typing import Any

from web.catalog import slug, unique_id
from web.errors import ImportInvalid, ProviderInvalid
from web.provider_json import provider_from_dict
from web.providers import Provider
from web.store import AppState, QuarantinedEntry

HIDDEN = "(hidden: leave as is to keep the saved key)"
SECRET_FIELDS = ("api_key", "apiKey", "key", "token", "secret")


def masked(raw: Any) -> Any:
    """The entry with each secret field's value replaced by a marker."""
    if isinstance(raw, dict):
        return {k: HIDDEN if k in SECRET_FIELDS and v else masked(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [masked(v) for v in raw]
    return raw


def unmasked(edited: Any, original: Any) -> Any:
    """Edited JSON with each untouched marker replaced by the original secret."""
    if isinstance(edited, dict) and isinstance(original, dict):
        return {
            k: original.get(k) if v == HIDDEN else unmasked(v, original.get(k))
            for k, v in edited.items()
        }
    return edited


def entry_text(entry: QuarantinedEntry, include_keys: bool = False) -> str:
    return json.dumps(entry.raw if include_keys else masked(entry.raw), indent=1)


def export_text(entries: list[QuarantinedEntry], include_keys: bool = False) -> str:
    """Every set-aside entry with where it came from and why, as JSON."""
    items = [
        {"source": e.source, "reason": e.reason, "entry": e.raw if include_keys else masked(e.raw)}
        for e in entries
    ]
    return json.dumps({"set_aside": items}, indent=1)


def load_edited(state: AppState, index: int, text: str) -> Provider:
    """The edited entry as a provider, added to `state` and taken out of the set-aside list.

    Raises `ImportInvalid` or `ProviderInvalid` (naming the field) and changes nothing.
    """
    entry = state.quarantine[index]
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ImportInvalid(
            f"The edited entry is not valid JSON ({error})", hint="fix the text and try again"
        ) from None
    if not isinstance(data, dict):
        raise ImportInvalid("The edited entry must be a JSON object with a provider's fields")
    data = unmasked(data, entry.raw)
    wanted = slug(str(data.get("id") or data.get("name") or "provider"))
    fallback = unique_id(wanted, [p.id for p in state.providers])
    provider = provider_from_dict(data, fallback_id=fallback)
    if state.provider(provider.id) is not None:
        raise ProviderInvalid({"id": f"{provider.id!r} is taken; change the id"})
    state.providers.append(provider)
    del state.quarantine[index]
    return provider
