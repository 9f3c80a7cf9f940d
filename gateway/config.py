"""The model list: LiteLLM's proxy config YAML, read as LiteLLM's proxy reads it.

    model_list:
      - model_name: zai-coding-model
        litellm_params:
          model: openai/zai-coding-model
          api_base: https://api.z.ai/api/coding/paas/v4
          api_key: os.environ/ZAI_API_KEY
        model_info: {detour_stream_delay_ms: 20}   # optional, free-form in LiteLLM
    router_settings: {routing_strategy: simple-shuffle}
    general_settings: {master_key: os.environ/DETOUR_MASTER_KEY}

The `model_list` goes to LiteLLM's own Router unchanged (several deployments
per name, wildcard names, `model_info`). `os.environ/NAME` values are resolved
when the file is loaded; a missing variable stops start-up. Every other key is
checked against what the gateway honours (`HONOURED_*` below): a key the
gateway does not honour stops start-up with one line naming it, rather than
being silently ignored.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from gateway.errors import ConfigError

ENV_PREFIX = "os.environ/"
TOP_LEVEL_KEYS = frozenset(
    {"model_list", "litellm_settings", "router_settings", "general_settings"}
)
ENTRY_KEYS = frozenset({"model_name", "litellm_params", "model_info"})
# Router arguments an operator may set (LiteLLM's names and meanings). Left out on purpose:
# anything that loads code (plugins), sends data elsewhere (alerting, callbacks), caches
# answers across users, or acts on request metadata the gateway never passes (tags, teams).
HONOURED_ROUTER_SETTINGS = frozenset(
    {
        "routing_strategy", "routing_strategy_args", "num_retries", "max_fallbacks", "timeout",
        "stream_timeout", "fallbacks", "default_fallbacks", "context_window_fallbacks",
        "content_policy_fallbacks", "model_group_alias", "allowed_fails", "allowed_fails_policy",
        "cooldown_time", "disable_cooldowns", "retry_after", "retry_policy",
        "model_group_retry_policy", "enable_pre_call_checks", "enable_weighted_failover",
        "redis_host", "redis_port", "redis_password", "redis_url", "redis_db",
    }
)  # fmt: skip
# litellm_settings the gateway maps onto its Router; the rest set LiteLLM globals the proxy
# uses for callbacks, caching, budgets and logging, which a gateway must not take on.
LITELLM_SETTINGS_TO_ROUTER = {
    "num_retries": "num_retries",
    "request_timeout": "timeout",
    "fallbacks": "fallbacks",
    "context_window_fallbacks": "context_window_fallbacks",
    "content_policy_fallbacks": "content_policy_fallbacks",
}
HONOURED_LITELLM_SETTINGS = frozenset({"drop_params", *LITELLM_SETTINGS_TO_ROUTER})
HONOURED_GENERAL_SETTINGS = frozenset({"master_key"})
SECRET_WORDS = ("key", "secret", "token", "password", "credential")
MIN_SECRET_LENGTH = 6


@dataclass(frozen=True)
class ModelList:
    """A validated config: deployments for LiteLLM's Router and the settings honoured."""

    deployments: tuple[Mapping[str, Any], ...] = field(repr=False)
    router_settings: Mapping[str, Any] = field(default_factory=dict, repr=False)
    drop_params: bool = False
    master_key: SecretStr | None = None
    secrets: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def names(self) -> list[str]:
        """Configured model names (wildcard patterns included), without duplicates."""
        return list(dict.fromkeys(str(d["model_name"]) for d in self.deployments))

    def owner(self, name: str) -> str:
        """`owned_by` for /v1/models: the provider prefix of the name's first deployment."""
        for deployment in self.deployments:
            if deployment["model_name"] == name:
                params = deployment["litellm_params"]
                target = str(params["model"])
                if "mock_response" in params:
                    return "detour"
                return target.split("/", 1)[0] if "/" in target else "litellm"
        return "litellm"

    def stream_delay(self, name: str) -> float:
        """Seconds between streamed pieces of a mock model (`model_info.detour_stream_delay_ms`)."""
        for deployment in self.deployments:
            if deployment["model_name"] == name and "mock_response" in deployment["litellm_params"]:
                try:
                    delay = float(deployment["model_info"].get("detour_stream_delay_ms", 0))
                except (TypeError, ValueError):
                    return 0.0
                return max(0.0, delay) / 1000.0
        return 0.0


def resolve_env(value: Any, where: str, environ: Mapping[str, str], found: set[str]) -> Any:
    """Replace `os.environ/NAME` strings (nested too) by the variable's value."""
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        if name not in environ:
            raise ConfigError(f"{where} refers to environment variable {name}, which is not set")
        found.add(environ[name])
        return environ[name]
    if isinstance(value, Mapping):
        return {k: resolve_env(v, f"{where}.{k}", environ, found) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, f"{where}[{i}]", environ, found) for i, v in enumerate(value)]
    return value


def looks_secret(name: str) -> bool:
    """True for a parameter or variable name that holds a credential."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def environment_secrets(environ: Mapping[str, str]) -> set[str]:
    """Credentials in the environment (LiteLLM reads provider keys such as ZAI_API_KEY there)."""
    return {v for k, v in environ.items() if looks_secret(k) and len(v) >= MIN_SECRET_LENGTH}


def section(data: Mapping[str, Any], name: str, honoured: frozenset[str], source: str) -> Any:
    """A settings mapping whose keys are all honoured; ConfigError names the first that is not."""
    value = data.get(name) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: {name} must be a mapping")
    for key in value:
        if key not in honoured:
            raise ConfigError(
                f"{source}: {name}.{key} is not supported by the Detour gateway; remove it "
                f"(honoured: {', '.join(sorted(honoured))})"
            )
    return value


def parse_deployment(raw: Any, where: str, env: Mapping[str, str], found: set[str]) -> Any:
    """One model_list entry, checked and with its environment references resolved."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a mapping with model_name and litellm_params")
    name = raw.get("model_name")
    params = raw.get("litellm_params")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: model_name is missing")
    for key in raw:
        if key not in ENTRY_KEYS:
            raise ConfigError(f"{where} ({name}): {key} is not supported; remove it")
    if not isinstance(params, Mapping) or not isinstance(params.get("model"), str):
        raise ConfigError(f"{where} ({name}): litellm_params.model is missing")
    info = raw.get("model_info") or {}
    if not isinstance(info, Mapping):
        raise ConfigError(f"{where} ({name}): model_info must be a mapping")
    resolved = resolve_env(dict(params), f"{where} ({name}) litellm_params", env, found)
    found.update(str(v) for k, v in resolved.items() if looks_secret(str(k)) and isinstance(v, str))
    return {"model_name": name, "litellm_params": resolved, "model_info": dict(info)}


def parse_model_list(data: Any, source: str, environ: Mapping[str, str] | None = None) -> ModelList:
    """Validate parsed YAML into a ModelList; ConfigError names the first problem."""
    env = os.environ if environ is None else environ
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: expected a mapping with a model_list, got {type(data).__name__}"
        )
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(
                f"{source}: {key} is not supported by the Detour gateway; remove it "
                f"(honoured: {', '.join(sorted(TOP_LEVEL_KEYS))})"
            )
    raw_list = data.get("model_list") or []
    if not isinstance(raw_list, list):
        raise ConfigError(f"{source}: model_list must be a list")
    found: set[str] = set()
    deployments = tuple(
        parse_deployment(raw, f"{source}: model_list[{i}]", env, found)
        for i, raw in enumerate(raw_list)
    )
    litellm_settings = section(data, "litellm_settings", HONOURED_LITELLM_SETTINGS, source)
    router = dict(section(data, "router_settings", HONOURED_ROUTER_SETTINGS, source))
    general = section(data, "general_settings", HONOURED_GENERAL_SETTINGS, source)
    for key, argument in LITELLM_SETTINGS_TO_ROUTER.items():
        if key in litellm_settings:
            router.setdefault(argument, litellm_settings[key])
    router = resolve_env(router, f"{source}: router_settings", env, found)
    where = f"{source}: general_settings.master_key"
    master = resolve_env(general.get("master_key"), where, env, found)
    if master is not None and not (isinstance(master, str) and master.strip()):
        raise ConfigError(f"{source}: general_settings.master_key must be a non-empty string")
    secrets = found | environment_secrets(env) | ({master} if master else set())
    return ModelList(
        deployments=deployments,
        router_settings=router,
        drop_params=bool(litellm_settings.get("drop_params", False)),
        master_key=SecretStr(master) if master else None,
        secrets=frozenset(s for s in secrets if len(s) >= MIN_SECRET_LENGTH),
    )


def load_model_list(path: Path, environ: Mapping[str, str] | None = None) -> ModelList:
    """Read and validate a LiteLLM config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config {path} is not valid YAML{at}") from None
    return parse_model_list(data, str(path), environ)
