"""Fixtures: a loopback-only network guard, stand-in upstreams and running gateways."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.app import create_app
from gateway.config import load_model_list, parse_model_list
from gateway.policy import Resolver
from gateway.server import server_config
from gateway.settings import Settings
from tests.gateway.standins import closed_port, openai_standin, serve, serve_config

REPO = Path(__file__).resolve().parents[2]
ORIGIN = "http://127.0.0.1:8000"
TOKEN = "gw-test-token-0123456789"
STANDIN_KEY = "sk-standin-key"


def pytest_configure(config: pytest.Config) -> None:
    # LiteLLM's import warns about its own TypedDicts; not ours to fix.
    config.addinivalue_line("filterwarnings", "ignore:Item.*ReadOnly:UserWarning")


class NonLoopbackAttempt(AssertionError):
    """A test tried to reach something other than this machine."""


def _is_loopback(host: Any) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback
    except ValueError:
        return str(host).lower() in ("localhost", "")


@contextmanager
def loopback_only() -> Iterator[list[str]]:
    """Make every connect/resolve of a non-loopback address fail loudly (and record it)."""
    attempts: list[str] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            attempts.append(f"connect {address!r}")
            raise NonLoopbackAttempt(f"test tried to connect to {address!r}")

    def connect(sock: socket.socket, address: Any) -> None:
        check(sock, address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        check(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(
            host.decode() if isinstance(host, bytes) else host
        ):
            attempts.append(f"resolve {host!r}")
            raise NonLoopbackAttempt(f"test tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo
    try:
        yield attempts
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo


@pytest.fixture(scope="session", autouse=True)
def network_guard() -> Iterator[list[str]]:
    """Nothing in this suite may touch a non-loopback address, even by mistake."""
    with loopback_only() as attempts:
        yield attempts
    assert attempts == [], f"non-loopback attempts: {attempts}"


def fake_resolver(table: dict[str, list[str]]) -> Resolver:
    """A resolver answering from `table` (unknown names fail like NXDOMAIN)."""

    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def make_settings(**overrides: Any) -> Settings:
    """Test settings: loopback, the dev page origin, short timeouts."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 4000,
        "allowed_origins": ORIGIN,
        "connect_timeout": 2.0,
        "read_timeout": 10.0,
        "token": None,
        "upstream_allowlist": None,
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def running_gateway(
    models_yaml: str | None = None, resolver: Resolver | None = None, **overrides: Any
) -> Iterator[str]:
    """A real gateway under uvicorn on 127.0.0.1; yields its base URL."""
    settings = make_settings(**overrides)
    if models_yaml is None:
        models = load_model_list(REPO / "gateway" / "demo.yaml")
    else:
        models = parse_model_list(yaml.safe_load(models_yaml), "test.yaml", {})
    app = create_app(settings, models=models, resolver=resolver)
    with serve_config(server_config(app, settings, log_level="warning")) as url:
        wait_until_ready(url)
        yield url


def wait_until_ready(url: str, seconds: float = 240.0) -> None:
    """Wait for /health/readiness (LiteLLM loaded and warm); fail the test if it never is."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/health/readiness").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(f"{url} was not ready within {seconds:.0f} s")


def models_yaml(upstream: str, slow_upstream: str | None = None) -> str:
    """Demo model plus LiteLLM `openai/` models pointing at loopback stand-ins."""
    demo = (REPO / "gateway" / "demo.yaml").read_text()
    extra = [
        {"model_name": "standin-gpt",
         "litellm_params": {"model": "openai/standin-model", "api_base": f"{upstream}/v1",
                            "api_key": STANDIN_KEY}},
        {"model_name": "standin-wrong-key",
         "litellm_params": {"model": "openai/standin-model", "api_base": f"{upstream}/v1",
                            "api_key": "sk-wrong"}},
        {"model_name": "standin-down",
         "litellm_params": {"model": "openai/standin-model",
                            "api_base": f"http://127.0.0.1:{closed_port()}/v1", "api_key": "sk-x"}},
    ]  # fmt: skip
    if slow_upstream:
        extra.append(
            {"model_name": "standin-slow",
             "litellm_params": {"model": "openai/standin-model", "api_base": f"{slow_upstream}/v1",
                                "api_key": "sk-x"}}
        )  # fmt: skip
    data = yaml.safe_load(demo)
    data["model_list"].extend(extra)
    return yaml.safe_dump(data)


@pytest.fixture(scope="session")
def upstream_app() -> Any:
    """The OpenAI-compatible stand-in (key required, streams 8 characters at a time)."""
    return openai_standin(api_key=STANDIN_KEY)


@pytest.fixture(scope="session")
def upstream(upstream_app: Any) -> Iterator[str]:
    """Base URL of the keyed OpenAI-compatible stand-in."""
    with serve(upstream_app) as url:
        yield url


@pytest.fixture(scope="session")
def paced_upstream() -> Iterator[str]:
    """A stand-in that streams one piece every 0.3 s."""
    with serve(openai_standin(reply="one two three four", piece=4, pace=0.3)) as url:
        yield url


@pytest.fixture(scope="session")
def slow_upstream() -> Iterator[str]:
    """A stand-in that waits 3 s before answering a chat."""
    with serve(openai_standin(slow=3.0)) as url:
        yield url


@pytest.fixture(scope="session")
def gateway(upstream: str) -> Iterator[str]:
    """The main gateway: no token, private upstreams allowed (the stand-ins are on loopback)."""
    with running_gateway(models_yaml(upstream), allow_private_upstreams=True) as url:
        yield url


@pytest.fixture(scope="session")
def strict_gateway() -> Iterator[str]:
    """A gateway with the default policy (no private upstreams) and a fake resolver."""
    resolver = fake_resolver(
        {
            "private.example": ["10.1.2.3"],
            "mixed.example": ["93.184.216.34", "192.168.1.10"],
            "public.example": ["93.184.216.34"],
        }
    )
    with running_gateway(resolver=resolver) as url:
        yield url


@pytest.fixture(scope="session")
def token_gateway(upstream: str) -> Iterator[str]:
    """A gateway that requires TOKEN."""
    with running_gateway(models_yaml(upstream), token=TOKEN, allow_private_upstreams=True) as url:
        yield url


@pytest.fixture(scope="session")
def impatient_gateway(upstream: str, slow_upstream: str) -> Iterator[str]:
    """A gateway with a 1 s read timeout and small limits."""
    with running_gateway(
        models_yaml(upstream, slow_upstream),
        allow_private_upstreams=True,
        read_timeout=1.0,
        max_body_bytes=1024,
        max_header_bytes=2048,
    ) as url:
        yield url
