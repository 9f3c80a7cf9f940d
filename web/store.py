"""Saved state that never breaks: load anything, keep what is not understood, lose nothing.

Saved under `detour.state` as
`{"version": 2, "providers": [...], "settings": {...}, "routes": {...}, "quarantine": [...]}`
plus any top-level field a newer version wrote. The earlier product's
`detour.providers` (providers only, no routing) is read when `detour.state` is
absent and is never rewritten or removed. An entry that does not load is set
aside in `quarantine`, verbatim, with a reason; unreadable JSON is copied to a
backup key before anything can overwrite it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from web.catalog import slug, unique_id
from web.errors import ProviderInvalid, StorageFull
from web.provider_json import describe, provider_from_dict, provider_to_dict
from web.providers import Provider, mask_secret

STATE_KEY = "detour.state"
LEGACY_KEY = "detour.providers"
SCHEMA_VERSION = 2
THEMES = ("system", "light", "dark")

_TOP_LEVEL = ("version", "providers", "settings", "routes", "quarantine")


class Storage(Protocol):
    """String key-value storage: the page's localStorage, or `MemoryStorage` in tests."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    def remove(self, key: str) -> None: ...


class MemoryStorage:
    """`Storage` in a dict, for tests and for pages where localStorage is unavailable."""

    def __init__(self, data: Mapping[str, str] | None = None, *, quota: int | None = None) -> None:
        self.data: dict[str, str] = dict(data or {})
        self.quota = quota  # characters in all, like the browser's quota; None: no limit
        self.writes = 0  # characters written so far, to measure what saving costs

    def get(self, key: str) -> str | None:
        return self.data.get(key)

    def set(self, key: str, value: str) -> None:
        if self.quota is not None:
            used = sum(len(k) + len(v) for k, v in self.data.items() if k != key)
            if used + len(key) + len(value) > self.quota:
                raise StorageFull(f"The browser refused to save {key!r} (storage is full)")
        self.writes += len(value)
        self.data[key] = value

    def remove(self, key: str) -> None:
        self.data.pop(key, None)


@dataclass
class Settings:
    """What a person sets once for the whole page; `extra` keeps fields this version lacks."""

    gateway_url: str = ""
    gateway_token: str = ""
    active_provider: str = ""
    active_model: str = ""
    theme: str = "system"
    stream: bool = True
    system_prompt: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    request_timeout: float = 120.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Settings(gateway_url={self.gateway_url!r}, "
            f"gateway_token={mask_secret(self.gateway_token)!r}, "
            f"active_provider={self.active_provider!r}, active_model={self.active_model!r})"
        )


@dataclass
class QuarantinedEntry:
    """Saved data that did not load: kept verbatim under `raw`, with where it was and why."""

    source: str
    raw: Any
    reason: str
    at: float
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # raw may hold keys: never show it
        return f"QuarantinedEntry(source={self.source!r}, reason={self.reason!r})"


@dataclass
class AppState:
    """Everything the page saves; `version` is the schema it will be written as."""

    providers: list[Provider] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    routes: dict[str, Any] = field(default_factory=dict)
    quarantine: list[QuarantinedEntry] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    version: int = SCHEMA_VERSION

    def provider(self, provider_id: str) -> Provider | None:
        """The provider with this id, if any."""
        return next((p for p in self.providers if p.id == provider_id), None)


@dataclass(frozen=True)
class LoadResult:
    """The loaded state, what went wrong (readable, no secrets), and what was migrated."""

    state: AppState
    problems: list[str]
    migrated_from: int | None = None
    backup_key: str | None = None


def read_providers(
    value: Any, *, source: str, legacy: bool, now: float, state: AppState, problems: list[str]
) -> None:
    """Add each provider of a list (or an object keyed by id) to `state`; quarantine the rest."""
    if isinstance(value, dict):
        items = [(f"{source}.{k}", str(k), v) for k, v in value.items() if k != "version"]
    elif isinstance(value, list):
        items = [(f"{source}[{i}]", "", v) for i, v in enumerate(value)]
    else:
        _set_aside(
            state,
            problems,
            source,
            value,
            f"The {source} entry is {describe(value)}, not a list",
            now,
        )
        return
    for where, key, entry in items:
        if not isinstance(entry, dict):
            _set_aside(
                state,
                problems,
                where,
                entry,
                f"Entry {where} is {describe(entry)}, not a provider",
                now,
            )
            continue
        label = _label(entry, where)
        try:
            provider = provider_from_dict(entry, fallback_id=slug(key), legacy=legacy)
        except ProviderInvalid as error:
            _set_aside(
                state,
                problems,
                where,
                entry,
                f"{label} could not be loaded ({_fields(error)})",
                now,
            )
            continue
        taken = [p.id for p in state.providers]
        if provider.id in taken:
            if isinstance(entry.get("id"), str):
                reason = (
                    f"{label} uses the id {provider.id!r}, which an earlier provider already has"
                )
                _set_aside(state, problems, where, entry, reason, now)
                continue
            provider.id = unique_id(provider.id, taken)  # no id was saved: any free one will do
        state.providers.append(provider)


def load_state(storage: Storage, *, now: Callable[[], float] = time.time) -> LoadResult:
    """Load the saved state; never raises on bad data, reports each problem instead."""
    raw = storage.get(STATE_KEY)
    if raw is not None:
        return _load_current(storage, raw, now())
    legacy = storage.get(LEGACY_KEY)
    if legacy is not None:
        return _load_legacy(legacy, now())
    return LoadResult(AppState(), [])


def save_state(storage: Storage, state: AppState) -> None:
    """Write the state under `detour.state` with unknown fields kept; never touch the legacy key."""
    storage.set(STATE_KEY, dump_json(state_to_dict(state)))


def state_to_dict(state: AppState) -> dict[str, Any]:
    """The state as the JSON document that is saved."""
    settings = {
        f.name: getattr(state.settings, f.name) for f in fields(Settings) if f.name != "extra"
    }
    for key, value in state.settings.extra.items():
        settings.setdefault(key, value)
    doc: dict[str, Any] = {
        "version": max(SCHEMA_VERSION, state.version),
        "providers": [provider_to_dict(p) for p in state.providers],
        "settings": settings,
        "routes": state.routes,
        "quarantine": [
            {**q.extra, "source": q.source, "raw": q.raw, "reason": q.reason, "at": q.at}
            for q in state.quarantine
        ],
    }
    for key, value in state.extra.items():
        doc.setdefault(key, value)
    return doc


def dump_json(value: Any) -> str:
    """Compact JSON with non-ASCII kept as is, escaped only if it holds lone surrogates."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # the page cannot hand such a string to localStorage
        text = json.dumps(value, separators=(",", ":"))
    return text


def _load_current(storage: Storage, raw: str, now: float) -> LoadResult:
    try:
        data: Any = json.loads(raw)
    except (ValueError, RecursionError):
        data = None
        readable = False
    else:
        readable = isinstance(data, dict | list)
    if not readable:
        return _back_up_unreadable(storage, raw, now)
    state, problems = AppState(), list[str]()
    if isinstance(data, list):  # the earlier product's list, under the new key
        read_providers(
            data, source="providers", legacy=True, now=now, state=state, problems=problems
        )
        return LoadResult(state, problems, migrated_from=1)
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append(
            f"The saved state's version ({describe(version)}) was unreadable; "
            f"it was read as version {SCHEMA_VERSION}."
        )
        version = SCHEMA_VERSION
    backup_key = None
    if version > SCHEMA_VERSION:
        state.version = version
        backup_key = _keep_copy(storage, f"{STATE_KEY}.v{version}-backup", raw)
        where = (
            f"A copy of the original is kept under {backup_key!r}"
            if backup_key
            else "The browser refused to keep a copy of the original, so export before changing"
        )
        problems.append(
            f"Settings were saved by a newer Detour (format {version}); this version loaded "
            f"what it understands and keeps the rest. {where}; use the newer Detour to change "
            "settings it added."
        )
    _read_document(data, legacy=version < SCHEMA_VERSION, now=now, state=state, problems=problems)
    migrated = version if version < SCHEMA_VERSION else None
    return LoadResult(state, problems, migrated_from=migrated, backup_key=backup_key)


def _load_legacy(raw: str, now: float) -> LoadResult:
    try:
        data: Any = json.loads(raw)
    except (ValueError, RecursionError):
        data = None
    state, problems = AppState(), list[str]()
    if not isinstance(data, dict | list):
        problems.append(
            f"The earlier version's saved providers ({LEGACY_KEY!r}) could not be read; they are "
            "left untouched under that key. Add your providers again, or import an export."
        )
        return LoadResult(state, problems, migrated_from=1)
    if isinstance(data, dict) and "providers" in data:
        version = data.get("version")
        _read_document(data, legacy=True, now=now, state=state, problems=problems)
        migrated = version if isinstance(version, int) and not isinstance(version, bool) else 1
        return LoadResult(state, problems, migrated_from=migrated)
    read_providers(data, source=LEGACY_KEY, legacy=True, now=now, state=state, problems=problems)
    return LoadResult(state, problems, migrated_from=1)


def _read_document(
    data: dict[str, Any], *, legacy: bool, now: float, state: AppState, problems: list[str]
) -> None:
    if "providers" in data:
        read_providers(
            data["providers"],
            source="providers",
            legacy=legacy,
            now=now,
            state=state,
            problems=problems,
        )
    if "settings" in data:
        state.settings = _read_settings(data["settings"], now, state, problems)
    routes = data.get("routes", {})
    if isinstance(routes, dict):
        state.routes = routes
    else:
        _set_aside(
            state,
            problems,
            "routes",
            routes,
            f"The remembered routes were {describe(routes)}, not an object",
            now,
        )
    quarantine = data.get("quarantine", [])
    for i, entry in enumerate(quarantine if isinstance(quarantine, list) else [quarantine]):
        state.quarantine.append(_read_quarantined(entry, i, now))
    state.extra = {k: v for k, v in data.items() if k not in _TOP_LEVEL}


def _read_settings(value: Any, now: float, state: AppState, problems: list[str]) -> Settings:
    settings = Settings()
    if not isinstance(value, dict):
        _set_aside(
            state,
            problems,
            "settings",
            value,
            f"The settings were {describe(value)}, not an object",
            now,
        )
        return settings
    known = {f.name for f in fields(Settings)} - {"extra"}
    for key, item in value.items():
        if key not in known:
            settings.extra[key] = item
        elif _setting_ok(key, item):
            setattr(
                settings,
                key,
                float(item)
                if key in ("temperature", "request_timeout") and item is not None
                else item,
            )
        else:
            reason = f"The setting {key!r} had an unusable value ({describe(item)}) and was reset"
            _set_aside(state, problems, f"settings.{key}", item, reason, now)
    return settings


def _setting_ok(key: str, value: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if key == "theme":
        return value in THEMES
    if key == "stream":
        return isinstance(value, bool)
    if key == "temperature":
        return value is None or (number and 0 <= value <= 2)
    if key == "max_tokens":
        return value is None or (
            isinstance(value, int) and not isinstance(value, bool) and value > 0
        )
    if key == "request_timeout":
        return number and 0 < value <= 86_400
    return isinstance(value, str)


def _read_quarantined(entry: Any, index: int, now: float) -> QuarantinedEntry:
    if (
        isinstance(entry, dict)
        and "raw" in entry
        and isinstance(entry.get("reason"), str)
        and isinstance(entry.get("source", ""), str)
        and isinstance(entry.get("at", 0), int | float)
        and not isinstance(entry.get("at", 0), bool)
    ):
        rest = {k: v for k, v in entry.items() if k not in ("source", "raw", "reason", "at")}
        return QuarantinedEntry(
            entry.get("source", ""),
            entry["raw"],
            entry["reason"],
            float(entry.get("at", now)),
            rest,
        )
    return QuarantinedEntry(f"quarantine[{index}]", entry, "An unreadable quarantine entry", now)


def _keep_copy(storage: Storage, key: str, raw: str) -> str | None:
    """Keep `raw` under `key` unless a copy is already there; None when storage refuses."""
    if storage.get(key) is None:
        try:
            storage.set(key, raw)
        except Exception:  # storage full or disabled
            return None
    return key


def _back_up_unreadable(storage: Storage, raw: str, now: float) -> LoadResult:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    key = unique_key(storage, f"{STATE_KEY}.corrupt-{stamp}")
    try:
        storage.set(key, raw)
    except Exception:  # storage full or disabled: say so, and do not claim a copy exists
        message = (
            "Saved settings could not be read, and the browser refused to keep a copy of them. "
            "Detour started empty; saving now will replace them, so export what you need first."
        )
        return LoadResult(AppState(), [message])
    message = (
        f"Saved settings could not be read (not valid JSON). The unreadable text is kept under "
        f"{key!r} in this browser's storage, and Detour started empty; add providers again or "
        "import an export."
    )
    return LoadResult(AppState(), [message], backup_key=key)


def unique_key(storage: Storage, key: str) -> str:
    """`key`, or `key-2`, `key-3`… — the first one not already in `storage`."""
    candidate, number = key, 2
    while storage.get(candidate) is not None:
        candidate, number = f"{key}-{number}", number + 1
    return candidate


def _set_aside(
    state: AppState, problems: list[str], source: str, raw: Any, reason: str, now: float
) -> None:
    state.quarantine.append(QuarantinedEntry(source, raw, reason, now))
    problems.append(f"{reason}. It is kept in Quarantine: fix it or remove it there.")


def _label(entry: Mapping[str, Any], where: str) -> str:
    words = [_short(entry.get(key)) for key in ("name", "id")]
    shown = [w for w in words if w]
    if len(shown) == 2 and shown[0] != shown[1]:
        return f"Provider {shown[0]!r} (id {shown[1]!r})"
    if shown:
        return f"Provider {shown[0]!r}"
    return f"Entry {where}"


def _short(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        return ""
    text = value.strip()
    return text[:40] + ("…" if len(text) > 40 else "")


def _fields(error: ProviderInvalid) -> str:
    return "; ".join(f"{name}: {why}" for name, why in error.problems.items())
