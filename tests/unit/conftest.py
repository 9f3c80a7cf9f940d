"""Shared fixtures: a fake clock, a scripted network, providers and a gateway."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from web.clock import FakeClock
from web.events import Event
from web.gateway import GatewayConfig
from web.providers import Dialect, Provider, Routing
from web.routing import Router
from web.transport import MemoryResponse, MockTransport, Request, Response

SAMPLES = Path(__file__).parent / "samples"
GATEWAY_URL = "https://gw.example.test"
DETOUR_HEALTH = {
    "status": "ok",
    "service": "detour-gateway",
    "version": "0.1.0",
    "name": "Test gateway",
    "relay": True,
    "auth_required": False,
    "models": 2,
}

Answer = Response | BaseException | Callable[[Request], "Response | BaseException"]


def sample(name: str) -> bytes:
    """A recorded stream from tests/unit/samples."""
    return (SAMPLES / name).read_bytes()


class Net:
    """A scripted network: each URL answers with a response, an exception, or a function.

    A URL with a list of answers replies with them in order, repeating the last.
    Unscripted URLs are unreachable. The gateway's /health answers as a Detour
    gateway unless scripted otherwise.
    """

    def __init__(self) -> None:
        self.answers: dict[str, list[Answer]] = {}
        self.transport = MockTransport(self._handle)
        self.on(f"{GATEWAY_URL}/health", lambda _: MemoryResponse(json_body=DETOUR_HEALTH))

    def on(self, url: str, *answers: Answer) -> None:
        """Script what `url` answers (exact URL, query string included)."""
        self.answers[url] = list(answers)

    @property
    def requests(self) -> list[Request]:
        """Every request sent, in order."""
        return self.transport.requests

    def urls(self) -> list[str]:
        """The URL of every request sent, in order."""
        return [r.url for r in self.transport.requests]

    def _handle(self, request: Request) -> Response:
        from web.errors import Unreachable

        queue = self.answers.get(request.url)
        if not queue:
            raise Unreachable(f"nothing answers at {request.url}")
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(answer) and not isinstance(answer, BaseException):
            answer = answer(request)
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, MemoryResponse) and answer.closed:
            raise AssertionError(f"{request.url} answered with a response already used")
        return answer


def ok_json(data: Any) -> Callable[[Request], Response]:
    """A handler answering 200 with `data` as JSON, fresh each time."""
    return lambda _: MemoryResponse(json_body=data)


def status(
    code: int, body: Any = None, headers: dict[str, str] | None = None
) -> Callable[[Request], Response]:
    """A handler answering `code` with a JSON (or text) body, fresh each time."""
    if isinstance(body, str):
        return lambda _: MemoryResponse(code, body=body, headers=headers)
    return lambda _: MemoryResponse(code, json_body=body or {}, headers=headers)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def net() -> Net:
    return Net()


@pytest.fixture
def events() -> list[Event]:
    return []


@pytest.fixture
def gateway_config() -> GatewayConfig:
    return GatewayConfig(GATEWAY_URL, token="gw-secret-token")


class GatewaySwitch:
    """Holds the gateway setting the router reads on every call, so tests can change it."""

    def __init__(self, config: GatewayConfig | None) -> None:
        self.config = config

    def __call__(self) -> GatewayConfig | None:
        return self.config


@pytest.fixture
def gateway(gateway_config: GatewayConfig) -> GatewaySwitch:
    return GatewaySwitch(gateway_config)


@pytest.fixture
def router(net: Net, gateway: GatewaySwitch, clock: FakeClock, events: list[Event]) -> Router:
    return Router(net.transport, gateway, clock, on_event=events.append)


def make_provider(
    pid: str = "zai",
    *,
    name: str = "Z.ai",
    base_url: str = "https://api.z.ai/api/paas/v4",
    dialect: Dialect = Dialect.OPENAI,
    routing: Routing = Routing.AUTO,
    api_key: str = "sk-test-key-1234",
    **extra: Any,
) -> Provider:
    """A provider with test defaults."""
    return Provider(
        id=pid,
        name=name,
        base_url=base_url,
        dialect=dialect,
        routing=routing,
        api_key=api_key,
        **extra,
    )


@pytest.fixture
def zai() -> Provider:
    return make_provider()


@pytest.fixture
def anthropic() -> Provider:
    return make_provider(
        "anthropic",
        name="Anthropic",
        base_url="https://api.anthropic.com/v1",
        dialect=Dialect.ANTHROPIC,
    )
