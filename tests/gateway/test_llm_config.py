"""Config keys: those the gateway honours reach LiteLLM's Router; any other stops start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import parse_model_list
from gateway.errors import ConfigError
from gateway.routing import router_arguments
from tests.gateway.test_startup import run_gateway

MODEL = {"model_name": "m", "litellm_params": {"model": "openai/m", "api_key": "sk-yaml-key"}}


def config(**sections: Any) -> dict[str, Any]:
    return {"model_list": [MODEL], **sections}


@pytest.mark.parametrize(
    ("sections", "named"),
    [
        ({"litellm_settings": {"success_callback": ["langsmith"]}},
         "litellm_settings.success_callback"),
        ({"litellm_settings": {"cache": True}}, "litellm_settings.cache"),
        ({"router_settings": {"plugins": ["my.module"]}}, "router_settings.plugins"),
        ({"router_settings": {"alerting_config": {}}}, "router_settings.alerting_config"),
        ({"general_settings": {"database_url": "postgres://x"}}, "general_settings.database_url"),
        ({"guardrails": []}, "guardrails is not supported"),
    ],
)  # fmt: skip
def test_an_unsupported_key_is_refused_by_name(sections: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        parse_model_list(config(**sections), "c.yaml", {})


def test_an_unsupported_key_stops_start_up_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config(litellm_settings={"callbacks": ["langfuse"]})))
    result = run_gateway("--config", str(path))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "litellm_settings.callbacks is not supported" in line


def test_detour_defaults_no_retries_no_cooldowns_and_the_gateway_timeout() -> None:
    arguments = router_arguments(parse_model_list(config(), "c.yaml", {}), 42.0)
    assert arguments["num_retries"] == 0
    assert arguments["disable_cooldowns"] is True
    assert arguments["timeout"] == 42.0


def test_the_operators_router_settings_win() -> None:
    settings = {"num_retries": 2, "cooldown_time": 30, "routing_strategy": "least-busy",
                "redis_host": "127.0.0.1", "redis_port": 6379}  # fmt: skip
    arguments = router_arguments(
        parse_model_list(config(router_settings=settings), "c.yaml", {}), 42.0
    )
    assert {k: arguments[k] for k in settings} == settings
    assert "disable_cooldowns" not in arguments  # the operator configured cooldowns


def test_litellm_settings_map_onto_the_router() -> None:
    settings = {"num_retries": 1, "request_timeout": 7, "drop_params": True,
                "fallbacks": [{"m": ["n"]}]}  # fmt: skip
    arguments = router_arguments(
        parse_model_list(config(litellm_settings=settings), "c.yaml", {}), 42.0
    )
    assert arguments["num_retries"] == 1 and arguments["timeout"] == 7
    assert arguments["fallbacks"] == [{"m": ["n"]}]
    assert arguments["default_litellm_params"] == {"drop_params": True}


def test_keys_from_the_yaml_and_the_environment_are_secrets() -> None:
    models = parse_model_list(
        config(general_settings={"master_key": "os.environ/MASTER"}),
        "c.yaml",
        {"MASTER": "sk-master-from-env", "ZAI_API_KEY": "zai-env-key-123", "HOME": "/root"},
    )
    assert {"sk-yaml-key", "sk-master-from-env", "zai-env-key-123"} <= models.secrets
    assert "/root" not in models.secrets
