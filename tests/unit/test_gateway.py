from __future__ import annotations

import json

import pytest

from tests.unit.conftest import DETOUR_HEALTH, GATEWAY_URL, Net, ok_json, status
from web.errors import CorsBlocked, HttpError, TimedOut, Unreachable
from web.gateway import (
    GatewayConfig,
    GatewayKind,
    ProbeResult,
    check_gateway,
    explain_block,
    gateway_provider,
    probe,
)
from web.providers import Dialect, Routing

ORIGIN = "http://127.0.0.1:8000"


def test_config_never_shows_its_token() -> None:
    config = GatewayConfig("https://gw.example.test:8443/", token="s3cret-token")
    assert "s3cret" not in repr(config)
    assert config.base == "https://gw.example.test:8443"
    assert config.host == "gw.example.test:8443"


async def test_detour_gateway_is_recognised_without_credentials(
    net: Net, gateway_config: GatewayConfig
) -> None:
    status_ = await check_gateway(net.transport, gateway_config)
    assert status_.kind is GatewayKind.DETOUR and status_.relay
    assert (status_.version, status_.name, status_.models) == ("0.1.0", "Test gateway", 2)
    assert not status_.auth_required
    assert "Detour gateway 0.1.0" in status_.message
    assert net.requests[0].headers == {}
    assert net.urls() == [f"{GATEWAY_URL}/health"]


async def test_stock_litellm_is_spotted_by_liveliness_and_never_by_health(
    net: Net, gateway_config: GatewayConfig
) -> None:
    net.on(f"{GATEWAY_URL}/health", status(401, {"error": {"message": "No api key"}}))
    net.on(f"{GATEWAY_URL}/health/liveliness", status(200, '"I\'m alive!"'))
    found = await check_gateway(net.transport, gateway_config)
    assert found.kind is GatewayKind.LITELLM and not found.relay
    assert "has no relay" in found.message
    assert all(r.headers == {} for r in net.requests)


@pytest.mark.parametrize("error", [CorsBlocked, Unreachable, TimedOut])
async def test_dead_gateway_is_unreachable(
    net: Net, gateway_config: GatewayConfig, error: type[Exception]
) -> None:
    net.on(f"{GATEWAY_URL}/health", error("Failed to fetch"))
    found = await check_gateway(net.transport, gateway_config)
    assert found.kind is GatewayKind.UNREACHABLE
    assert found.message == (
        "The gateway at gw.example.test did not answer (Failed to fetch); check the gateway URL"
        " in Settings and that the gateway is running"
    )


async def test_something_else_at_the_url_is_not_a_gateway(
    net: Net, gateway_config: GatewayConfig
) -> None:
    net.on(f"{GATEWAY_URL}/health", status(200, "<html>my blog</html>"))
    net.on(f"{GATEWAY_URL}/health/liveliness", status(404, "<html>nope</html>"))
    found = await check_gateway(net.transport, gateway_config)
    assert found.kind is GatewayKind.UNREACHABLE
    assert "neither a Detour gateway nor a LiteLLM proxy" in found.message


async def test_auth_required_and_odd_model_count(net: Net, gateway_config: GatewayConfig) -> None:
    net.on(
        f"{GATEWAY_URL}/health",
        ok_json({**DETOUR_HEALTH, "auth_required": True, "models": "many", "relay": False}),
    )
    found = await check_gateway(net.transport, gateway_config)
    assert found.auth_required and found.models == 0
    assert found.kind is GatewayKind.DETOUR and not found.relay


def test_gateway_provider_is_a_direct_openai_provider() -> None:
    provider = gateway_provider(GatewayConfig(GATEWAY_URL + "/", "tok-123456789"), "Team gateway")
    assert provider.id == "gateway" and provider.template == "detour-gateway"
    assert provider.base_url == f"{GATEWAY_URL}/v1"
    assert provider.routing is Routing.DIRECT and provider.dialect is Dialect.OPENAI
    assert provider.api_key == "tok-123456789"
    provider.validate()


async def test_probe_reports_the_cors_answer(net: Net, gateway_config: GatewayConfig) -> None:
    url = "https://api.z.ai/api/paas/v4/models"
    answer = {
        "url": url,
        "reachable": True,
        "status": 401,
        "elapsed_ms": 182.5,
        "cors": {
            "allow_origin": None,
            "allow_methods": None,
            "allow_headers": None,
            "allows_origin": False,
            "allows_headers": False,
        },
        "error": None,
    }
    net.on(f"{GATEWAY_URL}/probe", ok_json(answer))
    result = await probe(net.transport, gateway_config, url, ORIGIN)
    sent = net.requests[0]
    assert sent.method == "POST" and json.loads(sent.body or b"") == {
        "url": url,
        "origin": ORIGIN,
    }
    assert sent.headers["X-Detour-Token"] == "gw-secret-token"
    assert result.reachable and result.status == 401 and result.elapsed_ms == 182.5
    assert explain_block(result, ORIGIN) == (
        "api.z.ai answered but sent no Access-Control-Allow-Origin for http://127.0.0.1:8000"
    )


async def test_probe_refused_is_an_http_error(net: Net) -> None:
    net.on(f"{GATEWAY_URL}/probe", status(403, {"error": {"message": "bad token"}}))
    with pytest.raises(HttpError, match=r"could not probe https://x\.test"):
        await probe(net.transport, GatewayConfig(GATEWAY_URL), "https://x.test", ORIGIN)
    assert "X-Detour-Token" not in net.requests[0].headers


async def test_probe_tolerates_a_sparse_answer(net: Net, gateway_config: GatewayConfig) -> None:
    net.on(f"{GATEWAY_URL}/probe", ok_json({"reachable": False, "error": "DNS failure"}))
    result = await probe(net.transport, gateway_config, "https://nowhere.test/v1", ORIGIN)
    assert result == ProbeResult("https://nowhere.test/v1", False, error="DNS failure")


@pytest.mark.parametrize(
    ("result", "sentence"),
    [
        (
            ProbeResult("https://api.z.ai/v4", False, error="connection refused"),
            "api.z.ai did not answer the gateway either (connection refused): "
            "it is down or the URL is wrong",
        ),
        (
            ProbeResult("https://h.test", False),
            "h.test did not answer the gateway either: it is down or the URL is wrong",
        ),
        (
            ProbeResult("https://h.test", True, 200, allow_origin="https://other.test"),
            "h.test answered but allows the origin https://other.test, not " + ORIGIN,
        ),
        (
            ProbeResult(
                "https://h.test", True, 204, allows_origin=True, allow_headers="content-type"
            ),
            f"h.test allows {ORIGIN} but not the headers this request sends (it allows: "
            "content-type); remove optional headers from the provider",
        ),
        (
            ProbeResult("https://h.test", True, 204, allows_origin=True),
            f"h.test allows {ORIGIN} but not the headers this request sends (it allows: "
            "none); remove optional headers from the provider",
        ),
        (
            ProbeResult("https://h.test", True, 204, allows_origin=True, allows_headers=True),
            f"h.test allows calls from {ORIGIN}; a direct call should work now",
        ),
    ],
)
def test_explain_block(result: ProbeResult, sentence: str) -> None:
    assert explain_block(result, ORIGIN) == sentence
