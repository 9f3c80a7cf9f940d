"""A provider as JSON: how it is saved, exported and read back, old spellings included.

Unknown fields are kept in `Provider.extra` and written back; names the earlier
product used (`baseUrl`, `apiKey`, `type`, …) are read when the field is absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from web.catalog import get_template, slug, template_for_base_url
from web.errors import ProviderInvalid
from web.providers import Dialect, Provider, Routing

_PROVIDER_FIELDS = (
    "id", "name", "base_url", "dialect", "template", "api_key", "headers", "routing", "enabled",
    "models", "manual_models",
)  # fmt: skip

# Names the earlier product (and hand-written files) used; read only when the field is absent.
_ALIASES = {
    "base_url": ("baseUrl", "baseURL", "apiBase", "api_base"),
    "api_key": ("apiKey",),
    "dialect": ("type", "kind", "provider"),
    "headers": ("extraHeaders", "extra_headers"),
    "manual_models": ("manualModels",),
}

_DIALECT_WORDS = {
    "openai-compatible": "custom", "openai_compatible": "custom", "compatible": "custom",
    "z.ai": "zai", "zhipu": "zai", "claude": "anthropic", "google": "gemini",
    "lm-studio": "lmstudio", "lm_studio": "lmstudio", "together_ai": "together",
    "fireworks_ai": "fireworks", "grok": "xai",
}  # fmt: skip


def describe(value: Any) -> str:
    """What kind of JSON value this is, in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"


def provider_from_dict(
    data: Mapping[str, Any], *, fallback_id: str = "", legacy: bool = False
) -> Provider:
    """A validated provider from saved or imported JSON; `ProviderInvalid` names each bad field.

    `legacy` reads the earlier product's `models` (typed by the person) as manual models.
    """
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key in _PROVIDER_FIELDS:
            values[key] = value
    for canonical, aliases in _ALIASES.items():
        for alias in aliases:
            if canonical not in values and alias in data:
                values[canonical] = data[alias]
    used = set(values)
    for key, value in data.items():
        if key not in _PROVIDER_FIELDS and not _consumed(key, used, data):
            extra[key] = value
    if legacy and "models" in values:
        values.setdefault("manual_models", [])
        values["manual_models"] = _join_models(values["manual_models"], values.pop("models"))

    problems: dict[str, str] = {}

    def text(name: str, default: str = "") -> str:
        value = values.get(name, default)
        if value is None:
            return default
        if not isinstance(value, str):
            problems[name] = f"must be text, not {describe(value)}"
            return default
        return value.strip()

    template_id = text("template")
    dialect, hinted = Dialect.OPENAI, ""
    raw_dialect = text("dialect")
    if raw_dialect:
        try:
            dialect, hinted = _read_dialect(raw_dialect)
        except ValueError:
            problems["dialect"] = f"unknown dialect {raw_dialect[:40]!r}; use openai or anthropic"
    base_url = text("base_url")
    template = get_template(template_id or hinted) or template_for_base_url(base_url)
    if not base_url and template is not None:
        base_url = template.base_url
    if not template_id:
        template_id = template.id if template is not None else "custom"
    if not raw_dialect and template is not None:
        dialect = template.dialect
    name = text("name") or (template.name if template is not None else "")
    provider_id = text("id") or fallback_id or slug(name) or template_id
    routing = Routing.AUTO
    raw_routing = text("routing")
    if raw_routing:
        try:
            routing = Routing(raw_routing.lower())
        except ValueError:
            problems["routing"] = (
                f"unknown routing {raw_routing[:40]!r}; use auto, direct or gateway"
            )
    enabled = values.get("enabled", True)
    if not isinstance(enabled, bool):
        problems["enabled"] = f"must be true or false, not {describe(enabled)}"
        enabled = True
    headers = _read_headers(values.get("headers"), problems)
    models = _read_models("models", values.get("models"), problems)
    manual = _read_models("manual_models", values.get("manual_models"), problems)
    api_key = text("api_key")
    if problems:
        raise ProviderInvalid(problems)
    provider = Provider(
        id=provider_id, name=name or provider_id, base_url=base_url, dialect=dialect,
        template=template_id, api_key=api_key, headers=headers, routing=routing,
        enabled=enabled, models=models, manual_models=manual, extra=extra,
    )  # fmt: skip
    provider.validate()
    return provider


def provider_to_dict(provider: Provider) -> dict[str, Any]:
    """A provider as saved JSON: the known fields, then every unknown field it was loaded with."""
    data: dict[str, Any] = {
        "id": provider.id,
        "name": provider.name,
        "base_url": provider.base_url,
        "dialect": provider.dialect.value,
        "template": provider.template,
        "api_key": provider.api_key,
        "headers": dict(provider.headers),
        "routing": provider.routing.value,
        "enabled": provider.enabled,
        "models": list(provider.models),
        "manual_models": list(provider.manual_models),
    }
    for key, value in provider.extra.items():
        data.setdefault(key, value)
    return data


def _consumed(key: str, used: set[str], data: Mapping[str, Any]) -> bool:
    for canonical, aliases in _ALIASES.items():
        if key in aliases and canonical in used and canonical not in data:
            first = next(a for a in aliases if a in data)
            return key == first
    return False


def _read_dialect(value: str) -> tuple[Dialect, str]:
    word = value.lower()
    word = _DIALECT_WORDS.get(word, word)
    template = get_template(word)
    if template is not None:
        return template.dialect, template.id
    return Dialect(word), ""


def _read_headers(value: Any, problems: dict[str, str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        problems["headers"] = "must be an object of header names to text values"
        return {}
    return {str(k): v for k, v in value.items()}


def _read_models(name: str, value: Any, problems: dict[str, str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
        problems[name] = "must be a list of model ids (text)"
        return []
    return list(dict.fromkeys(m.strip() for m in value if m.strip()))


def _join_models(first: Any, second: Any) -> Any:
    parts: list[Any] = []
    for value in (first, second):
        if value is None:
            continue
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list):
            return value  # not models at all: let validation name the field
        parts.extend(value)
    return parts
