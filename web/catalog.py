"""Templates a person picks a provider from: where it lives, what it needs, how to reach it.

A template is a hint, not a promise: `cors_hint` says what the provider did when
this list was written (stances change — api.z.ai stopped sending CORS headers
around 2026-09-07), and the health check decides. `known_models` is the fallback
when a provider's model listing gives nothing (Z.ai's `/models` has returned 404
or partial lists).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal
from urllib.parse import urlsplit

from web.errors import ProviderInvalid
from web.providers import Dialect, Provider, Routing

CorsHint = Literal["allows", "blocks", "unknown"]

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class BaseUrlChoice:
    """One of a template's base URLs, with the label a person chooses it by."""

    label: str
    url: str


@dataclass(frozen=True)
class Template:
    """A provider a person can add in a few clicks; `headers` are sent, `optional_headers` not."""

    id: str
    name: str
    dialect: Dialect
    base_url: str
    alternative_base_urls: tuple[BaseUrlChoice, ...] = ()
    needs_key: bool = True
    needs_url: bool = False
    key_url: str = ""
    docs_url: str = ""
    routing: Routing = Routing.AUTO
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    optional_headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    known_models: tuple[str, ...] = ()
    cors_hint: CorsHint = "unknown"
    note: str = ""

    @property
    def local(self) -> bool:
        """True when the template's server runs on the person's own machine."""
        host = urlsplit(self.base_url).hostname or ""
        return host in ("localhost", "127.0.0.1", "::1")

    @property
    def base_url_choices(self) -> tuple[BaseUrlChoice, ...]:
        """The default base URL followed by the alternatives."""
        if not self.base_url:
            return self.alternative_base_urls
        return (BaseUrlChoice("default", self.base_url), *self.alternative_base_urls)


def _h(**pairs: str) -> Mapping[str, str]:
    return MappingProxyType({k.replace("_", "-"): v for k, v in pairs.items()})


_PREFLIGHT = (
    "Optional headers are off by default: a non-standard header makes the browser send a "
    "CORS preflight, which some hosts reject, breaking direct calls."
)

_TEMPLATES: tuple[Template, ...] = (
    Template(
        id="openai",
        name="OpenAI",
        dialect=Dialect.OPENAI,
        base_url="https://api.openai.com/v1",
        key_url="https://platform.openai.com/api-keys",
        docs_url="https://platform.openai.com/docs/api-reference",
        known_models=(
            "gpt-5",
            "gpt-5-mini",
            "gpt-5-nano",
            "gpt-4.1",
            "gpt-4.1-mini",
            "gpt-4o",
            "gpt-4o-mini",
            "o4-mini",
            "o3",
        ),
        cors_hint="allows",
        note="Answers browser calls directly.",
    ),
    Template(
        id="anthropic",
        name="Anthropic",
        dialect=Dialect.ANTHROPIC,
        base_url="https://api.anthropic.com/v1",
        key_url="https://console.anthropic.com/settings/keys",
        docs_url="https://docs.anthropic.com/en/api/messages",
        known_models=(
            "claude-sonnet-4-5",
            "claude-haiku-4-5",
            "claude-opus-4-1",
            "claude-sonnet-4-0",
            "claude-opus-4-0",
            "claude-3-5-haiku-latest",
        ),
        cors_hint="allows",
        note="Direct browser calls work with Anthropic's browser-access header (Detour sends it).",
    ),
    Template(
        id="zai",
        name="Z.ai",
        dialect=Dialect.OPENAI,
        base_url="https://api.z.ai/api/paas/v4",
        alternative_base_urls=(
            BaseUrlChoice("coding plan", "https://api.z.ai/api/coding/paas/v4"),
        ),
        key_url="https://z.ai/manage-apikey/apikey-list",
        docs_url="https://docs.z.ai/api-reference/introduction",
        routing=Routing.GATEWAY,
        headers=_h(Accept_Language="en-US,en"),
        known_models=(
            "glm-5.1",
            "glm-5",
            "glm-5-turbo",
            "glm-4.7",
            "glm-4.7-flash",
            "glm-4.6",
            "glm-4.6v",
            "glm-4.5",
            "glm-4.5-air",
            "glm-4.5-x",
            "glm-4.5-airx",
            "glm-4.5-flash",
            "glm-4.5v",
            "glm-4-32b-0414-128k",
        ),
        cors_hint="blocks",
        note=(
            "api.z.ai stopped sending CORS headers around 2026-09-07, so it goes through the "
            "gateway by default. Pick the coding-plan URL for a GLM Coding Plan key. Its model "
            "list is unreliable; the known GLM models are offered when it gives none."
        ),
    ),
    Template(
        id="openrouter",
        name="OpenRouter",
        dialect=Dialect.OPENAI,
        base_url="https://openrouter.ai/api/v1",
        key_url="https://openrouter.ai/settings/keys",
        docs_url="https://openrouter.ai/docs/api-reference/overview",
        optional_headers=_h(HTTP_Referer="", X_Title="Detour"),
        known_models=(
            "openrouter/auto",
            "openai/gpt-4o-mini",
            "anthropic/claude-sonnet-4.5",
            "meta-llama/llama-3.3-70b-instruct",
        ),
        cors_hint="allows",
        note=(
            "HTTP-Referer (your page's address) and X-Title only attribute your app on "
            "openrouter.ai. " + _PREFLIGHT
        ),
    ),
    Template(
        id="groq",
        name="Groq",
        dialect=Dialect.OPENAI,
        base_url="https://api.groq.com/openai/v1",
        key_url="https://console.groq.com/keys",
        docs_url="https://console.groq.com/docs/openai",
        known_models=(
            "llama-3.3-70b-versatile",
            "llama-3.1-8b-instant",
            "openai/gpt-oss-120b",
            "openai/gpt-oss-20b",
        ),
        cors_hint="allows",
    ),
    Template(
        id="mistral",
        name="Mistral",
        dialect=Dialect.OPENAI,
        base_url="https://api.mistral.ai/v1",
        key_url="https://console.mistral.ai/api-keys",
        docs_url="https://docs.mistral.ai/api/",
        known_models=(
            "mistral-large-latest",
            "mistral-medium-latest",
            "mistral-small-latest",
            "codestral-latest",
        ),
    ),
    Template(
        id="deepseek",
        name="DeepSeek",
        dialect=Dialect.OPENAI,
        base_url="https://api.deepseek.com/v1",
        key_url="https://platform.deepseek.com/api_keys",
        docs_url="https://api-docs.deepseek.com/",
        known_models=("deepseek-chat", "deepseek-reasoner"),
    ),
    Template(
        id="together",
        name="Together AI",
        dialect=Dialect.OPENAI,
        base_url="https://api.together.xyz/v1",
        key_url="https://api.together.ai/settings/api-keys",
        docs_url="https://docs.together.ai/docs/openai-api-compatibility",
        known_models=(
            "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            "deepseek-ai/DeepSeek-V3",
            "Qwen/Qwen2.5-72B-Instruct-Turbo",
        ),
    ),
    Template(
        id="fireworks",
        name="Fireworks AI",
        dialect=Dialect.OPENAI,
        base_url="https://api.fireworks.ai/inference/v1",
        key_url="https://fireworks.ai/account/api-keys",
        docs_url="https://docs.fireworks.ai/tools-sdks/openai-compatibility",
        known_models=(
            "accounts/fireworks/models/llama-v3p3-70b-instruct",
            "accounts/fireworks/models/deepseek-v3",
        ),
    ),
    Template(
        id="xai",
        name="xAI",
        dialect=Dialect.OPENAI,
        base_url="https://api.x.ai/v1",
        key_url="https://console.x.ai/",
        docs_url="https://docs.x.ai/docs/api-reference",
        known_models=("grok-4", "grok-3", "grok-3-mini"),
    ),
    Template(
        id="gemini",
        name="Google Gemini",
        dialect=Dialect.OPENAI,
        base_url="https://generativelanguage.googleapis.com/v1beta/openai",
        key_url="https://aistudio.google.com/app/apikey",
        docs_url="https://ai.google.dev/gemini-api/docs/openai",
        known_models=(
            "gemini-2.5-pro",
            "gemini-2.5-flash",
            "gemini-2.5-flash-lite",
            "gemini-2.0-flash",
        ),
        cors_hint="allows",
        note="Gemini's OpenAI-compatible endpoint.",
    ),
    Template(
        id="ollama",
        name="Ollama (this computer)",
        dialect=Dialect.OPENAI,
        base_url="http://localhost:11434/v1",
        needs_key=False,
        docs_url="https://github.com/ollama/ollama/blob/main/docs/openai.md",
        routing=Routing.DIRECT,
        note=(
            "Runs on your computer, so the gateway cannot reach it: calls go direct. If the "
            "page is not served from localhost, start Ollama with OLLAMA_ORIGINS set to its origin."
        ),
    ),
    Template(
        id="lmstudio",
        name="LM Studio (this computer)",
        dialect=Dialect.OPENAI,
        base_url="http://localhost:1234/v1",
        needs_key=False,
        docs_url="https://lmstudio.ai/docs/app/api/endpoints/openai",
        routing=Routing.DIRECT,
        note=(
            "Runs on your computer, so the gateway cannot reach it: calls go direct. Turn on "
            "'Enable CORS' in LM Studio's server settings."
        ),
    ),
    Template(
        id="custom",
        name="Custom (OpenAI-compatible)",
        dialect=Dialect.OPENAI,
        base_url="",
        needs_key=False,
        needs_url=True,
        note="Any server that speaks the OpenAI API: enter its base URL (ending in /v1, usually).",
    ),
)

_BY_ID: Mapping[str, Template] = MappingProxyType({t.id: t for t in _TEMPLATES})


def templates() -> list[Template]:
    """Every template, in the order a person is offered them."""
    return list(_TEMPLATES)


def get_template(template_id: str) -> Template | None:
    """The template with this id, or None when there is none."""
    return _BY_ID.get(template_id)


def known_models(template_id: str) -> list[str]:
    """The template's fallback model ids (empty for an unknown template)."""
    template = _BY_ID.get(template_id)
    return list(template.known_models) if template else []


def template_for_base_url(url: str) -> Template | None:
    """The template whose host serves `url` (e.g. any api.z.ai URL is Z.ai), if any."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return None
    for template in _TEMPLATES:
        template_host = urlsplit(template.base_url).hostname
        if template_host and not template.local and template_host == host:
            return template
    return None


def unique_id(wanted: str, taken: Iterable[str]) -> str:
    """`wanted`, or `wanted-2`, `wanted-3`… — the first one not in `taken`."""
    taken_set = set(taken)
    base = slug(wanted) or "provider"
    if base not in taken_set:
        return base
    number = 2
    while f"{base[:60]}-{number}" in taken_set:
        number += 1
    return f"{base[:60]}-{number}"


def slug(text: str) -> str:
    """A provider id made from free text: lower case, `[a-z0-9._-]`, at most 64 characters."""
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    return cleaned[:64].rstrip("-._")


def provider_from_template(
    template_id: str,
    *,
    api_key: str = "",
    base_url: str | None = None,
    name: str | None = None,
    provider_id: str | None = None,
    existing_ids: Iterable[str] = (),
) -> Provider:
    """A validated provider made from a template, with an id no existing provider has."""
    template = _BY_ID.get(template_id)
    if template is None:
        choices = ", ".join(_BY_ID)
        raise ProviderInvalid({"template": f"there is no template {template_id!r}; use {choices}"})
    taken = list(existing_ids)
    new_id = unique_id(provider_id or template.id, taken)
    default_name = template.name
    for choice in template.alternative_base_urls:
        if base_url is not None and choice.url.rstrip("/") == base_url.strip().rstrip("/"):
            default_name = f"{template.name} ({choice.label})"
    if provider_id is None and new_id != template.id:
        default_name = f"{template.name} {new_id.rsplit('-', 1)[-1]}"
    provider = Provider(
        id=new_id,
        name=name if name is not None else default_name,
        base_url=(base_url if base_url is not None else template.base_url).strip(),
        dialect=template.dialect,
        template=template.id,
        api_key=api_key.strip(),
        headers=dict(template.headers),
        routing=template.routing,
    )
    provider.validate()
    return provider
