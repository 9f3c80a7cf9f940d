from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

import pytest

from tests.unit.conftest import GATEWAY_URL, Net, make_provider, ok_json, status
from web.app import App, ProviderDraft, as_draft, describe_stats
from web.chat import ChatUpdate, Conversation, ReplyStats
from web.clock import FakeClock, settle
from web.conversations import INDEX_KEY, item_key
from web.conversations import LEGACY_KEY as CONVERSATION_KEY
from web.dialects import TextDelta
from web.drafts import parse_headers, split_models
from web.errors import (
    AuthError,
    CorsBlocked,
    DetourError,
    ProviderInvalid,
    RouteError,
    SettingsInvalid,
    Unreachable,
)
from web.gateway import GATEWAY_PROVIDER_ID, GatewayConfig, GatewayKind
from web.health import HealthState
from web.notices import Change
from web.providers import Provider, Routing
from web.store import LEGACY_KEY, STATE_KEY, AppState, MemoryStorage, Settings, save_state
from web.transport import MemoryResponse

ORIGIN = "https://detour.example.test"
ZAI_BASE = "https://api.z.ai/api/paas/v4"
ZAI_CODING = "https://api.z.ai/api/coding/paas/v4"
ZAI_MODELS = f"{ZAI_BASE}/models"
ZAI_CHAT = f"{ZAI_BASE}/chat/completions"
GROQ_MODELS = "https://api.groq.com/openai/v1/models"
RELAY_MODELS = f"{GATEWAY_URL}/relay/models"
RELAY_CHAT = f"{GATEWAY_URL}/relay/chat/completions"
GATEWAY_HEALTH = f"{GATEWAY_URL}/health"
GATEWAY_MODELS = f"{GATEWAY_URL}/v1/models"
GATEWAY_CHAT = f"{GATEWAY_URL}/v1/chat/completions"
PROBE = f"{GATEWAY_URL}/probe"
SSE = {"content-type": "text/event-stream"}
DETOUR_DEMO = {
    "status": "ok",
    "service": "detour-gateway",
    "version": "0.1.0",
    "name": "Detour demo",
    "relay": True,
    "auth_required": False,
    "models": 1,
}
NO_CORS_PROBE = {
    "url": ZAI_BASE,
    "reachable": True,
    "status": 204,
    "elapsed_ms": 3,
    "cors": {
        "allow_origin": None,
        "allow_methods": None,
        "allow_headers": None,
        "allows_origin": False,
        "allows_headers": False,
    },
    "error": None,
}
LITELLM_DOCS_YAML = """\
model_list: [{model_name: zai-coding-model, litellm_params: {model: openai/zai-coding-model, \
api_base: "https://api.z.ai/api/coding/paas/v4", api_key: "sk-x"}}]
"""


# --- helpers ----------------------------------------------------------------------


def seeded(*providers: Provider, settings: Settings | None = None) -> MemoryStorage:
    """Storage holding saved state with these providers."""
    storage = MemoryStorage()
    save_state(storage, AppState(providers=list(providers), settings=settings or Settings()))
    return storage


def make_app(
    net: Net,
    clock: FakeClock,
    storage: MemoryStorage | None = None,
    *,
    default_gateway_url: str = GATEWAY_URL,
) -> App:
    return App(
        transport=net.transport,
        storage=storage if storage is not None else MemoryStorage(),
        clock=clock,
        random=lambda: 0.5,
        origin=ORIGIN,
        default_gateway_url=default_gateway_url,
    )


def draft(**changes: Any) -> ProviderDraft:
    """The provider form filled in for Z.ai."""
    form = ProviderDraft(
        template="zai",
        name="Z.ai",
        base_url=ZAI_BASE,
        dialect="openai",
        api_key="sk-zai-key-5678",
        routing="gateway",
        headers="Accept-Language: en-US,en",
        manual_models="",
    )
    return replace(form, **changes)


def saved(storage: MemoryStorage) -> dict[str, Any]:
    """The saved state document."""
    data: dict[str, Any] = json.loads(storage.data[STATE_KEY])
    return data


def saved_conversation(storage: MemoryStorage) -> list[tuple[str, str]]:
    """The open conversation as saved: its index line names it, its own key holds it."""
    active = json.loads(storage.data[INDEX_KEY])["active"]
    data = json.loads(storage.data.get(item_key(active), '{"messages": []}'))
    return [(m["role"], m["content"]) for m in data["messages"]]


def openai_stream(*texts: str) -> list[str]:
    """OpenAI chat-completion SSE chunks carrying `texts`, then the finish and [DONE]."""
    chunks = [
        "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": t}}]}) + "\n\n"
        for t in texts
    ]
    finish = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    return [*chunks, f"data: {json.dumps(finish)}\n\n", "data: [DONE]\n\n"]


def streamed(*texts: str) -> Any:
    return lambda _: MemoryResponse(chunks=openai_stream(*texts), headers=SSE)


def models(*ids: str) -> Any:
    return ok_json({"data": [{"id": i} for i in ids]})


async def collect(updates: AsyncIterator[ChatUpdate]) -> tuple[str, ReplyStats]:
    text, stats = "", None
    async for update in updates:
        if isinstance(update, TextDelta):
            text += update.text
        elif isinstance(update, ReplyStats):
            stats = update
    assert stats is not None
    return text, stats


class GatedResponse:
    """A stream that sends its first chunks, then waits on `gate` before the rest."""

    def __init__(self, first: list[str], rest: list[str], gate: asyncio.Event) -> None:
        self.status = 200
        self.headers: Mapping[str, str] = dict(SSE)
        self.first, self.rest, self.gate = first, rest, gate
        self.closed = False

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        for chunk in self.first:
            yield chunk.encode()
        await self.gate.wait()
        for chunk in self.rest:
            yield chunk.encode()

    async def aread(self) -> bytes:
        return b"".join([c async for c in self.aiter_bytes()])

    async def aclose(self) -> None:
        self.closed = True


def zai_auto() -> Provider:
    return make_provider(template="zai")


# --- construction -------------------------------------------------------------------


def test_an_empty_storage_starts_with_nothing_and_no_problems(net: Net, clock: FakeClock) -> None:
    app = make_app(net, clock)
    assert app.state.providers == []
    assert app.problems == []
    assert app.conversation.messages == []
    assert net.requests == []


async def test_legacy_providers_without_routing_load_and_route_as_auto(
    net: Net, clock: FakeClock
) -> None:
    legacy = [{"id": "zai", "name": "Z.ai", "baseUrl": ZAI_BASE, "apiKey": "sk-legacy-9999"}]
    storage = MemoryStorage({LEGACY_KEY: json.dumps(legacy)})
    net.on(ZAI_MODELS, models("glm-4.6"))
    app = make_app(net, clock, storage)
    assert [(p.id, p.routing) for p in app.state.providers] == [("zai", Routing.AUTO)]
    await app.refresh_models("zai")
    assert net.urls() == [ZAI_MODELS]  # auto tries direct first; a gateway default would relay


def test_unreadable_saved_state_is_reported(net: Net, clock: FakeClock) -> None:
    app = make_app(net, clock, MemoryStorage({STATE_KEY: "{not json"}))
    assert app.state.providers == []
    assert len(app.problems) == 1
    assert "could not be read" in app.problems[0]


def test_a_corrupt_saved_conversation_is_reported_and_backed_up(net: Net, clock: FakeClock) -> None:
    storage = MemoryStorage({CONVERSATION_KEY: "{oops"})
    app = make_app(net, clock, storage)
    assert app.conversation.messages == []
    key = f"{CONVERSATION_KEY}.backup"
    assert app.problems == [f"the saved conversation could not be read; a copy is in {key!r}"]
    assert storage.data[key] == "{oops"


def test_the_saved_conversation_is_loaded(net: Net, clock: FakeClock) -> None:
    chat = Conversation()
    chat.add("user", "Hello")
    chat.add("assistant", "Hi there")
    app = make_app(net, clock, MemoryStorage({CONVERSATION_KEY: json.dumps(chat.to_json())}))
    assert [(m.role, m.content) for m in app.conversation.messages] == [
        ("user", "Hello"),
        ("assistant", "Hi there"),
    ]
    assert app.problems == []


# --- gateway ---------------------------------------------------------------------------


def test_the_settings_gateway_url_wins_over_the_page_default(net: Net, clock: FakeClock) -> None:
    settings = Settings(gateway_url=" https://mine.example.test ", gateway_token="tok-1")
    app = make_app(net, clock, seeded(settings=settings))
    assert app.gateway_config() == GatewayConfig("https://mine.example.test", "tok-1")


def test_the_page_default_gateway_is_used_with_the_settings_token(
    net: Net, clock: FakeClock
) -> None:
    app = make_app(net, clock, seeded(settings=Settings(gateway_token="tok-2")))
    config = app.gateway_config()
    assert config is not None
    assert (config.url, config.token) == (GATEWAY_URL, "tok-2")


def test_no_gateway_when_neither_settings_nor_page_name_one(net: Net, clock: FakeClock) -> None:
    app = make_app(net, clock, default_gateway_url="  ")
    assert app.gateway_config() is None


async def test_a_detour_gateway_becomes_a_provider_named_by_it_with_its_models(
    net: Net, clock: FakeClock
) -> None:
    net.on(GATEWAY_HEALTH, ok_json(DETOUR_DEMO))
    net.on(GATEWAY_MODELS, models("demo-model"))
    app = make_app(net, clock, seeded(zai_auto()))
    found = await app.refresh_gateway()
    assert found is not None and found.kind is GatewayKind.DETOUR
    own = app.provider(GATEWAY_PROVIDER_ID)
    assert own is not None
    assert (own.name, own.models, own.base_url) == (
        "Detour demo",
        ["demo-model"],
        GATEWAY_URL + "/v1",
    )
    assert [p.id for p in app.providers()] == [GATEWAY_PROVIDER_ID, "zai"]
    assert app.notes[GATEWAY_PROVIDER_ID] == "Detour demo listed 1 model"


async def test_an_unreachable_gateway_gives_no_gateway_provider(net: Net, clock: FakeClock) -> None:
    net.on(GATEWAY_HEALTH, Unreachable("connection refused"))
    app = make_app(net, clock, seeded(zai_auto()))
    found = await app.refresh_gateway()
    assert found is not None and found.kind is GatewayKind.UNREACHABLE
    assert app.gateway_provider() is None
    assert [p.id for p in app.providers()] == ["zai"]
    assert GATEWAY_MODELS not in net.urls()


async def test_a_gateway_the_browser_may_not_read_gives_no_gateway_provider(
    net: Net, clock: FakeClock
) -> None:
    net.on(GATEWAY_HEALTH, CorsBlocked("Failed to fetch"))
    app = make_app(net, clock)
    found = await app.refresh_gateway()
    assert found is not None and found.kind is GatewayKind.UNREACHABLE
    assert app.provider(GATEWAY_PROVIDER_ID) is None


async def test_a_stock_litellm_proxy_offers_its_models_but_no_relay(
    net: Net, clock: FakeClock
) -> None:
    net.on(GATEWAY_HEALTH, status(401, {"error": "Authentication Error"}))
    net.on(f"{GATEWAY_URL}/health/liveliness", status(200, '"I\'m alive!"'))
    net.on(GATEWAY_MODELS, models("gpt-4o-mini", "claude-sonnet"))
    app = make_app(net, clock, seeded(settings=Settings(gateway_token="sk-master")))
    found = await app.refresh_gateway()
    assert found is not None
    assert (found.kind, found.relay) == (GatewayKind.LITELLM, False)
    own = app.gateway_provider()
    assert own is not None
    assert (own.name, own.models) == ("Gateway", ["gpt-4o-mini", "claude-sonnet"])
    listing = net.requests[-1]
    assert listing.url == GATEWAY_MODELS
    assert listing.headers["Authorization"] == "Bearer sk-master"


async def test_a_gateway_refusing_its_model_list_leaves_a_note_and_no_models(
    net: Net, clock: FakeClock
) -> None:
    net.on(GATEWAY_MODELS, status(401, {"error": {"message": "bad token"}}))
    app = make_app(net, clock)
    await app.refresh_gateway()
    own = app.gateway_provider()
    assert own is not None and own.models == []
    assert "HTTP 401" in app.notes[GATEWAY_PROVIDER_ID]


async def test_refreshing_without_a_gateway_sends_nothing(net: Net, clock: FakeClock) -> None:
    app = make_app(net, clock, default_gateway_url="")
    changes: list[Change] = []
    app.listeners.append(changes.append)
    assert await app.refresh_gateway() is None
    assert app.gateway_provider() is None
    assert net.requests == []
    assert changes == [Change.HEALTH, Change.PROVIDERS]


@pytest.mark.parametrize("url", ["ftp://gw.example.test", "gateway", "http://"])
def test_set_gateway_rejects_a_bad_url_and_saves_nothing(
    net: Net, clock: FakeClock, url: str
) -> None:
    storage = seeded(settings=Settings(gateway_url="https://old.example.test"))
    before = dict(storage.data)
    app = make_app(net, clock, storage)
    with pytest.raises(ProviderInvalid) as caught:
        app.set_gateway(url, "tok")
    assert "gateway_url" in caught.value.problems
    assert storage.data == before
    assert app.state.settings.gateway_url == "https://old.example.test"


async def test_set_gateway_saves_the_url_and_token_and_forgets_the_old_status(
    net: Net, clock: FakeClock
) -> None:
    storage = MemoryStorage()
    app = make_app(net, clock, storage)
    await app.refresh_gateway()
    assert app.gateway_status is not None
    app.set_gateway("  https://other.example.test/  ", " tok-9 ")
    assert app.gateway_status is None
    settings = saved(storage)["settings"]
    assert (settings["gateway_url"], settings["gateway_token"]) == (
        "https://other.example.test/",
        "tok-9",
    )
    again = make_app(net, clock, storage)
    assert again.gateway_config() == GatewayConfig("https://other.example.test/", "tok-9")


def test_an_empty_gateway_url_means_the_page_default(net: Net, clock: FakeClock) -> None:
    storage = seeded(settings=Settings(gateway_url="https://mine.example.test"))
    app = make_app(net, clock, storage)
    app.set_gateway("", "")
    assert saved(storage)["settings"]["gateway_url"] == ""
    config = app.gateway_config()
    assert config is not None and config.url == GATEWAY_URL


# --- providers ---------------------------------------------------------------------------


def test_a_new_provider_is_built_from_its_template(net: Net, clock: FakeClock) -> None:
    app = make_app(net, clock)
    provider = app.build_provider(
        draft(
            base_url=ZAI_CODING + "/",
            headers="Accept-Language: en-US,en\n\nX-Trace:  on ",
            manual_models="glm-4.6, glm-4.5\nglm-4.6",
        )
    )
    assert (provider.id, provider.template, provider.routing) == ("zai", "zai", Routing.GATEWAY)
    assert provider.base_url == ZAI_CODING
    assert provider.api_key == "sk-zai-key-5678"
    assert provider.headers == {"Accept-Language": "en-US,en", "X-Trace": "on"}
    assert provider.manual_models == ["glm-4.6", "glm-4.5"]
    assert app.state.providers == []  # building changes nothing


def test_saving_a_new_provider_adds_it_saves_it_and_logs_it(net: Net, clock: FakeClock) -> None:
    storage = MemoryStorage()
    app = make_app(net, clock, storage)
    provider = app.save_provider(draft())
    assert app.state.providers == [provider]
    assert [p["id"] for p in saved(storage)["providers"]] == ["zai"]
    assert app.activity[0] == "Z.ai: added (gateway route)"


def test_a_second_provider_from_the_same_template_gets_a_fresh_id(
    net: Net, clock: FakeClock
) -> None:
    app = make_app(net, clock)
    app.save_provider(draft())
    second = app.save_provider(draft(name="Z.ai coding", base_url=ZAI_CODING))
    assert second.id == "zai-2"
    assert [p.id for p in app.state.providers] == ["zai", "zai-2"]


def test_an_unknown_template_makes_a_custom_provider(net: Net, clock: FakeClock) -> None:
    app = make_app(net, clock)
    provider = app.build_provider(
        draft(template="no-such", name="My server", base_url="http://10.0.0.5:8000/v1")
    )
    assert (provider.id, provider.template) == ("custom", "custom")


def test_editing_a_provider_keeps_its_id_models_and_unknown_fields(
    net: Net, clock: FakeClock
) -> None:
    original = make_provider(
        template="zai", models=["glm-4.6"], extra={"color": "teal"}, api_key="sk-old-0000"
    )
    other = make_provider("groq", name="Groq", base_url="https://api.groq.com/openai/v1")
    storage = seeded(original, other)
    app = make_app(net, clock, storage)
    edited = app.save_provider(
        draft(name="Z.ai coding", base_url=ZAI_CODING, api_key=" sk-new-1111 ", routing="auto"),
        "zai",
    )
    assert (edited.id, edited.models, edited.extra) == ("zai", ["glm-4.6"], {"color": "teal"})
    assert (edited.name, edited.base_url, edited.api_key) == (
        "Z.ai coding",
        ZAI_CODING,
        "sk-new-1111",
    )
    assert [p.id for p in app.state.providers] == ["zai", "groq"]
    entry = saved(storage)["providers"][0]
    assert (entry["name"], entry["color"], entry["models"]) == ("Z.ai coding", "teal", ["glm-4.6"])
    assert app.activity[0] == "Z.ai coding: settings saved"


def test_saving_over_a_provider_that_is_gone_adds_it_instead(net: Net, clock: FakeClock) -> None:
    app = make_app(net, clock)
    provider = app.save_provider(draft(), "deleted-meanwhile")
    assert provider.id == "zai"
    assert app.state.providers == [provider]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"headers": "Accept-Language en-US"}, "headers"),
        ({"headers": ": no name"}, "headers"),
        ({"headers": "Bad Name: x"}, "headers"),
        ({"routing": "sometimes"}, "routing"),
        ({"dialect": "cohere"}, "dialect"),
        ({"base_url": "api.z.ai/api/paas/v4"}, "base_url"),
        ({"base_url": ""}, "base_url"),
        ({"name": "  "}, "name"),
    ],
)
@pytest.mark.parametrize("original_id", [None, "zai"])
def test_a_bad_field_raises_provider_invalid_and_saves_nothing(
    net: Net, clock: FakeClock, change: dict[str, str], field: str, original_id: str | None
) -> None:
    storage = seeded(make_provider(template="zai", models=["glm-4.6"]))
    before = dict(storage.data)
    app = make_app(net, clock, storage)
    with pytest.raises(ProviderInvalid) as caught:
        app.save_provider(draft(**change), original_id)
    assert field in caught.value.problems
    assert storage.data == before
    assert [(p.id, p.base_url, p.name) for p in app.state.providers] == [("zai", ZAI_BASE, "Z.ai")]
    assert list(app.activity) == []


async def test_deleting_a_provider_forgets_its_route_and_the_active_choice(
    net: Net, clock: FakeClock
) -> None:
    net.on(ZAI_MODELS, models("glm-4.6"))
    settings = Settings(active_provider="zai", active_model="glm-4.6")
    storage = seeded(zai_auto(), settings=settings)
    app = make_app(net, clock, storage)
    await app.refresh_models("zai")
    assert "zai" in saved(storage)["routes"]
    app.delete_provider("zai")
    state = saved(storage)
    assert (state["providers"], state["routes"]) == ([], {})
    assert state["settings"]["active_provider"] == ""
    assert app.activity[0] == "Z.ai: removed"


def test_deleting_another_provider_keeps_the_active_choice(net: Net, clock: FakeClock) -> None:
    groq = make_provider("groq", name="Groq", base_url="https://api.groq.com/openai/v1")
    storage = seeded(zai_auto(), groq, settings=Settings(active_provider="zai"))
    app = make_app(net, clock, storage)
    app.delete_provider("groq")
    assert [p["id"] for p in saved(storage)["providers"]] == ["zai"]
    assert saved(storage)["settings"]["active_provider"] == "zai"


def test_deleting_an_unknown_provider_changes_nothing(net: Net, clock: FakeClock) -> None:
    storage = seeded(zai_auto())
    before = dict(storage.data)
    app = make_app(net, clock, storage)
    app.delete_provider("nope")
    assert storage.data == before
    assert len(app.state.providers) == 1


def test_a_provider_starts_with_unknown_health(net: Net, clock: FakeClock) -> None:
    app = make_app(net, clock, seeded(zai_auto()))
    assert app.health("zai").state is HealthState.UNKNOWN


# --- models ------------------------------------------------------------------------------


async def test_refreshing_models_saves_the_providers_list(net: Net, clock: FakeClock) -> None:
    net.on(GROQ_MODELS, models("llama-a", "llama-b"))
    groq = make_provider(
        "groq", name="Groq", base_url="https://api.groq.com/openai/v1", routing=Routing.DIRECT
    )
    storage = seeded(groq)
    app = make_app(net, clock, storage)
    result = await app.refresh_models("groq")
    assert result.models == ["llama-a", "llama-b"]
    assert saved(storage)["providers"][0]["models"] == ["llama-a", "llama-b"]
    assert app.notes["groq"] == "Groq listed 2 models"


async def test_a_404_model_list_falls_back_to_the_templates_models_with_a_note(
    net: Net, clock: FakeClock
) -> None:
    net.on(ZAI_MODELS, status(404, {"error": {"message": "not found"}}))
    storage = seeded(zai_auto())
    app = make_app(net, clock, storage)
    result = await app.refresh_models("zai")
    assert result.source == "template"
    assert "glm-4.6" in result.models
    assert saved(storage)["providers"][0]["models"] == result.models
    assert "did not list its models (HTTP 404)" in app.notes["zai"]
    assert "Detour knows" in app.notes["zai"]


async def test_a_refused_key_is_raised_and_noted(net: Net, clock: FakeClock) -> None:
    net.on(ZAI_MODELS, status(401, {"error": {"message": "invalid api key"}}))
    storage = seeded(zai_auto())
    app = make_app(net, clock, storage)
    with pytest.raises(AuthError):
        await app.refresh_models("zai")
    assert "invalid api key" in app.notes["zai"]
    assert saved(storage)["providers"][0]["models"] == []


async def test_refreshing_the_gateway_provider_lists_the_gateways_models(
    net: Net, clock: FakeClock
) -> None:
    net.on(GATEWAY_HEALTH, ok_json(DETOUR_DEMO))
    net.on(GATEWAY_MODELS, models("demo-model"))
    app = make_app(net, clock)
    result = await app.refresh_models(GATEWAY_PROVIDER_ID)
    assert (result.models, result.note) == (["demo-model"], "Detour demo listed 1 model")
    assert net.urls() == [GATEWAY_HEALTH, GATEWAY_MODELS]


async def test_refreshing_the_gateway_provider_without_a_gateway_gives_no_models(
    net: Net, clock: FakeClock
) -> None:
    app = make_app(net, clock, default_gateway_url="")
    result = await app.refresh_models(GATEWAY_PROVIDER_ID)
    assert (result.models, result.note) == ([], "")


async def test_refreshing_an_unknown_provider_says_it_is_gone(net: Net, clock: FakeClock) -> None:
    app = make_app(net, clock)
    with pytest.raises(DetourError, match="no longer exists"):
        await app.refresh_models("nope")
    assert net.requests == []


# --- checking -------------------------------------------------------------------------------


async def test_checking_a_new_provider_says_what_it_found_and_saves_nothing(
    net: Net, clock: FakeClock
) -> None:
    net.on(f"{ZAI_CODING}/models", models("glm-4.6"))
    storage = MemoryStorage()
    app = make_app(net, clock, storage)
    sentence = await app.check_provider(draft(base_url=ZAI_CODING, routing="direct"), None)
    assert sentence.startswith("Z.ai listed 1 model;")
    assert sentence.endswith(" via direct")
    assert storage.data == {}
    assert app.state.providers == []


async def test_a_failed_check_returns_the_reason_and_leaves_settings_alone(
    net: Net, clock: FakeClock
) -> None:
    net.on(ZAI_MODELS, status(401, {"error": {"message": "invalid api key"}}))
    storage = seeded(make_provider(template="zai", models=["glm-4.6"], api_key="sk-good-0000"))
    before = dict(storage.data)
    app = make_app(net, clock, storage)
    sentence = await app.check_provider(draft(api_key="sk-typo", routing="direct"), "zai")
    assert "HTTP 401" in sentence and "invalid api key" in sentence
    assert storage.data == before
    saved_one = app.state.providers[0]
    assert (saved_one.api_key, saved_one.models) == ("sk-good-0000", ["glm-4.6"])


async def test_checking_an_invalid_form_raises_and_sends_nothing(
    net: Net, clock: FakeClock
) -> None:
    app = make_app(net, clock)
    with pytest.raises(ProviderInvalid):
        await app.check_provider(draft(routing="maybe"), None)
    assert net.requests == []


async def test_a_check_names_the_road_it_took_not_an_earlier_one(
    net: Net, clock: FakeClock
) -> None:
    net.on(ZAI_MODELS, CorsBlocked("Failed to fetch"))
    net.on(RELAY_MODELS, models("glm-4.6"))
    net.on(f"{ZAI_CODING}/models", status(404, {"error": {"message": "no list here"}}))
    app = make_app(net, clock, seeded(zai_auto()))
    await app.refresh_models("zai")  # went through the gateway
    sentence = await app.check_provider(draft(base_url=ZAI_CODING, routing="auto"), "zai")
    assert "HTTP 404" in sentence
    assert sentence.endswith(" via direct")


# --- explaining ----------------------------------------------------------------------------


async def test_a_cors_block_is_explained_by_the_detour_gateways_probe(
    net: Net, clock: FakeClock
) -> None:
    net.on(ZAI_MODELS, CorsBlocked("Failed to fetch"))
    net.on(PROBE, ok_json(NO_CORS_PROBE))
    app = make_app(net, clock, seeded(make_provider(routing=Routing.DIRECT)))
    await app.refresh_gateway()
    with pytest.raises(CorsBlocked):
        await app.refresh_models("zai")
    note = app.notes["zai"]
    assert note.startswith("Z.ai: Failed to fetch")
    assert f"(api.z.ai answered but sent no Access-Control-Allow-Origin for {ORIGIN})" in note
    probe = net.requests[-1]
    assert probe.url == PROBE
    assert probe.json() == {"url": ZAI_BASE, "origin": ORIGIN}


async def test_no_probe_before_the_gateway_has_been_checked(net: Net, clock: FakeClock) -> None:
    net.on(PROBE, ok_json(NO_CORS_PROBE))
    provider = make_provider(routing=Routing.DIRECT)
    app = make_app(net, clock)
    error = CorsBlocked("Z.ai: Failed to fetch")
    assert await app.explain(provider, error) == str(error)
    assert net.requests == []


async def test_no_probe_through_a_stock_litellm_proxy(net: Net, clock: FakeClock) -> None:
    net.on(GATEWAY_HEALTH, status(401))
    net.on(f"{GATEWAY_URL}/health/liveliness", status(200, "ok"))
    net.on(PROBE, ok_json(NO_CORS_PROBE))
    app = make_app(net, clock)
    await app.refresh_gateway()
    error = CorsBlocked("Z.ai: Failed to fetch")
    assert await app.explain(make_provider(), error) == str(error)
    assert PROBE not in net.urls()


async def test_no_probe_for_an_error_that_is_not_a_cors_block(net: Net, clock: FakeClock) -> None:
    net.on(PROBE, ok_json(NO_CORS_PROBE))
    app = make_app(net, clock)
    await app.refresh_gateway()
    error = AuthError(401, message="Z.ai answered HTTP 401: bad key")
    assert await app.explain(make_provider(), error) == str(error)
    assert PROBE not in net.urls()


@pytest.mark.parametrize("answer", [status(500, {"error": "boom"}), None])
async def test_a_failed_probe_leaves_the_message_as_it_was(
    net: Net, clock: FakeClock, answer: Any
) -> None:
    if answer is not None:
        net.on(PROBE, answer)  # else: nothing answers at /probe
    app = make_app(net, clock)
    await app.refresh_gateway()
    error = CorsBlocked("Z.ai: Failed to fetch")
    assert await app.explain(make_provider(), error) == str(error)
    assert net.urls()[-1] == PROBE


# --- chat --------------------------------------------------------------------------------------


async def test_a_reply_streams_and_the_conversation_and_choice_are_saved(
    net: Net, clock: FakeClock
) -> None:
    net.on(ZAI_CHAT, streamed("Bon", "jour"))
    storage = seeded(make_provider(routing=Routing.DIRECT))
    app = make_app(net, clock, storage)
    text, stats = await collect(app.send("zai", " glm-4.6 ", "Hello"))
    assert text == "Bonjour"
    assert (stats.route, stats.finish_reason, stats.stopped) == ("direct", "stop", False)
    assert saved_conversation(storage) == [("user", "Hello"), ("assistant", "Bonjour")]
    settings = saved(storage)["settings"]
    assert (settings["active_provider"], settings["active_model"]) == ("zai", "glm-4.6")
    assert app.session is None


async def test_the_settings_temperature_and_max_tokens_go_with_the_request(
    net: Net, clock: FakeClock
) -> None:
    net.on(ZAI_CHAT, streamed("ok"))
    settings = Settings(temperature=0.2, max_tokens=64)
    app = make_app(net, clock, seeded(make_provider(routing=Routing.DIRECT), settings=settings))
    await collect(app.send("zai", "glm-4.6", "Hello"))
    body = net.requests[-1].json()
    assert (body["temperature"], body["max_tokens"]) == (0.2, 64)
    assert body["messages"] == [{"role": "user", "content": "Hello"}]


async def test_a_reply_from_the_gateways_own_models_says_route_gateway(
    net: Net, clock: FakeClock
) -> None:
    net.on(GATEWAY_HEALTH, ok_json(DETOUR_DEMO))
    net.on(GATEWAY_MODELS, models("demo-model"))
    net.on(GATEWAY_CHAT, streamed("hi"))
    app = make_app(net, clock)
    await app.refresh_gateway()
    text, stats = await collect(app.send(GATEWAY_PROVIDER_ID, "demo-model", "Hello"))
    assert text == "hi"
    assert stats.route == "gateway"
    assert net.urls()[-1] == GATEWAY_CHAT


async def test_an_error_before_the_first_byte_is_raised_with_the_explanation(
    net: Net, clock: FakeClock
) -> None:
    net.on(ZAI_CHAT, CorsBlocked("Failed to fetch"))
    net.on(PROBE, ok_json(NO_CORS_PROBE))
    storage = seeded(make_provider(routing=Routing.DIRECT))
    app = make_app(net, clock, storage)
    await app.refresh_gateway()
    with pytest.raises(RouteError) as caught:
        await collect(app.send("zai", "glm-4.6", "Hello"))
    assert f"sent no Access-Control-Allow-Origin for {ORIGIN}" in str(caught.value)
    assert caught.value.route == "direct"
    assert isinstance(caught.value.__cause__, CorsBlocked)
    assert app.session is None
    assert saved_conversation(storage) == [("user", "Hello"), ("assistant", "")]
    assert "Access-Control-Allow-Origin" in app.conversation.messages[-1].error


async def test_sending_without_a_provider_is_refused(net: Net, clock: FakeClock) -> None:
    app = make_app(net, clock)
    with pytest.raises(DetourError, match="Choose a provider first"):
        await collect(app.send("nope", "glm-4.6", "Hello"))
    assert net.requests == []
    assert app.conversation.messages == []


async def test_sending_without_a_model_is_refused(net: Net, clock: FakeClock) -> None:
    app = make_app(net, clock, seeded(zai_auto()))
    with pytest.raises(DetourError, match=r"Choose a model for Z\.ai"):
        await collect(app.send("zai", "  ", "Hello"))
    assert net.requests == []
    assert app.conversation.messages == []


async def test_a_second_message_while_a_reply_streams_is_refused_and_stop_ends_it(
    net: Net, clock: FakeClock
) -> None:
    gate = asyncio.Event()
    first, rest = openai_stream("Hel")[:1], openai_stream("lo")
    net.on(ZAI_CHAT, lambda _: GatedResponse(first, rest, gate))
    storage = seeded(make_provider(routing=Routing.DIRECT))
    app = make_app(net, clock, storage)
    updates = app.send("zai", "glm-4.6", "Hello")
    assert await anext(updates) == TextDelta("Hel")
    with pytest.raises(DetourError, match="still arriving"):
        await collect(app.send("zai", "glm-4.6", "Again"))
    app.stop()
    text, stats = await collect(updates)
    assert (text, stats.stopped) == ("", True)
    assert app.session is None
    reply = app.conversation.messages[-1]
    assert (reply.role, reply.content, reply.stopped) == ("assistant", "Hel", True)
    assert saved_conversation(storage) == [("user", "Hello"), ("assistant", "Hel")]
    assert [r.url for r in net.requests] == [ZAI_CHAT]


def test_stop_with_nothing_arriving_does_nothing(net: Net, clock: FakeClock) -> None:
    app = make_app(net, clock)
    app.stop()
    assert app.session is None


async def test_a_new_conversation_starts_empty_and_is_saved(net: Net, clock: FakeClock) -> None:
    net.on(ZAI_CHAT, streamed("Hi"))
    storage = seeded(make_provider(routing=Routing.DIRECT))
    app = make_app(net, clock, storage)
    await collect(app.send("zai", "glm-4.6", "Hello"))
    first = app.conversations.active
    app.new_conversation()
    assert app.conversation.messages == []
    assert saved_conversation(storage) == []
    assert app.conversations.active != first
    assert json.loads(storage.data[item_key(first)])["messages"][0]["content"] == "Hello"


# --- export / import ---------------------------------------------------------------------------


def test_export_leaves_keys_out_unless_asked(net: Net, clock: FakeClock) -> None:
    app = make_app(net, clock, seeded(make_provider(api_key="sk-secret-4321")))
    assert "sk-secret-4321" not in app.export()
    with_keys = json.loads(app.export(include_keys=True))
    assert with_keys["providers"][0]["api_key"] == "sk-secret-4321"


def test_a_detour_export_imports_into_another_page(net: Net, clock: FakeClock) -> None:
    source = make_app(net, clock, seeded(make_provider(api_key="sk-secret-4321")))
    storage = MemoryStorage()
    app = make_app(net, clock, storage)
    summary = app.import_text("\n" + source.export(include_keys=True))
    assert summary == "Import: 1 added, 0 updated."
    assert [(p["id"], p["api_key"]) for p in saved(storage)["providers"]] == [
        ("zai", "sk-secret-4321")
    ]
    assert app.activity[0] == summary


def test_the_docs_litellm_example_imports_as_a_zai_coding_provider(
    net: Net, clock: FakeClock
) -> None:
    storage = MemoryStorage()
    app = make_app(net, clock, storage)
    summary = app.import_text(LITELLM_DOCS_YAML)
    assert summary.splitlines()[0] == "Import: 1 added, 0 updated."
    [provider] = app.state.providers
    assert (provider.template, provider.base_url, provider.api_key) == ("zai", ZAI_CODING, "sk-x")
    assert provider.name == "Z.ai (coding plan)"
    assert provider.all_models == ["zai-coding-model"]
    assert saved(storage)["providers"][0]["base_url"] == ZAI_CODING


def test_an_import_lists_its_notes_and_what_it_skipped(net: Net, clock: FakeClock) -> None:
    app = make_app(net, clock)
    text = LITELLM_DOCS_YAML.replace('api_key: "sk-x"', "api_key: os.environ/ZAI_KEY").replace(
        "model_list: [", "model_list: [{model_name: broken, litellm_params: {}}, "
    )
    assert app.import_text(text).splitlines() == [
        "Import: 1 added, 0 updated, 1 skipped.",
        "Set the key for Z.ai (coding plan) by hand (it was os.environ/ZAI_KEY).",
        "skipped broken: it has no litellm_params.model",
    ]


@pytest.mark.parametrize("text", ["", "  \n\t "])
def test_importing_nothing_is_refused_and_saves_nothing(
    net: Net, clock: FakeClock, text: str
) -> None:
    storage = seeded(zai_auto())
    before = dict(storage.data)
    app = make_app(net, clock, storage)
    with pytest.raises(DetourError, match="Nothing to import"):
        app.import_text(text)
    assert storage.data == before


# --- saving and the activity log ----------------------------------------------------------------


async def test_a_remembered_route_survives_a_new_page_load(net: Net, clock: FakeClock) -> None:
    net.on(ZAI_MODELS, CorsBlocked("Failed to fetch"))
    net.on(RELAY_MODELS, models("glm-4.6"))
    storage = seeded(zai_auto())
    await make_app(net, clock, storage).refresh_models("zai")
    assert saved(storage)["routes"]["zai"]["route"] == "gateway"

    later = Net()
    later.on(RELAY_MODELS, models("glm-4.6"))
    app = make_app(later, clock, storage)
    await app.refresh_models("zai")
    assert later.urls() == [RELAY_MODELS]  # straight to the remembered road, no direct try
    assert app.last_route["zai"] == "gateway"
    assert list(app.activity) == []  # a remembered road is routine


async def test_the_activity_log_shows_a_fallback_but_not_routine_choices(
    net: Net, clock: FakeClock
) -> None:
    net.on(ZAI_MODELS, CorsBlocked("Failed to fetch"))
    net.on(RELAY_MODELS, models("glm-4.6"))
    net.on(GROQ_MODELS, models("llama"))
    groq = make_provider(
        "groq", name="Groq", base_url="https://api.groq.com/openai/v1", routing=Routing.DIRECT
    )
    app = make_app(net, clock, seeded(zai_auto(), groq))
    await app.refresh_models("zai")
    assert list(app.activity) == ["Z.ai: direct blocked by CORS → using gateway"]
    await app.refresh_models("zai")  # remembered: not logged
    await app.refresh_models("groq")  # set to direct: not logged
    assert len(app.activity) == 1
    assert (app.last_route["zai"], app.last_route["groq"]) == ("gateway", "direct")


def test_listeners_hear_what_changed_and_log_lines_come_first_with_their_time(
    net: Net, clock: FakeClock
) -> None:
    app = make_app(net, clock)
    heard: list[tuple[Change, int]] = []
    app.listeners.append(lambda change: heard.append((change, len(app.activity))))
    app.log("first")
    clock.advance(5)
    app.log("second")
    assert list(app.activity) == ["second", "first"]
    assert app.activity[0].at - app.activity[1].at == 5
    assert heard == [(Change.ACTIVITY, 1), (Change.ACTIVITY, 2)]


# --- running -----------------------------------------------------------------------------------


async def test_start_finds_the_gateway_and_lists_models_only_where_needed(
    net: Net, clock: FakeClock
) -> None:
    net.on(GATEWAY_HEALTH, ok_json(DETOUR_DEMO))
    net.on(GATEWAY_MODELS, models("demo-model"))
    net.on(GROQ_MODELS, models("llama-new"))
    net.on(ZAI_MODELS, models("glm-4.6"))
    empty = make_provider(routing=Routing.DIRECT)
    listed = make_provider(
        "groq",
        name="Groq",
        base_url="https://api.groq.com/openai/v1",
        routing=Routing.DIRECT,
        models=["llama-old"],
    )
    off = make_provider("off", name="Off", base_url="https://off.example.test/v1", enabled=False)
    storage = seeded(empty, listed, off)
    app = make_app(net, clock, storage)
    task = asyncio.ensure_future(app.start())
    await settle(100)
    try:
        assert app.gateway_provider() is not None
        assert [p["models"] for p in saved(storage)["providers"]] == [
            ["glm-4.6"],
            ["llama-old"],  # had models: left alone
            [],  # disabled: not asked
        ]
        assert "https://off.example.test/v1/models" not in net.urls()
        assert app.health("zai").state is HealthState.HEALTHY  # the monitor is running
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_start_keeps_going_when_a_provider_cannot_be_listed(
    net: Net, clock: FakeClock
) -> None:
    net.on(ZAI_MODELS, status(401, {"error": {"message": "invalid api key"}}))
    app = make_app(net, clock, seeded(make_provider(routing=Routing.DIRECT)))
    task = asyncio.ensure_future(app.start())
    await settle(100)
    try:
        assert "invalid api key" in app.notes["zai"]
        assert not task.done()
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# --- helpers -----------------------------------------------------------------------------------


def test_parse_headers_reads_name_value_lines() -> None:
    problems: dict[str, str] = {}
    text = "\n  X-One:  1 \n\nX-Url: https://a.example:8080\n"
    assert parse_headers(text, problems) == {"X-One": "1", "X-Url": "https://a.example:8080"}
    assert problems == {}


@pytest.mark.parametrize("line", ["no colon here", "   : value"])
def test_parse_headers_names_a_line_it_cannot_read(line: str) -> None:
    problems: dict[str, str] = {}
    assert parse_headers(f"X-Ok: 1\n{line}", problems) == {"X-Ok": "1"}
    assert line.strip() in problems["headers"]


def test_split_models_takes_commas_and_lines_without_blanks_or_repeats() -> None:
    assert split_models(" a, b\n\nc ,, a\n b ") == ["a", "b", "c"]
    assert split_models("") == []


def test_as_draft_is_the_form_of_a_saved_provider(net: Net, clock: FakeClock) -> None:
    provider = make_provider(
        template="zai",
        headers={"Accept-Language": "en", "X-Two": "2"},
        manual_models=["glm-4.6", "glm-4.5"],
        enabled=False,
    )
    form = as_draft(provider)
    assert (form.headers, form.manual_models, form.enabled) == (
        "Accept-Language: en\nX-Two: 2",
        "glm-4.6, glm-4.5",
        False,
    )
    app = make_app(net, clock, seeded(provider))
    assert app.build_provider(form, "zai") == provider


def test_describe_stats_names_road_speed_and_ending() -> None:
    stats = {
        "route": "gateway",
        "fallback": True,
        "ttft_ms": 412.4,
        "tokens_per_second": 31.26,
        "estimated": True,
        "stopped": True,
    }
    assert describe_stats(stats) == (
        "via gateway (fallback) · 412 ms to first token · ≈31.3 tok/s · stopped"
    )


def test_describe_stats_leaves_out_what_is_unknown() -> None:
    assert describe_stats({"route": "direct", "ttft_ms": None, "tokens_per_second": None}) == (
        "via direct"
    )
    assert describe_stats({"ttft_ms": 0.0, "tokens_per_second": 5.0}) == (
        "0 ms to first token · 5.0 tok/s"
    )
    assert describe_stats({}) == ""


# --- health and offered models -------------------------------------------------------------


async def test_checking_health_now_names_the_provider_in_the_activity_log(
    net: Net, clock: FakeClock
) -> None:
    net.on(ZAI_MODELS, models("glm-4.6"))
    app = make_app(net, clock, seeded(zai_auto()))
    await app.check_health("zai")
    assert app.health("zai").state is HealthState.HEALTHY
    assert any(line.startswith("Z.ai: unknown → healthy") for line in app.activity)


async def test_checking_health_of_a_disabled_provider_does_nothing(
    net: Net, clock: FakeClock
) -> None:
    app = make_app(net, clock, seeded(replace(zai_auto(), enabled=False)))
    await app.check_health("zai")
    assert app.health("zai").state is HealthState.UNKNOWN
    assert ZAI_MODELS not in net.urls()


def test_a_provider_without_models_is_offered_its_templates_known_models(
    net: Net, clock: FakeClock
) -> None:
    app = make_app(net, clock, seeded(zai_auto()))
    offered = app.models(app.state.providers[0])
    assert "glm-4.6" in offered


def test_found_models_are_offered_before_the_templates(net: Net, clock: FakeClock) -> None:
    app = make_app(net, clock, seeded(replace(zai_auto(), models=["glm-x"])))
    assert app.models(app.state.providers[0]) == ["glm-x"]


async def test_a_slow_provider_does_not_hold_back_health_checks_at_start(
    net: Net, clock: FakeClock
) -> None:
    never: asyncio.Future[MemoryResponse] = asyncio.get_running_loop().create_future()
    net.on(ZAI_MODELS, lambda _request: never)
    app = make_app(net, clock, seeded(zai_auto()))
    task = asyncio.ensure_future(app.start())
    await settle(100)
    try:
        assert app.health(GATEWAY_PROVIDER_ID).state is HealthState.HEALTHY
        assert not task.done()
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# --- reply preferences -----------------------------------------------------------------------


async def test_the_system_prompt_leads_the_request_but_is_not_kept_in_the_conversation(
    net: Net, clock: FakeClock
) -> None:
    net.on(ZAI_CHAT, streamed("ok"))
    storage = seeded(make_provider(routing=Routing.DIRECT))
    app = make_app(net, clock, storage)
    app.set_preferences("  Answer briefly.  ", "", "")
    await collect(app.send("zai", "glm-4.6", "Hello"))
    assert net.requests[-1].json()["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Hello"},
    ]
    assert saved_conversation(storage) == [("user", "Hello"), ("assistant", "ok")]


def test_preferences_are_saved_and_blank_numbers_mean_the_providers_default(
    net: Net, clock: FakeClock
) -> None:
    storage = MemoryStorage()
    app = make_app(net, clock, storage)
    app.set_preferences("Be kind.", "0.7", "256")
    settings = saved(storage)["settings"]
    assert (settings["system_prompt"], settings["temperature"], settings["max_tokens"]) == (
        "Be kind.",
        0.7,
        256,
    )
    app.set_preferences("", " ", "")
    settings = saved(storage)["settings"]
    assert (settings["temperature"], settings["max_tokens"]) == (None, None)


@pytest.mark.parametrize(
    ("temperature", "max_tokens", "field"),
    [("3", "", "temperature"), ("warm", "", "temperature"), ("nan", "", "temperature"),
     ("", "0", "max_tokens"), ("", "1.5", "max_tokens"), ("", "lots", "max_tokens")],
)  # fmt: skip
def test_bad_preferences_are_refused_naming_the_field_and_nothing_is_saved(
    net: Net, clock: FakeClock, temperature: str, max_tokens: str, field: str
) -> None:
    storage = MemoryStorage()
    app = make_app(net, clock, storage)
    with pytest.raises(SettingsInvalid) as refused:
        app.set_preferences("x", temperature, max_tokens)
    assert field in refused.value.problems
    assert str(refused.value).startswith("Settings are invalid")
    assert storage.data == {}


async def test_a_passing_check_clears_a_could_not_be_reached_note(
    net: Net, clock: FakeClock
) -> None:
    net.on(ZAI_MODELS, Unreachable("Failed to fetch"), models("glm-4.6"))
    app = make_app(
        net, clock, seeded(make_provider(routing=Routing.DIRECT)), default_gateway_url=""
    )
    with pytest.raises(RouteError):
        await app.refresh_models("zai")
    assert app.notes["zai"] and "zai" in app.failed_notes
    await app.check_health("zai")
    assert "zai" not in app.notes


async def test_the_gateway_badge_follows_each_health_check(net: Net, clock: FakeClock) -> None:
    app = make_app(net, clock)
    await app.refresh_gateway()
    assert app.gateway_status is not None and app.gateway_status.kind is GatewayKind.DETOUR
    net.on(GATEWAY_HEALTH, Unreachable("gone"))
    heard: list[Change] = []
    app.listeners.append(heard.append)
    await app.check_health(GATEWAY_PROVIDER_ID)
    assert app.gateway_status.kind is GatewayKind.UNREACHABLE  # after one failed check
    assert Change.HEALTH in heard
    for _ in range(3):
        await app.check_health(GATEWAY_PROVIDER_ID)
    health = app.health(GATEWAY_PROVIDER_ID)
    assert health.next_check_at - clock.now() == app.monitor.interval  # no backing off
