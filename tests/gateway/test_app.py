"""Gateway routes: health, auth, CORS, probe, OpenAPI, headers, and the openai SDK unchanged."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from gateway.probe import judge_cors
from tests.gateway.conftest import ORIGIN, TOKEN, running_gateway
from tests.gateway.standins import closed_port, openai_standin, serve

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def cors_upstream() -> Iterator[str]:
    with serve(openai_standin(cors=True)) as url:
        yield url


@pytest.fixture(scope="module")
def closed_upstream() -> Iterator[str]:
    with serve(openai_standin(cors=False)) as url:
        yield url


async def test_health_says_what_the_page_needs(gateway: str, token_gateway: str) -> None:
    async with httpx.AsyncClient() as client:
        open_health = await client.get(f"{gateway}/health")
        locked_health = await client.get(f"{token_gateway}/health")
        alive = await client.get(f"{token_gateway}/health/liveliness")
    assert open_health.status_code == 200
    assert open_health.json() == {
        "status": "ok", "service": "detour-gateway", "version": "0.1.0", "name": "Detour gateway",
        "relay": True, "auth_required": False, "models": 4,
    }  # fmt: skip
    assert locked_health.status_code == 200 and locked_health.json()["auth_required"] is True
    assert alive.status_code == 200
    assert open_health.headers["x-detour-route"] == "gateway"
    assert float(open_health.headers["x-detour-overhead-ms"]) >= 0


@pytest.mark.parametrize("path", ["/v1/models", "/models", "/openapi.json", "/docs", "/nope"])
async def test_token_required_everywhere_but_health(token_gateway: str, path: str) -> None:
    async with httpx.AsyncClient() as client:
        missing = await client.get(f"{token_gateway}{path}")
        wrong = await client.get(f"{token_gateway}{path}", headers={"x-detour-token": "nope"})
        by_header = await client.get(f"{token_gateway}{path}", headers={"x-detour-token": TOKEN})
        by_bearer = await client.get(
            f"{token_gateway}{path}", headers={"authorization": f"Bearer {TOKEN}"}
        )
    for refused in (missing, wrong):
        assert refused.status_code == 401
        assert refused.headers["x-detour-error"] == "gateway_auth"
        assert refused.json()["error"]["type"] == "authentication_error"
    expected = 404 if path == "/nope" else 200
    assert by_header.status_code == expected and by_bearer.status_code == expected


async def test_token_required_on_chat_and_probe(token_gateway: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        chat = await client.post(
            f"{token_gateway}/v1/chat/completions", json={"model": "detour-demo", "messages": HELLO}
        )
        probe = await client.post(f"{token_gateway}/probe", json={"url": "http://127.0.0.1:9/"})
        chat_ok = await client.post(
            f"{token_gateway}/v1/chat/completions",
            json={"model": "detour-demo", "messages": HELLO},
            headers={"authorization": f"Bearer {TOKEN}"},
        )
    assert chat.status_code == 401 and probe.status_code == 401
    assert chat_ok.status_code == 200


async def test_preflight_from_allowed_origin(gateway: str) -> None:
    asked = "authorization,content-type,x-detour-upstream"
    headers = {"origin": ORIGIN, "access-control-request-method": "POST",
               "access-control-request-headers": asked}  # fmt: skip
    async with httpx.AsyncClient() as client:
        for path in ("/v1/chat/completions", "/relay/v1/chat/completions", "/health"):
            response = await client.options(f"{gateway}{path}", headers=headers)
            assert response.status_code == 204
            assert response.headers["access-control-allow-origin"] == ORIGIN
            assert "POST" in response.headers["access-control-allow-methods"]
            assert (
                response.headers["access-control-allow-headers"]
                == headers["access-control-request-headers"]
            )
            assert response.headers["access-control-max-age"] == "600"
            assert "Origin" in response.headers["vary"]
            assert "x-detour-overhead-ms" in response.headers


async def test_preflight_and_requests_from_other_origins_get_no_cors(token_gateway: str) -> None:
    evil = "https://evil.example"
    async with httpx.AsyncClient() as client:
        preflight = await client.options(
            f"{token_gateway}/v1/models",
            headers={"origin": evil, "access-control-request-method": "GET"},
        )
        actual = await client.get(f"{token_gateway}/health", headers={"origin": evil})
        allowed = await client.get(f"{token_gateway}/health", headers={"origin": ORIGIN})
        allowed_denied = await client.get(f"{token_gateway}/v1/models", headers={"origin": ORIGIN})
    assert preflight.status_code == 403 and preflight.headers["x-detour-error"] == "policy"
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in actual.headers
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    expose = allowed.headers["access-control-expose-headers"]
    assert {"x-detour-overhead-ms", "x-detour-error", "x-detour-route"} <= {
        h.strip() for h in expose.split(",")
    }
    # The page can read a gateway auth refusal: it carries CORS headers.
    assert allowed_denied.status_code == 401
    assert allowed_denied.headers["access-control-allow-origin"] == ORIGIN


async def test_star_origin_echoes_any_origin() -> None:
    with running_gateway(allowed_origins="*") as gw:
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"{gw}/health", headers={"origin": "https://anywhere.example"}
            )
    assert response.headers["access-control-allow-origin"] == "https://anywhere.example"


async def test_unknown_route_is_openai_shaped_404(gateway: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{gateway}/v2/everything")
        wrong_method = await client.delete(f"{gateway}/v1/models")
    assert response.status_code == 404
    assert response.headers["x-detour-error"] == "not_found"
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert wrong_method.status_code == 405
    assert wrong_method.headers["x-detour-error"] == "bad_request"


async def test_openapi_documents_routes_and_relay_contract(gateway: str) -> None:
    async with httpx.AsyncClient() as client:
        schema = (await client.get(f"{gateway}/openapi.json")).json()
    paths = schema["paths"]
    for path in ("/health", "/v1/models", "/v1/chat/completions", "/probe", "/relay/{path}"):
        assert path in paths
    relay = paths["/relay/{path}"]["post"]
    names = {p["name"] for p in relay["parameters"]}
    assert {"X-Detour-Upstream", "X-Detour-Token", "path"} <= names
    assert "403" in relay["responses"]


async def test_probe_reports_cors_stance(
    gateway: str, cors_upstream: str, closed_upstream: str
) -> None:
    async with httpx.AsyncClient() as client:
        open_probe = await client.post(
            f"{gateway}/probe",
            json={"url": f"{cors_upstream}/v1/chat/completions", "origin": ORIGIN},
        )
        closed_probe = await client.post(
            f"{gateway}/probe",
            json={"url": f"{closed_upstream}/v1/chat/completions", "origin": ORIGIN},
        )
        dead_probe = await client.post(
            f"{gateway}/probe",
            json={"url": f"http://127.0.0.1:{closed_port()}/v1", "origin": ORIGIN},
        )
    assert open_probe.status_code == 200
    good = open_probe.json()
    assert good["reachable"] is True and good["status"] == 204 and good["error"] is None
    assert good["cors"]["allow_origin"] == ORIGIN
    assert good["cors"]["allows_origin"] is True and good["cors"]["allows_headers"] is True
    assert good["elapsed_ms"] >= 0
    bad = closed_probe.json()
    assert bad["reachable"] is True and bad["status"] == 405
    assert bad["cors"] == {"allow_origin": None, "allow_methods": None, "allow_headers": None,
                           "allows_origin": False, "allows_headers": False}  # fmt: skip
    dead = dead_probe.json()
    assert dead["reachable"] is False and dead["status"] is None
    assert dead["error"].startswith("unreachable")


async def test_probe_obeys_the_relay_policy(strict_gateway: str) -> None:
    async with httpx.AsyncClient() as client:
        refused = await client.post(
            f"{strict_gateway}/probe", json={"url": "http://169.254.169.254/", "origin": ORIGIN}
        )
        private = await client.post(
            f"{strict_gateway}/probe", json={"url": "http://private.example/v1"}
        )
        scheme = await client.post(f"{strict_gateway}/probe", json={"url": "file:///etc/passwd"})
        malformed = await client.post(f"{strict_gateway}/probe", json={"nope": 1})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "metadata"
    assert private.status_code == 403 and private.headers["x-detour-error"] == "policy"
    assert scheme.status_code == 403 and scheme.json()["error"]["code"] == "scheme"
    assert malformed.status_code == 422


async def test_probe_of_a_name_that_does_not_resolve_says_unreachable(
    strict_gateway: str,
) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{strict_gateway}/probe", json={"url": "https://nowhere.example/v1", "origin": ORIGIN}
        )
    assert answer.status_code == 200
    found = answer.json()
    assert found["reachable"] is False and found["status"] is None
    assert "does not resolve" in found["error"]


async def test_relay_to_a_name_that_does_not_resolve_is_502_unreachable(
    strict_gateway: str,
) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{strict_gateway}/relay/models",
            headers={"x-detour-upstream": "https://nowhere.example/v1"},
        )
    assert answer.status_code == 502
    assert answer.headers["x-detour-error"] == "unreachable"
    assert "does not resolve" in answer.json()["error"]["message"]


def test_wildcard_allow_headers_does_not_cover_authorization() -> None:
    star = judge_cors(
        httpx.Headers({"access-control-allow-origin": "*", "access-control-allow-headers": "*"}),
        ORIGIN,
    )
    listed = judge_cors(
        httpx.Headers(
            {"access-control-allow-origin": "*", "access-control-allow-headers": "*, Authorization"}
        ),
        ORIGIN,
    )
    other = judge_cors(httpx.Headers({"access-control-allow-origin": "https://x.example"}), ORIGIN)
    assert star.allows_origin and not star.allows_headers
    assert listed.allows_headers
    assert not other.allows_origin


async def test_openai_sdk_works_unchanged(gateway: str) -> None:
    client = openai.AsyncOpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0)
    models = await client.models.list()
    assert "detour-demo" in [m.id for m in models.data]
    reply = await client.chat.completions.create(
        model="standin-gpt", messages=[{"role": "user", "content": "hi"}]
    )
    assert (
        reply.choices[0].message.content == "Hello from the stand-in. It streams in small pieces."
    )
    stream = await client.chat.completions.create(
        model="standin-gpt", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    assert "".join(pieces) == "Hello from the stand-in. It streams in small pieces."
    assert len(pieces) > 3
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(
            model="nope", messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(
            model="standin-wrong-key", messages=[{"role": "user", "content": "hi"}]
        )
    await client.close()


async def test_openai_sdk_with_gateway_token_as_api_key(token_gateway: str) -> None:
    client = openai.AsyncOpenAI(base_url=f"{token_gateway}/v1", api_key=TOKEN, max_retries=0)
    stream = await client.chat.completions.create(
        model="detour-demo", messages=[{"role": "user", "content": "hello"}], stream=True
    )
    text = "".join(
        [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    )
    assert "keyless demo" in text
    refused = openai.AsyncOpenAI(base_url=f"{token_gateway}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await refused.models.list()
    await client.close()
    await refused.close()
