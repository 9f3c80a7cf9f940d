"""Saved state: legacy shapes, unknown fields kept, quarantine, backups, no crash on any input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from web.errors import DetourError, ProviderInvalid
from web.provider_json import provider_from_dict
from web.providers import Dialect, Provider, Routing
from web.store import (
    LEGACY_KEY,
    SCHEMA_VERSION,
    STATE_KEY,
    AppState,
    MemoryStorage,
    QuarantinedEntry,
    Settings,
    dump_json,
    load_state,
    save_state,
)

NOW = 1_800_000_000.0
SECRET = "sk-live-SECRET-9f8e7d6c5b4a"


def now() -> float:
    return NOW


def legacy(value: Any) -> MemoryStorage:
    return MemoryStorage({LEGACY_KEY: json.dumps(value)})


def current(value: Any) -> MemoryStorage:
    return MemoryStorage({STATE_KEY: dump_json(value)})


def provider_json(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "openai",
        "name": "OpenAI",
        "base_url": "https://api.openai.com/v1",
        "dialect": "openai",
        "template": "openai",
        "api_key": SECRET,
        "headers": {},
        "routing": "direct",
        "enabled": True,
        "models": ["gpt-4o"],
        "manual_models": [],
    }
    data.update(overrides)
    return data


def state_json(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": SCHEMA_VERSION,
        "providers": [provider_json()],
        "settings": {"gateway_url": "https://gw.example.com", "theme": "dark"},
        "routes": {"openai": {"route": "direct", "until": NOW + 60}},
        "quarantine": [],
    }
    data.update(overrides)
    return data


# --- empty and current ------------------------------------------------------------------


def test_nothing_saved_loads_an_empty_state_quietly() -> None:
    result = load_state(MemoryStorage(), now=now)
    assert result.state == AppState()
    assert (result.problems, result.migrated_from, result.backup_key) == ([], None, None)


def test_current_state_loads_every_part() -> None:
    result = load_state(current(state_json()), now=now)
    state = result.state
    assert result.problems == []
    assert [p.id for p in state.providers] == ["openai"]
    assert state.providers[0].routing is Routing.DIRECT
    assert state.settings.gateway_url == "https://gw.example.com"
    assert state.settings.theme == "dark"
    assert state.routes == {"openai": {"route": "direct", "until": NOW + 60}}
    assert state.provider("openai") is state.providers[0]
    assert state.provider("nope") is None


def test_save_writes_the_versioned_document() -> None:
    storage = MemoryStorage()
    state = AppState(providers=[Provider("zai", "Z.ai", "https://api.z.ai/api/paas/v4")])
    save_state(storage, state)
    doc = json.loads(storage.data[STATE_KEY])
    assert doc["version"] == SCHEMA_VERSION
    assert set(doc) == {"version", "providers", "settings", "routes", "quarantine"}
    assert doc["providers"][0]["routing"] == "auto"
    assert doc["settings"]["theme"] == "system"


def test_save_then_load_gives_the_same_state() -> None:
    storage = MemoryStorage()
    state = load_state(current(state_json()), now=now).state
    state.settings.temperature = 0.5
    state.settings.max_tokens = 2048
    save_state(storage, state)
    assert load_state(storage, now=now).state == state


# --- legacy ----------------------------------------------------------------------------

LEGACY_LIST = [
    {
        "id": "work",
        "name": "Work OpenAI",
        "baseUrl": "https://api.openai.com/v1",
        "apiKey": SECRET,
        "type": "openai",
        "models": "gpt-4o, gpt-4o-mini",
        "color": "#ff0000",
    },
    {
        "name": "Claude",
        "apiBase": "https://api.anthropic.com/v1",
        "kind": "anthropic",
        "extraHeaders": {"X-Team": "blue"},
        "models": ["claude-sonnet-4-5"],
    },
    {"name": "Z", "provider": "zai", "headers": {"Accept-Language": "en-US,en"}},
]


def test_legacy_list_loads_as_auto_with_camel_case_fields() -> None:
    result = load_state(legacy(LEGACY_LIST), now=now)
    work, claude, z = result.state.providers
    assert result.problems == []
    assert result.migrated_from == 1
    assert all(p.routing is Routing.AUTO for p in (work, claude, z))
    assert (work.base_url, work.api_key, work.manual_models) == (
        "https://api.openai.com/v1",
        SECRET,
        ["gpt-4o", "gpt-4o-mini"],
    )
    assert claude.dialect is Dialect.ANTHROPIC
    assert claude.headers == {"X-Team": "blue"}
    assert claude.manual_models == ["claude-sonnet-4-5"]
    assert (z.template, z.base_url) == ("zai", "https://api.z.ai/api/paas/v4")


def test_legacy_entries_without_ids_get_ids_from_their_names() -> None:
    result = load_state(legacy(LEGACY_LIST), now=now)
    assert [p.id for p in result.state.providers] == ["work", "claude", "z"]


def test_legacy_unknown_fields_are_kept() -> None:
    work = load_state(legacy(LEGACY_LIST), now=now).state.providers[0]
    assert work.extra == {"color": "#ff0000"}


def test_legacy_providers_object_with_version_loads() -> None:
    storage = legacy({"version": 1, "providers": LEGACY_LIST[:1], "lastOpened": "work"})
    result = load_state(storage, now=now)
    assert [p.id for p in result.state.providers] == ["work"]
    assert result.migrated_from == 1
    assert result.state.extra == {"lastOpened": "work"}


def test_legacy_object_keyed_by_id_loads_ids_from_keys() -> None:
    storage = legacy(
        {
            "Groq Fast": {"baseUrl": "https://api.groq.com/openai/v1", "apiKey": "gsk_x"},
            "local": {"name": "Ollama", "baseUrl": "http://localhost:11434/v1"},
        }
    )
    providers = load_state(storage, now=now).state.providers
    assert [(p.id, p.name, p.template) for p in providers] == [
        ("groq-fast", "Groq", "groq"),
        ("local", "Ollama", "custom"),
    ]


def test_legacy_keyed_object_inside_providers_loads() -> None:
    storage = legacy({"providers": {"a": {"baseUrl": "https://a.example.com/v1"}}})
    assert [p.id for p in load_state(storage, now=now).state.providers] == ["a"]


def test_loading_legacy_writes_nothing() -> None:
    storage = legacy(LEGACY_LIST)
    before = dict(storage.data)
    load_state(storage, now=now)
    assert storage.data == before


def test_first_save_writes_the_new_key_and_leaves_the_legacy_key_byte_for_byte() -> None:
    storage = legacy(LEGACY_LIST)
    original = storage.data[LEGACY_KEY]
    save_state(storage, load_state(storage, now=now).state)
    assert storage.data[LEGACY_KEY] == original
    assert json.loads(storage.data[STATE_KEY])["providers"][0]["color"] == "#ff0000"


def test_after_the_first_save_the_new_key_wins() -> None:
    storage = legacy(LEGACY_LIST)
    state = load_state(storage, now=now).state
    state.providers[0].routing = Routing.GATEWAY
    save_state(storage, state)
    again = load_state(storage, now=now)
    assert again.migrated_from is None
    assert again.state.providers[0].routing is Routing.GATEWAY


def test_unreadable_legacy_data_is_reported_and_left_alone() -> None:
    storage = MemoryStorage({LEGACY_KEY: "[{not json"})
    result = load_state(storage, now=now)
    assert result.state.providers == []
    assert LEGACY_KEY in result.problems[0]
    assert storage.data == {LEGACY_KEY: "[{not json"}


def test_a_list_under_the_new_key_is_read_as_legacy() -> None:
    result = load_state(current(LEGACY_LIST), now=now)
    assert len(result.state.providers) == 3
    assert result.migrated_from == 1


def test_a_versionless_document_under_the_new_key_is_migrated() -> None:
    result = load_state(current({"providers": LEGACY_LIST[:1]}), now=now)
    assert result.migrated_from == 1
    assert result.state.providers[0].manual_models == ["gpt-4o", "gpt-4o-mini"]


# --- unknown fields kept ---------------------------------------------------------------


def test_unknown_fields_survive_load_and_save_byte_for_byte() -> None:
    future_provider = {"pricing": {"in": 0.15, "out": [1, 2.5e-7, "é"]}, "pinned": True}
    future_settings = {"font_size": 17, "shortcuts": {"send": "Ctrl+Enter"}}
    future_top = {"sessions": [{"id": "s1", "title": "ünïcode ✓"}], "telemetry": None}
    doc = state_json(
        providers=[provider_json(**future_provider)],
        settings={"theme": "light", **future_settings},
        quarantine=[{"source": "x", "raw": {"a": 1}, "reason": "r", "at": NOW, "seen": 2}],
        **future_top,
    )
    storage = current(doc)
    save_state(storage, load_state(storage, now=now).state)
    saved = storage.data[STATE_KEY]
    for key, value in [*future_provider.items(), *future_settings.items(), *future_top.items()]:
        assert f'"{key}":{dump_json(value)}' in saved
    assert '"seen":2' in saved


def test_unknown_fields_never_override_known_ones_on_save() -> None:
    provider = Provider("a", "A", "https://a.example.com/v1", extra={"id": "evil"})
    state = AppState(providers=[provider], extra={"version": 99, "providers": []})
    storage = MemoryStorage()
    save_state(storage, state)
    doc = json.loads(storage.data[STATE_KEY])
    assert doc["version"] == SCHEMA_VERSION
    assert doc["providers"][0]["id"] == "a"


# --- quarantine ------------------------------------------------------------------------


def test_a_bad_provider_is_quarantined_verbatim_and_the_rest_load() -> None:
    bad = provider_json(id="broken", base_url="ftp://nowhere")
    result = load_state(current(state_json(providers=[bad, provider_json(id="good")])), now=now)
    assert [p.id for p in result.state.providers] == ["good"]
    [entry] = result.state.quarantine
    assert entry.raw == bad
    assert entry.source == "providers[0]"
    assert entry.at == NOW
    assert "base_url" in entry.reason and "'broken'" in entry.reason
    assert "Quarantine" in result.problems[0]


def test_quarantine_survives_save_and_load_without_being_reported_again() -> None:
    storage = current(state_json(providers=[5, provider_json()]))
    first = load_state(storage, now=now)
    save_state(storage, first.state)
    second = load_state(storage, now=lambda: NOW + 100)
    assert second.problems == []
    assert second.state.quarantine == first.state.quarantine
    assert second.state.providers == first.state.providers


def test_a_duplicate_id_quarantines_the_second_provider() -> None:
    second = provider_json(name="Other", base_url="https://other.example.com/v1")
    result = load_state(current(state_json(providers=[provider_json(), second])), now=now)
    assert [p.name for p in result.state.providers] == ["OpenAI"]
    assert result.state.quarantine[0].raw == second
    assert "'openai'" in result.state.quarantine[0].reason
    assert "already" in result.problems[0]


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (provider_json(dialect="klingon"), "dialect"),
        (provider_json(routing="sideways"), "routing"),
        (provider_json(enabled="yes"), "enabled"),
        (provider_json(headers=["X-A: 1"]), "headers"),
        (provider_json(headers={"X-A": 1}), "headers"),
        (provider_json(models=[1, 2]), "models"),
        (provider_json(manual_models={"a": 1}), "manual_models"),
        (provider_json(id=7), "id"),
        (provider_json(name=["x"]), "name"),
        (provider_json(id="Not An Id!"), "id"),
    ],
)
def test_each_bad_field_is_named_in_the_reason(entry: dict[str, Any], field: str) -> None:
    result = load_state(current(state_json(providers=[entry])), now=now)
    assert result.state.providers == []
    assert f"{field}:" in result.state.quarantine[0].reason


def test_a_non_list_providers_value_is_quarantined() -> None:
    result = load_state(current(state_json(providers="openai")), now=now)
    assert result.state.quarantine[0].source == "providers"
    assert result.state.quarantine[0].raw == "openai"


def test_unusable_settings_are_reset_and_kept_aside() -> None:
    settings = {
        "theme": "purple",
        "stream": "yes",
        "temperature": 9,
        "max_tokens": 0,
        "request_timeout": -1,
        "gateway_url": 42,
        "active_model": "glm-4.6",
    }
    result = load_state(current(state_json(settings=settings)), now=now)
    got = result.state.settings
    assert (got.theme, got.stream, got.temperature, got.max_tokens) == ("system", True, None, None)
    assert (got.request_timeout, got.gateway_url, got.active_model) == (120.0, "", "glm-4.6")
    sources = {q.source: q.raw for q in result.state.quarantine}
    assert sources["settings.theme"] == "purple"
    assert sources["settings.gateway_url"] == 42
    assert len(result.problems) == 6


def test_settings_that_are_not_an_object_are_kept_aside() -> None:
    result = load_state(current(state_json(settings=[1, 2])), now=now)
    assert result.state.settings == Settings()
    assert result.state.quarantine[0].source == "settings"


def test_routes_that_are_not_an_object_are_kept_aside() -> None:
    result = load_state(current(state_json(routes="direct")), now=now)
    assert result.state.routes == {}
    assert result.state.quarantine[0].raw == "direct"


def test_malformed_quarantine_entries_are_wrapped_not_lost() -> None:
    result = load_state(current(state_json(quarantine=[7, {"raw": 1, "at": True}])), now=now)
    assert [q.raw for q in result.state.quarantine] == [7, {"raw": 1, "at": True}]
    assert all(q.reason == "An unreadable quarantine entry" for q in result.state.quarantine)


def test_a_quarantine_that_is_not_a_list_is_wrapped() -> None:
    result = load_state(current(state_json(quarantine={"raw": 1})), now=now)
    assert result.state.quarantine[0].raw == {"raw": 1}


# --- unreadable JSON and backups -------------------------------------------------------


@pytest.mark.parametrize("raw", ["{not json", "", "null", "42", '"text"', "true", "[" * 100_000])
def test_unreadable_state_is_backed_up_before_starting_empty(raw: str) -> None:
    storage = MemoryStorage({STATE_KEY: raw})
    result = load_state(storage, now=now)
    assert result.state == AppState()
    assert result.backup_key == f"{STATE_KEY}.corrupt-20270115T080000Z"
    assert storage.data[result.backup_key] == raw
    assert result.backup_key in result.problems[0]


def test_a_second_backup_in_the_same_second_gets_its_own_key() -> None:
    storage = MemoryStorage({STATE_KEY: "{bad", f"{STATE_KEY}.corrupt-20270115T080000Z": "old"})
    result = load_state(storage, now=now)
    assert result.backup_key == f"{STATE_KEY}.corrupt-20270115T080000Z-2"
    assert storage.data[f"{STATE_KEY}.corrupt-20270115T080000Z"] == "old"


def test_saving_after_a_backup_keeps_the_backup() -> None:
    storage = MemoryStorage({STATE_KEY: "{bad"})
    result = load_state(storage, now=now)
    save_state(storage, result.state)
    assert result.backup_key is not None
    assert storage.data[result.backup_key] == "{bad"


class RefusingStorage(MemoryStorage):
    """Storage that is full: every write fails, as localStorage's quota does."""

    def set(self, key: str, value: str) -> None:
        raise DetourError("The browser refused to save settings")


def test_a_refused_backup_is_reported_and_no_copy_is_claimed() -> None:
    result = load_state(RefusingStorage({STATE_KEY: "{bad"}), now=now)
    assert result.backup_key is None
    assert "export" in result.problems[0]


# --- newer versions --------------------------------------------------------------------


def test_a_newer_version_loads_what_it_can_and_says_so() -> None:
    doc = state_json(version=3, workspaces=[{"id": "w"}])
    storage = current(doc)
    result = load_state(storage, now=now)
    assert [p.id for p in result.state.providers] == ["openai"]
    assert result.state.extra == {"workspaces": [{"id": "w"}]}
    assert result.backup_key == f"{STATE_KEY}.v3-backup"
    assert storage.data[result.backup_key] == dump_json(doc)
    assert "newer Detour" in result.problems[0]
    assert result.migrated_from is None


def test_a_newer_version_is_never_written_back_as_an_older_one() -> None:
    storage = current(state_json(version=3, workspaces=[]))
    save_state(storage, load_state(storage, now=now).state)
    saved = json.loads(storage.data[STATE_KEY])
    assert saved["version"] == 3
    assert saved["workspaces"] == []


def test_the_newer_version_backup_is_made_once() -> None:
    doc = state_json(version=3)
    storage = current(doc)
    state = load_state(storage, now=now).state
    state.settings.theme = "light"
    save_state(storage, state)
    load_state(storage, now=now)
    assert storage.data[f"{STATE_KEY}.v3-backup"] == dump_json(doc)


@pytest.mark.parametrize("version", ["2", None, True, 0, -1, 1.5])
def test_an_unreadable_version_is_reported_and_read_as_current(version: Any) -> None:
    result = load_state(current(state_json(version=version)), now=now)
    assert [p.id for p in result.state.providers] == ["openai"]
    assert "version" in result.problems[0]


# --- secrets ---------------------------------------------------------------------------


def test_secrets_never_appear_in_problems_reasons_or_reprs() -> None:
    bad_key = provider_json(id="a", api_key=SECRET + "\nmore")
    bad_header = provider_json(id="b", headers={"Authorization": f"Bearer {SECRET}", "X": "1\r"})
    settings = {"gateway_token": SECRET, "theme": 3}
    storage = current(
        state_json(providers=[bad_key, bad_header, provider_json()], settings=settings)
    )
    result = load_state(storage, now=now)
    text = " ".join(result.problems) + " ".join(q.reason for q in result.state.quarantine)
    text += repr(result) + repr(result.state) + repr(result.state.settings)
    assert len(result.state.quarantine) == 3
    assert SECRET not in text
    assert SECRET[-4:] in repr(result.state.settings)


def test_a_quarantined_entry_repr_hides_its_raw_data() -> None:
    entry = QuarantinedEntry("providers[0]", {"api_key": SECRET}, "bad", NOW)
    assert SECRET not in repr(entry)


# --- never crash -----------------------------------------------------------------------

HUGE = "x" * 1_000_000
JUNK: list[Any] = [
    None,
    0,
    -1,
    1e308,
    "",
    HUGE,
    [],
    {},
    [None],
    [[[]]],
    {"version": {"nested": [1, {"a": None}]}},
    {"version": 2, "providers": {"a": None, "b": [], "c": {"id": None}}},
    {"version": 2, "providers": [{"headers": None, "models": None, "name": None}]},
    {"version": 2, "providers": [{"base_url": HUGE}]},
    {"version": 2, "providers": [{"id": HUGE, "base_url": "https://a.example"}]},
    {"version": 2, "providers": [{"base_url": "http://[::1"}, {"base_url": "https://a:99999"}]},
    {"version": 2, "providers": [{"dialect": 5, "routing": [], "template": {}}]},
    {"version": 2, "providers": [{"baseUrl": 5, "apiKey": [], "type": None}]},
    {"version": 2, "settings": None, "routes": None, "quarantine": None},
    {"version": 2, "settings": {"temperature": "hot", "max_tokens": 1.5}, "quarantine": "x"},
    {"version": 10**30, "providers": []},
    {"providers": [{"models": 5}, {"models": "a,,b, "}, {"manual_models": None, "models": "c"}]},
    {"providers": [{"manual_models": 3, "models": "c"}]},
    {"providers": 5},
]


@pytest.mark.parametrize("value", JUNK, ids=range(len(JUNK)))
@pytest.mark.parametrize("key", [STATE_KEY, LEGACY_KEY])
def test_no_input_crashes_loading_or_the_next_save(key: str, value: Any) -> None:
    storage = MemoryStorage({key: json.dumps(value)})
    result = load_state(storage, now=now)
    save_state(storage, result.state)
    again = load_state(storage, now=now)
    assert again.state.providers == result.state.providers
    assert len(again.state.quarantine) == len(result.state.quarantine)


def test_a_provider_from_minimal_legacy_fields_takes_template_defaults() -> None:
    provider = provider_from_dict({"type": "groq", "apiKey": "gsk_1"}, legacy=True)
    assert (provider.id, provider.name, provider.base_url) == (
        "groq",
        "Groq",
        "https://api.groq.com/openai/v1",
    )


def test_a_canonical_field_wins_over_its_alias_and_the_alias_is_kept() -> None:
    provider = provider_from_dict(provider_json(baseUrl="https://old.example.com"))
    assert provider.base_url == "https://api.openai.com/v1"
    assert provider.extra == {"baseUrl": "https://old.example.com"}


def test_only_the_first_alias_present_is_used() -> None:
    provider = provider_from_dict(
        {"name": "A", "baseUrl": "https://a.example.com", "apiBase": "https://b.example.com"}
    )
    assert provider.base_url == "https://a.example.com"
    assert provider.extra == {"apiBase": "https://b.example.com"}


def test_a_provider_without_anything_usable_is_refused() -> None:
    with pytest.raises(ProviderInvalid) as caught:
        provider_from_dict({})
    assert "base_url" in caught.value.problems


def test_legacy_entries_with_the_same_name_get_distinct_ids() -> None:
    storage = legacy([{"name": "Local", "baseUrl": "http://localhost:1/v1"}] * 2)
    result = load_state(storage, now=now)
    assert [p.id for p in result.state.providers] == ["local", "local-2"]
    assert result.problems == []


def test_memory_storage_forgets_removed_keys() -> None:
    storage = MemoryStorage({"a": "1"})
    storage.remove("a")
    storage.remove("a")
    assert storage.get("a") is None


def test_current_format_models_may_be_a_comma_string() -> None:
    result = load_state(current(state_json(providers=[provider_json(models="a, b,")])), now=now)
    assert result.state.providers[0].models == ["a", "b"]


def test_a_newer_version_whose_copy_is_refused_still_loads_and_says_so() -> None:
    result = load_state(RefusingStorage({STATE_KEY: dump_json(state_json(version=3))}), now=now)
    assert [p.id for p in result.state.providers] == ["openai"]
    assert result.backup_key is None
    assert "refused to keep a copy" in result.problems[0]


def test_lone_surrogates_are_saved_escaped_so_the_page_can_store_them() -> None:
    storage = current(state_json(notes="caf\u00e9"))
    storage.data[STATE_KEY] = storage.data[STATE_KEY].replace("café", "\\ud800")
    state = load_state(storage, now=now).state
    save_state(storage, state)
    assert '"notes":"\\ud800"' in storage.data[STATE_KEY]
    assert load_state(storage, now=now).state.extra == {"notes": "\ud800"}


def test_non_ascii_text_is_saved_as_is() -> None:
    storage = current(state_json(notes="café ✓"))
    save_state(storage, load_state(storage, now=now).state)
    assert '"notes":"café ✓"' in storage.data[STATE_KEY]
