"""Moving providers in and out: Detour's own JSON export, and LiteLLM `model_list` YAML.

Import policy: an imported provider whose id *and* endpoint (dialect, base URL)
match a saved one updates it; when the file carries no key (exports leave keys
out unless asked), the saved key and secret headers are kept. The same id on a
different endpoint, or twice in one file, gets a fresh id (`zai-2`) instead of
overwriting. A bad entry is skipped with its reason; the rest still import.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from web.catalog import Template, get_template, template_for_base_url, unique_id
from web.errors import ImportInvalid, ProviderInvalid
from web.provider_json import describe, provider_from_dict, provider_to_dict
from web.providers import Dialect, Provider
from web.store import SCHEMA_VERSION

EXPORT_FORMAT = "detour.providers"
EXPORT_VERSION = 1

_SECRET_NAME = re.compile(r"auth|key|token|secret|cookie|password", re.IGNORECASE)
# LiteLLM provider prefix -> Detour template; `openai/` and friends use the api_base's template.
_LITELLM_TEMPLATES = {
    "anthropic": "anthropic", "zai": "zai", "groq": "groq", "mistral": "mistral",
    "deepseek": "deepseek", "together_ai": "together", "fireworks_ai": "fireworks",
    "xai": "xai", "gemini": "gemini", "openrouter": "openrouter", "ollama": "ollama",
    "ollama_chat": "ollama", "lm_studio": "lmstudio",
}  # fmt: skip
_OPENAI_LIKE = ("openai", "custom_openai", "openai_like", "hosted_vllm")
_BARE_OPENAI = re.compile(r"^(gpt-|o[1-9]|chatgpt-|text-embedding-)")


@dataclass(frozen=True)
class SkippedEntry:
    """One entry of an imported file that was not imported, and why."""

    label: str
    reason: str


@dataclass
class ImportResult:
    """`providers` is the whole list to keep (saved ones, updated, then added)."""

    providers: list[Provider] = field(default_factory=list)
    added: list[Provider] = field(default_factory=list)
    updated: list[Provider] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[SkippedEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line a person can read: what was added, updated, renamed and skipped."""
        parts = [f"{len(self.added)} added", f"{len(self.updated)} updated"]
        if self.renamed:
            parts.append(f"{len(self.renamed)} given a new id")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        return "Import: " + ", ".join(parts) + "."


def export_providers(providers: list[Provider], *, include_keys: bool = False) -> str:
    """A JSON export; keys and secret-looking headers/fields are left out unless asked."""
    entries = []
    for provider in providers:
        data = provider_to_dict(provider)
        if not include_keys:
            data = {k: v for k, v in data.items() if k == "headers" or not _is_secret_field(k)}
            data["headers"] = {
                k: v for k, v in provider.headers.items() if not _SECRET_NAME.search(k)
            }
        entries.append(data)
    doc = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "keys_included": include_keys,
        "providers": entries,
    }
    return json.dumps(doc, ensure_ascii=False, indent=2)


def import_providers(text: str, existing: list[Provider]) -> ImportResult:
    """Merge a Detour export (or a saved-state / earlier-version list) into `existing`."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportInvalid(
            f"The file is not JSON (line {error.lineno}, column {error.colno}: {error.msg})",
            hint="choose a file exported by Detour, or import a LiteLLM YAML instead",
        ) from None
    except (ValueError, RecursionError):
        raise ImportInvalid(
            "The file is not JSON Detour can read", hint="choose a Detour export"
        ) from None
    result = ImportResult()
    legacy = True
    if isinstance(data, dict) and ("format" in data or "providers" in data):
        kind = data.get("format", EXPORT_FORMAT)
        if kind != EXPORT_FORMAT:
            raise ImportInvalid(
                f"This file is a {str(kind)[:40]!r} document, not a Detour providers export",
                hint="choose a file made with Export providers",
            )
        version = data.get("version")
        legacy = "format" not in data and version != SCHEMA_VERSION
        if "format" in data and isinstance(version, int) and version > EXPORT_VERSION:
            result.notes.append(
                f"The file comes from a newer Detour (export format {version}); fields this "
                "version does not know were kept as they are."
            )
        entries = data.get("providers")
    else:
        entries = data
    if isinstance(entries, dict):
        items = [(str(k), v) for k, v in entries.items()]
    elif isinstance(entries, list):
        items = [("", v) for v in entries]
    else:
        raise ImportInvalid(
            f"No providers found: the file holds {describe(entries)}",
            hint="choose a file made with Export providers",
        )
    merger = _Merger(existing, result)
    for index, (key, entry) in enumerate(items):
        label = _entry_label(entry, key or f"entry {index + 1}")
        if not isinstance(entry, dict):
            result.skipped.append(SkippedEntry(label, f"it is {describe(entry)}, not a provider"))
            continue
        try:
            provider = provider_from_dict(entry, fallback_id=key, legacy=legacy)
        except ProviderInvalid as error:
            why = "; ".join(f"{name}: {reason}" for name, reason in error.problems.items())
            result.skipped.append(SkippedEntry(label, why))
            continue
        merger.merge(provider, same_id_only=True)
    for provider in result.added:
        template = get_template(provider.template)
        if not provider.api_key and template is not None and template.needs_key:
            result.notes.append(f"Set the key for {provider.name} by hand (the file has none).")
    return merger.finish()


def import_litellm_yaml(text: str, existing: list[Provider]) -> ImportResult:
    """Turn a LiteLLM `model_list` into providers, one per endpoint and key."""
    try:
        import yaml  # shipped into the page only for this
    except ImportError:  # pragma: no cover - the build ships PyYAML
        raise ImportInvalid(
            "YAML support is not loaded in this page", hint="import JSON instead"
        ) from None
    try:
        data: Any = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else 0
        raise ImportInvalid(
            f"The YAML could not be read (line {line}: {error.problem})",
            hint="fix that line, or paste the config again",
        ) from None
    except Exception:  # yaml raises ValueError, RecursionError… on odd input: all mean "unreadable"
        raise ImportInvalid(
            "The YAML could not be read", hint="check the file is a LiteLLM config"
        ) from None
    entries = data.get("model_list") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ImportInvalid(
            "No model_list found in the YAML",
            hint="a LiteLLM config has `model_list:` with one entry per model",
        )
    result = ImportResult()
    groups: dict[tuple[str, str, str, str], _Group] = {}
    for index, entry in enumerate(entries):
        _read_litellm_entry(entry, index, groups, result)
    merger = _Merger(existing, result)
    taken = {p.id for p in existing}
    for group in groups.values():
        provider = group.build(taken, result)
        if provider is not None:
            taken.add(provider.id)
            merger.merge(provider, same_id_only=False)
    return merger.finish()


@dataclass
class _Group:
    template: Template
    dialect: Dialect
    base_url: str
    api_key: str
    key_ref: str
    headers: dict[str, str]
    models: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)

    def build(self, taken: set[str], result: ImportResult) -> Provider | None:
        name = self.template.name
        for choice in self.template.alternative_base_urls:
            if choice.url.rstrip("/") == self.base_url.rstrip("/"):
                name = f"{self.template.name} ({choice.label})"
        extra: dict[str, Any] = {"model_aliases": self.aliases} if self.aliases else {}
        provider = Provider(
            id=unique_id(self.template.id, taken), name=name, base_url=self.base_url,
            dialect=self.dialect, template=self.template.id, api_key=self.api_key,
            headers={**self.template.headers, **self.headers}, routing=self.template.routing,
            manual_models=list(dict.fromkeys(self.models)), extra=extra,
        )  # fmt: skip
        try:
            provider.validate()
        except ProviderInvalid as error:
            why = "; ".join(f"{k}: {v}" for k, v in error.problems.items())
            result.skipped.extend(SkippedEntry(label, why) for label in self.labels)
            return None
        if self.key_ref:
            result.notes.append(f"Set the key for {name} by hand (it was {self.key_ref}).")
        elif not self.api_key and self.template.needs_key:
            result.notes.append(f"Set the key for {name} by hand (the YAML gave none).")
        if self.aliases:
            names = ", ".join(f"{a} → {m}" for a, m in self.aliases.items())
            result.notes.append(f"{name}: the page calls the real model ids ({names}).")
        return provider


def _read_litellm_entry(
    entry: Any, index: int, groups: dict[tuple[str, str, str, str], _Group], result: ImportResult
) -> None:
    label = f"entry {index + 1}"
    if not isinstance(entry, dict):
        result.skipped.append(SkippedEntry(label, f"it is {describe(entry)}, not a model entry"))
        return
    params = entry.get("litellm_params")
    model = params.get("model") if isinstance(params, dict) else None
    model_name = entry.get("model_name")
    if isinstance(model_name, str) and model_name.strip():
        label = model_name.strip()
    if not isinstance(params, dict) or not isinstance(model, str) or not model.strip():
        result.skipped.append(SkippedEntry(label, "it has no litellm_params.model"))
        return
    if "mock_response" in params:
        result.skipped.append(
            SkippedEntry(label, "it is a mock_response model, which only works on a gateway")
        )
        return
    prefix, _, real_id = model.strip().partition("/")
    if not real_id:
        prefix, real_id = "", prefix
    api_base = params.get("api_base", params.get("base_url"))
    if api_base is not None and (
        not isinstance(api_base, str) or api_base.startswith("os.environ/")
    ):
        shown = api_base if isinstance(api_base, str) else describe(api_base)
        result.skipped.append(
            SkippedEntry(label, f"its api_base ({shown}) cannot be resolved here")
        )
        return
    resolved = _resolve(prefix, real_id, (api_base or "").strip())
    if resolved is None:
        why = f"LiteLLM's {prefix!r} provider" if prefix else f"the model {real_id!r}"
        result.skipped.append(
            SkippedEntry(
                label, f"{why} has no browser equivalent; serve it from the gateway instead"
            )
        )
        return
    template, dialect, base_url = resolved
    raw_key = params.get("api_key")
    key_ref = raw_key if isinstance(raw_key, str) and raw_key.startswith("os.environ/") else ""
    api_key = "" if key_ref or raw_key is None else str(raw_key).strip()
    raw_headers = params.get("extra_headers") or params.get("headers") or {}
    headers = (
        {str(k): str(v) for k, v in raw_headers.items()} if isinstance(raw_headers, dict) else {}
    )
    group_key = (template.id, base_url.rstrip("/"), api_key, key_ref)
    group = groups.setdefault(
        group_key, _Group(template, dialect, base_url, api_key, key_ref, headers)
    )
    group.models.append(real_id)
    group.labels.append(label)
    if label != real_id and label != f"entry {index + 1}":
        group.aliases[label] = real_id


def _resolve(prefix: str, real_id: str, api_base: str) -> tuple[Template, Dialect, str] | None:
    if prefix in _OPENAI_LIKE or (not prefix and _BARE_OPENAI.match(real_id)):
        if not api_base:
            return _with(get_template("openai"), "")
        template = template_for_base_url(api_base) or get_template("custom")
        return _with(template, api_base)
    if not prefix and real_id.startswith("claude-"):
        prefix = "anthropic"
    template_id = _LITELLM_TEMPLATES.get(prefix)
    if template_id is None:
        return None
    if template_id == "anthropic" and api_base:
        base = api_base.rstrip("/").removesuffix("/messages")
        api_base = base if base.endswith("/v1") else base + "/v1"
    if template_id == "ollama":
        base = (api_base or "http://localhost:11434").rstrip("/")
        api_base = base if base.endswith("/v1") else base + "/v1"
    return _with(get_template(template_id), api_base)


def _with(template: Template | None, api_base: str) -> tuple[Template, Dialect, str] | None:
    if template is None:  # pragma: no cover - every id named above is in the catalog
        return None
    return template, template.dialect, api_base or template.base_url


class _Merger:
    """Folds imported providers into a copy of the saved ones, by the module's policy."""

    def __init__(self, existing: list[Provider], result: ImportResult) -> None:
        self.result = result
        self.providers = [copy.deepcopy(p) for p in existing]
        self.imported: set[str] = set()

    def merge(self, provider: Provider, *, same_id_only: bool) -> None:
        match = next((p for p in self.providers if _same_endpoint(p, provider)), None)
        if same_id_only and match is not None and match.id != provider.id:
            match = None
        if match is not None and match.id not in self.imported:
            if same_id_only:
                _update(match, provider)
            else:
                _add_models(match, provider, self.result)
            self.imported.add(match.id)
            self.result.updated.append(match)
            return
        taken = [p.id for p in self.providers]
        if provider.id in taken:
            new_id = unique_id(provider.id, taken)
            self.result.renamed.append((provider.id, new_id))
            provider.id = new_id
        self.imported.add(provider.id)
        self.providers.append(provider)
        self.result.added.append(provider)

    def finish(self) -> ImportResult:
        self.result.providers = self.providers
        return self.result


def _same_endpoint(a: Provider, b: Provider) -> bool:
    return a.dialect == b.dialect and a.base_url.rstrip("/") == b.base_url.rstrip("/")


def _update(saved: Provider, imported: Provider) -> None:
    """Take the imported settings; keep the saved key and secret headers the file left out."""
    key = imported.api_key or saved.api_key
    kept = {k: v for k, v in saved.headers.items() if _SECRET_NAME.search(k)}
    saved.name, saved.base_url, saved.dialect = imported.name, imported.base_url, imported.dialect
    saved.template, saved.routing, saved.enabled = (
        imported.template,
        imported.routing,
        imported.enabled,
    )
    saved.headers = {**kept, **imported.headers}
    saved.api_key = key
    saved.models = imported.models or saved.models
    saved.manual_models = list(dict.fromkeys([*saved.manual_models, *imported.manual_models]))
    saved.extra = {**saved.extra, **imported.extra}


def _add_models(saved: Provider, imported: Provider, result: ImportResult) -> None:
    """A LiteLLM entry for a saved endpoint: add its models; fill the key only if none is saved."""
    saved.manual_models = list(dict.fromkeys([*saved.manual_models, *imported.manual_models]))
    if imported.api_key and not saved.api_key:
        saved.api_key = imported.api_key
    elif imported.api_key and imported.api_key != saved.api_key:
        result.notes.append(f"{saved.name} kept its saved key; the YAML's key was not used.")
    aliases = imported.extra.get("model_aliases")
    if isinstance(aliases, dict):
        before = saved.extra.get("model_aliases")
        saved.extra["model_aliases"] = {**(before if isinstance(before, dict) else {}), **aliases}


def _is_secret_field(name: str) -> bool:
    return name == "api_key" or bool(_SECRET_NAME.search(name))


def _entry_label(entry: Any, fallback: str) -> str:
    if isinstance(entry, dict):
        for key in ("name", "id"):
            value = entry.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:40]
    return fallback
