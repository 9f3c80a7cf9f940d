"""The catalog of provider templates: integrity, Z.ai specifics, providers made from templates."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from web.catalog import (
    BaseUrlChoice,
    Template,
    get_template,
    known_models,
    provider_from_template,
    slug,
    template_for_base_url,
    templates,
    unique_id,
)
from web.errors import ProviderInvalid
from web.providers import Dialect, Routing

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def test_template_ids_are_unique() -> None:
    ids = [t.id for t in templates()]
    assert len(ids) == len(set(ids))


def test_the_brief_s_providers_are_all_offered() -> None:
    ids = {t.id for t in templates()}
    wanted = {"openai", "anthropic", "zai", "openrouter", "groq", "mistral", "deepseek"}
    wanted |= {"together", "fireworks", "xai", "gemini", "ollama", "lmstudio", "custom"}
    assert wanted <= ids


@pytest.mark.parametrize("template", templates(), ids=lambda t: t.id)
def test_every_template_validates_as_a_provider(template: Template) -> None:
    base_url = "https://llm.example.com/v1" if template.needs_url else None
    provider = provider_from_template(template.id, api_key="sk-test-0000", base_url=base_url)
    assert provider.template == template.id
    assert provider.dialect == template.dialect
    assert provider.routing == template.routing


@pytest.mark.parametrize("template", templates(), ids=lambda t: t.id)
def test_base_urls_are_https_except_on_this_computer(template: Template) -> None:
    for choice in template.base_url_choices:
        parts = urlsplit(choice.url)
        if parts.hostname in LOCAL_HOSTS:
            assert parts.scheme == "http"
        else:
            assert parts.scheme == "https", choice.url
    for url in (template.key_url, template.docs_url):
        assert url == "" or url.startswith("https://")


def test_only_the_custom_template_needs_a_url_and_has_none() -> None:
    needs_url = [t.id for t in templates() if t.needs_url]
    assert needs_url == ["custom"]
    assert all(t.base_url for t in templates() if not t.needs_url)


def test_local_templates_need_no_key_and_go_direct() -> None:
    local = [t for t in templates() if t.local]
    assert {t.id for t in local} == {"ollama", "lmstudio"}
    assert all(not t.needs_key and t.routing is Routing.DIRECT for t in local)
    assert get_template("ollama").base_url == "http://localhost:11434/v1"  # type: ignore[union-attr]
    assert get_template("lmstudio").base_url == "http://localhost:1234/v1"  # type: ignore[union-attr]


def test_zai_defaults_to_the_gateway_with_its_header_and_models() -> None:
    zai = get_template("zai")
    assert zai is not None
    assert zai.routing is Routing.GATEWAY
    assert zai.base_url == "https://api.z.ai/api/paas/v4"
    assert BaseUrlChoice("coding plan", "https://api.z.ai/api/coding/paas/v4") in (
        zai.alternative_base_urls
    )
    assert dict(zai.headers) == {"Accept-Language": "en-US,en"}
    assert {"glm-4.6", "glm-4.5", "glm-4.5-air", "glm-4.5-flash", "glm-4.5v"} <= set(
        zai.known_models
    )
    assert "glm-4-32b-0414-128k" in zai.known_models
    assert zai.cors_hint == "blocks"
    assert "2026-09-07" in zai.note


def test_a_zai_provider_carries_the_header_and_gateway_route() -> None:
    provider = provider_from_template("zai", api_key="k" * 20)
    assert provider.headers == {"Accept-Language": "en-US,en"}
    assert provider.routing is Routing.GATEWAY


def test_openrouter_attribution_headers_are_optional_and_off() -> None:
    openrouter = get_template("openrouter")
    assert openrouter is not None
    assert set(openrouter.optional_headers) == {"HTTP-Referer", "X-Title"}
    assert provider_from_template("openrouter").headers == {}
    assert "preflight" in openrouter.note


def test_gemini_uses_its_openai_compatible_endpoint() -> None:
    gemini = get_template("gemini")
    assert gemini is not None
    assert gemini.base_url == "https://generativelanguage.googleapis.com/v1beta/openai"
    assert gemini.dialect is Dialect.OPENAI


def test_anthropic_speaks_its_own_dialect() -> None:
    anthropic = get_template("anthropic")
    assert anthropic is not None
    assert anthropic.dialect is Dialect.ANTHROPIC
    assert anthropic.base_url == "https://api.anthropic.com/v1"


def test_cors_hints_are_one_of_three_words() -> None:
    assert {t.cors_hint for t in templates()} <= {"allows", "blocks", "unknown"}


def test_templates_cannot_be_changed_by_a_caller() -> None:
    zai = get_template("zai")
    assert zai is not None
    with pytest.raises(TypeError):
        zai.headers["X-Evil"] = "1"  # type: ignore[index]
    templates().clear()
    assert get_template("zai") is zai


def test_known_models_falls_back_to_the_template_list() -> None:
    assert known_models("zai")[0].startswith("glm-")
    assert known_models("ollama") == []
    assert known_models("no-such-template") == []


def test_unknown_template_id_is_none() -> None:
    assert get_template("nope") is None


def test_ids_are_made_unique_against_existing_ones() -> None:
    first = provider_from_template("zai", existing_ids=["openai"])
    second = provider_from_template("zai", existing_ids=["zai"])
    third = provider_from_template("zai", existing_ids=["zai", "zai-2"])
    assert (first.id, second.id, third.id) == ("zai", "zai-2", "zai-3")
    assert second.name == "Z.ai 2"


def test_an_explicit_id_and_name_are_used() -> None:
    provider = provider_from_template(
        "openai", provider_id="Work OpenAI", name="Work", api_key=" sk-x "
    )
    assert (provider.id, provider.name, provider.api_key) == ("work-openai", "Work", "sk-x")


def test_the_zai_coding_plan_url_can_be_chosen() -> None:
    provider = provider_from_template("zai", base_url="https://api.z.ai/api/coding/paas/v4")
    assert provider.base_url == "https://api.z.ai/api/coding/paas/v4"
    assert provider.name == "Z.ai (coding plan)"


def test_custom_without_a_url_is_refused_with_the_field_named() -> None:
    with pytest.raises(ProviderInvalid) as caught:
        provider_from_template("custom")
    assert "base_url" in caught.value.problems


def test_an_unknown_template_is_refused_with_the_choices() -> None:
    with pytest.raises(ProviderInvalid) as caught:
        provider_from_template("nope")
    assert "zai" in caught.value.problems["template"]


def test_base_url_hosts_map_back_to_templates() -> None:
    found = template_for_base_url("https://api.z.ai/api/coding/paas/v4")
    assert found is not None and found.id == "zai"
    assert template_for_base_url("http://localhost:11434/v1") is None
    assert template_for_base_url("https://llm.example.com/v1") is None
    assert template_for_base_url("http://[::1") is None


def test_slug_and_unique_id_keep_to_the_id_alphabet() -> None:
    assert slug("  My Z.ai — Work!  ") == "my-z.ai-work"
    assert slug("***") == ""
    assert unique_id("***", []) == "provider"
    assert len(unique_id("x" * 100, ["x" * 64])) <= 64
