from __future__ import annotations

import pytest

from tests.unit.conftest import GATEWAY_URL, GatewaySwitch, Net, make_provider, ok_json, status
from web.clock import FakeClock
from web.dialects import Call, dialect_for
from web.errors import (
    AuthError,
    ConnectivityError,
    CorsBlocked,
    GatewayMissing,
    GatewayUnusable,
    HttpError,
    TimedOut,
    Unreachable,
)
from web.events import Event, RouteChosen, RouteFallback, RouteForgotten
from web.gateway import GatewayConfig, gateway_provider
from web.providers import Provider, Routing
from web.routing import GATEWAY_TTL, Route, Router
from web.transport import MemoryResponse

DIRECT = "https://api.z.ai/api/paas/v4/models"
RELAY = f"{GATEWAY_URL}/relay/models"
MODELS = {"data": [{"id": "glm-4.6"}]}
CONNECTIVITY = [CorsBlocked, Unreachable, TimedOut]


def models_call(provider: Provider) -> Call:
    return dialect_for(provider).models_call(provider)


def fail(kind: type[ConnectivityError]) -> ConnectivityError:
    return kind("Failed to fetch")


# --- direct -------------------------------------------------------------------


async def test_direct_ok_returns_the_unread_body(
    net: Net, router: Router, events: list[Event]
) -> None:
    provider = make_provider(routing=Routing.DIRECT)
    response = MemoryResponse(json_body=MODELS)
    net.on(DIRECT, response)
    routed = await router.send(provider, models_call(provider))
    assert (routed.route, routed.fallback) == (Route.DIRECT, False)
    assert routed.response is response and not response.closed
    assert net.urls() == [DIRECT]
    assert net.requests[0].headers == {"Authorization": "Bearer sk-test-key-1234"}
    assert net.requests[0].timeout == 20.0
    assert events == [RouteChosen("zai", "Z.ai", "direct", "set to direct")]
    assert router.remembered_routes() == {}


@pytest.mark.parametrize("kind", CONNECTIVITY)
async def test_direct_failures_keep_their_class_and_hint(
    net: Net, router: Router, kind: type[ConnectivityError]
) -> None:
    provider = make_provider(routing=Routing.DIRECT)
    net.on(DIRECT, fail(kind))
    with pytest.raises(kind) as caught:
        await router.send(provider, models_call(provider))
    assert caught.value.route == "direct"
    assert str(caught.value).startswith("Z.ai: Failed to fetch — ")
    assert net.urls() == [DIRECT]  # never a silent detour


async def test_direct_cors_hint_says_switch_to_gateway(net: Net, router: Router) -> None:
    provider = make_provider(routing=Routing.DIRECT)
    net.on(DIRECT, fail(CorsBlocked))
    with pytest.raises(CorsBlocked, match="blocked by CORS — switch this provider to the gateway"):
        await router.send(provider, models_call(provider))


@pytest.mark.parametrize(("code", "kind"), [(401, AuthError), (403, AuthError), (500, HttpError)])
async def test_direct_error_status_carries_the_providers_message(
    net: Net, router: Router, code: int, kind: type[HttpError]
) -> None:
    provider = make_provider(routing=Routing.DIRECT)
    response = MemoryResponse(code, json_body={"error": {"message": "Bad key", "code": "1000"}})
    net.on(DIRECT, response)
    with pytest.raises(kind) as caught:
        await router.send(provider, models_call(provider))
    assert caught.value.status == code and type(caught.value) is kind
    assert caught.value.message == f"Z.ai answered HTTP {code}: Bad key (1000)"
    assert '"Bad key"' in caught.value.body
    assert response.closed


# --- gateway ------------------------------------------------------------------


async def test_gateway_relays_the_same_request(net: Net, router: Router) -> None:
    provider = make_provider(routing=Routing.GATEWAY, headers={"X-Title": "Detour"})
    net.on(RELAY, ok_json(MODELS))
    call = dialect_for(provider).chat_call(provider, "glm-4.6", [{"role": "user", "content": "hi"}])
    net.on(f"{GATEWAY_URL}/relay/chat/completions", ok_json({}))
    routed = await router.send(provider, call)
    assert routed.route is Route.GATEWAY and not routed.fallback
    sent = net.requests[-1]
    assert sent.url == f"{GATEWAY_URL}/relay/chat/completions"
    assert sent.body == call.body and sent.method == "POST"
    assert sent.headers == {
        **call.headers,
        "X-Detour-Upstream": "https://api.z.ai/api/paas/v4",
        "X-Detour-Token": "gw-secret-token",
    }


async def test_gateway_without_token_sends_no_token_header(
    net: Net, router: Router, gateway: GatewaySwitch
) -> None:
    gateway.config = GatewayConfig(GATEWAY_URL + "/")
    provider = make_provider(routing=Routing.GATEWAY)
    net.on(RELAY, ok_json(MODELS))
    await router.send(provider, models_call(provider))
    assert net.requests[0].url == RELAY and net.requests[0].timeout == 20.0
    assert "X-Detour-Token" not in net.requests[0].headers


async def test_gateway_route_without_gateway_is_gateway_missing(
    net: Net, router: Router, gateway: GatewaySwitch
) -> None:
    gateway.config = None
    provider = make_provider(routing=Routing.GATEWAY)
    with pytest.raises(GatewayMissing, match="set to use the gateway, but no gateway") as caught:
        await router.send(provider, models_call(provider))
    assert "set the gateway URL in Settings" in str(caught.value)
    assert net.requests == []


@pytest.mark.parametrize("kind", CONNECTIVITY)
async def test_gateway_unreachable_names_the_gateway_and_never_goes_direct(
    net: Net, router: Router, kind: type[ConnectivityError]
) -> None:
    provider = make_provider(routing=Routing.GATEWAY)
    net.on(RELAY, fail(kind))
    with pytest.raises(kind) as caught:
        await router.send(provider, models_call(provider))
    assert "the gateway at gw.example.test could not be reached" in caught.value.message
    assert "check the gateway URL in Settings" in caught.value.hint
    assert caught.value.route == "gateway"
    assert net.urls() == [RELAY]


def stock_litellm(net: Net) -> None:
    net.on(RELAY, status(404, {"detail": "Not Found"}))
    net.on(f"{GATEWAY_URL}/health", status(401, {"error": {"message": "No api key passed in."}}))
    net.on(f"{GATEWAY_URL}/health/liveliness", status(200, "I'm alive!"))


async def test_stock_litellm_proxy_as_gateway_is_unusable_and_remembered(
    net: Net, router: Router
) -> None:
    stock_litellm(net)
    provider = make_provider(routing=Routing.GATEWAY)
    with pytest.raises(GatewayUnusable, match=r"stock LiteLLM proxy: .* has no relay"):
        await router.send(provider, models_call(provider))
    health = [r for r in net.requests if r.url.startswith(f"{GATEWAY_URL}/health")]
    assert all(r.headers == {} for r in health)  # never credentials to /health
    sent = len(net.requests)
    with pytest.raises(GatewayUnusable):
        await router.send(provider, models_call(provider))
    assert len(net.requests) == sent  # known now: no request at all


@pytest.mark.parametrize(
    ("kind", "error", "words"),
    [
        ("policy", GatewayUnusable, "GATEWAY_ALLOW_PRIVATE_UPSTREAMS"),
        ("gateway_auth", GatewayUnusable, "fix the gateway token in Settings"),
        ("unreachable", Unreachable, "unreachable from the gateway at gw.example.test"),
        ("timeout", TimedOut, "did not answer the gateway at gw.example.test in time"),
        ("limit", HttpError, "larger than the gateway accepts"),
        ("bad_request", HttpError, "could not read the request"),
        ("not_found", HttpError, "update the gateway"),
        ("something_new", HttpError, "see the gateway's logs"),
    ],
)
async def test_gateway_made_errors_map_to_core_errors(
    net: Net, router: Router, kind: str, error: type[Exception], words: str
) -> None:
    provider = make_provider(routing=Routing.GATEWAY)
    body = {"error": {"message": f"gateway says {kind}", "type": kind}}
    codes = {"gateway_auth": 401, "policy": 403, "unreachable": 502, "timeout": 504}
    net.on(RELAY, status(codes.get(kind, 400), body, {"x-detour-error": kind}))
    with pytest.raises(error) as caught:
        await router.send(provider, models_call(provider))
    assert type(caught.value) is error
    assert words in str(caught.value)
    assert f"gateway says {kind}" in str(caught.value)


async def test_providers_own_401_through_the_gateway_is_an_auth_error(
    net: Net, router: Router
) -> None:
    provider = make_provider(routing=Routing.GATEWAY)
    net.on(RELAY, status(401, {"error": {"message": "token expired", "code": "1001"}}))
    with pytest.raises(AuthError, match=r"Z.ai answered HTTP 401: token expired"):
        await router.send(provider, models_call(provider))
    assert f"{GATEWAY_URL}/health" in net.urls()  # confirmed the gateway is a Detour one


# --- auto ---------------------------------------------------------------------


async def test_auto_direct_ok_is_remembered_and_reused(
    net: Net, router: Router, zai: Provider, events: list[Event], clock: FakeClock
) -> None:
    net.on(DIRECT, ok_json(MODELS))
    first = await router.send(zai, models_call(zai))
    second = await router.send(zai, models_call(zai))
    assert first.route is second.route is Route.DIRECT
    assert net.urls() == [DIRECT, DIRECT]
    assert [e.reason for e in events if isinstance(e, RouteChosen)] == [
        "direct works",
        "remembered",
    ]
    saved = router.remembered_routes()["zai"]
    assert saved["route"] == "direct" and saved["base_url"] == zai.base_url
    assert saved["expires_at"] > clock.now() + GATEWAY_TTL


@pytest.mark.parametrize("kind", CONNECTIVITY)
async def test_auto_connectivity_failure_falls_back_to_gateway_and_remembers(
    net: Net, router: Router, zai: Provider, events: list[Event], kind: type[ConnectivityError]
) -> None:
    net.on(DIRECT, fail(kind))
    net.on(RELAY, ok_json(MODELS))
    routed = await router.send(zai, models_call(zai))
    assert (routed.route, routed.fallback) == (Route.GATEWAY, True)
    fallback = next(e for e in events if isinstance(e, RouteFallback))
    assert (fallback.from_route, fallback.to_route, fallback.error_class) == (
        "direct",
        "gateway",
        kind.__name__,
    )
    again = await router.send(zai, models_call(zai))
    assert (again.route, again.fallback) == (Route.GATEWAY, False)
    assert net.urls() == [DIRECT, RELAY, RELAY]
    assert router.remembered(zai) is Route.GATEWAY


async def test_fallback_event_reads_as_a_sentence(
    net: Net, router: Router, zai: Provider, events: list[Event]
) -> None:
    net.on(DIRECT, fail(CorsBlocked))
    net.on(RELAY, ok_json(MODELS))
    await router.send(zai, models_call(zai))
    assert [str(e) for e in events] == [
        "Z.ai: direct blocked by CORS → using gateway",
        "Z.ai: using gateway (direct blocked by CORS)",
    ]


@pytest.mark.parametrize("code", [401, 403, 404, 429, 400])
async def test_auto_never_switches_road_for_an_http_error(
    net: Net, router: Router, zai: Provider, code: int
) -> None:
    net.on(DIRECT, status(code, {"error": {"message": "no"}}))
    net.on(RELAY, ok_json(MODELS))
    with pytest.raises(HttpError) as caught:
        await router.send(zai, models_call(zai))
    assert caught.value.status == code
    assert isinstance(caught.value, AuthError) == (code in (401, 403))
    assert net.urls() == [DIRECT]
    assert router.remembered_routes() == {}


async def test_cors_symptom_hiding_an_auth_error(net: Net, router: Router, zai: Provider) -> None:
    net.on(DIRECT, fail(CorsBlocked))
    net.on(RELAY, status(401, {"error": {"message": "Invalid API key", "code": "1002"}}))
    with pytest.raises(AuthError) as caught:
        await router.send(zai, models_call(zai))
    message = str(caught.value)
    assert (
        "the provider refused the key; its refusal carried no CORS headers, so the browser"
        " could not read it" in message
    )
    assert "Invalid API key" in message
    assert caught.value.status == 401 and caught.value.route == "gateway"
    assert router.remembered_routes() == {}


async def test_unreachable_then_gateway_401_is_a_plain_auth_error(
    net: Net, router: Router, zai: Provider
) -> None:
    net.on(DIRECT, fail(Unreachable))
    net.on(RELAY, status(401, {"error": {"message": "Invalid API key"}}))
    with pytest.raises(AuthError) as caught:
        await router.send(zai, models_call(zai))
    assert "no CORS headers" not in str(caught.value)
    assert router.remembered_routes() == {}


async def test_auto_fallback_to_dead_gateway_names_both_failures(
    net: Net, router: Router, zai: Provider
) -> None:
    net.on(DIRECT, fail(CorsBlocked))
    net.on(RELAY, fail(Unreachable))
    with pytest.raises(Unreachable) as caught:
        await router.send(zai, models_call(zai))
    assert caught.value.message.startswith("Z.ai: direct blocked by CORS; through the gateway:")
    assert "gw.example.test could not be reached" in caught.value.message
    assert router.remembered_routes() == {}


async def test_auto_fallback_to_stock_litellm_says_it_has_no_relay(
    net: Net, router: Router, zai: Provider
) -> None:
    stock_litellm(net)
    net.on(DIRECT, fail(CorsBlocked))
    with pytest.raises(GatewayUnusable, match=r"direct blocked by CORS; .*has no relay"):
        await router.send(zai, models_call(zai))


async def test_auto_without_gateway_reports_cors_with_add_a_gateway_hint(
    net: Net, router: Router, zai: Provider, gateway: GatewaySwitch, events: list[Event]
) -> None:
    gateway.config = None
    net.on(DIRECT, fail(CorsBlocked))
    with pytest.raises(CorsBlocked) as caught:
        await router.send(zai, models_call(zai))
    assert caught.value.hint.startswith("add a gateway in Settings, or ")
    assert events == [] and net.urls() == [DIRECT]


async def test_auto_without_gateway_unreachable_keeps_its_own_hint_too(
    net: Net, router: Router, zai: Provider, gateway: GatewaySwitch
) -> None:
    gateway.config = None
    net.on(DIRECT, fail(Unreachable))
    with pytest.raises(Unreachable, match="add a gateway in Settings, or check the base URL"):
        await router.send(zai, models_call(zai))


async def test_remembered_gateway_expires_and_notices_the_block_lifted(
    net: Net, router: Router, zai: Provider, clock: FakeClock, events: list[Event]
) -> None:
    net.on(DIRECT, fail(CorsBlocked), ok_json(MODELS))
    net.on(RELAY, ok_json(MODELS))
    await router.send(zai, models_call(zai))
    clock.advance(GATEWAY_TTL - 1)
    assert (await router.send(zai, models_call(zai))).route is Route.GATEWAY
    clock.advance(2)
    routed = await router.send(zai, models_call(zai))
    assert routed.route is Route.DIRECT
    assert net.urls() == [DIRECT, RELAY, RELAY, DIRECT]
    forgotten = [e for e in events if isinstance(e, RouteForgotten)]
    assert [str(e) for e in forgotten] == [
        "Z.ai: forgot the gateway route (it expired; checking again)"
    ]
    assert router.remembered(zai) is Route.DIRECT


async def test_remembered_direct_failing_goes_to_gateway_without_retrying_direct(
    net: Net, router: Router, zai: Provider, events: list[Event]
) -> None:
    net.on(DIRECT, ok_json(MODELS), fail(CorsBlocked))
    net.on(RELAY, ok_json(MODELS))
    await router.send(zai, models_call(zai))
    routed = await router.send(zai, models_call(zai))
    assert (routed.route, routed.fallback) == (Route.GATEWAY, True)
    assert net.urls() == [DIRECT, DIRECT, RELAY]
    assert any(
        isinstance(e, RouteForgotten) and "direct blocked by CORS" in e.reason for e in events
    )
    assert router.remembered(zai) is Route.GATEWAY


async def test_remembered_gateway_failing_tries_direct(
    net: Net, router: Router, zai: Provider
) -> None:
    net.on(DIRECT, fail(CorsBlocked), ok_json(MODELS))
    net.on(RELAY, ok_json(MODELS), fail(Unreachable))
    await router.send(zai, models_call(zai))
    routed = await router.send(zai, models_call(zai))
    assert routed.route is Route.DIRECT
    assert net.urls() == [DIRECT, RELAY, RELAY, DIRECT]
    assert router.remembered(zai) is Route.DIRECT


async def test_remembered_gateway_failing_and_direct_blocked_reports_both(
    net: Net, router: Router, zai: Provider
) -> None:
    net.on(DIRECT, fail(CorsBlocked))
    net.on(RELAY, ok_json(MODELS), fail(TimedOut))
    await router.send(zai, models_call(zai))
    with pytest.raises(TimedOut, match=r"could not be reached .*direct is blocked by CORS too"):
        await router.send(zai, models_call(zai))
    assert router.remembered_routes() == {}


async def test_remembered_gateway_with_gateway_removed_re_resolves_direct(
    net: Net, router: Router, zai: Provider, gateway: GatewaySwitch, events: list[Event]
) -> None:
    net.on(DIRECT, fail(CorsBlocked), ok_json(MODELS))
    net.on(RELAY, ok_json(MODELS))
    await router.send(zai, models_call(zai))
    gateway.config = None
    routed = await router.send(zai, models_call(zai))
    assert routed.route is Route.DIRECT
    assert "no gateway is configured any more" in str(
        next(e for e in events if isinstance(e, RouteForgotten))
    )


async def test_editing_the_base_url_forgets_the_route(
    net: Net, router: Router, zai: Provider, events: list[Event]
) -> None:
    net.on(DIRECT, fail(CorsBlocked))
    net.on(RELAY, ok_json(MODELS))
    await router.send(zai, models_call(zai))
    moved = make_provider(base_url="https://open.bigmodel.cn/api/paas/v4")
    assert router.remembered(moved) is None
    net.on("https://open.bigmodel.cn/api/paas/v4/models", ok_json(MODELS))
    assert (await router.send(moved, models_call(moved))).route is Route.DIRECT
    assert any("base URL changed" in str(e) for e in events)


async def test_remembered_routes_survive_a_page_load(
    net: Net, router: Router, zai: Provider, gateway: GatewaySwitch, clock: FakeClock
) -> None:
    net.on(DIRECT, fail(CorsBlocked))
    net.on(RELAY, ok_json(MODELS))
    await router.send(zai, models_call(zai))
    saved = router.remembered_routes()
    fresh = Router(net.transport, gateway, clock)
    fresh.load_remembered(
        {
            **saved,
            "bad": {"route": "teleport", "base_url": "x", "expires_at": 1},
            "old": {"route": "direct", "base_url": "x", "expires_at": clock.now() - 1},
            "junk": 3,
        }
    )
    assert fresh.remembered_routes() == saved
    await fresh.send(zai, models_call(zai))
    assert net.urls()[-1] == RELAY
    fresh.forget("zai")
    fresh.forget("never-seen")
    assert fresh.remembered_routes() == {}
    fresh.load_remembered("not a dict")
    assert fresh.remembered_routes() == {}


async def test_custom_memory_ttl(net: Net, gateway: GatewaySwitch, clock: FakeClock) -> None:
    router = Router(net.transport, gateway, clock, memory_ttl={Route.DIRECT: 5})
    provider = make_provider()
    net.on(DIRECT, ok_json(MODELS))
    await router.send(provider, models_call(provider))
    clock.advance(6)
    assert router.remembered(provider) is None


async def test_gateway_status_is_cached_and_forced(
    net: Net, router: Router, gateway: GatewaySwitch
) -> None:
    first = await router.gateway_status()
    assert first is not None and first.relay
    await router.gateway_status()
    assert net.urls().count(f"{GATEWAY_URL}/health") == 1
    await router.gateway_status(force=True)
    assert net.urls().count(f"{GATEWAY_URL}/health") == 2
    net.on(f"{GATEWAY_URL}/health", fail(Unreachable))
    net.on(f"{GATEWAY_URL}/health/liveliness", fail(Unreachable))
    down = await router.gateway_status(force=True)
    assert down is not None and not down.relay
    gateway.config = None
    assert await router.gateway_status() is None


async def test_routing_rewords_copies_and_leaves_the_transport_error_alone(
    net: Net, router: Router, zai: Provider
) -> None:
    original = CorsBlocked("Failed to fetch")
    net.on(DIRECT, original)
    net.on(RELAY, fail(Unreachable))
    for _ in range(2):
        with pytest.raises(Unreachable) as caught:
            await router.send(zai, models_call(zai))
        assert caught.value.message.count("could not be reached") == 1
    assert original.message == "Failed to fetch" and original.route is None


def test_reworded_keeps_http_details() -> None:
    from web.routing import reworded

    error = AuthError(401, "body", message="old", route="direct")
    new = reworded(error, "new", hint="do this")
    assert (new.status, new.body, new.route, str(new)) == (401, "body", "direct", "new — do this")
    assert str(error) == "old — check the API key in this provider's settings"


async def test_gateway_provider_with_a_wrong_token_says_fix_it_in_settings(
    net: Net, router: Router, gateway_config: GatewayConfig
) -> None:
    provider = gateway_provider(gateway_config)
    net.on(
        f"{GATEWAY_URL}/v1/models",
        status(401, {"error": {"message": "wrong token"}}, {"x-detour-error": "gateway_auth"}),
    )
    with pytest.raises(GatewayUnusable, match="fix the gateway token in Settings") as caught:
        await router.send(provider, models_call(provider))
    assert "Gateway refused its token (wrong token" in str(caught.value)


async def test_gateway_provider_other_errors_are_plain_http_errors(
    net: Net, router: Router, gateway_config: GatewayConfig
) -> None:
    provider = gateway_provider(gateway_config)
    net.on(
        f"{GATEWAY_URL}/v1/models",
        status(404, {"error": {"message": "no such model"}}, {"x-detour-error": "not_found"}),
    )
    with pytest.raises(HttpError, match="Gateway answered HTTP 404: no such model"):
        await router.send(provider, models_call(provider))


async def test_remembered_gateway_that_became_unusable_re_resolves_direct(
    net: Net, router: Router, zai: Provider, events: list[Event]
) -> None:
    net.on(DIRECT, fail(CorsBlocked), ok_json(MODELS))
    policy = status(403, {"error": {"message": "private upstream"}}, {"x-detour-error": "policy"})
    net.on(RELAY, ok_json(MODELS), policy)
    await router.send(zai, models_call(zai))
    routed = await router.send(zai, models_call(zai))
    assert routed.route is Route.DIRECT
    assert "Z.ai: forgot the gateway route (the gateway refused it)" in map(str, events)


async def test_a_silent_provider_behind_a_working_gateway_is_named_not_the_gateway(
    net: Net, router: Router
) -> None:
    provider = make_provider(routing=Routing.GATEWAY)
    await router.gateway_status(force=True)  # the gateway answered: it is up
    net.on(RELAY, fail(TimedOut))
    with pytest.raises(TimedOut) as caught:
        await router.send(provider, models_call(provider))
    assert caught.value.message.startswith("Z.ai did not answer through the gateway")
    assert "the gateway at gw.example.test is up" in caught.value.message
    assert "provider's status" in caught.value.hint


async def test_a_refused_key_after_a_cors_block_logs_no_detour(
    net: Net, router: Router, events: list[Event]
) -> None:
    provider = make_provider()
    net.on(f"{provider.base_url}/models", fail(CorsBlocked))
    net.on(RELAY, status(401, {"error": {"message": "bad key"}}))
    with pytest.raises(AuthError):
        await router.send(provider, models_call(provider))
    assert not [e for e in events if isinstance(e, RouteFallback)]
