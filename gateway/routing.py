"""LiteLLM's own Router over the operator's model_list, with Detour's defaults.

The Router gives a model_list the meaning it has in LiteLLM's proxy: several
deployments under one name (load balanced, with failover to the others when one
fails), wildcard names (`openai/*`), aliases and fallbacks. Detour's defaults, each
overridable from `router_settings`: no retries (the page decides), the gateway's read
timeout, no cooldowns (LiteLLM's would turn one user's 401 into 429s for everyone),
and failover across a name's deployments.
"""

from __future__ import annotations

import copy
from fnmatch import fnmatchcase
from types import ModuleType
from typing import Any

from gateway.config import ModelList

COOLDOWN_SETTINGS = frozenset({"allowed_fails", "allowed_fails_policy", "cooldown_time"})


def router_arguments(models: ModelList, read_timeout: float) -> dict[str, Any]:
    """Keyword arguments for `litellm.Router`: Detour's defaults, the operator's settings on top."""
    arguments: dict[str, Any] = {
        "model_list": copy.deepcopy([dict(d) for d in models.deployments]),
        "num_retries": 0,
        "timeout": read_timeout,
        "enable_weighted_failover": True,
    }
    if not COOLDOWN_SETTINGS & set(models.router_settings):
        arguments["disable_cooldowns"] = True
    if models.drop_params:
        arguments["default_litellm_params"] = {"drop_params": True}
    arguments.update(copy.deepcopy(dict(models.router_settings)))
    return arguments


def build_router(litellm: ModuleType, models: ModelList, read_timeout: float) -> Any:
    """A `litellm.Router` for `models` (blocking: call it in a thread), async clients only."""
    from litellm.types.router import RouterGeneralSettings

    general = RouterGeneralSettings(async_only_mode=True)
    return litellm.Router(**router_arguments(models, read_timeout), router_general_settings=general)


def routes(router: Any, name: str) -> bool:
    """True when the Router has a deployment for `name` (exact, alias or wildcard)."""
    return bool(router.registry().deployments(name))


def listed_models(litellm: ModuleType, models: ModelList) -> list[tuple[str, str]]:
    """(id, owned_by) for /v1/models: configured names, wildcards expanded to known models.

    As LiteLLM's proxy does, a wildcard name (`openai/*`) is listed as the models LiteLLM
    knows for that provider that it would route, not as the pattern itself.
    """
    listed: dict[str, str] = {}
    for deployment in models.deployments:
        name = str(deployment["model_name"])
        target = str(deployment["litellm_params"]["model"])
        provider = models.owner(name)
        if "*" not in name:
            listed.setdefault(name, provider)
            continue
        for known in sorted(litellm.models_by_provider.get(provider, ())):
            full = known if known.startswith(f"{provider}/") else f"{provider}/{known}"
            captured = wildcard_capture(target, full)
            if captured is not None and name.count("*") == 1:
                listed.setdefault(name.replace("*", captured), provider)
    return list(listed.items())


def wildcard_capture(pattern: str, value: str) -> str | None:
    """What the single `*` of `pattern` matches in `value`, or None when it does not match."""
    if pattern.count("*") != 1 or not fnmatchcase(value, pattern):
        return None
    head, tail = pattern.split("*")
    return value[len(head) : len(value) - len(tail)]
