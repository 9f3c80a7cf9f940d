"""Export and import of providers: Detour JSON, and LiteLLM model_list YAML."""

from __future__ import annotations

import json
from typing import Any

import pytest

from web.catalog import provider_from_template
from web.errors import ImportInvalid
from web.portability import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    ImportResult,
    export_providers,
    import_litellm_yaml,
    import_providers,
)
from web.providers import Dialect, Provider, Routing

SECRET = "sk-live-SECRET-1234567890"


def saved() -> list[Provider]:
    openai = provider_from_template("openai", api_key=SECRET)
    openai.headers = {"Authorization-Extra": "tok-abc", "X-Team": "blue"}
    openai.extra = {"pricing": {"in": 1}, "session_token": "st-123"}
    zai = provider_from_template("zai", api_key="zai-key-000000000")
    zai.manual_models = ["glm-4.6"]
    return [openai, zai]


def export_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(export_providers(saved(), include_keys=True))
    doc.update(changes)
    return doc


# --- export ----------------------------------------------------------------------------


def test_export_carries_its_format_and_version() -> None:
    doc = json.loads(export_providers(saved()))
    assert (doc["format"], doc["version"], doc["keys_included"]) == (
        EXPORT_FORMAT,
        EXPORT_VERSION,
        False,
    )
    assert [p["id"] for p in doc["providers"]] == ["openai", "zai"]


def test_export_without_keys_leaves_out_keys_and_secret_looking_values() -> None:
    text = export_providers(saved())
    doc = json.loads(text)
    assert "api_key" not in doc["providers"][0]
    assert doc["providers"][0]["headers"] == {"X-Team": "blue"}
    assert doc["providers"][0]["pricing"] == {"in": 1}
    assert "session_token" not in doc["providers"][0]
    for secret in (SECRET, "tok-abc", "st-123", "zai-key-000000000"):
        assert secret not in text


def test_export_with_keys_includes_them() -> None:
    doc = json.loads(export_providers(saved(), include_keys=True))
    assert doc["keys_included"] is True
    assert doc["providers"][0]["api_key"] == SECRET
    assert doc["providers"][0]["headers"]["Authorization-Extra"] == "tok-abc"
    assert doc["providers"][0]["session_token"] == "st-123"


# --- import of Detour JSON -------------------------------------------------------------


def test_import_into_nothing_adds_every_provider() -> None:
    result = import_providers(export_providers(saved(), include_keys=True), [])
    assert [p.id for p in result.added] == ["openai", "zai"]
    assert result.providers == saved()
    assert (result.updated, result.renamed, result.skipped) == ([], [], [])


def test_reimport_of_the_same_endpoint_updates_and_keeps_the_saved_key() -> None:
    exported = json.loads(export_providers(saved()))
    exported["providers"][1]["routing"] = "direct"
    result = import_providers(json.dumps(exported), saved())
    assert [p.id for p in result.updated] == ["openai", "zai"]
    assert result.added == []
    openai, zai = result.providers
    assert openai.api_key == SECRET
    assert openai.headers["Authorization-Extra"] == "tok-abc"
    assert zai.api_key == "zai-key-000000000"
    assert zai.routing is Routing.DIRECT


def test_an_imported_key_replaces_the_saved_one() -> None:
    doc = export_doc()
    doc["providers"][0]["api_key"] = "sk-new-key-000000"
    result = import_providers(json.dumps(doc), saved())
    assert result.providers[0].api_key == "sk-new-key-000000"


def test_import_does_not_change_the_providers_passed_in() -> None:
    existing = saved()
    doc = export_doc()
    doc["providers"][0]["name"] = "Renamed"
    import_providers(json.dumps(doc), existing)
    assert existing[0].name == "OpenAI"


def test_the_same_id_on_another_endpoint_gets_a_new_id() -> None:
    doc = export_doc()
    doc["providers"][0]["base_url"] = "https://proxy.example.com/v1"
    result = import_providers(json.dumps(doc), saved())
    assert result.renamed == [("openai", "openai-2")]
    assert [p.id for p in result.added] == ["openai-2"]
    assert result.providers[0].base_url == "https://api.openai.com/v1"


def test_the_same_id_twice_in_one_file_is_renamed_not_merged() -> None:
    doc = export_doc()
    doc["providers"] = [doc["providers"][0], dict(doc["providers"][0], name="Second")]
    result = import_providers(json.dumps(doc), [])
    assert [p.id for p in result.providers] == ["openai", "openai-2"]
    assert result.renamed == [("openai", "openai-2")]


def test_invalid_entries_are_skipped_with_reasons_and_the_rest_import() -> None:
    doc = export_doc()
    doc["providers"] += [5, {"id": "bad", "base_url": "ftp://x"}, {"name": "NoUrl"}]
    result = import_providers(json.dumps(doc), [])
    assert len(result.added) == 2
    assert [(s.label, s.reason.split(":")[0]) for s in result.skipped] == [
        ("entry 3", "it is a number, not a provider"),
        ("bad", "base_url"),
        ("NoUrl", "base_url"),
    ]
    assert result.summary() == "Import: 2 added, 0 updated, 3 skipped."


def test_an_earlier_version_list_imports_with_camel_case_fields() -> None:
    legacy = [{"name": "Mine", "baseUrl": "https://llm.example.com/v1", "models": "a, b"}]
    result = import_providers(json.dumps(legacy), [])
    assert result.added[0].manual_models == ["a", "b"]
    assert result.added[0].routing is Routing.AUTO


def test_a_saved_state_document_imports_its_providers() -> None:
    state = {"version": 2, "providers": export_doc()["providers"], "settings": {}}
    result = import_providers(json.dumps(state), [])
    assert [p.id for p in result.added] == ["openai", "zai"]


def test_an_object_keyed_by_id_imports() -> None:
    result = import_providers(json.dumps({"mine": {"baseUrl": "https://a.example.com/v1"}}), [])
    assert result.added[0].id == "mine"


def test_a_newer_export_imports_with_a_note() -> None:
    doc = export_doc(version=EXPORT_VERSION + 1)
    doc["providers"][0]["future"] = [1]
    result = import_providers(json.dumps(doc), [])
    assert result.providers[0].extra["future"] == [1]
    assert "newer Detour" in result.notes[0]


def test_text_that_is_not_json_is_refused_with_its_line() -> None:
    with pytest.raises(ImportInvalid) as caught:
        import_providers('{\n  "format": "detour.providers",\n  oops\n}', [])
    assert "line 3" in str(caught.value)


def test_absurdly_nested_json_is_refused_not_crashed() -> None:
    with pytest.raises(ImportInvalid):
        import_providers("[" * 200_000, [])


def test_another_format_is_refused() -> None:
    with pytest.raises(ImportInvalid) as caught:
        import_providers(json.dumps({"format": "chatbox.backup", "providers": []}), [])
    assert "chatbox.backup" in str(caught.value)


@pytest.mark.parametrize("text", ["5", '"x"', "null", '{"format": "detour.providers"}'])
def test_a_file_without_providers_is_refused(text: str) -> None:
    with pytest.raises(ImportInvalid, match="No providers found"):
        import_providers(text, [])


def test_import_reasons_never_show_keys() -> None:
    doc = export_doc()
    doc["providers"][0]["api_key"] = SECRET + "\nx"
    result = import_providers(json.dumps(doc), [])
    shown = " ".join(s.reason + s.label for s in result.skipped) + repr(result)
    assert result.skipped
    assert SECRET not in shown


# --- LiteLLM YAML ----------------------------------------------------------------------

DOCS_EXAMPLE = """
model_list:
  - model_name: zai-coding-model
    litellm_params:
      model: openai/zai-coding-model
      api_base: "https://api.z.ai/api/coding/paas/v4"
      api_key: "zai-literal-key-0000"
"""


def test_the_docs_example_becomes_a_zai_coding_plan_provider() -> None:
    result = import_litellm_yaml(DOCS_EXAMPLE, [])
    [provider] = result.added
    assert provider.template == "zai"
    assert provider.name == "Z.ai (coding plan)"
    assert provider.base_url == "https://api.z.ai/api/coding/paas/v4"
    assert provider.routing is Routing.GATEWAY
    assert provider.headers == {"Accept-Language": "en-US,en"}
    assert provider.manual_models == ["zai-coding-model"]
    assert provider.api_key == "zai-literal-key-0000"
    assert result.notes == []


def test_environment_keys_are_left_empty_with_a_note() -> None:
    text = DOCS_EXAMPLE.replace('"zai-literal-key-0000"', "os.environ/ZAI_API_KEY")
    result = import_litellm_yaml(text, [])
    assert result.added[0].api_key == ""
    assert result.notes == [
        "Set the key for Z.ai (coding plan) by hand (it was os.environ/ZAI_API_KEY)."
    ]


PREFIXES = """
model_list:
  - model_name: claude
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/ANTHROPIC_API_KEY}
  - model_name: haiku
    litellm_params: {model: anthropic/claude-haiku-4-5, api_key: os.environ/ANTHROPIC_API_KEY}
  - model_name: glm
    litellm_params: {model: zai/glm-4.6, api_key: zk-1}
  - model_name: gpt-4o
    litellm_params: {model: gpt-4o, api_key: sk-a}
  - model_name: local
    litellm_params: {model: ollama/llama3.2}
  - model_name: self-hosted
    litellm_params: {model: anthropic/claude-x, api_base: "https://claude.example.com"}
"""


def test_prefixes_map_to_dialects_templates_and_default_bases() -> None:
    result = import_litellm_yaml(PREFIXES, [])
    found = {p.id: p for p in result.added}
    assert set(found) == {"anthropic", "zai", "openai", "ollama", "anthropic-2"}
    anthropic = found["anthropic"]
    assert anthropic.dialect is Dialect.ANTHROPIC
    assert anthropic.base_url == "https://api.anthropic.com/v1"
    assert anthropic.manual_models == ["claude-sonnet-4-5", "claude-haiku-4-5"]
    assert found["zai"].base_url == "https://api.z.ai/api/paas/v4"
    assert found["zai"].routing is Routing.GATEWAY
    assert found["openai"].base_url == "https://api.openai.com/v1"
    assert found["ollama"].base_url == "http://localhost:11434/v1"
    assert found["anthropic-2"].base_url == "https://claude.example.com/v1"


def test_model_names_that_differ_from_the_real_id_are_kept_as_aliases() -> None:
    result = import_litellm_yaml(PREFIXES, [])
    anthropic = next(p for p in result.added if p.id == "anthropic")
    assert anthropic.extra["model_aliases"] == {
        "claude": "claude-sonnet-4-5",
        "haiku": "claude-haiku-4-5",
    }
    assert any("claude → claude-sonnet-4-5" in note for note in result.notes)


def test_one_note_per_provider_whose_key_must_be_set_by_hand() -> None:
    result = import_litellm_yaml(PREFIXES, [])
    key_notes = [n for n in result.notes if n.startswith("Set the key")]
    assert key_notes == [
        "Set the key for Anthropic by hand (it was os.environ/ANTHROPIC_API_KEY).",
        "Set the key for Anthropic by hand (the YAML gave none).",
    ]


def test_mock_response_entries_are_skipped_with_a_note() -> None:
    text = (
        "model_list:\n  - {model_name: demo, litellm_params: {model: openai/x, mock_response: hi}}"
    )
    result = import_litellm_yaml(text, [])
    assert result.added == []
    assert result.skipped[0].label == "demo"
    assert "gateway" in result.skipped[0].reason


def test_an_openai_base_of_a_known_host_uses_that_template() -> None:
    text = """
model_list:
  - model_name: llama
    litellm_params: {model: openai/llama-3.3-70b-versatile, api_base: "https://api.groq.com/openai/v1"}
  - model_name: mine
    litellm_params: {model: hosted_vllm/qwen, api_base: "https://vllm.example.com/v1"}
"""
    result = import_litellm_yaml(text, [])
    assert [(p.id, p.template) for p in result.added] == [("groq", "groq"), ("custom", "custom")]


def test_entries_with_different_keys_become_different_providers() -> None:
    text = """
model_list:
  - {model_name: a, litellm_params: {model: gpt-4o, api_key: sk-one}}
  - {model_name: b, litellm_params: {model: gpt-4o-mini, api_key: sk-two}}
"""
    result = import_litellm_yaml(text, [])
    assert [(p.id, p.api_key) for p in result.added] == [
        ("openai", "sk-one"),
        ("openai-2", "sk-two"),
    ]


def test_yaml_for_a_saved_endpoint_adds_models_and_keeps_the_saved_key() -> None:
    text = DOCS_EXAMPLE.replace("coding/", "").replace("zai-literal-key-0000", "other-key")
    result = import_litellm_yaml(text, saved())
    assert result.added == []
    [zai] = result.updated
    assert zai.manual_models == ["glm-4.6", "zai-coding-model"]
    assert zai.api_key == "zai-key-000000000"
    assert "kept its saved key" in result.notes[0]


def test_yaml_fills_a_key_the_saved_endpoint_lacks() -> None:
    existing = [provider_from_template("zai", base_url="https://api.z.ai/api/coding/paas/v4")]
    existing[0].extra = {"model_aliases": "junk"}
    text = DOCS_EXAMPLE.replace("model_name: zai-coding-model", "model_name: coder")
    result = import_litellm_yaml(text, existing)
    [zai] = result.updated
    assert zai.api_key == "zai-literal-key-0000"
    assert zai.extra["model_aliases"] == {"coder": "zai-coding-model"}


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("5", "not a model entry"),
        ("{model_name: x}", "no litellm_params.model"),
        ("{model_name: x, litellm_params: {model: ''}}", "no litellm_params.model"),
        ("{model_name: x, litellm_params: {model: bedrock/claude}}", "'bedrock'"),
        ("{model_name: x, litellm_params: {model: mystery-model}}", "'mystery-model'"),
        (
            "{model_name: x, litellm_params: {model: openai/m, api_base: os.environ/BASE}}",
            "os.environ/BASE",
        ),
        ("{model_name: x, litellm_params: {model: openai/m, api_base: 5}}", "a number"),
        (
            "{model_name: x, litellm_params: {model: openai/m, api_base: 'ftp://x'}}",
            "base_url",
        ),
    ],
)
def test_unusable_yaml_entries_are_skipped_with_reasons(entry: str, reason: str) -> None:
    result = import_litellm_yaml(f"model_list:\n  - {entry}\n", [])
    assert result.added == []
    assert reason in result.skipped[0].reason


def test_extra_headers_are_kept() -> None:
    text = """
model_list:
  - model_name: m
    litellm_params:
      model: openai/m
      api_base: https://llm.example.com/v1
      extra_headers: {X-Org: acme}
"""
    assert import_litellm_yaml(text, []).added[0].headers == {"X-Org": "acme"}


def test_a_bare_list_of_entries_is_accepted() -> None:
    result = import_litellm_yaml("- {model_name: m, litellm_params: {model: gpt-4o}}", [])
    assert [p.id for p in result.added] == ["openai"]


def test_bad_yaml_is_refused_with_its_line_number() -> None:
    with pytest.raises(ImportInvalid) as caught:
        import_litellm_yaml("model_list:\n  - model_name: a\n    litellm_params: [oops\n", [])
    assert "line 4" in str(caught.value)


def test_yaml_that_cannot_be_constructed_is_refused() -> None:
    with pytest.raises(ImportInvalid):
        import_litellm_yaml("model_list: 2026-13-45", [])


@pytest.mark.parametrize("text", ["", "5", "model_list: 5", "other: []"])
def test_yaml_without_a_model_list_is_refused(text: str) -> None:
    with pytest.raises(ImportInvalid, match="model_list"):
        import_litellm_yaml(text, [])


def test_the_summary_counts_renames() -> None:
    result = ImportResult(renamed=[("a", "a-2")])
    assert result.summary() == "Import: 0 added, 0 updated, 1 given a new id."


def test_a_bare_claude_model_is_anthropic() -> None:
    result = import_litellm_yaml("- {model_name: c, litellm_params: {model: claude-opus-4-1}}", [])
    assert result.added[0].dialect is Dialect.ANTHROPIC


def test_another_id_on_a_saved_endpoint_is_added_beside_it() -> None:
    doc = export_doc()
    doc["providers"] = [dict(doc["providers"][0], id="second-account")]
    result = import_providers(json.dumps(doc), saved())
    assert [p.id for p in result.added] == ["second-account"]
    assert len(result.providers) == 3


def test_providers_imported_without_keys_are_named_in_notes() -> None:
    result = import_providers(export_providers(saved()), [])
    assert result.notes == [
        "Set the key for OpenAI by hand (the file has none).",
        "Set the key for Z.ai by hand (the file has none).",
    ]
