"""Operator secrets never leave: not in answers (upstream error text included), not in logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
import yaml

from tests.gateway.conftest import running_gateway
from tests.gateway.llm_standins import leaky_standin
from tests.gateway.standins import serve

HELLO = [{"role": "user", "content": "hello"}]
OPERATOR_KEY = "sk-operator-secret-0123456789"


@pytest.fixture(scope="module")
def leaky_gateway() -> Iterator[str]:
    with serve(leaky_standin()) as upstream:
        params = {"model": "openai/leaky", "api_base": f"{upstream}/v1", "api_key": OPERATOR_KEY}
        config = {"model_list": [{"model_name": "leaky", "litellm_params": params}]}
        with running_gateway(yaml.safe_dump(config), allow_private_upstreams=True) as url:
            yield url


@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_echoing_the_key_does_not_leak_it(
    leaky_gateway: str, stream: bool
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{leaky_gateway}/v1/chat/completions",
            json={"model": "leaky", "messages": HELLO, "stream": stream},
        )
    assert response.status_code == 401
    assert "Invalid credentials" in response.json()["error"]["message"]
    assert OPERATOR_KEY not in response.text
    assert OPERATOR_KEY[-10:] not in response.text


def test_log_lines_never_carry_the_key(
    leaky_gateway: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("LiteLLM").warning("upstream said: Bearer %s", OPERATOR_KEY)
    try:
        raise ValueError(f"refused {OPERATOR_KEY}")
    except ValueError:
        logging.getLogger("gateway.llm").exception("call failed")
    text = caplog.text
    assert "upstream said: Bearer [redacted]" in text
    assert OPERATOR_KEY not in text
