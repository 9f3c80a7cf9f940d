"""The model list: LiteLLM's `model_list` YAML, read unchanged.

    model_list:
      - model_name: zai-coding-model
        litellm_params:
          model: openai/zai-coding-model
          api_base: https://api.z.ai/api/coding/paas/v4
          api_key: os.environ/ZAI_API_KEY
        model_info: {detour_stream_delay_ms: 20}   # optional, free-form in LiteLLM

`os.environ/NAME` values are resolved when the file is loaded; a missing
variable stops start-up (a gateway that would answer every request with
"no key" is better refused at once). Top-level keys other than `model_list`
(`litellm_settings`, `general_settings`, `router_settings`, ...) are tolerated;
only `litellm_settings.drop_params` is honoured.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.errors import ConfigError

ENV_PREFIX = "os.environ/"


@dataclass(frozen=True)
class ModelEntry:
    """One configured model: the public name and LiteLLM's call parameters."""

    name: str
    params: Mapping[str, Any] = field(repr=False)
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def litellm_model(self) -> str:
        """The `provider/model` LiteLLM is asked for."""
        return str(self.params["model"])

    @property
    def owned_by(self) -> str:
        """The provider prefix of the LiteLLM model, for /v1/models."""
        if self.is_mock:
            return "detour"
        return self.litellm_model.split("/", 1)[0] if "/" in self.litellm_model else "litellm"

    @property
    def is_mock(self) -> bool:
        """True for a keyless mock model (LiteLLM's `mock_response`)."""
        return "mock_response" in self.params

    @property
    def stream_delay(self) -> float:
        """Seconds between streamed pieces (`model_info.detour_stream_delay_ms`)."""
        try:
            return max(0.0, float(self.info.get("detour_stream_delay_ms", 0))) / 1000.0
        except (TypeError, ValueError):
            return 0.0


@dataclass(frozen=True)
class ModelList:
    """The configured models, in file order, first of a name wins."""

    entries: tuple[ModelEntry, ...]
    drop_params: bool = False

    def get(self, name: str) -> ModelEntry | None:
        """The model called `name`, if configured."""
        for entry in self.entries:
            if entry.name == name:
                return entry
        return None

    @property
    def names(self) -> list[str]:
        """Configured model names, without duplicates."""
        return list(dict.fromkeys(e.name for e in self.entries))


def resolve_env(value: Any, where: str, environ: Mapping[str, str]) -> Any:
    """Replace `os.environ/NAME` strings (nested too) by the variable's value."""
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        if name not in environ:
            raise ConfigError(f"{where} refers to environment variable {name}, which is not set")
        return environ[name]
    if isinstance(value, Mapping):
        return {k: resolve_env(v, f"{where}.{k}", environ) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, f"{where}[{i}]", environ) for i, v in enumerate(value)]
    return value


def parse_model_list(data: Any, source: str, environ: Mapping[str, str] | None = None) -> ModelList:
    """Validate parsed YAML into a ModelList; ConfigError names the first problem."""
    env = os.environ if environ is None else environ
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: expected a mapping with a model_list, got {type(data).__name__}"
        )
    raw_list = data.get("model_list") or []
    if not isinstance(raw_list, list):
        raise ConfigError(f"{source}: model_list must be a list")
    entries: list[ModelEntry] = []
    for index, raw in enumerate(raw_list):
        where = f"{source}: model_list[{index}]"
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where} must be a mapping with model_name and litellm_params")
        name = raw.get("model_name")
        params = raw.get("litellm_params")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: model_name is missing")
        if not isinstance(params, Mapping) or not isinstance(params.get("model"), str):
            raise ConfigError(f"{where} ({name}): litellm_params.model is missing")
        info = raw.get("model_info") or {}
        if not isinstance(info, Mapping):
            raise ConfigError(f"{where} ({name}): model_info must be a mapping")
        resolved = resolve_env(dict(params), f"{where} ({name}) litellm_params", env)
        entries.append(ModelEntry(name=name, params=resolved, info=dict(info)))
    settings = data.get("litellm_settings") or {}
    drop = bool(settings.get("drop_params", False)) if isinstance(settings, Mapping) else False
    return ModelList(entries=tuple(entries), drop_params=drop)


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
