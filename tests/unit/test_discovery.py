from __future__ import annotations

import pytest

from tests.unit.conftest import GATEWAY_URL, Net, ok_json, status
from web.discovery import discover_gateway_models, discover_models
from web.errors import AuthError, CorsBlocked, Unreachable
from web.gateway import GatewayConfig
from web.providers import Provider, Routing
from web.routing import Route, Router

ZAI_MODELS = "https://api.z.ai/api/paas/v4/models"
KNOWN = ["glm-4.6", "glm-4.5-air"]


async def test_provider_list_alone(net: Net, router: Router, zai: Provider) -> None:
    net.on(ZAI_MODELS, ok_json({"data": [{"id": "glm-4.6"}, {"id": "glm-4.5-air"}]}))
    result = await discover_models(router, zai, KNOWN)
    assert result.models == ["glm-4.6", "glm-4.5-air"]
    assert (result.source, result.route) == ("provider", Route.DIRECT)
    assert result.note == "Z.ai listed 2 models"


async def test_provider_list_merged_with_template(net: Net, router: Router, zai: Provider) -> None:
    net.on(ZAI_MODELS, ok_json({"data": [{"id": "glm-4.6"}, {"id": "glm-4.6"}]}))
    result = await discover_models(router, zai, [*KNOWN, "glm-4.5-air"])
    assert result.models == ["glm-4.6", "glm-4.5-air"]
    assert result.source == "mixed"
    assert "1 more that Detour knows" in result.note


async def test_404_falls_back_to_template_and_says_so(
    net: Net, router: Router, zai: Provider
) -> None:
    net.on(ZAI_MODELS, status(404, {"error": {"message": "not found"}}))
    result = await discover_models(router, zai, KNOWN)
    assert result.models == KNOWN and result.source == "template"
    assert result.route is Route.DIRECT
    assert result.note == (
        "Z.ai did not list its models (HTTP 404); showing the models Detour knows for it"
        " — add others by hand"
    )


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (status(200, "<html>portal</html>"), "its answer was not a model list"),
        (ok_json({"data": []}), "the list was empty"),
        (status(500, {"error": {"message": "boom"}}), "HTTP 500"),
    ],
)
async def test_unusable_lists_fall_back(
    net: Net, router: Router, zai: Provider, answer: object, why: str
) -> None:
    net.on(ZAI_MODELS, answer)  # type: ignore[arg-type]
    result = await discover_models(router, zai, KNOWN)
    assert result.source == "template" and result.models == KNOWN
    assert f"({why})" in result.note


async def test_no_template_models_says_add_by_hand(net: Net, router: Router, zai: Provider) -> None:
    net.on(ZAI_MODELS, status(404, {}))
    result = await discover_models(router, zai, [])
    assert result.models == [] and result.note.endswith("add model ids by hand")


async def test_auth_errors_are_raised_not_hidden(net: Net, router: Router, zai: Provider) -> None:
    net.on(ZAI_MODELS, status(401, {"error": {"message": "bad key"}}))
    with pytest.raises(AuthError):
        await discover_models(router, zai, KNOWN)


async def test_connectivity_errors_are_raised(net: Net, router: Router, zai: Provider) -> None:
    zai.routing = Routing.DIRECT
    net.on(ZAI_MODELS, CorsBlocked("Failed to fetch"))
    with pytest.raises(CorsBlocked):
        await discover_models(router, zai, KNOWN)


async def test_discovery_uses_the_resolved_route(net: Net, router: Router, zai: Provider) -> None:
    net.on(ZAI_MODELS, CorsBlocked("Failed to fetch"))
    net.on(f"{GATEWAY_URL}/relay/models", ok_json({"data": [{"id": "glm-4.6"}]}))
    result = await discover_models(router, zai, [])
    assert result.route is Route.GATEWAY and result.models == ["glm-4.6"]


async def test_anthropic_pages_are_followed(net: Net, router: Router, anthropic: Provider) -> None:
    base = "https://api.anthropic.com/v1/models?limit=100"
    net.on(
        base,
        ok_json(
            {
                "data": [{"id": "claude-opus-4-1", "display_name": "Claude Opus 4.1"}],
                "has_more": True,
                "last_id": "claude-opus-4-1",
            }
        ),
    )
    net.on(
        f"{base}&after_id=claude-opus-4-1",
        ok_json({"data": [{"id": "claude-sonnet-4-5"}], "has_more": False}),
    )
    result = await discover_models(router, anthropic, [])
    assert result.models == ["claude-opus-4-1", "claude-sonnet-4-5"]
    assert result.names == {"claude-opus-4-1": "Claude Opus 4.1"}


async def test_a_failing_later_page_keeps_what_was_listed(
    net: Net, router: Router, anthropic: Provider
) -> None:
    base = "https://api.anthropic.com/v1/models?limit=100"
    net.on(base, ok_json({"data": [{"id": "a"}], "has_more": True}))
    net.on(f"{base}&after_id=a", status(500, {}))
    result = await discover_models(router, anthropic, [])
    assert result.models == ["a"] and result.source == "provider"


async def test_gateway_models(net: Net, router: Router) -> None:
    net.on(f"{GATEWAY_URL}/v1/models", ok_json({"data": [{"id": "zai-glm"}, {"id": "demo"}]}))
    result = await discover_gateway_models(router, GatewayConfig(GATEWAY_URL, "tok-abcdefghij"))
    assert result.models == ["zai-glm", "demo"] and result.route is Route.DIRECT
    assert net.requests[0].headers == {"Authorization": "Bearer tok-abcdefghij"}
    assert result.note == "Gateway listed 2 models"


async def test_unreachable_gateway_models_raise(net: Net, router: Router) -> None:
    net.on(f"{GATEWAY_URL}/v1/models", Unreachable("Failed to fetch"))
    with pytest.raises(Unreachable, match="Team: Failed to fetch"):
        await discover_gateway_models(router, GatewayConfig(GATEWAY_URL), "Team")
